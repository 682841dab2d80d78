"""Dana source -> Dana AST, with syntax errors a person can act on.

The Lark LALR parser runs with the AST builder attached as its transformer,
so no intermediate parse tree is built (that halves parse time). The parse
tables are cached on disk by Lark, keyed by the grammar's hash.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, Indenter

from dana_poet.lang import ast as A
from dana_poet.lang.errors import DanaSyntaxError


def _grammar_path() -> Path:
    """The installed copy (`dana_poet/grammar/` in a wheel) or the checkout's top-level
    `grammar/` (source tree and editable installs)."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "grammar" / "dana.lark"
    return installed if installed.is_file() else package.parent / "grammar" / "dana.lark"


GRAMMAR_PATH = _grammar_path()


class DanaIndenter(Indenter):
    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def _process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return super()._process(_split_slice_colons(_refuse_reserved_names(stream)))

    def handle_NL(self, token: Token) -> Iterator[Token]:  # noqa: N802 - Lark's name
        try:
            yield from super().handle_NL(token)
        except DedentError:
            indent = token.rsplit("\n", 1)[1]
            raise DanaSyntaxError(
                "this line's indentation matches no enclosing block",
                line=token.end_line or 0,
                column=len(indent) + 1,
            ) from None


# Words that are never names (spec §2.3). The contextual lexer reads a keyword as a
# NAME where the keyword cannot appear, so `and = 1` would otherwise parse.
RESERVED_WORDS = frozenset(
    """True true TRUE False false FALSE None none NONE null NULL private public local system
    if elif else while for in is not and or def sync return break continue pass deliver
    try except finally raise assert import from as export with lambda yield global nonlocal
    del""".split()
)
# Declaration words are reserved in the reference too, but real programs use them as
# field and variable names (`request.resource`); accepting them only turns reference
# syntax errors into working programs, which §0 allows.
_SCOPE_WORDS = frozenset({"private", "public", "local", "system"})


def _refuse_reserved_names(stream: Iterator[Token]) -> Iterator[Token]:
    for token in stream:
        if token.type == "NAME" and token in RESERVED_WORDS:
            hint = f"scope prefixes use a colon: {token}:name" if token in _SCOPE_WORDS else ""
            raise DanaSyntaxError(
                f"'{token}' is a reserved word and cannot be used as a name",
                line=token.line or 0,
                column=token.column or 0,
                hint=hint,
            )
        yield token


def _split_slice_colons(stream: Iterator[Token]) -> Iterator[Token]:
    """`x[a::2]`: the lexer reads `::` (the lambda separator); inside `[...]` with no
    `lambda` waiting for its `::`, it is two slice colons."""
    brackets: list[list[Any]] = [["", 0]]  # [opening bracket, lambdas awaiting `::`]
    for token in stream:
        kind = token.type
        if kind in ("LPAR", "LSQB", "LBRACE"):
            brackets.append([kind, 0])
        elif kind in ("RPAR", "RSQB", "RBRACE"):
            if len(brackets) > 1:
                brackets.pop()
        elif kind == "LAMBDA":
            brackets[-1][1] += 1
        elif token in ("::", "->") and brackets[-1][1] > 0:
            brackets[-1][1] -= 1
        elif token == "::" and brackets[-1][0] == "LSQB":
            yield Token.new_borrow_pos("COLON", ":", token)
            yield Token(
                "COLON",
                ":",
                (token.start_pos or 0) + 1,
                token.line,
                (token.column or 0) + 1,
                token.end_line,
                token.end_column,
                token.end_pos,
            )
            continue
        yield token


def _cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        tempfile.gettempdir(), "dana-poet-cache"
    )
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        return ""
    return os.path.join(base, "dana-lalr.cache")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    from dana_poet.lang.build import AstBuilder

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
    text = source if source.endswith("\n") else source + "\n"
    lark = _lark()
    try:
        body = lark.parse(text, start="start")
    except DanaSyntaxError as err:  # raised by the AST builder, which knows no file
        raise _locate(err, filename, source) from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, source, filename, lark) from None
    except DedentError as exc:
        raise DanaSyntaxError(
            f"inconsistent indentation: {exc}", filename=filename, source=source
        ) from None
    except LarkError as exc:
        raise DanaSyntaxError(str(exc), filename=filename, source=source) from None
    except RecursionError:
        raise DanaSyntaxError(
            "the program nests too deeply to parse", filename=filename, source=source
        ) from None
    return A.Module(tuple(body), filename=filename)


def _locate(err: DanaSyntaxError, filename: str, source: str) -> DanaSyntaxError:
    err.filename = filename
    if not err.source_line and err.line > 0:
        lines = source.splitlines()
        err.source_line = lines[err.line - 1] if err.line <= len(lines) else ""
    return err


def parse_expression(
    text: str, filename: str = "<string>", line: int = 1, column: int = 1
) -> A.Expr:
    """Parse one Dana expression (used for f-string fields and the REPL)."""
    lark = _lark()
    indenter = lark.options.postlex
    saved = (
        indenter.paren_level,
        list(indenter.indent_level),
    )  # re-entrant: f-strings parse mid-file
    try:
        return lark.parse(text, start="test")
    except DanaSyntaxError as err:  # from the builder or the postlexer: relative to `text`
        raise _shift(err, line, column) from None
    except UnexpectedInput as exc:
        raise _shift(_syntax_error(exc, text, filename, lark), line, column) from None
    except LarkError as exc:
        raise DanaSyntaxError(str(exc), filename=filename, line=line, column=column) from None
    finally:
        indenter.paren_level, indenter.indent_level = saved[0], saved[1]


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
        char = source[exc.pos_in_stream] if exc.pos_in_stream < len(source) else ""
        what = f"unexpected character {char!r}"
        if char in {"'", '"'}:
            what = "unterminated string"
        expected = ""
    else:
        what = "invalid syntax"
        expected = ""
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    message = what + (f"; {expected}" if expected else "")
    return DanaSyntaxError(
        message,
        filename=filename,
        line=line,
        column=column,
        source_line=source_line,
        hint=_hint_for(token, source_line),
    )
