"""Lark parse callbacks -> typed Dana AST (see lang/ast.py).

Each method is named after a grammar rule or alias and receives the rule's
children already built. The transformer runs inside the LALR parser, so the
parse tree is never materialised.
"""

from __future__ import annotations

import builtins
import re
import sys
from typing import Any

from dana_poet.lang import ast as A
from dana_poet.lang.analysis import walk
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.tokens import Token, is_token

_ESCAPE_RE = re.compile(
    r"\\(N\{[^}]*\}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{1,3}|\n|.)", re.S
)
_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\n": "",
}


def decode_escapes(text: str) -> str:
    """Process backslash escapes the way Python string literals do."""
    if "\\" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if body in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[body]
        head = body[0]
        if head in "uUx":
            if len(body) == 1:  # a truncated escape like "\x1" is kept as written
                return "\\" + body
            return chr(int(body[1:], 16))
        if head == "N":
            import unicodedata

            try:
                return unicodedata.lookup(body[2:-1])
            except KeyError:
                return "\\" + body
        if head.isdigit() and head in "01234567":
            return chr(int(body, 8))
        return "\\" + body

    return _ESCAPE_RE.sub(replace, text)


def _span(meta: Any) -> A.Span:
    if meta is None or getattr(meta, "empty", True):
        return A.NO_SPAN
    return A.Span(meta.line, meta.column, meta.end_line, meta.end_column)


_SEQUENCES = (tuple, list)


def _first_pos(item: Any) -> tuple[int, int] | None:
    if isinstance(item, A.Node):
        span = item.span  # type: ignore[attr-defined]
        if span[0]:
            return span[0], span[1]
        return None
    if isinstance(item, str):
        tok: Any = item  # a token of either lexer, or a plain string (no position)
        if type(tok) is not str and tok.line is not None:
            return tok.line, tok.column
        return None
    if isinstance(item, _SEQUENCES) and not isinstance(item, A.Span):
        for sub in item:
            pos = _first_pos(sub)
            if pos:
                return pos
    return None


def _last_pos(item: Any) -> tuple[int, int] | None:
    if isinstance(item, A.Node):
        span = item.span  # type: ignore[attr-defined]
        if span[0]:
            return span[2], span[3]
        return None
    if isinstance(item, str):
        tok: Any = item  # a token of either lexer, or a plain string (no position)
        if type(tok) is not str and tok.end_line is not None:
            return tok.end_line, tok.end_column
        return None
    if isinstance(item, _SEQUENCES) and not isinstance(item, A.Span):
        for sub in reversed(item):
            pos = _last_pos(sub)
            if pos:
                return pos
    return None


_new_span = tuple.__new__
_set = object.__setattr__
_Node = A.Node
_Span = A.Span


def _cspan(children: list[Any]) -> A.Span:
    """Span covering the children (keywords filtered by the grammar are not counted)."""
    # the common cases (a node or a fast-loop token first and last) without a call each
    for item in children:
        if isinstance(item, _Node):
            span = item.span  # type: ignore[attr-defined]
            if span[0]:
                line, column = span[0], span[1]
                break
        elif type(item) is Token and item.line is not None:
            line, column = item.line, item.column  # type: ignore[assignment]
            break
        elif item is not None:
            pos = _first_pos(item)
            if pos:
                line, column = pos
                break
    else:
        return A.NO_SPAN
    for item in reversed(children):
        if isinstance(item, _Node):
            span = item.span  # type: ignore[attr-defined]
            if span[0]:
                return _new_span(_Span, (line, column, span[2], span[3]))  # type: ignore[no-any-return]
        elif type(item) is Token and item.end_line is not None:
            return _new_span(_Span, (line, column, item.end_line, item.end_column))  # type: ignore[no-any-return]
        elif item is not None:
            pos = _last_pos(item)
            if pos:
                return _new_span(_Span, (line, column, pos[0], pos[1]))  # type: ignore[no-any-return]
    return _new_span(_Span, (line, column, line, column))  # type: ignore[no-any-return]


def _tok_span(tok: Token) -> A.Span:
    return _new_span(  # type: ignore[no-any-return]
        _Span, (tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)
    )


def _split_literal(token: str) -> tuple[str, str, str]:
    """Return (prefix, quote, body) of a string token."""
    i = 0
    while token[i] not in "'\"":
        i += 1
    prefix = token[:i].lower()
    rest = token[i:]
    quote = rest[:3] if rest[:3] in ('"""', "'''") else rest[0]
    return prefix, quote, rest[len(quote) : len(rest) - len(quote)]


def _find_field_end(body: str, start: int) -> int:
    """Index of the '}' closing the f-string field opened just before `start`."""
    depth = 0
    i = start
    quote: str | None = None
    while i < len(body):
        ch = body[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                if ch == "}":
                    return i
                # an unmatched ')' or ']' stays in the field: its parse points at it
            else:
                depth -= 1
        i += 1
    return -1


_SCOPE_BEFORE = re.compile(r"(?<![A-Za-z0-9_])(private|public|local|system)$")
_NAME_START = re.compile(r"[A-Za-z_]")


def _split_field(text: str) -> tuple[str, str | None, str | None]:
    """Split `expr!r:spec` into its parts, ignoring `!`/`:` nested in brackets or strings."""
    depth = 0
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "!" and text[i + 1 : i + 2] != "=":
            conv_end = i + 2
            spec = text[conv_end + 1 :] if text[conv_end : conv_end + 1] == ":" else None
            return text[:i], text[i + 1 : conv_end], spec
        elif depth == 0 and ch == ":" and text[i + 1 : i + 2] != ":":
            # `::` would be a lambda and `private:x` a scoped name; any other ':' starts the spec
            if i > 0 and text[i - 1] == ":":
                continue
            if _SCOPE_BEFORE.search(text[:i]) and _NAME_START.match(text[i + 1 :]):
                continue
            return text[:i], None, text[i + 1 :]
    return text, None, None


def shift_spans(node: object, lines: int, columns: int) -> None:
    """Move the spans of an expression parsed on its own (at line 1, column 1) to where
    its text sits in the file: `lines` down, and `columns` right on its first line. The
    nodes are changed in place: they are fresh from the parser and no one else holds them."""
    moved: set[int] = set()
    for node_ in walk(node, into_scopes=True):
        span = node_.span
        if not span[0] or id(node_) in moved:
            continue
        moved.add(id(node_))
        line, column, end_line, end_column = span
        _set(
            node_,
            "span",
            _new_span(
                _Span,
                (
                    line + lines,
                    column + (columns if line == 1 else 0),
                    end_line + lines,
                    end_column + (columns if end_line == 1 else 0),
                ),
            ),
        )


def _field_expression(text: str, filename: str, line: int, column: int) -> A.Expr:
    """An f-string field's expression, `text` starting at `line`:`column` of the file;
    `{2, 4, 6}` is a tuple, as in Python."""
    from dana_poet.lang.parser import parse_expression

    try:
        return parse_expression(text, filename, line, column)
    except DanaSyntaxError as err:
        if "," in text:
            try:
                value = parse_expression(f"({text})", filename, line, max(column - 1, 1))
            except DanaSyntaxError:
                value = None
            if isinstance(value, A.TupleExpr):
                return value
        # the end of the field's text is the end of the field, not of the file
        err.message = err.message.replace("end of the file", "end of the f-string field", 1)
        err.args = (err.message,)
        raise


def _body_position(body: str, index: int, origin: tuple[int, int]) -> tuple[int, int]:
    """The file's line and column of `body[index]`, the body starting at `origin`."""
    newlines = body.count("\n", 0, index)
    if not newlines:
        return origin[0], origin[1] + index
    return origin[0] + newlines, index - body.rindex("\n", 0, index)


def parse_fstring(
    body: str,
    raw: bool,
    span: A.Span,
    filename: str = "<string>",
    origin: tuple[int, int] | None = None,
) -> A.FString:
    """The f-string whose text between the quotes is `body`, starting at `origin` in the
    file (the f-string's own position if not given): errors point into the body."""
    if origin is None:
        origin = (span.line, span.column)

    def error(message: str, index: int) -> DanaSyntaxError:
        line, column = _body_position(body, index, origin)
        return DanaSyntaxError(message, line=line, column=column)

    parts: list[str | A.FormattedValue] = []
    literal: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "{":
            if body[i + 1 : i + 2] == "{":
                literal.append("{")
                i += 2
                continue
            end = _find_field_end(body, i + 1)
            if end < 0:
                raise error("f-string: '{' was never closed", i)
            if not body[i + 1 : end].strip():
                # `{}` holds no expression: Dana programs use it as literal text
                literal.append(body[i : end + 1])
                i = end + 1
                continue
            if literal:
                text = "".join(literal)
                parts.append(text if raw else decode_escapes(text))
                literal = []
            expr_text, conversion, spec = _split_field(body[i + 1 : end])
            stripped = expr_text.rstrip()
            if stripped.endswith("=") and stripped[-2:-1] not in ("=", "!", "<", ">"):
                # `{total=}` as in Python: the text, then the value (repr unless a spec is given)
                parts.append(expr_text)
                expr_text = stripped[:-1]
                if conversion is None and spec is None:
                    conversion = "r"
            if not expr_text.strip():
                raise error("f-string: empty expression inside '{}'", i)
            start = i + 1 + len(expr_text) - len(expr_text.lstrip())
            line, column = _body_position(body, start, origin)
            value = _field_expression(expr_text.strip(), filename, line, column)
            spec_node = (
                parse_fstring(
                    spec, raw, span, filename, _body_position(body, end - len(spec), origin)
                )
                if spec
                else None
            )
            if conversion is not None and conversion not in ("r", "s", "a"):
                raise error(
                    f"f-string: unknown conversion '!{conversion}'",
                    end - len(spec) - 2 - len(conversion)
                    if spec is not None
                    else end - 1 - len(conversion),
                )
            parts.append(A.FormattedValue(value, conversion, spec_node, span))
            i = end + 1
            continue
        if ch == "}":
            if body[i + 1 : i + 2] == "}":
                literal.append("}")
                i += 2
                continue
            raise error("f-string: single '}' is not allowed (write '}}')", i)
        literal.append(ch)
        i += 1
    if literal:
        text = "".join(literal)
        parts.append(text if raw else decode_escapes(text))
    return A.FString(tuple(parts), span)


def _assign_target(expr: A.Expr, what: str = "assign to") -> A.Expr:
    if isinstance(expr, A.Name | A.Attribute | A.Subscript):
        return expr
    span = getattr(expr, "span", A.NO_SPAN)
    kind = type(expr).__name__.lower()
    hint = (
        " (Dana has no tuple unpacking; assign each name on its own line)"
        if kind == "tupleexpr"
        else ""
    )
    raise DanaSyntaxError(
        f"cannot {what} this expression ({kind}){hint}", line=span.line, column=span.column
    )


def _dotted(e: A.Expr) -> str | None:
    if isinstance(e, A.Name) and e.scope is None:
        return e.id
    if isinstance(e, A.Attribute):
        base = _dotted(e.value)
        return f"{base}.{e.attr}" if base else None
    return None


def _has_capture(e: A.Expr) -> bool:
    return any(isinstance(n, A.Captured) for n in walk(e, into_scopes=True))


def _as_stage(e: A.Expr) -> A.Stage:
    """A pipeline stage from the expression it was parsed as."""
    name = _dotted(e)
    if name is not None:
        return A.StageCall(name, None, (), None, e.span)
    if isinstance(e, A.Call):
        func = _dotted(e.func)
        if func is not None:
            return A.StageCall(func, e.args, e.keywords, None, e.span)
    if isinstance(e, A.Captured):
        return A.replace(_as_stage(e.value), capture=e.name)
    if isinstance(e, A.ListExpr) and e.elts:
        parts = [_as_stage(x) for x in e.elts]
        if not any(isinstance(p, A.ExprStage) for p in parts):
            return A.ParallelStage(tuple(parts), None, e.span)
    return A.ExprStage(e, None, e.span)


def _flat_stmts(items: list[Any]) -> tuple[A.Stmt, ...]:
    return tuple(s for s in items if isinstance(s, A.Stmt))


_LBP = {
    "or": 1,
    "and": 2,
    "<": 4,
    ">": 4,
    "==": 4,
    ">=": 4,
    "<=": 4,
    "!=": 4,
    "in": 4,
    "not in": 4,
    "is": 4,
    "is not": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "//": 6,
    "%": 6,
    "**": 8,
}
_NOT_BP = 4  # `not x` takes comparisons and tighter
_UNARY_BP = 7  # `-x` takes only `**`: -2 ** 2 == -(2 ** 2)


def _join(first: Any, last: Any) -> A.Span:
    if isinstance(first, _Node) and isinstance(last, _Node):
        left, right = first.span, last.span  # type: ignore[attr-defined]
        if left[0] and right[0]:
            return _new_span(_Span, (left[0], left[1], right[2], right[3]))  # type: ignore[no-any-return]
    a = _first_pos(first)
    b = _last_pos(last)
    if a is None:
        return A.NO_SPAN
    b = b or a
    return A.Span(a[0], a[1], b[0], b[1])


class _Chain:
    """`prefix* operand (op prefix* operand)*` -> the expression tree Python's precedence gives."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.i = 0

    def _peek_op(self) -> str | None:
        if self.i < len(self.items):
            item = self.items[self.i]
            if isinstance(item, tuple) and item[0] == "bin":
                return item[1]
        return None

    def _operand(self) -> A.Expr:
        item = self.items[self.i]
        self.i += 1
        if isinstance(item, tuple) and item[0] == "pre":
            op, token = item[1], item[2]
            operand = self.parse(_NOT_BP if op == "not" else _UNARY_BP)
            return A.UnaryOp(op, operand, _join(token, operand))
        return item

    def parse(self, min_bp: int) -> A.Expr:
        left = self._operand()
        while True:
            op = self._peek_op()
            if op is None or _LBP[op] < min_bp:
                return left
            bp = _LBP[op]
            if op in ("or", "and"):
                values = [left]
                while self._peek_op() == op:
                    self.i += 1
                    values.append(self.parse(bp + 1))
                left = A.BoolOp(op, tuple(values), _join(values[0], values[-1]))
            elif bp == 4:
                ops: list[str] = []
                comparators: list[A.Expr] = []
                while (nxt := self._peek_op()) is not None and _LBP[nxt] == 4:
                    self.i += 1
                    ops.append(nxt)
                    comparators.append(self.parse(5))
                left = A.Compare(left, tuple(ops), tuple(comparators), _join(left, comparators[-1]))
            else:
                self.i += 1
                right = self.parse(bp if op == "**" else bp + 1)
                left = A.BinOp(left, op, right, _join(left, right))


class AstBuilder:
    """Builds Dana AST nodes; see grammar/dana.lark for the rule names. Lark calls these
    methods as its transformer (Lark's own pipeline), and so does the fast loop."""

    def __default__(self, data: str, children: list[Any], meta: Any) -> Any:
        """A rule with no method here (Lark's default: a parse tree node)."""
        from lark import Tree

        return Tree(data, children, meta)

    # ------------------------------------------------------------ program & statements
    def start(self, children: list[Any]) -> list[A.Stmt]:
        return list(_flat_stmts(children))

    def suite(self, children: list[Any]) -> tuple[A.Stmt, ...]:
        return _flat_stmts(children)

    def expr_stmt(self, c: list[Any]) -> A.Stmt:
        return A.ExprStmt(c[0], _cspan(c))

    def assign_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Assign(_assign_target(c[0]), c[1], None, _cspan(c))

    def annassign_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Assign(_assign_target(c[0]), c[2], c[1], _cspan(c))

    def augassign_stmt(self, c: list[Any]) -> A.Stmt:
        return A.AugAssign(_assign_target(c[0], "update"), str(c[1])[0], c[2], _cspan(c))

    def pass_stmt(self, c: list[Any]) -> A.Stmt:  # `!pass_stmt` keeps the keyword
        return A.Pass(_cspan(c))

    def break_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Break(_cspan(c))

    def continue_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Continue(_cspan(c))

    def return_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Return(c[1], _cspan(c))

    def raise_stmt(self, c: list[Any]) -> A.Stmt:
        exc = c[1]
        cause = c[3] if len(c) > 3 else None
        return A.Raise(exc, cause, _cspan(c))

    def assert_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Assert(c[0], c[1], _cspan(c))

    def dotted_name(self, c: list[Any]) -> Token:
        return Token.new_borrow_pos("DOTTED_NAME", ".".join(str(t) for t in c), c[0])

    def import_stmt(self, c: list[Any]) -> A.Stmt:
        return A.Import(str(c[0]), str(c[1]) if c[1] is not None else None, _cspan(c))

    def relative_module(self, c: list[Any]) -> tuple[int, str]:
        level = 0
        module = ""
        for item in c:
            if is_token(item) and item.type == "DOTS":
                level = len(item)
            else:
                module = str(item)
        return level, module

    def import_alias(self, c: list[Any]) -> tuple[str, str | None]:
        return str(c[0]), (str(c[1]) if c[1] is not None else None)

    def import_names(self, c: list[Any]) -> tuple[tuple[str, str | None], ...]:
        return tuple(c)

    def import_all(self, c: list[Any]) -> tuple[()]:
        return ()

    def from_import_stmt(self, c: list[Any]) -> A.Stmt:
        level, module = c[0]
        return A.ImportFrom(module, level, c[1], _cspan(c[1:]))

    def agent_stmt(self, c: list[Any]) -> A.Stmt:
        return A.AgentDecl(str(c[0]), str(c[1]) if c[1] is not None else None, (), False, _cspan(c))

    def agent_field(self, c: list[Any]) -> A.Keyword | tuple[str, str]:
        if isinstance(c[0], tuple):  # docstring
            return c[0]
        return A.Keyword(str(c[0]), c[1], _cspan(c))

    def agent_block(self, c: list[Any]) -> A.Stmt:
        typed = [f for f in c[2:] if isinstance(f, A.FieldDecl)]
        if typed:
            # `agent Name:` with typed fields declares an agent type, like agent_blueprint
            methods = tuple(m for m in c[2:] if isinstance(m, A.FunctionDef))
            base = str(c[1]) if c[1] is not None else None
            return A.TypeDecl("agent", str(c[0]), tuple(typed), None, methods, base, _cspan(c))
        fields = tuple(k for k in c[2:] if isinstance(k, A.Keyword))
        return A.AgentDecl(
            str(c[0]), str(c[1]) if c[1] is not None else None, fields, True, _cspan(c)
        )

    def if_stmt(self, c: list[Any]) -> A.Stmt:
        test, body = c[0], c[1]
        elifs = [x for x in c[2:-1] if x is not None]
        orelse: tuple[A.Stmt, ...] = c[-1] if c[-1] is not None else ()
        for e_test, e_body, e_span in reversed(elifs):
            orelse = (A.If(e_test, e_body, orelse, True, e_span),)
        return A.If(test, body, orelse, False, _cspan(c))

    def elif_clause(self, c: list[Any]) -> tuple[Any, ...]:
        return (c[0], c[1], _cspan(c))

    def else_clause(self, c: list[Any]) -> tuple[A.Stmt, ...]:
        return c[0]

    def finally_clause(self, c: list[Any]) -> tuple[A.Stmt, ...]:
        return c[0]

    def while_stmt(self, c: list[Any]) -> A.Stmt:
        return A.While(c[0], c[1], _cspan(c))

    def for_targets(self, c: list[Any]) -> tuple[Token, ...]:
        return tuple(c)

    def for_stmt(self, c: list[Any]) -> A.Stmt:
        return A.For(tuple(str(t) for t in c[0]), c[1], c[2], False, _cspan(c))

    def except_clause(self, c: list[Any]) -> A.ExceptHandler:
        return A.ExceptHandler(c[0], str(c[1]) if c[1] is not None else None, c[2], _cspan(c))

    def try_kw(self, c: list[Any]) -> Token:
        return c[0]

    def try_stmt(self, c: list[Any]) -> A.Stmt:
        body = c[1]
        handlers = tuple(h for h in c[2:-2] if isinstance(h, A.ExceptHandler))
        orelse = c[-2] or ()
        finalbody = c[-1] or ()
        span = _cspan(c)
        if not handlers and not finalbody:
            raise DanaSyntaxError(
                "'try' needs at least one 'except' or a 'finally' block",
                line=span.line,
                column=span.column,
            )
        return A.Try(body, handlers, orelse, finalbody, span)

    def with_item(self, c: list[Any]) -> A.WithItem:
        return A.WithItem(c[0], str(c[1]) if c[1] is not None else None, _cspan(c))

    def with_stmt(self, c: list[Any]) -> A.Stmt:
        return A.With(tuple(c[:-1]), c[-1], _cspan(c))

    # ------------------------------------------------------------ functions
    def sync(self, c: list[Any]) -> bool:
        return True

    def receiver(self, c: list[Any]) -> A.Param:
        return A.Param(str(c[0]), c[1], None, _cspan(c))

    lambda_receiver = receiver

    def param(self, c: list[Any]) -> A.Param:
        return A.Param(str(c[0]), c[1], c[2], _cspan(c))

    def params(self, c: list[Any]) -> tuple[A.Param, ...]:
        seen: set[str] = set()
        has_default = False
        for p in c:
            if p.name in seen:
                raise DanaSyntaxError(
                    f"duplicate parameter '{p.name}'", line=p.span.line, column=p.span.column
                )
            seen.add(p.name)
            if p.default is not None:
                has_default = True
            elif has_default:
                raise DanaSyntaxError(
                    f"parameter '{p.name}' without a default follows one with a default",
                    line=p.span.line,
                    column=p.span.column,
                )
        return tuple(c)

    lambda_params = params

    def funcdef(self, c: list[Any]) -> A.Stmt:
        is_sync, receiver, name, params, returns, body = c
        return A.FunctionDef(
            str(name), params or (), body, returns, (), receiver, bool(is_sync), _cspan(c)
        )

    def declarative_def(self, c: list[Any]) -> A.Stmt:
        is_sync, name, params, returns, stages = c
        return A.DeclarativeDef(
            str(name), params or (), stages, returns, (), bool(is_sync), _cspan(c)
        )

    def decorator(self, c: list[Any]) -> A.Decorator:
        name, call = str(c[0]), c[1]
        if call is None:
            return A.Decorator(name, None, (), _cspan(c))
        args, keywords = call
        return A.Decorator(name, args, keywords, _cspan(c))

    def decorated(self, c: list[Any]) -> A.Stmt:
        *decorators, definition = c
        return A.replace(definition, decorators=tuple(decorators), span=_cspan(c))

    def pipeline(self, c: list[Any]) -> tuple[A.Stage, ...]:
        stages = tuple(c)
        for stage in stages:
            if isinstance(stage, A.ExprStage) and _has_capture(stage.expr):
                span = stage.span
                raise DanaSyntaxError(
                    "'as' captures are only allowed on pipeline stages",
                    line=span.line,
                    column=span.column,
                )
        if len(stages) > 1:
            for stage in stages:
                if isinstance(stage, A.ExprStage):
                    span = stage.span
                    raise DanaSyntaxError(
                        "a pipeline stage must be a function name, a call or a list of those",
                        line=span.line,
                        column=span.column,
                    )
        return stages

    def pipe_stage(self, c: list[Any]) -> A.Stage:
        expr, capture = c
        stage = _as_stage(expr)
        return A.replace(stage, capture=str(capture)) if capture is not None else stage

    # ------------------------------------------------------------ declarations
    def type_kind(self, c: list[Any]) -> str:
        return str(c[0])

    def field_decl(self, c: list[Any]) -> A.FieldDecl:
        return A.FieldDecl(str(c[0]), c[1], c[2], _cspan(c))

    def docstring_line(self, c: list[Any]) -> tuple[str, str]:
        value = c[0]
        text = value.value if isinstance(value, A.Constant) and type(value.value) is str else ""
        return ("doc", text)

    def type_decl(self, c: list[Any]) -> A.Stmt:
        kind, name, base = c[0], str(c[1]), c[2]
        span = _cspan(c)
        fields: list[A.FieldDecl] = []
        methods: list[A.FunctionDef] = []
        docstring = None
        for item in c[3:]:
            if isinstance(item, A.FieldDecl):
                fields.append(item)
            elif isinstance(item, A.FunctionDef):
                methods.append(item)
            elif isinstance(item, tuple) and docstring is None and not fields:
                docstring = item[1]
        if base is not None and kind not in ("agent_blueprint", "agent"):
            raise DanaSyntaxError(
                f"{kind} '{name}' cannot inherit from '{base}'", line=span.line, column=span.column
            )
        names = [f.name for f in fields]
        for f in fields:
            if names.count(f.name) > 1:
                raise DanaSyntaxError(
                    f"field '{f.name}' is declared twice in {kind} '{name}'",
                    line=f.span.line,
                    column=f.span.column,
                )
        return A.TypeDecl(
            kind, name, tuple(fields), docstring, tuple(methods), str(base) if base else None, span
        )

    def interface_method(self, c: list[Any]) -> A.InterfaceMethod:
        return A.InterfaceMethod(str(c[0]), c[1] or (), c[2], _cspan(c))

    def interface_embed(self, c: list[Any]) -> str:
        return str(c[0])

    def interface_decl(self, c: list[Any]) -> A.Stmt:
        methods = tuple(m for m in c[1:] if isinstance(m, A.InterfaceMethod))
        embeds = tuple(m for m in c[1:] if isinstance(m, str))
        docs = [m[1] for m in c[1:] if isinstance(m, tuple)]
        return A.InterfaceDecl(str(c[0]), methods, embeds, docs[0] if docs else None, _cspan(c))

    # ------------------------------------------------------------ types
    def type_expr(self, c: list[Any]) -> A.TypeExpr:
        if len(c) == 1:
            return c[0]
        return A.TypeUnion(tuple(c), _cspan(c))

    def type_atom(self, c: list[Any]) -> A.TypeExpr:
        return A.TypeRef(str(c[0]), tuple(x for x in c[1:] if x is not None), _cspan(c))

    def type_none(self, c: list[Any]) -> A.TypeExpr:
        return A.TypeRef("None", (), _cspan(c))

    # ------------------------------------------------------------ expressions
    def ifexp(self, c: list[Any]) -> A.Expr:
        return A.IfExp(c[1], c[0], c[2], _cspan(c))

    def lambdef(self, c: list[Any]) -> A.Expr:
        receiver, params, body = c
        return A.Lambda(params or (), body, receiver, _cspan(c))

    def prefix_op(self, c: list[Any]) -> tuple[str, str, Token]:
        return ("pre", str(c[0]), c[0])

    def binop(self, c: list[Any]) -> tuple[str, str, Token]:
        if len(c) == 1:
            return ("bin", str(c[0]), c[0])
        return ("bin", " ".join(str(t) for t in c), c[0])

    def or_test(self, c: list[Any]) -> A.Expr:
        """Precedence climbing over a flat operator chain (Python's precedence)."""
        if len(c) == 3:  # `a op b`, most chains: the node _Chain would build, directly
            left, middle, right = c
            if left.__class__ is not tuple and middle[0] == "bin":
                op = middle[1]
                span = _join(left, right)
                if op == "or" or op == "and":
                    return A.BoolOp(op, (left, right), span)
                if _LBP[op] == 4:
                    return A.Compare(left, (op,), (right,), span)
                return A.BinOp(left, op, right, span)
        return _Chain(c).parse(0)

    def call_args(self, c: list[Any]) -> tuple[tuple[A.Expr, ...], tuple[A.Keyword, ...]]:
        items = c[0] or ()
        args: list[A.Expr] = []
        keywords: list[A.Keyword] = []
        seen: set[str] = set()
        for item in items:
            if isinstance(item, A.Keyword):
                if item.name in seen:
                    raise DanaSyntaxError(
                        f"keyword argument '{item.name}' repeated",
                        line=item.span.line,
                        column=item.span.column,
                    )
                seen.add(item.name)
                keywords.append(item)
            else:
                if keywords:
                    span = item.span
                    raise DanaSyntaxError(
                        "positional argument follows keyword argument",
                        line=span.line,
                        column=span.column,
                    )
                args.append(item)
        return tuple(args), tuple(keywords)

    def arguments(self, c: list[Any]) -> list[Any]:
        return c

    def kwarg(self, c: list[Any]) -> A.Keyword:
        return A.Keyword(str(c[0]), c[1], _cspan(c))

    def call(self, c: list[Any]) -> A.Expr:
        func, (args, keywords) = c
        return A.Call(func, args, keywords, _cspan(c))

    def subscript_list(self, c: list[Any]) -> tuple[A.Expr, ...]:
        return tuple(c)

    def slice(self, c: list[Any]) -> A.Expr:
        return A.Slice(c[0], c[1], c[2], _cspan(c))

    def getitem(self, c: list[Any]) -> A.Expr:
        return A.Subscript(c[0], c[1], _cspan(c))

    def getattr(self, c: list[Any]) -> A.Expr:
        return A.Attribute(c[0], str(c[1]), _cspan(c))

    # The literals. Each rule's `<rule>_at` makes the node from the lexeme and where it
    # starts: the fast loop calls it without making a token (lang/lalr.py).
    def name(self, c: list[Any]) -> A.Expr:
        tok = c[0]
        return self.name_at(str(tok), tok.type, tok.line, tok.column)

    def name_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        return A.Name(text, None, _new_span(_Span, (line, column, line, column + len(text))))

    def scoped_name(self, c: list[Any]) -> A.Expr:
        tok = c[0]
        return self.scoped_name_at(str(tok), tok.type, tok.line, tok.column)

    def scoped_name_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        scope, _, ident = text.partition(":")
        return A.Name(ident, scope, _new_span(_Span, (line, column, line, column + len(text))))

    def number(self, c: list[Any]) -> A.Expr:
        tok = c[0]
        return self.number_at(str(tok), tok.type, tok.line, tok.column)

    def number_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        try:
            value: int | float = float(text) if kind == "FLOAT_NUMBER" else int(text, 10)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits())
            raise DanaSyntaxError(
                f"integer literal too long ({len(text):,} digits; the limit is "
                f"{sys.get_int_max_str_digits():,})",
                line=line,
                column=column,
                hint="the limit is Python's; PYTHONINTMAXSTRDIGITS raises it",
            ) from None
        return A.Constant(value, _new_span(_Span, (line, column, line, column + len(text))))

    def string(self, c: list[Any]) -> A.Expr:
        tok = c[0]
        return self.string_at(str(tok), tok.type, tok.line, tok.column)

    def string_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        prefix, quote, body = _split_literal(text)
        raw = "r" in prefix
        if "\n" in text:  # a long string, or a newline escaped in a short one
            end = (line + text.count("\n"), len(text) - text.rindex("\n"))
        else:
            end = (line, column + len(text))
        span = _new_span(_Span, (line, column, *end))
        if "f" in prefix:
            start = len(text) - len(quote) - len(body)
            return parse_fstring(body, raw, span, origin=(line, column + start))
        return A.Constant(body if raw else decode_escapes(body), span)

    def true(self, c: list[Any]) -> A.Expr:
        return self.true_at(str(c[0]), c[0].type, c[0].line, c[0].column)

    def true_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        return A.Constant(True, _new_span(_Span, (line, column, line, column + len(text))))

    def false(self, c: list[Any]) -> A.Expr:
        return self.false_at(str(c[0]), c[0].type, c[0].line, c[0].column)

    def false_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        return A.Constant(False, _new_span(_Span, (line, column, line, column + len(text))))

    def none(self, c: list[Any]) -> A.Expr:
        return self.none_at(str(c[0]), c[0].type, c[0].line, c[0].column)

    def none_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        return A.Constant(None, _new_span(_Span, (line, column, line, column + len(text))))

    def placeholder(self, c: list[Any]) -> A.Expr:
        return self.placeholder_at(str(c[0]), c[0].type, c[0].line, c[0].column)

    def placeholder_at(self, text: str, kind: str, line: int, column: int) -> A.Expr:
        return A.Placeholder(_new_span(_Span, (line, column, line, column + len(text))))

    def augassign_expr(self, c: list[Any]) -> A.Expr:
        return A.AugAssignExpr(_assign_target(c[0], "update"), str(c[1])[0], c[2], _cspan(c))

    def captured(self, c: list[Any]) -> A.Expr:
        return A.Captured(c[0], str(c[1]), _cspan(c))

    def paren(self, c: list[Any]) -> A.Expr:
        return c[0]

    def empty_tuple(self, c: list[Any]) -> A.Expr:
        return A.TupleExpr((), _cspan(c))

    def tuple(self, c: list[Any]) -> A.Expr:
        return A.TupleExpr(tuple(c), _cspan(c))

    def empty_list(self, c: list[Any]) -> A.Expr:
        return A.ListExpr((), _cspan(c))

    def list(self, c: list[Any]) -> A.Expr:
        return A.ListExpr(tuple(c), _cspan(c))

    def empty_dict(self, c: builtins.list[Any]) -> A.Expr:
        return A.DictExpr((), (), _cspan(c))

    def dict_item(self, c: builtins.list[Any]) -> builtins.tuple[A.Expr, A.Expr]:
        return c[0], c[1]

    def dict(self, c: builtins.list[Any]) -> A.Expr:
        return A.DictExpr(tuple(k for k, _ in c), tuple(v for _, v in c), _cspan(c))

    def set(self, c: builtins.list[Any]) -> A.Expr:
        return A.SetExpr(tuple(c), _cspan(c))

    def comp_if(self, c: builtins.list[Any]) -> A.Expr:
        return c[0]

    def comp_for(self, c: builtins.list[Any]) -> builtins.tuple[A.CompFor, ...]:
        targets, iterable = tuple(str(t) for t in c[0]), c[1]
        rest = c[2:]
        nested: builtins.tuple[A.CompFor, ...] = ()
        if rest and (rest[-1] is None or isinstance(rest[-1], tuple)):
            nested = rest[-1] or ()
            rest = rest[:-1]
        return (A.CompFor(targets, iterable, tuple(rest), False, _cspan(c)),) + nested

    def listcomp(self, c: builtins.list[Any]) -> A.Expr:
        return A.Comprehension("list", c[0], c[1], None, _cspan(c))

    def setcomp(self, c: builtins.list[Any]) -> A.Expr:
        return A.Comprehension("set", c[0], c[1], None, _cspan(c))

    def genexp(self, c: builtins.list[Any]) -> A.Expr:
        return A.Comprehension("gen", c[0], c[1], None, _cspan(c))

    def dictcomp(self, c: builtins.list[Any]) -> A.Expr:
        return A.Comprehension("dict", c[0], c[2], c[1], _cspan(c))
