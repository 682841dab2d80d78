"""Small constructors for Python `ast` nodes, shared by the compiler modules."""

from __future__ import annotations

import ast as py
from typing import Any

from dana_poet.lang import ast as A

LOAD = py.Load()
STORE = py.Store()


def load(name: str) -> py.Name:
    return py.Name(id=name, ctx=LOAD)


def store(name: str) -> py.Name:
    return py.Name(id=name, ctx=STORE)


def const(value: Any) -> py.Constant:
    return py.Constant(value=value)


def call(func: py.expr | str, *args: py.expr, **kwargs: py.expr) -> py.Call:
    f = load(func) if isinstance(func, str) else func
    return py.Call(
        func=f, args=list(args), keywords=[py.keyword(arg=k, value=v) for k, v in kwargs.items()]
    )


def no_args() -> py.arguments:
    return py.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )


def at(node: Any, span: A.Span | None) -> Any:
    if span is not None and span[0]:
        line, column, end_line, end_column = span
        col = column - 1 if column > 0 else 0
        if end_line < line:
            end_line = line
        end_col = end_column - 1 if end_column > 0 else 0
        if end_line == line and end_col < col:
            end_col = col
        node.lineno = line
        node.col_offset = col
        node.end_lineno = end_line
        node.end_col_offset = end_col
    return node


def fill_locations(tree: py.AST) -> py.AST:
    """`ast.fix_missing_locations`, iteratively: a node without a position takes its
    parent's (the standard one recurses through generators and was a third of compile).

    A node's position is complete once it has been visited, so its children read it from
    the node itself; fields that never hold a positioned node (names, contexts,
    operators, a constant's value) are not looked into."""
    stack: list[tuple[Any, dict[str, Any]]] = [(tree, _TOP)]
    pop = stack.pop
    push = stack.append
    node_type = py.AST
    skip = _NO_POSITION
    shapes = _SHAPES
    while stack:
        node, parent = pop()
        attrs = node.__dict__
        shape = shapes.get(node.__class__)
        if shape is None:
            shape = _shape(node.__class__)
        positioned, fields = shape
        if positioned:
            if "lineno" not in attrs:
                attrs["lineno"] = parent["lineno"]
            if "col_offset" not in attrs:
                attrs["col_offset"] = parent["col_offset"]
            if attrs.get("end_lineno") is None:
                attrs["end_lineno"] = parent["end_lineno"]
            if attrs.get("end_col_offset") is None:
                attrs["end_col_offset"] = parent["end_col_offset"]
            parent = attrs
        # children pushed last-first, so nodes are visited in the standard order (a node
        # shared by two parents takes the position of the first, as there)
        for name in fields:
            value = attrs.get(name)
            if type(value) is list:
                for i in range(len(value) - 1, -1, -1):
                    item = value[i]
                    if type(item) not in skip and isinstance(item, node_type):
                        push((item, parent))
            elif value is not None and type(value) not in skip and isinstance(value, node_type):
                push((value, parent))
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
