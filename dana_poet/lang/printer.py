"""Dana AST -> Dana source, so that `parse(to_source(tree)) == tree`.

Parentheses appear only where precedence needs them. Strings are re-quoted
with escapes, which Dana processes as Python does. Inside f-string fields a
literal may not contain the quote characters of any enclosing f-string, so
there every quote character in a string's text is written as `\\x22`/`\\x27`
and nested literals take the next free delimiter (see `_FSTRING_QUOTES`).
"""

from __future__ import annotations

import math
from typing import Any

from dana_poet.lang import ast as A
from dana_poet.lang.analysis import children

INDENT = "    "

# Binding strength, loosest first (Python's order, as the grammar has it).
_LAMBDA, _IFEXP, _OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _POW, _POSTFIX, _ATOM = range(12)
_BINARY = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "//": _MUL, "%": _MUL, "**": _POW}

# Delimiters from the outermost f-string inwards; the last one that is needed
# quotes the plain strings of the innermost fields.
_FSTRING_QUOTES = ("'''", '"""', '"', "'")

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str, delimiter: str, in_fstring: bool) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch in "'\"":
        if in_fstring:
            return f"\\x{ord(ch):02x}"
        return "\\" + ch if ch == delimiter[0] else ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape(text: str, delimiter: str, in_fstring: bool) -> str:
    return "".join(_escape_char(ch, delimiter, in_fstring) for ch in text)


def _fstring_depth(node: A.FString) -> int:
    """How many f-strings are nested in `node`, itself included."""
    deepest = 0
    for part in node.parts:
        if isinstance(part, A.FormattedValue):
            deepest = max(deepest, _nested_fstring_depth(part.value))
            if part.format_spec is not None:
                deepest = max(deepest, _fstring_depth(part.format_spec) - 1)
    return 1 + deepest


def _nested_fstring_depth(node: Any) -> int:
    if isinstance(node, A.FString):
        return _fstring_depth(node)
    if isinstance(node, A.Node):
        items: Any = children(node)
    elif isinstance(node, tuple | list):
        items = node
    else:
        return 0
    return max((_nested_fstring_depth(item) for item in items), default=0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _prec(e: A.Expr) -> int:
    if isinstance(e, A.Lambda):
        return _LAMBDA
    if isinstance(e, A.IfExp):
        return _IFEXP
    if isinstance(e, A.BoolOp):
        return _OR if e.op == "or" else _AND
    if isinstance(e, A.UnaryOp):
        return _NOT if e.op == "not" else _UNARY
    if isinstance(e, A.Compare):
        return _CMP
    if isinstance(e, A.BinOp):
        return _BINARY[e.op]
    if isinstance(e, A.Call | A.Attribute | A.Subscript):
        return _POSTFIX
    if isinstance(e, A.Constant) and _is_number(e.value) and e.value < 0:
        return _UNARY
    return _ATOM


class _Printer:
    """Prints nodes; remembers the f-string delimiters currently open."""

    def __init__(self) -> None:
        self.quotes: list[str] = []  # delimiters of enclosing f-strings, outermost first
        self.next_quote = 0  # index into _FSTRING_QUOTES for a literal opened inside a field

    # ------------------------------------------------------------ strings
    def string(self, text: str) -> str:
        if not self.quotes:
            delimiter = "'" if '"' in text and "'" not in text else '"'
            return delimiter + _escape(text, delimiter, False) + delimiter
        delimiter = _FSTRING_QUOTES[self.next_quote]
        return delimiter + _escape(text, delimiter, True) + delimiter

    def fstring(self, node: A.FString) -> str:
        if self.quotes:
            first = self.next_quote
        else:
            needed = _fstring_depth(node) + 1
            if needed > len(_FSTRING_QUOTES):
                raise ValueError("f-strings nested more than three deep cannot be printed")
            first = len(_FSTRING_QUOTES) - needed
        delimiter = _FSTRING_QUOTES[first]
        saved = self.next_quote
        self.quotes.append(delimiter)
        self.next_quote = first + 1
        try:
            body = "".join(self.fstring_part(p) for p in node.parts)
        finally:
            self.quotes.pop()
            self.next_quote = saved
        return f"f{delimiter}{body}{delimiter}"

    def fstring_part(self, part: str | A.FormattedValue) -> str:
        if isinstance(part, str):
            return _escape(part, self.quotes[-1], True).replace("{", "{{").replace("}", "}}")
        # a lambda's typed parameter would read as a format spec: keep lambdas in parentheses
        inner = self.wrap(part.value, _IFEXP)
        if inner.startswith("{"):
            inner = " " + inner  # `{{` would be a literal brace
        out = "{" + inner
        if part.conversion:
            out += "!" + part.conversion
        if part.format_spec is not None:
            out += ":" + "".join(self.fstring_part(p) for p in part.format_spec.parts)
        return out + "}"

    # ------------------------------------------------------------ expressions
    def wrap(self, e: A.Expr, minimum: int) -> str:
        text = self.expr(e)
        return f"({text})" if _prec(e) < minimum else text

    def constant(self, value: Any) -> str:
        if value is True:
            return "true"
        if value is False:
            return "false"
        if value is None:
            return "null"
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} has no Dana literal")
        return repr(value)

    def expr(self, e: A.Expr) -> str:  # noqa: C901 - one branch per node type
        if isinstance(e, A.Name):
            return f"{e.scope}:{e.id}" if e.scope else e.id
        if isinstance(e, A.Constant):
            return self.constant(e.value)
        if isinstance(e, A.FString):
            return self.fstring(e)
        if isinstance(e, A.ListExpr):
            return "[" + self.items(e.elts) + "]"
        if isinstance(e, A.TupleExpr):
            if len(e.elts) == 1:
                return f"({self.wrap(e.elts[0], _LAMBDA)},)"
            return "(" + self.items(e.elts) + ")"
        if isinstance(e, A.SetExpr):
            if not e.elts:
                raise ValueError("an empty set has no Dana literal (write set())")
            return "{" + self.items(e.elts) + "}"
        if isinstance(e, A.DictExpr):
            pairs = zip(e.keys, e.values, strict=True)
            return "{" + ", ".join(f"{self.expr(k)}: {self.expr(v)}" for k, v in pairs) + "}"
        if isinstance(e, A.Comprehension):
            return self.comprehension(e)
        if isinstance(e, A.Lambda):
            return self.lambda_(e)
        if isinstance(e, A.Call):
            return f"{self.wrap(e.func, _POSTFIX)}({self.arguments(e.args, e.keywords)})"
        if isinstance(e, A.Attribute):
            base = self.wrap(e.value, _POSTFIX)
            if (
                isinstance(e.value, A.Constant)
                and isinstance(e.value.value, int)
                and base.isdigit()
            ):
                base = f"({base})"  # `1.real` would lex as the float `1.`
            return f"{base}.{e.attr}"
        if isinstance(e, A.Subscript):
            return f"{self.wrap(e.value, _POSTFIX)}[{', '.join(self.index(i) for i in e.index)}]"
        if isinstance(e, A.Slice):
            return self.index(e)
        if isinstance(e, A.BinOp):
            if e.op == "**":  # right-associative; unary minus binds tighter on the right only
                return f"{self.wrap(e.left, _POSTFIX)} ** {self.wrap(e.right, _UNARY)}"
            level = _BINARY[e.op]
            return f"{self.wrap(e.left, level)} {e.op} {self.wrap(e.right, level + 1)}"
        if isinstance(e, A.UnaryOp):
            if e.op == "not":
                return f"not {self.wrap(e.operand, _NOT)}"
            return e.op + self.wrap(e.operand, _UNARY)
        if isinstance(e, A.BoolOp):
            level = _OR if e.op == "or" else _AND
            return f" {e.op} ".join(self.wrap(v, level + 1) for v in e.values)
        if isinstance(e, A.Compare):
            parts = [self.wrap(e.left, _ADD)]
            for op, right in zip(e.ops, e.comparators, strict=True):
                parts.append(f"{op} {self.wrap(right, _ADD)}")
            return " ".join(parts)
        if isinstance(e, A.IfExp):
            body, test = self.wrap(e.body, _OR), self.wrap(e.test, _OR)
            return f"{body} if {test} else {self.expr(e.orelse)}"
        if isinstance(e, A.Captured):
            return f"{self.expr(e.value)} as {e.name}"
        if isinstance(e, A.AugAssignExpr):
            return f"({self.expr(e.target)} {e.op}= {self.expr(e.value)})"
        if isinstance(e, A.Placeholder):
            return "$$"
        raise TypeError(f"cannot print {type(e).__name__} as a Dana expression")

    def items(self, elts: tuple[A.Expr, ...]) -> str:
        return ", ".join(self.expr(x) for x in elts)

    def arguments(self, args: tuple[A.Expr, ...], keywords: tuple[A.Keyword, ...]) -> str:
        if len(args) == 1 and not keywords:
            only = args[0]
            if isinstance(only, A.Comprehension) and only.kind == "gen":
                return self.expr(only)[1:-1]  # `sum(x for x in xs)`
        parts = [self.expr(a) for a in args] + [f"{k.name}={self.expr(k.value)}" for k in keywords]
        return ", ".join(parts)

    def index(self, i: A.Expr) -> str:
        if not isinstance(i, A.Slice):
            return self.expr(i)
        bounds = [i.lower, i.upper] + ([i.step] if i.step is not None else [])
        return ":".join(self.wrap(b, _IFEXP) if b is not None else "" for b in bounds)

    def comprehension(self, e: A.Comprehension) -> str:
        clauses = []
        for g in e.generators:
            clauses.append(f"for {', '.join(g.targets)} in {self.wrap(g.iter, _OR)}")
            clauses.extend(f"if {self.wrap(c, _OR)}" for c in g.conditions)
        tail = " ".join(clauses)
        if e.kind == "dict":
            assert e.value is not None
            return f"{{({self.expr(e.element)}: {self.expr(e.value)}) {tail}}}"
        element = self.wrap(e.element, _OR)  # the reference wants conditionals parenthesised here
        brackets = {"list": "[]", "set": "{}", "gen": "()"}[e.kind]
        return f"{brackets[0]}{element} {tail}{brackets[1]}"

    def lambda_(self, e: A.Lambda) -> str:
        head = "lambda"
        if e.receiver is not None:
            head += f" ({self.param(e.receiver)})"
        if e.params:
            # a default that is itself a conditional or lambda would swallow the `::`
            head += " " + ", ".join(self.param(p, _OR) for p in e.params)
        return f"{head} :: {self.expr(e.body)}"

    # ------------------------------------------------------------ definitions
    def param(self, p: A.Param, default_minimum: int = _LAMBDA) -> str:
        out = p.name
        if p.annotation is not None:
            out += f": {type_source(p.annotation)}"
        if p.default is not None:
            out += f" = {self.wrap(p.default, default_minimum)}"
        return out

    def params(self, params: tuple[A.Param, ...]) -> str:
        return ", ".join(self.param(p) for p in params)

    def signature(self, s: A.FunctionDef | A.DeclarativeDef) -> str:
        head = "sync def " if s.is_sync else "def "
        if isinstance(s, A.FunctionDef) and s.receiver is not None:
            head += f"({self.param(s.receiver)}) "
        head += f"{s.name}({self.params(s.params)})"
        if s.returns is not None:
            head += f" -> {type_source(s.returns)}"
        return head

    def decorators(self, decorators: tuple[A.Decorator, ...], pad: str) -> list[str]:
        out = []
        for d in decorators:
            call = "" if d.args is None else f"({self.arguments(d.args, d.keywords)})"
            out.append(f"{pad}@{d.name}{call}")
        return out

    def stage(self, s: A.Stage) -> str:
        if isinstance(s, A.ExprStage):
            return self.expr(s.expr) + (f" as {s.capture}" if s.capture else "")
        if isinstance(s, A.ParallelStage):
            text = "[" + ", ".join(self.stage(x) for x in s.stages) + "]"
        elif s.args is None:
            text = s.func
        else:
            text = f"{s.func}({self.arguments(s.args, s.keywords)})"
        return text + (f" as {s.capture}" if s.capture else "")

    # ------------------------------------------------------------ statements
    def block(self, body: tuple[A.Stmt, ...], depth: int) -> list[str]:
        if not body:
            raise ValueError("a Dana block needs at least one statement")
        return [line for s in body for line in self.stmt(s, depth)]

    def stmt(self, s: A.Stmt, depth: int = 0) -> list[str]:  # noqa: C901 - one branch per node type
        pad = INDENT * depth
        if isinstance(s, A.ExprStmt):
            return [pad + self.expr(s.value)]
        if isinstance(s, A.Assign):
            text = self.expr(s.target)
            if s.annotation is not None:
                text += f": {type_source(s.annotation)}"
            if s.value is not None:
                text += f" = {self.expr(s.value)}"
            return [pad + text]
        if isinstance(s, A.AugAssign):
            return [f"{pad}{self.expr(s.target)} {s.op}= {self.expr(s.value)}"]
        if isinstance(s, A.Pass | A.Break | A.Continue):
            return [pad + type(s).__name__.lower()]
        if isinstance(s, A.Return):
            if s.value is None:
                return [pad + "return"]
            if isinstance(s.value, A.TupleExpr) and len(s.value.elts) > 1:
                return [pad + "return " + self.items(s.value.elts)]
            return [pad + "return " + self.expr(s.value)]
        if isinstance(s, A.Raise):
            text = "raise" if s.exc is None else f"raise {self.expr(s.exc)}"
            if s.cause is not None:
                text += f" from {self.expr(s.cause)}"
            return [pad + text]
        if isinstance(s, A.Assert):
            message = f", {self.expr(s.msg)}" if s.msg is not None else ""
            return [f"{pad}assert {self.expr(s.test)}{message}"]
        if isinstance(s, A.If):
            return self.if_(s, depth)
        if isinstance(s, A.While):
            return [f"{pad}while {self.expr(s.test)}:", *self.block(s.body, depth + 1)]
        if isinstance(s, A.For):
            head = f"{pad}for {', '.join(s.targets)} in {self.expr(s.iter)}:"
            return [head, *self.block(s.body, depth + 1)]
        if isinstance(s, A.Try):
            return self.try_(s, depth)
        if isinstance(s, A.With):
            items = ", ".join(
                self.expr(i.context) + (f" as {i.name}" if i.name else "") for i in s.items
            )
            return [f"{pad}with {items}:", *self.block(s.body, depth + 1)]
        if isinstance(s, A.FunctionDef):
            head = f"{pad}{self.signature(s)}:"
            return [*self.decorators(s.decorators, pad), head, *self.block(s.body, depth + 1)]
        if isinstance(s, A.DeclarativeDef):
            pipeline = " | ".join(self.stage(x) for x in s.stages)
            return [*self.decorators(s.decorators, pad), f"{pad}{self.signature(s)} = {pipeline}"]
        if isinstance(s, A.TypeDecl):
            return self.type_decl(s, depth)
        if isinstance(s, A.AgentDecl):
            head = f"{pad}agent {s.name}" + (f"({s.blueprint})" if s.blueprint else "")
            if not s.has_block:
                return [head]
            inner = pad + INDENT
            fields = [f"{inner}{k.name} = {self.expr(k.value)}" for k in s.overrides]
            return [head + ":", *(fields or [inner + '""'])]  # an agent block has no `pass`
        if isinstance(s, A.InterfaceDecl):
            return self.interface(s, depth)
        if isinstance(s, A.Import):
            return [f"{pad}import {s.module}" + (f" as {s.alias}" if s.alias else "")]
        if isinstance(s, A.ImportFrom):
            names = ", ".join(n + (f" as {a}" if a else "") for n, a in s.names) or "*"
            return [f"{pad}from {'.' * s.level}{s.module} import {names}"]
        raise TypeError(f"cannot print {type(s).__name__} as a Dana statement")

    def if_(self, s: A.If, depth: int) -> list[str]:
        pad = INDENT * depth
        out = [f"{pad}if {self.expr(s.test)}:", *self.block(s.body, depth + 1)]
        orelse = s.orelse
        while len(orelse) == 1 and isinstance(orelse[0], A.If) and orelse[0].is_elif:
            branch = orelse[0]
            out += [f"{pad}elif {self.expr(branch.test)}:", *self.block(branch.body, depth + 1)]
            orelse = branch.orelse
        if orelse:
            out += [f"{pad}else:", *self.block(orelse, depth + 1)]
        return out

    def try_(self, s: A.Try, depth: int) -> list[str]:
        pad = INDENT * depth
        out = [pad + "try:", *self.block(s.body, depth + 1)]
        for h in s.handlers:
            head = "except"
            if h.type is not None:
                head += " " + self.expr(h.type)
            if h.name:
                head += f" as {h.name}"
            out += [f"{pad}{head}:", *self.block(h.body, depth + 1)]
        if s.orelse:
            out += [pad + "else:", *self.block(s.orelse, depth + 1)]
        if s.finalbody:
            out += [pad + "finally:", *self.block(s.finalbody, depth + 1)]
        return out

    def type_decl(self, s: A.TypeDecl, depth: int) -> list[str]:
        pad, inner = INDENT * depth, INDENT * (depth + 1)
        out = [f"{pad}{s.kind} {s.name}" + (f"({s.base})" if s.base else "") + ":"]
        if s.docstring is not None:
            out.append(inner + self.string(s.docstring))
        for f in s.fields:
            default = f" = {self.expr(f.default)}" if f.default is not None else ""
            out.append(f"{inner}{f.name}: {type_source(f.annotation)}{default}")
        for m in s.methods:
            out += self.stmt(m, depth + 1)
        if len(out) == 1:
            out.append(inner + "pass")
        return out

    def interface(self, s: A.InterfaceDecl, depth: int) -> list[str]:
        pad, inner = INDENT * depth, INDENT * (depth + 1)
        out = [f"{pad}interface {s.name}:"]
        if s.docstring is not None:
            out.append(inner + self.string(s.docstring))
        for m in s.methods:
            returns = f" -> {type_source(m.returns)}" if m.returns is not None else ""
            out.append(f"{inner}{m.name}({self.params(m.params)}){returns}")
        out += [inner + e for e in s.embeds]
        if len(out) == 1:
            out.append(inner + "pass")
        return out


def type_source(t: A.TypeExpr) -> str:
    """`int`, `list[str]`, `dict[str, int | None]`, `A | B`."""
    if isinstance(t, A.TypeUnion):
        return " | ".join(type_source(o) for o in t.options)
    if t.args:
        return f"{t.name}[{', '.join(type_source(a) for a in t.args)}]"
    return t.name


def to_source(node: A.Node) -> str:
    """Dana source for a module, statement (with trailing newline), expression or type."""
    printer = _Printer()
    if isinstance(node, A.Module):
        return "".join(line + "\n" for s in node.body for line in printer.stmt(s))
    if isinstance(node, A.Stmt):
        return "".join(line + "\n" for line in printer.stmt(node))
    if isinstance(node, A.TypeRef | A.TypeUnion):
        return type_source(node)
    if isinstance(node, A.Expr):
        return printer.expr(node)
    raise TypeError(f"cannot print {type(node).__name__}")


def dump_ast(module: A.Module) -> str:
    """An indented view of the tree with source positions, for `dana-poet parse --ast`."""
    lines: list[str] = []

    def walk(value: Any, depth: int, label: str) -> None:
        pad = "  " * depth
        prefix = f"{label}: " if label else ""
        if isinstance(value, A.Node):
            fields = list(value._fields)
            children = [n for n in fields if isinstance(getattr(value, n), A.Node | tuple)]
            simple = " ".join(
                f"{n}={getattr(value, n)!r}"
                for n in fields
                if n not in children
                and getattr(value, n) is not None
                and getattr(value, n) is not False
            )
            span = getattr(value, "span", A.NO_SPAN)
            where = f"  @{span.line}:{span.column}" if span.line else ""
            lines.append(
                f"{pad}{prefix}{type(value).__name__}{' ' + simple if simple else ''}{where}"
            )
            for n in children:
                child = getattr(value, n)
                if child != ():
                    walk(child, depth + 1, n)
        elif isinstance(value, tuple):
            if not any(isinstance(v, A.Node) for v in value):
                lines.append(f"{pad}{prefix}{list(value)!r}")
                return
            lines.append(f"{pad}{prefix}[{len(value)}]")
            for item in value:
                walk(item, depth + 1, "")
        else:
            lines.append(f"{pad}{prefix}{value!r}")

    for s in module.body:
        walk(s, 0, "")
    return "\n".join(lines)
