"""Name analysis on the Dana AST, done before compiling a scope.

`children`/`walk` are the one generic walker over Dana AST nodes (the
compiler, the pipeline compiler and the analyses here use it); the functions
below answer the compiler's questions about a body of statements: which names
it binds, which of them it reads before writing, whether an expression is
pure, whether a body can fall off its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dana_poet.lang import ast as A

_FIELDS: dict[type, tuple[str, ...]] = {}
# Field annotations that never hold a node: the walker does not look into them.
_SCALAR_FIELDS = frozenset(
    {"str", "str | None", "bool", "int", "int | None", "tuple[str, ...]", "float"}
)


def _node_fields(cls: type) -> tuple[str, ...]:
    """The fields of a node class that can hold nodes (or tuples of them), in order."""
    names = _FIELDS.get(cls)
    if names is None:
        slots: list[str] = []
        annotations: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            slots.extend(s for s in getattr(klass, "__slots__", ()) if s != "span")
            annotations.update(getattr(klass, "__annotations__", {}))
        names = _FIELDS[cls] = tuple(
            name for name in dict.fromkeys(slots) if annotations.get(name) not in _SCALAR_FIELDS
        )
    return names


def children(node: Any) -> Iterator[Any]:
    """The child nodes (and tuples of nodes) of a Dana AST node, in field order."""
    for name in _node_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, A.Node | tuple | list):
            yield value


_SCOPES = (A.FunctionDef, A.DeclarativeDef, A.TypeDecl)


def walk(node: Any, into_scopes: bool = False) -> Iterator[A.Node]:
    """Every node reachable from `node` (a node or a tuple of nodes), parents first.

    Without `into_scopes`, the bodies of nested functions and declarations are not
    entered (their parameter and field defaults are: they run in this scope)."""
    stack = [node]
    pop = stack.pop
    push = stack.append
    node_type = A.Node
    fields_of = _FIELDS
    while stack:
        n = pop()
        kind = type(n)
        if kind is tuple or kind is list:
            stack.extend(reversed(n))
            continue
        if not isinstance(n, node_type):
            continue
        yield n
        if not into_scopes and isinstance(n, _SCOPES):
            if isinstance(n, A.TypeDecl):
                stack.extend(reversed([f.default for f in n.fields]))
            else:
                stack.extend(reversed([p.default for p in n.params]))
            continue
        names = fields_of.get(kind) or _node_fields(kind)
        for i in range(len(names) - 1, -1, -1):
            value = getattr(n, names[i])
            if value is not None and value.__class__ is not str:
                push(value)


# Nodes that bind names in the scope they are in.
_BINDERS = (
    A.Assign,
    A.AugAssign,
    A.For,
    A.ExceptHandler,
    A.WithItem,
    A.FunctionDef,
    A.DeclarativeDef,
    A.TypeDecl,
    A.InterfaceDecl,
    A.AgentDecl,
    A.Import,
    A.ImportFrom,
)


def binders(body: tuple[A.Stmt, ...]) -> list[A.Node]:
    """The nodes of one scope that bind names, in source order (one walk serves every
    question below about that scope)."""
    return [n for n in walk(body) if isinstance(n, _BINDERS)]


def bound_names(body: tuple[A.Stmt, ...], found: list[A.Node] | None = None) -> set[str]:
    """Names an unscoped assignment, loop, import or definition binds in this scope."""
    names: set[str] = set()
    for node in binders(body) if found is None else found:
        if isinstance(node, A.Assign | A.AugAssign):
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local"):
                names.add(t.id)
        else:
            names.update(rebound_names(node))
    return names


def rebound_names(node: Any) -> tuple[str, ...]:
    """Names a node binds other than by assignment (loops, handlers, imports, definitions)."""
    if isinstance(node, A.For):
        return tuple(node.targets)
    if isinstance(node, A.ExceptHandler | A.WithItem) and node.name:
        return (node.name,)
    if isinstance(node, A.FunctionDef | A.DeclarativeDef | A.TypeDecl | A.InterfaceDecl):
        return (node.name,)
    if isinstance(node, A.AgentDecl):
        return (node.name,)
    if isinstance(node, A.Import):
        mod = node.module[:-3] if node.module.endswith(".py") else node.module
        return (node.alias or mod.split(".")[0],)
    if isinstance(node, A.ImportFrom):
        return tuple(alias or name for name, alias in node.names)
    return ()


def read_before_write(body: tuple[A.Stmt, ...], candidates: set[str]) -> set[str]:
    """Candidates whose first occurrence in source order is a read (`x = x + 1`)."""
    seen: set[str] = set()
    read_first: set[str] = set()

    def visit(node: Any) -> None:
        if node is None or not candidates - seen:
            return
        if isinstance(node, tuple | list):
            for n in node:
                visit(n)
            return
        if isinstance(node, A.Name):
            if node.scope is None and node.id in candidates and node.id not in seen:
                seen.add(node.id)
                read_first.add(node.id)
            return
        if isinstance(node, A.Assign):
            visit(node.value)
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local"):
                seen.add(t.id)
            else:
                visit(t)
            return
        if isinstance(node, A.AugAssign):
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local") and t.id not in seen:
                seen.add(t.id)
                if t.id in candidates:
                    read_first.add(t.id)
            visit(node.value)
            return
        if isinstance(node, A.For):
            visit(node.iter)
            seen.update(node.targets)
            visit(node.body)
            return
        if isinstance(node, A.FunctionDef | A.DeclarativeDef | A.Lambda | A.Comprehension):
            return
        for child in children(node):
            visit(child)

    visit(body)
    return read_first


def is_pure(expr: Any) -> bool:
    """True when evaluating `expr` twice is harmless (no calls, lambdas or comprehensions)."""
    for node in walk(expr):
        if isinstance(node, A.Call | A.Lambda | A.Comprehension | A.Placeholder | A.AugAssignExpr):
            return False
    return True


def falls_through(body: tuple[A.Stmt, ...]) -> bool:
    """Can execution run off the end of `body` (so the implicit return applies)?"""
    if not body:
        return True
    last = body[-1]
    if isinstance(last, A.Return | A.Raise):
        return False
    if isinstance(last, A.If):
        return falls_through(last.body) or falls_through(last.orelse)
    if isinstance(last, A.Try):
        if last.finalbody and not falls_through(last.finalbody):
            return False
        body_end = falls_through(last.orelse or last.body)
        return body_end or any(falls_through(h.body) for h in last.handlers)
    return True


def uses_placeholder(node: Any) -> bool:
    return any(isinstance(n, A.Placeholder) for n in walk(node))
