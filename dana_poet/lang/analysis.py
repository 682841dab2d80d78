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
    extend = stack.extend
    node_type = A.Node
    fields_of = _FIELDS_LAST_FIRST
    scopes = _NO_KINDS if into_scopes else _SCOPE_KINDS
    while stack:
        n = pop()
        kind = n.__class__
        if kind is tuple or kind is list:
            extend(reversed(n))
            continue
        if not isinstance(n, node_type):
            continue
        yield n
        if kind in scopes:
            if isinstance(n, A.TypeDecl):
                extend(reversed([f.default for f in n.fields]))
            elif isinstance(n, A.FunctionDef | A.DeclarativeDef):
                extend(reversed([p.default for p in n.params]))
            continue
        names = fields_of.get(kind)
        if names is None:
            names = fields_of[kind] = tuple(reversed(_node_fields(kind)))
        for name in names:
            value = getattr(n, name)
            if value.__class__ is tuple:
                extend(reversed(value))
            elif isinstance(value, node_type):
                push(value)
            elif value.__class__ is list:
                push(value)


_FIELDS_LAST_FIRST: dict[type, tuple[str, ...]] = {}
_SCOPE_KINDS = frozenset(_SCOPES)
_NO_KINDS: frozenset[type] = frozenset()


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


_BINDER_KINDS = frozenset(_BINDERS)  # no node class has subclasses: a set test is exact


# Where statements hold statements (or handlers and with-items, which bind names): no
# binder is ever inside an expression (lambdas and comprehensions are scopes of their
# own, and `(x += v)` does not bind), so the scope's binders are found by walking
# statements alone. Fields last first, for the stack below.
_NESTED: dict[type, tuple[str, ...]] = {
    A.If: ("orelse", "body"),
    A.While: ("body",),
    A.For: ("body",),
    A.Try: ("finalbody", "orelse", "handlers", "body"),
    A.ExceptHandler: ("body",),
    A.With: ("body", "items"),
}


def binders(body: tuple[A.Stmt, ...]) -> list[A.Node]:
    """The nodes of one scope that bind names, in source order (one walk serves every
    question below about that scope): those of `walk(body)` whose class is a binder's."""
    kinds = _BINDER_KINDS
    nested = _NESTED
    found: list[A.Node] = []
    stack: list[Any] = list(reversed(body))
    pop = stack.pop
    extend = stack.extend
    while stack:
        node = pop()
        kind = node.__class__
        if kind in kinds:
            found.append(node)
        fields = nested.get(kind)
        if fields is not None:
            for name in fields:
                extend(reversed(getattr(node, name)))
    return found


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


_LEAVES = frozenset({A.Name, A.Constant})


def is_pure(expr: Any) -> bool:
    """True when evaluating `expr` twice is harmless (no calls, lambdas or comprehensions)."""
    if expr.__class__ in _LEAVES:
        return True
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


# ------------------------------------------------------------------ static types of locals
#
# "?" is the optimistic start of the fixpoint below (a name whose bindings only ever
# copy other undecided names); None means "not known".

_NUMERIC = frozenset({"int", "bool", "float"})
_INT_OPS = frozenset({"+", "-", "*", "//", "%"})
_LOCAL = (None, "local")


def binop_type(op: str, left: str | None, right: str | None) -> str | None:
    """The exact type of `left op right` for operands of exact types `left` and `right`."""
    if left is None or right is None:
        return None
    if left == "?" or right == "?":
        return "?"
    if left in _NUMERIC and right in _NUMERIC:
        if op == "/":
            return "float"
        if op in _INT_OPS:
            return "float" if "float" in (left, right) else "int"
        return None
    if op == "+" and left == right == "str":
        return "str"
    return None


def static_type(e: Any, known: dict[str, str]) -> str | None:
    """The exact builtin type ('int', 'float', 'str', 'bool') every value of `e` has, given
    the exact types of some locals; None when it cannot be told."""
    if isinstance(e, A.Constant):
        kind = type(e.value)
        return kind.__name__ if kind in (int, float, str, bool) else None
    if isinstance(e, A.Name):
        return known.get(e.id) if e.scope in _LOCAL else None
    if isinstance(e, A.BinOp):
        return binop_type(e.op, static_type(e.left, known), static_type(e.right, known))
    if isinstance(e, A.UnaryOp):
        if e.op == "not":
            return "bool"
        operand = static_type(e.operand, known)
        if operand == "?" or operand == "float":
            return operand
        return "int" if operand in ("int", "bool") else None
    return None


def _meet(a: str | None, b: str | None) -> str | None:
    if a == "?":
        return b
    if b == "?" or a == b:
        return a
    return None


def _is_range_call(e: Any) -> bool:
    return (
        isinstance(e, A.Call)
        and isinstance(e.func, A.Name)
        and e.func.scope is None
        and e.func.id == "range"
    )


def local_types(
    body: tuple[A.Stmt, ...], excluded: set[str], range_is_builtin: bool
) -> dict[str, str]:
    """Locals of a function body that hold a value of one exact builtin type wherever they
    are bound: every binding is `x = e` or `x op= e` with `e` of a known type, or a
    `for x in range(...)` loop. `excluded` (parameters, names started from an enclosing
    scope) are bound elsewhere and never qualify."""
    bindings: dict[str, list[tuple[str, Any]]] = {}
    unknown = set(excluded)
    for node in walk(body):
        if isinstance(node, A.Assign):
            t = node.target
            if isinstance(t, A.Name) and t.scope in _LOCAL:
                if node.annotation is not None or node.value is None:
                    unknown.add(t.id)
                else:
                    bindings.setdefault(t.id, []).append(("=", node.value))
        elif isinstance(node, A.AugAssign | A.AugAssignExpr):
            t = node.target
            if isinstance(t, A.Name) and t.scope in _LOCAL:
                bindings.setdefault(t.id, []).append((node.op, node.value))
        elif isinstance(node, A.For):
            if (
                range_is_builtin
                and len(node.targets) == 1
                and not node.parenthesized
                and _is_range_call(node.iter)
            ):
                bindings.setdefault(node.targets[0], []).append(("range", None))
            else:
                unknown.update(node.targets)
        elif isinstance(node, _BINDERS):
            unknown.update(rebound_names(node))
    types: dict[str, str] = {n: "?" for n in bindings if n not in unknown}
    changed = True
    while changed:
        changed = False
        for name in list(types):
            current: str | None = types[name]
            for op, value in bindings[name]:
                if op == "range":
                    found: str | None = "int"
                elif op == "=":
                    found = static_type(value, types)
                else:
                    found = binop_type(op, current, static_type(value, types))
                current = _meet(current, found)
                if current is None:
                    break
            if current != types[name]:
                changed = True
                if current is None:
                    del types[name]
                else:
                    types[name] = current
    return {n: t for n, t in types.items() if t != "?"}
