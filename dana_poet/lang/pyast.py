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
    parent's (the standard one recurses through generators and was a third of compile)."""
    stack: list[tuple[Any, tuple[int, int, int, int]]] = [(tree, (1, 0, 1, 0))]
    pop = stack.pop
    push = stack.append
    node_type = py.AST
    skip = _NO_POSITION
    while stack:
        node, where = pop()
        attrs = node.__dict__
        if node._attributes:
            line, col, end_line, end_col = where
            changed = False
            if "lineno" in attrs:
                if attrs["lineno"] != line:
                    line, changed = attrs["lineno"], True
            else:
                attrs["lineno"] = line
            if "col_offset" in attrs:
                if attrs["col_offset"] != col:
                    col, changed = attrs["col_offset"], True
            else:
                attrs["col_offset"] = col
            if attrs.get("end_lineno") is None:
                attrs["end_lineno"] = end_line
            elif attrs["end_lineno"] != end_line:
                end_line, changed = attrs["end_lineno"], True
            if attrs.get("end_col_offset") is None:
                attrs["end_col_offset"] = end_col
            elif attrs["end_col_offset"] != end_col:
                end_col, changed = attrs["end_col_offset"], True
            if changed:
                where = (line, col, end_line, end_col)
        # children pushed last-first, so nodes are visited in the standard order (a node
        # shared by two parents takes the position of the first, as there)
        fields = node._fields
        for f in range(len(fields) - 1, -1, -1):
            value = attrs.get(fields[f])
            if type(value) is list:
                for i in range(len(value) - 1, -1, -1):
                    item = value[i]
                    if type(item) not in skip and isinstance(item, node_type):
                        push((item, where))
            elif value is not None and type(value) not in skip and isinstance(value, node_type):
                push((value, where))
    return tree


# Nodes with neither fields nor positions (contexts and operators): nothing to visit.
_NO_POSITION = frozenset(
    cls
    for base in (py.expr_context, py.boolop, py.operator, py.unaryop, py.cmpop)
    for cls in base.__subclasses__()
)
