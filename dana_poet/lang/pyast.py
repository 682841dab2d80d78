"""Small constructors for Python `ast` nodes, shared by the compiler modules.

Every node is placed when it is made: `where(span)` turns a Dana span into Python's
position (`Where`), and the constructors here (and `at` for any other node) set it, so
no pass over the finished tree is needed. The compiler keeps the position of the Dana
node it is compiling; a node it makes takes that position unless it stands for another
Dana node."""

from __future__ import annotations

import ast as py
from typing import Any, TypeVar

from dana_poet.lang import ast as A

LOAD = py.Load()
STORE = py.Store()

# Python's (lineno, col_offset, end_lineno, end_col_offset)
Where = tuple[int, int, int, int]
TOP: Where = (1, 0, 1, 0)

_Node = TypeVar("_Node", bound=py.AST)


def where(span: A.Span | None) -> Where | None:
    """The Python position of a Dana span (1-based columns become 0-based offsets);
    None for a node without a position."""
    if not span:
        return None
    line, column, end_line, end_column = span
    if line == end_line:
        if 0 < column <= end_column and line:
            return (line, column - 1, line, end_column - 1)
    elif end_line > line > 0 and column > 0 and end_column > 0:
        return (line, column - 1, end_line, end_column - 1)
    if not line:
        return None
    col = column - 1 if column > 0 else 0
    if end_line < line:
        end_line = line
    end_col = end_column - 1 if end_column > 0 else 0
    if end_line == line and end_col < col:
        end_col = col
    return (line, col, end_line, end_col)


def at(node: _Node, w: Where) -> _Node:
    """`node` placed at `w`."""
    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = w  # type: ignore[attr-defined]
    return node


# Positional arguments: building a node with keywords costs twice as much.
def load(name: str, w: Where) -> py.Name:
    node = py.Name(name, LOAD)
    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = w
    return node


def store(name: str, w: Where) -> py.Name:
    node = py.Name(name, STORE)
    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = w
    return node


def const(value: Any, w: Where) -> py.Constant:
    node = py.Constant(value)
    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = w
    return node


def call(func: py.expr | str, w: Where, *args: py.expr, **kwargs: py.expr) -> py.Call:
    f = load(func, w) if isinstance(func, str) else func
    keywords = [at(py.keyword(k, v), w) for k, v in kwargs.items()] if kwargs else []
    node = py.Call(f, list(args), keywords)
    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = w
    return node


def no_args() -> py.arguments:
    return py.arguments([], [], None, [], [], None, [])


def fill_locations(tree: py.AST) -> py.AST:
    """The compiler's fallback for a node made without a position (tests check that there
    is none): `ast.fix_missing_locations`, iteratively: a node without a position takes its
    nearest placed ancestor's (the standard one recurses through generators and was a
    third of compile).

    Nodes are completed in the standard order (a node shared by two parents takes the
    position of the first, as there); an ancestor's position is read from the ancestor
    itself once complete. Placed nodes without children (most names and constants) are
    not visited, and fields that never hold a positioned node are not looked into."""
    stack: list[tuple[Any, dict[str, Any]]] = [(tree, _TOP)]
    pop = stack.pop
    push = stack.append
    shapes = _SHAPES
    while stack:
        node, where = pop()
        attrs = node.__dict__
        positioned, fields = shapes.get(node.__class__) or _shape(node.__class__)
        if positioned:
            if "lineno" not in attrs:
                attrs["lineno"] = where["lineno"]
            if "col_offset" not in attrs:
                attrs["col_offset"] = where["col_offset"]
            if attrs.get("end_lineno") is None:
                attrs["end_lineno"] = where["end_lineno"]
            if attrs.get("end_col_offset") is None:
                attrs["end_col_offset"] = where["end_col_offset"]
            where = attrs
        # children pushed last-first, so that they are completed first-first
        for name in fields:
            value = attrs.get(name)
            if value is None:
                continue
            for item in reversed(value) if type(value) is list else (value,):
                shape = shapes.get(item.__class__)
                if shape is None:
                    if not isinstance(item, py.AST):
                        continue
                    shape = _shape(item.__class__)
                if shape[1]:
                    push((item, where))
                elif shape[0]:
                    own = item.__dict__
                    if (
                        "lineno" not in own
                        or "col_offset" not in own
                        or own.get("end_lineno") is None
                        or own.get("end_col_offset") is None
                    ):
                        push((item, where))
    return tree


_TOP = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
# Fields that hold names, numbers, flags, contexts or operators, never a positioned node.
_SCALAR_FIELDS = frozenset(
    {
        "id",
        "ctx",
        "op",
        "ops",
        "kind",
        "attr",
        "arg",
        "name",
        "asname",
        "module",
        "level",
        "conversion",
        "is_async",
        "simple",
        "type_comment",
        "type_ignores",
        "tag",
    }
)
# class -> (has a position, the fields that may hold nodes, last first)
_SHAPES: dict[type, tuple[bool, tuple[str, ...]]] = {}


def _shape(cls: type) -> tuple[bool, tuple[str, ...]]:
    fields: tuple[str, ...] = getattr(cls, "_fields", ())
    if cls is py.Constant:
        fields = ()
    kept = tuple(reversed([f for f in fields if f not in _SCALAR_FIELDS]))
    shape = _SHAPES[cls] = (bool(getattr(cls, "_attributes", ())), kept)
    return shape


# Nodes with neither fields nor positions (contexts and operators): nothing to visit.
_NO_POSITION = frozenset(
    cls
    for base in (py.expr_context, py.boolop, py.operator, py.unaryop, py.cmpop)
    for cls in base.__subclasses__()
)
