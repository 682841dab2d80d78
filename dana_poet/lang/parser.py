"""Dana source -> Dana AST, with syntax errors a person can act on.

The Lark LALR parser runs with the AST builder attached as its transformer,
so no intermediate parse tree is built (that halves parse time). The parse
tables are cached on disk by Lark, keyed by the grammar's hash.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from dana_poet.lang.errors import DanaSyntaxError

if TYPE_CHECKING:
    from lark import Lark, Token
    from lark.exceptions import UnexpectedInput

    from dana_poet.lang import ast as A
    from dana_poet.lang.lalr import FastParser


def _grammar_path() -> Path:
    """The installed copy (`dana_poet/grammar/` in a wheel) or the checkout's top-level
    `grammar/` (source tree and editable installs)."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "grammar" / "dana.lark"
    return installed if installed.is_file() else package.parent / "grammar" / "dana.lark"


GRAMMAR_PATH = _grammar_path()


def _cache_path() -> str:
    import tempfile

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        tempfile.gettempdir(), "dana-poet-cache"
    )
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        return ""
    return os.path.join(base, "dana-lalr.cache")


def _tables_key(grammar: str) -> str:
    """What the fast loop's saved tables depend on: the grammar, the Lark that built them,
    the modules that turn them into reducers, and the interpreter (marshal's format)."""
    import importlib.util
    import sys

    from dana_poet.lang.codecache import digest, file_signature

    spec = importlib.util.find_spec("lark")
    lark_file = Path(spec.origin) if spec is not None and spec.origin else Path("lark-missing")
    here = Path(__file__).resolve().parent
    parts = [grammar, sys.version, str(lark_file.parent), file_signature(lark_file)]
    parts += [file_signature(here / name) for name in ("lalr.py", "build.py", "tokens.py")]
    return digest("\0".join(parts))


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser, built (or loaded from Lark's table cache) on the first parse only."""
    from lark import Lark

    from dana_poet.lang.build import AstBuilder
    from dana_poet.lang.postlex import DanaIndenter

    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    options = dict(
        parser="lalr",
        lexer="contextual",
        postlex=DanaIndenter(),
        start=["start", "test"],
        maybe_placeholders=True,
        transformer=AstBuilder(),
    )
    cache = _cache_path()
    if cache:
        try:
            return Lark(grammar, cache=cache, **options)
        except (OSError, EOFError, ValueError, TypeError):
            pass
    return Lark(grammar, **options)


@lru_cache(maxsize=1)
def _fast_parser() -> FastParser | None:
    """The tight loop over Lark's tables (None if it does not know this grammar's
    terminals). The tables are Lark's, saved beside Lark's own cache so that a process
    that parses valid code needs neither to import Lark nor to build its parser."""
    from dana_poet.lang import lalr
    from dana_poet.lang.build import AstBuilder
    from dana_poet.lang.tokens import RESERVED_WORDS

    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    cache = _cache_path()
    path = cache.replace("dana-lalr.cache", "dana-fast-lalr.cache") if cache else ""
    key = _tables_key(grammar)
    tables = lalr.load_tables(path, key) if path else None
    if tables is None:
        try:
            tables = lalr.tables_from_lark(_lark(), AstBuilder)
        except ValueError:
            return None
        if path:
            lalr.save_tables(path, key, tables)
    return lalr.FastParser(tables, AstBuilder(), RESERVED_WORDS)


_NOT_PARSED = object()


def _fast(text: str, start: str, line: int = 1, column: int = 1) -> object:
    """The fast loop's result, or _NOT_PARSED when Lark's own pipeline must decide (every
    syntax error among them, so messages come from one place)."""
    from dana_poet.lang.lalr import Fallback

    fast = _fast_parser()
    if fast is None:
        return _NOT_PARSED
    try:
        return fast.parse(text, start, line, column)
    except (Fallback, DanaSyntaxError):
        return _NOT_PARSED


_TOKEN_WORDS = {
    "_NEWLINE": "a new line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "NAME": "a name",
    "AUGOP": "an operator like +=",
    "SCOPED_NAME": "a scoped name like private:x",
    "DEC_NUMBER": "a number",
    "FLOAT_NUMBER": "a number",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "FSTRING": "an f-string",
    "LONG_FSTRING": "an f-string",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COLON": "':'",
    "COMMA": "','",
    "EQUAL": "'='",
    "DOT": "'.'",
    "__ANON_0": "'::'",
    "TRUE": "true",
    "FALSE": "false",
    "NONE": "null",
    "$END": "the end of the file",
}


def _describe_expected(expected: set[str], lark: Lark) -> str:
    words: list[str] = []
    for name in sorted(expected):
        word = _TOKEN_WORDS.get(name)
        if word is None:
            try:
                pattern = lark.get_terminal(name).pattern
                word = repr(pattern.value) if pattern.type == "str" else name.lower()
            except KeyError:
                word = name.lower()
        if word not in words:
            words.append(word)
    if not words:
        return ""
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "expected " + ", ".join(words)


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type == "_NEWLINE":
        return "end of line"
    if token.type == "_INDENT":
        return "an unexpected indent"
    if token.type == "_DEDENT":
        return "the end of the block"
    return repr(str(token))


def _hint_for(token: Token | None, source_line: str) -> str:
    stripped = source_line.strip()
    if token is not None and token.type == "_INDENT":
        return "this line is indented more than the block it belongs to"
    if stripped.endswith(":") is False and stripped.split(" ", 1)[0] in {
        "if",
        "elif",
        "else",
        "while",
        "for",
        "def",
        "try",
        "except",
        "finally",
        "with",
    }:
        return "a block header ends with ':' and its body goes on the next lines"
    if token is not None and str(token) == "|":
        return "the pipe operator '|' is only allowed in declarative definitions: def f(x) = g | h"
    if "lambda" in source_line and "::" not in source_line:
        return "Dana lambdas use '::' before the body: lambda x :: x * 2"
    if token is not None and token.type == "COMMA" and "=" in source_line:
        return "Dana has no tuple unpacking or bare tuples: write t = (1, 2)"
    return ""


def parse(source: str, filename: str = "<string>") -> A.Module:
    """Parse a whole Dana program."""
    from dana_poet.lang import ast as A

    text = source if source.endswith("\n") else source + "\n"
    try:
        body = _fast(text, "start")
        if body is _NOT_PARSED:
            body = _parse_with_lark(source, text, filename)
    except RecursionError:
        from dana_poet.lang.deep import deepest_line

        line = deepest_line(source)
        raise DanaSyntaxError(
            "the program nests too deeply to parse",
            filename=filename,
            line=line,
            column=1,
            source=source,
        ) from None
    if not isinstance(body, list):  # the builder's `start` makes the statement list
        raise TypeError(f"the AST builder made a {type(body).__name__} of a program")
    return A.Module(tuple(body), filename=filename)


def _parse_with_lark(source: str, text: str, filename: str) -> object:
    from lark.exceptions import LarkError, UnexpectedInput
    from lark.indenter import DedentError

    lark = _lark()
    try:
        return lark.parse(text, start="start")
    except DanaSyntaxError as err:  # raised by the AST builder, which knows no file
        raise _locate(_unclosed(err, source, at_end=False), filename, source) from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, source, filename, lark) from None
    except DedentError as exc:
        raise DanaSyntaxError(
            f"inconsistent indentation: {exc}", filename=filename, source=source
        ) from None
    except LarkError as exc:
        raise DanaSyntaxError(str(exc), filename=filename, source=source) from None


def _locate(err: DanaSyntaxError, filename: str, source: str) -> DanaSyntaxError:
    err.filename = filename
    if not err.source_line and err.line > 0:
        lines = source.splitlines()
        err.source_line = lines[err.line - 1] if err.line <= len(lines) else ""
    return err


def parse_expression(
    text: str, filename: str = "<string>", line: int = 1, column: int = 1
) -> A.Expr:
    """Parse one Dana expression (used for f-string fields and the REPL). `line` and
    `column` are where `text` starts in its file: the nodes' spans and any error's
    position are in the file's coordinates."""
    value = _fast(text, "test", line, column)
    if value is _NOT_PARSED:
        value = _expression_with_lark(text, filename, line, column)
    return _as_expression(value)


def _as_expression(value: object) -> A.Expr:
    from dana_poet.lang import ast as A

    if not isinstance(value, A.Expr):  # the builder makes an Expr of every `test`
        raise TypeError(f"the AST builder made a {type(value).__name__} of an expression")
    return value


def _expression_with_lark(text: str, filename: str, line: int, column: int) -> object:
    from lark.exceptions import LarkError, UnexpectedInput

    from dana_poet.lang.build import shift_spans
    from dana_poet.lang.postlex import DanaIndenter

    lark = _lark()
    indenter = lark.options.postlex
    if not isinstance(indenter, DanaIndenter):
        raise TypeError("the Dana parser runs without its indenter")
    # re-entrant: f-strings parse mid-file
    saved = (indenter.paren_level, list(indenter.indent_level))
    try:
        value = lark.parse(text, start="test")
    except DanaSyntaxError as err:  # from the builder or the postlexer: relative to `text`
        raise _shift(err, line, column) from None
    except UnexpectedInput as exc:
        raise _shift(_syntax_error(exc, text, filename, lark), line, column) from None
    except LarkError as exc:
        raise DanaSyntaxError(str(exc), filename=filename, line=line, column=column) from None
    finally:
        indenter.paren_level, indenter.indent_level = saved
    shift_spans(value, line - 1, column - 1)
    return value


def _shift(err: DanaSyntaxError, line: int, column: int) -> DanaSyntaxError:
    """Move a position inside an expression's text to where that text sits in its file."""
    if (line, column) == (1, 1):
        return err
    if err.line <= 1:
        err.column = column + max(err.column, 1) - 1
    err.line = line + max(err.line, 1) - 1
    err.source_line = ""  # the file's line is filled in by parse()
    return err


def _syntax_error(exc: UnexpectedInput, source: str, filename: str, lark: Lark) -> DanaSyntaxError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    line = getattr(exc, "line", 0) or 0
    column = getattr(exc, "column", 0) or 0
    lines = source.splitlines()
    token: Token | None = None
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END" or line <= 0:
            line = max(1, len(lines))
            column = len(lines[-1]) + 1 if lines else 1
        if token.type == "_INDENT" and token.end_line:
            # the indent borrows the position of the newline before it; point at the line
            line, column = token.end_line, len(str(token)) + 1
        what = f"unexpected {_describe_token(token)}".replace(
            "unexpected the ", "unexpected "
        ).replace("unexpected an unexpected", "unexpected")
        expected = _describe_expected(set(exc.accepts or exc.expected), lark)
    elif isinstance(exc, UnexpectedCharacters):
        at = exc.pos_in_stream
        char = source[at] if at is not None and at < len(source) else ""
        what = f"unexpected character {char!r}"
        if char in {"'", '"'}:
            what = "unterminated string"
        expected = ""
    else:
        what = "invalid syntax"
        expected = ""
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    message = what + (f"; {expected}" if expected else "")
    err = DanaSyntaxError(
        message,
        filename=filename,
        line=line,
        column=column,
        source_line=source_line,
        hint=_hint_for(token, source_line),
    )
    if token is None:
        return err
    return _unclosed(err, source, at_end=token.type == "$END")


def _unclosed(err: DanaSyntaxError, source: str, at_end: bool) -> DanaSyntaxError:
    """`err` as the bracket it comes from, when a bracket opened before it is never
    closed and the error is past that bracket's line (or at the end of the text)."""
    from dana_poet.lang.brackets import unclosed_bracket

    if err.line <= 0:
        return err
    found = unclosed_bracket(source, (err.line, err.column or 1))
    if found is None:
        return err
    bracket, line, column = found
    if line >= err.line and not at_end:
        return err
    lines = source.splitlines()
    return DanaSyntaxError(
        f"'{bracket}' was never closed",
        filename=err.filename,
        line=line,
        column=column,
        source_line=lines[line - 1] if line <= len(lines) else "",
        hint=f"the parse stopped at line {err.line}, column {err.column}: {err.message}",
    )
