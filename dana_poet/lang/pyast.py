"""Small constructors for Python `ast` nodes, shared by the compiler modules."""

from __future__ import annotations

import ast as py
from typing import Any

from dana_poet.lang import ast as A


def load(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Load())


def store(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Store())


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
