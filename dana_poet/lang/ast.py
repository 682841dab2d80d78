"""Typed, immutable Dana AST nodes.

Every node carries a `span` (ignored by equality) so that errors and compiled
code can point back at the `.na` source. Equality compares structure only,
which is what the printer round-trip relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0


NO_SPAN = Span()


def _span() -> Any:
    return field(default=NO_SPAN, compare=False, repr=False)


class Node:
    __slots__ = ()


class Expr(Node):
    __slots__ = ()


class Stmt(Node):
    __slots__ = ()


# ---------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class TypeRef(Node):
    """A named type, optionally generic: `int`, `list[str]`, `dict[str, int]`, `Point`."""

    name: str
    args: tuple[TypeExpr, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TypeUnion(Node):
    options: tuple[TypeExpr, ...]
    span: Span = _span()


TypeExpr = TypeRef | TypeUnion


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Name(Expr):
    id: str
    scope: str | None = None  # "private", "public", "system", "local" or None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Constant(Expr):
    value: Any
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FormattedValue(Expr):
    value: Expr
    conversion: str | None = None
    format_spec: FString | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FString(Expr):
    parts: tuple[str | FormattedValue, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    elts: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TupleExpr(Expr):
    elts: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SetExpr(Expr):
    elts: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class DictExpr(Expr):
    keys: tuple[Expr, ...]
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class CompFor(Node):
    targets: tuple[str, ...]
    iter: Expr
    conditions: tuple[Expr, ...] = ()
    parenthesized: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Comprehension(Expr):
    """`[e for ...]`, `{e for ...}`, `(e for ...)` or `{(k: v) for ...}` (kind 'dict')."""

    kind: str  # "list", "set", "gen", "dict"
    element: Expr
    generators: tuple[CompFor, ...]
    value: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Param(Node):
    name: str
    annotation: TypeExpr | None = None
    default: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Lambda(Expr):
    params: tuple[Param, ...]
    body: Expr
    receiver: Param | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Keyword(Node):
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: Expr
    args: tuple[Expr, ...] = ()
    keywords: tuple[Keyword, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Attribute(Expr):
    value: Expr
    attr: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Slice(Expr):
    lower: Expr | None = None
    upper: Expr | None = None
    step: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Subscript(Expr):
    value: Expr
    index: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BinOp(Expr):
    left: Expr
    op: str
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class UnaryOp(Expr):
    op: str  # "-", "+", "not"
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # "and", "or"
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IfExp(Expr):
    test: Expr
    body: Expr
    orelse: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AugAssignExpr(Expr):
    """`(x += 5)`: updates the target and has the new value."""

    target: Expr
    op: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Captured(Expr):
    """`f as name` inside a parallel pipeline stage `[f as a, g]`; nowhere else."""

    value: Expr
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Placeholder(Expr):
    """`$$` inside a pipeline stage: the value flowing through the pipeline."""

    span: Span = _span()


# ---------------------------------------------------------------- pipelines


@dataclass(frozen=True, slots=True)
class StageCall(Node):
    """A pipeline stage naming a function, called (`f(a)`) or not (`f`)."""

    func: str
    args: tuple[Expr, ...] | None = None
    keywords: tuple[Keyword, ...] = ()
    capture: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ParallelStage(Node):
    stages: tuple[Stage, ...]
    capture: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExprStage(Node):
    """`def f(x) = x + 1`: a declarative body that is one expression, not a pipeline."""

    expr: Expr
    capture: str | None = None
    span: Span = _span()


Stage = StageCall | ParallelStage | ExprStage


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class ExprStmt(Stmt):
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Assign(Stmt):
    target: Expr
    value: Expr | None
    annotation: TypeExpr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AugAssign(Stmt):
    target: Expr
    op: str  # "+", "-", "*", "/"
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Pass(Stmt):
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Break(Stmt):
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Continue(Stmt):
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Return(Stmt):
    value: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Raise(Stmt):
    exc: Expr | None = None
    cause: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Assert(Stmt):
    test: Expr
    msg: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()
    is_elif: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class While(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class For(Stmt):
    targets: tuple[str, ...]
    iter: Expr
    body: tuple[Stmt, ...]
    parenthesized: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExceptHandler(Node):
    type: Expr | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Try(Stmt):
    body: tuple[Stmt, ...]
    handlers: tuple[ExceptHandler, ...]
    orelse: tuple[Stmt, ...] = ()
    finalbody: tuple[Stmt, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WithItem(Node):
    context: Expr
    name: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class With(Stmt):
    items: tuple[WithItem, ...]
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Decorator(Node):
    name: str  # dotted
    args: tuple[Expr, ...] | None = None  # None: bare `@name`
    keywords: tuple[Keyword, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FunctionDef(Stmt):
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    returns: TypeExpr | None = None
    decorators: tuple[Decorator, ...] = ()
    receiver: Param | None = None
    is_sync: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class DeclarativeDef(Stmt):
    name: str
    params: tuple[Param, ...]
    stages: tuple[Stage, ...]
    returns: TypeExpr | None = None
    decorators: tuple[Decorator, ...] = ()
    is_sync: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FieldDecl(Node):
    name: str
    annotation: TypeExpr
    default: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TypeDecl(Stmt):
    """`struct`, `resource`, `agent_blueprint` or `workflow` declaration."""

    kind: str
    name: str
    fields: tuple[FieldDecl, ...]
    docstring: str | None = None
    methods: tuple[FunctionDef, ...] = ()
    base: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AgentDecl(Stmt):
    name: str
    blueprint: str | None = None
    overrides: tuple[Keyword, ...] = ()
    has_block: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InterfaceMethod(Node):
    name: str
    params: tuple[Param, ...]
    returns: TypeExpr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InterfaceDecl(Stmt):
    name: str
    methods: tuple[InterfaceMethod, ...]
    embeds: tuple[str, ...] = ()
    docstring: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Import(Stmt):
    module: str  # dotted, may end in ".py"
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ImportFrom(Stmt):
    module: str  # dotted, possibly empty for `from . import x`
    level: int
    names: tuple[tuple[str, str | None], ...]  # empty means `*`
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Module(Node):
    body: tuple[Stmt, ...]
    filename: str = "<string>"
    span: Span = _span()
