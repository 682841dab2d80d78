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
    if span is not None and span.line:
        node.lineno = span.line
        node.col_offset = max(span.column - 1, 0)
        end_line = max(span.end_line, span.line)
        node.end_lineno = end_line
        end_col = max(span.end_column - 1, 0)
        if end_line == span.line and end_col < node.col_offset:
            end_col = node.col_offset
        node.end_col_offset = end_col
    return node


def fill_locations(tree: py.AST) -> py.AST:
    """`ast.fix_missing_locations`, iteratively: a node without a position takes its
    parent's (the standard one recurses through generators and was a third of compile)."""
    stack: list[tuple[Any, int, int, int, int]] = [(tree, 1, 0, 1, 0)]
    pop = stack.pop
    push = stack.append
    node_type = py.AST
    while stack:
        node, line, col, end_line, end_col = pop()
        attrs = node.__dict__
        if node._attributes:
            if "lineno" in attrs:
                line = attrs["lineno"]
            else:
                attrs["lineno"] = line
            if "col_offset" in attrs:
                col = attrs["col_offset"]
            else:
                attrs["col_offset"] = col
            if attrs.get("end_lineno") is None:
                attrs["end_lineno"] = end_line
            else:
                end_line = attrs["end_lineno"]
            if attrs.get("end_col_offset") is None:
                attrs["end_col_offset"] = end_col
            else:
                end_col = attrs["end_col_offset"]
        # children pushed last-first, so nodes are visited in the standard order (a node
        # shared by two parents takes the position of the first, as there)
        fields = node._fields
        for f in range(len(fields) - 1, -1, -1):
            value = attrs.get(fields[f])
            if type(value) is list:
                for i in range(len(value) - 1, -1, -1):
                    item = value[i]
                    if isinstance(item, node_type) and (item._fields or item._attributes):
                        push((item, line, col, end_line, end_col))
            elif isinstance(value, node_type) and (value._fields or value._attributes):
                push((value, line, col, end_line, end_col))
    return tree
