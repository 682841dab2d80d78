"""Typed, immutable Dana AST nodes.

Every node carries a `span` (ignored by equality) so that errors and compiled
code can point back at the `.na` source. Equality compares structure only,
which is what the printer round-trip relies on. Nodes are immutable: make a
changed copy with `replace(node, field=value)`.
"""

from __future__ import annotations

from typing import Any, ClassVar

_set = object.__setattr__


class Span(tuple):
    """Where a node is in its file: 1-based line and column of its start and end."""

    __slots__ = ()

    def __new__(
        cls, line: int = 0, column: int = 0, end_line: int = 0, end_column: int = 0
    ) -> Span:
        return tuple.__new__(cls, (line, column, end_line, end_column))

    @property
    def line(self) -> int:
        return self[0]

    @property
    def column(self) -> int:
        return self[1]

    @property
    def end_line(self) -> int:
        return self[2]

    @property
    def end_column(self) -> int:
        return self[3]

    def __repr__(self) -> str:
        return "Span(line={}, column={}, end_line={}, end_column={})".format(*self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Span, tuple(self))


NO_SPAN = Span()


class Node:
    """Base of every node: immutable, compared and hashed by its fields (never its span).

    The classes are written out rather than made by `dataclasses`: creating 58 frozen
    dataclasses cost a third of the start-up time of `dana-poet run`."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    span: Span  # a slot of every concrete node

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} nodes are immutable; use ast.replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} nodes are immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(getattr(self, f) for f in self._fields)))

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, f) for f in (*self._fields, "span")))


class Expr(Node):
    __slots__ = ()


class Stmt(Node):
    __slots__ = ()


def fields(node: Node) -> tuple[str, ...]:
    """The node's field names, span excluded, in declaration order."""
    return node._fields


def replace(node: Any, **changes: Any) -> Any:
    """A copy of `node` with some fields (or its span) changed."""
    values = {f: getattr(node, f) for f in (*node._fields, "span")}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(node).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(node)(**values)


# ---------------------------------------------------------------- types


class TypeRef(Node):
    """A named type, optionally generic: `int`, `list[str]`, `dict[str, int]`, `Point`."""

    __slots__ = ("name", "args", "span")
    _fields = (
        "name",
        "args",
    )
    name: str
    args: tuple[TypeExpr, ...]
    span: Span

    def __init__(self, name: str, args: tuple[TypeExpr, ...] = (), span: Span = NO_SPAN) -> None:
        _set(self, "name", name)
        _set(self, "args", args)
        _set(self, "span", span)


class TypeUnion(Node):
    __slots__ = ("options", "span")
    _fields = ("options",)
    options: tuple[TypeExpr, ...]
    span: Span

    def __init__(self, options: tuple[TypeExpr, ...], span: Span = NO_SPAN) -> None:
        _set(self, "options", options)
        _set(self, "span", span)


TypeExpr = TypeRef | TypeUnion


# ---------------------------------------------------------------- expressions


class Name(Expr):
    __slots__ = ("id", "scope", "span")
    _fields = (
        "id",
        "scope",
    )
    id: str
    scope: str | None  # "private", "public", "system", "local" or None
    span: Span

    def __init__(self, id: str, scope: str | None = None, span: Span = NO_SPAN) -> None:
        _set(self, "id", id)
        _set(self, "scope", scope)
        _set(self, "span", span)


class Constant(Expr):
    __slots__ = ("value", "span")
    _fields = ("value",)
    value: Any
    span: Span

    def __init__(self, value: Any, span: Span = NO_SPAN) -> None:
        _set(self, "value", value)
        _set(self, "span", span)


class FormattedValue(Expr):
    __slots__ = ("value", "conversion", "format_spec", "span")
    _fields = (
        "value",
        "conversion",
        "format_spec",
    )
    value: Expr
    conversion: str | None
    format_spec: FString | None
    span: Span

    def __init__(
        self,
        value: Expr,
        conversion: str | None = None,
        format_spec: FString | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "value", value)
        _set(self, "conversion", conversion)
        _set(self, "format_spec", format_spec)
        _set(self, "span", span)


class FString(Expr):
    __slots__ = ("parts", "span")
    _fields = ("parts",)
    parts: tuple[str | FormattedValue, ...]
    span: Span

    def __init__(self, parts: tuple[str | FormattedValue, ...], span: Span = NO_SPAN) -> None:
        _set(self, "parts", parts)
        _set(self, "span", span)


class ListExpr(Expr):
    __slots__ = ("elts", "span")
    _fields = ("elts",)
    elts: tuple[Expr, ...]
    span: Span

    def __init__(self, elts: tuple[Expr, ...], span: Span = NO_SPAN) -> None:
        _set(self, "elts", elts)
        _set(self, "span", span)


class TupleExpr(Expr):
    __slots__ = ("elts", "span")
    _fields = ("elts",)
    elts: tuple[Expr, ...]
    span: Span

    def __init__(self, elts: tuple[Expr, ...], span: Span = NO_SPAN) -> None:
        _set(self, "elts", elts)
        _set(self, "span", span)


class SetExpr(Expr):
    __slots__ = ("elts", "span")
    _fields = ("elts",)
    elts: tuple[Expr, ...]
    span: Span

    def __init__(self, elts: tuple[Expr, ...], span: Span = NO_SPAN) -> None:
        _set(self, "elts", elts)
        _set(self, "span", span)


class DictExpr(Expr):
    __slots__ = ("keys", "values", "span")
    _fields = (
        "keys",
        "values",
    )
    keys: tuple[Expr, ...]
    values: tuple[Expr, ...]
    span: Span

    def __init__(
        self,
        keys: tuple[Expr, ...],
        values: tuple[Expr, ...],
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "keys", keys)
        _set(self, "values", values)
        _set(self, "span", span)


class CompFor(Node):
    __slots__ = ("targets", "iter", "conditions", "parenthesized", "span")
    _fields = (
        "targets",
        "iter",
        "conditions",
        "parenthesized",
    )
    targets: tuple[str, ...]
    iter: Expr
    conditions: tuple[Expr, ...]
    parenthesized: bool
    span: Span

    def __init__(
        self,
        targets: tuple[str, ...],
        iter: Expr,
        conditions: tuple[Expr, ...] = (),
        parenthesized: bool = False,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "targets", targets)
        _set(self, "iter", iter)
        _set(self, "conditions", conditions)
        _set(self, "parenthesized", parenthesized)
        _set(self, "span", span)


class Comprehension(Expr):
    """`[e for ...]`, `{e for ...}`, `(e for ...)` or `{(k: v) for ...}` (kind 'dict')."""

    __slots__ = ("kind", "element", "generators", "value", "span")
    _fields = (
        "kind",
        "element",
        "generators",
        "value",
    )
    kind: str  # "list", "set", "gen", "dict"
    element: Expr
    generators: tuple[CompFor, ...]
    value: Expr | None
    span: Span

    def __init__(
        self,
        kind: str,
        element: Expr,
        generators: tuple[CompFor, ...],
        value: Expr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "kind", kind)
        _set(self, "element", element)
        _set(self, "generators", generators)
        _set(self, "value", value)
        _set(self, "span", span)


class Param(Node):
    __slots__ = ("name", "annotation", "default", "span")
    _fields = (
        "name",
        "annotation",
        "default",
    )
    name: str
    annotation: TypeExpr | None
    default: Expr | None
    span: Span

    def __init__(
        self,
        name: str,
        annotation: TypeExpr | None = None,
        default: Expr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "annotation", annotation)
        _set(self, "default", default)
        _set(self, "span", span)


class Lambda(Expr):
    __slots__ = ("params", "body", "receiver", "span")
    _fields = (
        "params",
        "body",
        "receiver",
    )
    params: tuple[Param, ...]
    body: Expr
    receiver: Param | None
    span: Span

    def __init__(
        self,
        params: tuple[Param, ...],
        body: Expr,
        receiver: Param | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "params", params)
        _set(self, "body", body)
        _set(self, "receiver", receiver)
        _set(self, "span", span)


class Keyword(Node):
    __slots__ = ("name", "value", "span")
    _fields = (
        "name",
        "value",
    )
    name: str
    value: Expr
    span: Span

    def __init__(self, name: str, value: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)


class Call(Expr):
    __slots__ = ("func", "args", "keywords", "span")
    _fields = (
        "func",
        "args",
        "keywords",
    )
    func: Expr
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span

    def __init__(
        self,
        func: Expr,
        args: tuple[Expr, ...] = (),
        keywords: tuple[Keyword, ...] = (),
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "func", func)
        _set(self, "args", args)
        _set(self, "keywords", keywords)
        _set(self, "span", span)


class Attribute(Expr):
    __slots__ = ("value", "attr", "span")
    _fields = (
        "value",
        "attr",
    )
    value: Expr
    attr: str
    span: Span

    def __init__(self, value: Expr, attr: str, span: Span = NO_SPAN) -> None:
        _set(self, "value", value)
        _set(self, "attr", attr)
        _set(self, "span", span)


class Slice(Expr):
    __slots__ = ("lower", "upper", "step", "span")
    _fields = (
        "lower",
        "upper",
        "step",
    )
    lower: Expr | None
    upper: Expr | None
    step: Expr | None
    span: Span

    def __init__(
        self,
        lower: Expr | None = None,
        upper: Expr | None = None,
        step: Expr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "lower", lower)
        _set(self, "upper", upper)
        _set(self, "step", step)
        _set(self, "span", span)


class Subscript(Expr):
    __slots__ = ("value", "index", "span")
    _fields = (
        "value",
        "index",
    )
    value: Expr
    index: tuple[Expr, ...]
    span: Span

    def __init__(self, value: Expr, index: tuple[Expr, ...], span: Span = NO_SPAN) -> None:
        _set(self, "value", value)
        _set(self, "index", index)
        _set(self, "span", span)


class BinOp(Expr):
    __slots__ = ("left", "op", "right", "span")
    _fields = (
        "left",
        "op",
        "right",
    )
    left: Expr
    op: str
    right: Expr
    span: Span

    def __init__(self, left: Expr, op: str, right: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "left", left)
        _set(self, "op", op)
        _set(self, "right", right)
        _set(self, "span", span)


class UnaryOp(Expr):
    __slots__ = ("op", "operand", "span")
    _fields = (
        "op",
        "operand",
    )
    op: str  # "-", "+", "not"
    operand: Expr
    span: Span

    def __init__(self, op: str, operand: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "op", op)
        _set(self, "operand", operand)
        _set(self, "span", span)


class BoolOp(Expr):
    __slots__ = ("op", "values", "span")
    _fields = (
        "op",
        "values",
    )
    op: str  # "and", "or"
    values: tuple[Expr, ...]
    span: Span

    def __init__(self, op: str, values: tuple[Expr, ...], span: Span = NO_SPAN) -> None:
        _set(self, "op", op)
        _set(self, "values", values)
        _set(self, "span", span)


class Compare(Expr):
    __slots__ = ("left", "ops", "comparators", "span")
    _fields = (
        "left",
        "ops",
        "comparators",
    )
    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]
    span: Span

    def __init__(
        self,
        left: Expr,
        ops: tuple[str, ...],
        comparators: tuple[Expr, ...],
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "left", left)
        _set(self, "ops", ops)
        _set(self, "comparators", comparators)
        _set(self, "span", span)


class IfExp(Expr):
    __slots__ = ("test", "body", "orelse", "span")
    _fields = (
        "test",
        "body",
        "orelse",
    )
    test: Expr
    body: Expr
    orelse: Expr
    span: Span

    def __init__(self, test: Expr, body: Expr, orelse: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "test", test)
        _set(self, "body", body)
        _set(self, "orelse", orelse)
        _set(self, "span", span)


class AugAssignExpr(Expr):
    """`(x += 5)`: updates the target and has the new value."""

    __slots__ = ("target", "op", "value", "span")
    _fields = (
        "target",
        "op",
        "value",
    )
    target: Expr
    op: str
    value: Expr
    span: Span

    def __init__(self, target: Expr, op: str, value: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "target", target)
        _set(self, "op", op)
        _set(self, "value", value)
        _set(self, "span", span)


class Captured(Expr):
    """`f as name` inside a parallel pipeline stage `[f as a, g]`; nowhere else."""

    __slots__ = ("value", "name", "span")
    _fields = (
        "value",
        "name",
    )
    value: Expr
    name: str
    span: Span

    def __init__(self, value: Expr, name: str, span: Span = NO_SPAN) -> None:
        _set(self, "value", value)
        _set(self, "name", name)
        _set(self, "span", span)


class Placeholder(Expr):
    """`$$` inside a pipeline stage: the value flowing through the pipeline."""

    __slots__ = ("span",)
    _fields = ()
    span: Span

    def __init__(self, span: Span = NO_SPAN) -> None:
        _set(self, "span", span)


# ---------------------------------------------------------------- pipelines


class StageCall(Node):
    """A pipeline stage naming a function, called (`f(a)`) or not (`f`)."""

    __slots__ = ("func", "args", "keywords", "capture", "span")
    _fields = (
        "func",
        "args",
        "keywords",
        "capture",
    )
    func: str
    args: tuple[Expr, ...] | None
    keywords: tuple[Keyword, ...]
    capture: str | None
    span: Span

    def __init__(
        self,
        func: str,
        args: tuple[Expr, ...] | None = None,
        keywords: tuple[Keyword, ...] = (),
        capture: str | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "func", func)
        _set(self, "args", args)
        _set(self, "keywords", keywords)
        _set(self, "capture", capture)
        _set(self, "span", span)


class ParallelStage(Node):
    __slots__ = ("stages", "capture", "span")
    _fields = (
        "stages",
        "capture",
    )
    stages: tuple[Stage, ...]
    capture: str | None
    span: Span

    def __init__(
        self,
        stages: tuple[Stage, ...],
        capture: str | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "stages", stages)
        _set(self, "capture", capture)
        _set(self, "span", span)


class ExprStage(Node):
    """`def f(x) = x + 1`: a declarative body that is one expression, not a pipeline."""

    __slots__ = ("expr", "capture", "span")
    _fields = (
        "expr",
        "capture",
    )
    expr: Expr
    capture: str | None
    span: Span

    def __init__(self, expr: Expr, capture: str | None = None, span: Span = NO_SPAN) -> None:
        _set(self, "expr", expr)
        _set(self, "capture", capture)
        _set(self, "span", span)


Stage = StageCall | ParallelStage | ExprStage


# ---------------------------------------------------------------- statements


class ExprStmt(Stmt):
    __slots__ = ("value", "span")
    _fields = ("value",)
    value: Expr
    span: Span

    def __init__(self, value: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "value", value)
        _set(self, "span", span)


class Assign(Stmt):
    __slots__ = ("target", "value", "annotation", "span")
    _fields = (
        "target",
        "value",
        "annotation",
    )
    target: Expr
    value: Expr | None
    annotation: TypeExpr | None
    span: Span

    def __init__(
        self,
        target: Expr,
        value: Expr | None,
        annotation: TypeExpr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "target", target)
        _set(self, "value", value)
        _set(self, "annotation", annotation)
        _set(self, "span", span)


class AugAssign(Stmt):
    __slots__ = ("target", "op", "value", "span")
    _fields = (
        "target",
        "op",
        "value",
    )
    target: Expr
    op: str  # "+", "-", "*", "/"
    value: Expr
    span: Span

    def __init__(self, target: Expr, op: str, value: Expr, span: Span = NO_SPAN) -> None:
        _set(self, "target", target)
        _set(self, "op", op)
        _set(self, "value", value)
        _set(self, "span", span)


class Pass(Stmt):
    __slots__ = ("span",)
    _fields = ()
    span: Span

    def __init__(self, span: Span = NO_SPAN) -> None:
        _set(self, "span", span)


class Break(Stmt):
    __slots__ = ("span",)
    _fields = ()
    span: Span

    def __init__(self, span: Span = NO_SPAN) -> None:
        _set(self, "span", span)


class Continue(Stmt):
    __slots__ = ("span",)
    _fields = ()
    span: Span

    def __init__(self, span: Span = NO_SPAN) -> None:
        _set(self, "span", span)


class Return(Stmt):
    __slots__ = ("value", "span")
    _fields = ("value",)
    value: Expr | None
    span: Span

    def __init__(self, value: Expr | None = None, span: Span = NO_SPAN) -> None:
        _set(self, "value", value)
        _set(self, "span", span)


class Raise(Stmt):
    __slots__ = ("exc", "cause", "span")
    _fields = (
        "exc",
        "cause",
    )
    exc: Expr | None
    cause: Expr | None
    span: Span

    def __init__(
        self,
        exc: Expr | None = None,
        cause: Expr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "exc", exc)
        _set(self, "cause", cause)
        _set(self, "span", span)


class Assert(Stmt):
    __slots__ = ("test", "msg", "span")
    _fields = (
        "test",
        "msg",
    )
    test: Expr
    msg: Expr | None
    span: Span

    def __init__(self, test: Expr, msg: Expr | None = None, span: Span = NO_SPAN) -> None:
        _set(self, "test", test)
        _set(self, "msg", msg)
        _set(self, "span", span)


class If(Stmt):
    __slots__ = ("test", "body", "orelse", "is_elif", "span")
    _fields = (
        "test",
        "body",
        "orelse",
        "is_elif",
    )
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    is_elif: bool
    span: Span

    def __init__(
        self,
        test: Expr,
        body: tuple[Stmt, ...],
        orelse: tuple[Stmt, ...] = (),
        is_elif: bool = False,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "test", test)
        _set(self, "body", body)
        _set(self, "orelse", orelse)
        _set(self, "is_elif", is_elif)
        _set(self, "span", span)


class While(Stmt):
    __slots__ = ("test", "body", "span")
    _fields = (
        "test",
        "body",
    )
    test: Expr
    body: tuple[Stmt, ...]
    span: Span

    def __init__(self, test: Expr, body: tuple[Stmt, ...], span: Span = NO_SPAN) -> None:
        _set(self, "test", test)
        _set(self, "body", body)
        _set(self, "span", span)


class For(Stmt):
    __slots__ = ("targets", "iter", "body", "parenthesized", "span")
    _fields = (
        "targets",
        "iter",
        "body",
        "parenthesized",
    )
    targets: tuple[str, ...]
    iter: Expr
    body: tuple[Stmt, ...]
    parenthesized: bool
    span: Span

    def __init__(
        self,
        targets: tuple[str, ...],
        iter: Expr,
        body: tuple[Stmt, ...],
        parenthesized: bool = False,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "targets", targets)
        _set(self, "iter", iter)
        _set(self, "body", body)
        _set(self, "parenthesized", parenthesized)
        _set(self, "span", span)


class ExceptHandler(Node):
    __slots__ = ("type", "name", "body", "span")
    _fields = (
        "type",
        "name",
        "body",
    )
    type: Expr | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span

    def __init__(
        self,
        type: Expr | None,
        name: str | None,
        body: tuple[Stmt, ...],
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "type", type)
        _set(self, "name", name)
        _set(self, "body", body)
        _set(self, "span", span)


class Try(Stmt):
    __slots__ = ("body", "handlers", "orelse", "finalbody", "span")
    _fields = (
        "body",
        "handlers",
        "orelse",
        "finalbody",
    )
    body: tuple[Stmt, ...]
    handlers: tuple[ExceptHandler, ...]
    orelse: tuple[Stmt, ...]
    finalbody: tuple[Stmt, ...]
    span: Span

    def __init__(
        self,
        body: tuple[Stmt, ...],
        handlers: tuple[ExceptHandler, ...],
        orelse: tuple[Stmt, ...] = (),
        finalbody: tuple[Stmt, ...] = (),
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "body", body)
        _set(self, "handlers", handlers)
        _set(self, "orelse", orelse)
        _set(self, "finalbody", finalbody)
        _set(self, "span", span)


class WithItem(Node):
    __slots__ = ("context", "name", "span")
    _fields = (
        "context",
        "name",
    )
    context: Expr
    name: str | None
    span: Span

    def __init__(self, context: Expr, name: str | None = None, span: Span = NO_SPAN) -> None:
        _set(self, "context", context)
        _set(self, "name", name)
        _set(self, "span", span)


class With(Stmt):
    __slots__ = ("items", "body", "span")
    _fields = (
        "items",
        "body",
    )
    items: tuple[WithItem, ...]
    body: tuple[Stmt, ...]
    span: Span

    def __init__(
        self,
        items: tuple[WithItem, ...],
        body: tuple[Stmt, ...],
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "items", items)
        _set(self, "body", body)
        _set(self, "span", span)


class Decorator(Node):
    __slots__ = ("name", "args", "keywords", "span")
    _fields = (
        "name",
        "args",
        "keywords",
    )
    name: str  # dotted
    args: tuple[Expr, ...] | None  # None: bare `@name`
    keywords: tuple[Keyword, ...]
    span: Span

    def __init__(
        self,
        name: str,
        args: tuple[Expr, ...] | None = None,
        keywords: tuple[Keyword, ...] = (),
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "args", args)
        _set(self, "keywords", keywords)
        _set(self, "span", span)


class FunctionDef(Stmt):
    __slots__ = ("name", "params", "body", "returns", "decorators", "receiver", "is_sync", "span")
    _fields = (
        "name",
        "params",
        "body",
        "returns",
        "decorators",
        "receiver",
        "is_sync",
    )
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    returns: TypeExpr | None
    decorators: tuple[Decorator, ...]
    receiver: Param | None
    is_sync: bool
    span: Span

    def __init__(
        self,
        name: str,
        params: tuple[Param, ...],
        body: tuple[Stmt, ...],
        returns: TypeExpr | None = None,
        decorators: tuple[Decorator, ...] = (),
        receiver: Param | None = None,
        is_sync: bool = False,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "params", params)
        _set(self, "body", body)
        _set(self, "returns", returns)
        _set(self, "decorators", decorators)
        _set(self, "receiver", receiver)
        _set(self, "is_sync", is_sync)
        _set(self, "span", span)


class DeclarativeDef(Stmt):
    __slots__ = ("name", "params", "stages", "returns", "decorators", "is_sync", "span")
    _fields = (
        "name",
        "params",
        "stages",
        "returns",
        "decorators",
        "is_sync",
    )
    name: str
    params: tuple[Param, ...]
    stages: tuple[Stage, ...]
    returns: TypeExpr | None
    decorators: tuple[Decorator, ...]
    is_sync: bool
    span: Span

    def __init__(
        self,
        name: str,
        params: tuple[Param, ...],
        stages: tuple[Stage, ...],
        returns: TypeExpr | None = None,
        decorators: tuple[Decorator, ...] = (),
        is_sync: bool = False,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "params", params)
        _set(self, "stages", stages)
        _set(self, "returns", returns)
        _set(self, "decorators", decorators)
        _set(self, "is_sync", is_sync)
        _set(self, "span", span)


class FieldDecl(Node):
    __slots__ = ("name", "annotation", "default", "span")
    _fields = (
        "name",
        "annotation",
        "default",
    )
    name: str
    annotation: TypeExpr
    default: Expr | None
    span: Span

    def __init__(
        self,
        name: str,
        annotation: TypeExpr,
        default: Expr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "annotation", annotation)
        _set(self, "default", default)
        _set(self, "span", span)


class TypeDecl(Stmt):
    """`struct`, `resource`, `agent_blueprint` or `workflow` declaration."""

    __slots__ = ("kind", "name", "fields", "docstring", "methods", "base", "span")
    _fields = (
        "kind",
        "name",
        "fields",
        "docstring",
        "methods",
        "base",
    )
    kind: str
    name: str
    fields: tuple[FieldDecl, ...]
    docstring: str | None
    methods: tuple[FunctionDef, ...]
    base: str | None
    span: Span

    def __init__(
        self,
        kind: str,
        name: str,
        fields: tuple[FieldDecl, ...],
        docstring: str | None = None,
        methods: tuple[FunctionDef, ...] = (),
        base: str | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "kind", kind)
        _set(self, "name", name)
        _set(self, "fields", fields)
        _set(self, "docstring", docstring)
        _set(self, "methods", methods)
        _set(self, "base", base)
        _set(self, "span", span)


class AgentDecl(Stmt):
    __slots__ = ("name", "blueprint", "overrides", "has_block", "span")
    _fields = (
        "name",
        "blueprint",
        "overrides",
        "has_block",
    )
    name: str
    blueprint: str | None
    overrides: tuple[Keyword, ...]
    has_block: bool
    span: Span

    def __init__(
        self,
        name: str,
        blueprint: str | None = None,
        overrides: tuple[Keyword, ...] = (),
        has_block: bool = False,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "blueprint", blueprint)
        _set(self, "overrides", overrides)
        _set(self, "has_block", has_block)
        _set(self, "span", span)


class InterfaceMethod(Node):
    __slots__ = ("name", "params", "returns", "span")
    _fields = (
        "name",
        "params",
        "returns",
    )
    name: str
    params: tuple[Param, ...]
    returns: TypeExpr | None
    span: Span

    def __init__(
        self,
        name: str,
        params: tuple[Param, ...],
        returns: TypeExpr | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "params", params)
        _set(self, "returns", returns)
        _set(self, "span", span)


class InterfaceDecl(Stmt):
    __slots__ = ("name", "methods", "embeds", "docstring", "span")
    _fields = (
        "name",
        "methods",
        "embeds",
        "docstring",
    )
    name: str
    methods: tuple[InterfaceMethod, ...]
    embeds: tuple[str, ...]
    docstring: str | None
    span: Span

    def __init__(
        self,
        name: str,
        methods: tuple[InterfaceMethod, ...],
        embeds: tuple[str, ...] = (),
        docstring: str | None = None,
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "name", name)
        _set(self, "methods", methods)
        _set(self, "embeds", embeds)
        _set(self, "docstring", docstring)
        _set(self, "span", span)


class Import(Stmt):
    __slots__ = ("module", "alias", "span")
    _fields = (
        "module",
        "alias",
    )
    module: str  # dotted, may end in ".py"
    alias: str | None
    span: Span

    def __init__(self, module: str, alias: str | None = None, span: Span = NO_SPAN) -> None:
        _set(self, "module", module)
        _set(self, "alias", alias)
        _set(self, "span", span)


class ImportFrom(Stmt):
    __slots__ = ("module", "level", "names", "span")
    _fields = (
        "module",
        "level",
        "names",
    )
    module: str  # dotted, possibly empty for `from . import x`
    level: int
    names: tuple[tuple[str, str | None], ...]  # empty means `*`
    span: Span

    def __init__(
        self,
        module: str,
        level: int,
        names: tuple[tuple[str, str | None], ...],
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "module", module)
        _set(self, "level", level)
        _set(self, "names", names)
        _set(self, "span", span)


class Module(Node):
    __slots__ = ("body", "filename", "span")
    _fields = (
        "body",
        "filename",
    )
    body: tuple[Stmt, ...]
    filename: str
    span: Span

    def __init__(
        self,
        body: tuple[Stmt, ...],
        filename: str = "<string>",
        span: Span = NO_SPAN,
    ) -> None:
        _set(self, "body", body)
        _set(self, "filename", filename)
        _set(self, "span", span)
