"""AST nodes are immutable values: equal by structure (never by span), hashable, copyable."""

from __future__ import annotations

import pickle

import pytest

from dana_poet.lang import ast as A
from dana_poet.lang.parser import parse


def test_nodes_cannot_be_changed() -> None:
    name = A.Name("x")
    with pytest.raises(AttributeError, match="immutable"):
        name.id = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del name.id  # type: ignore[misc]
    with pytest.raises(AttributeError):
        name.extra = 1  # type: ignore[attr-defined]


def test_equality_and_hash_ignore_spans() -> None:
    a = A.BinOp(A.Name("x", span=A.Span(1, 1, 1, 2)), "+", A.Constant(1), A.Span(1, 1, 1, 6))
    b = A.BinOp(A.Name("x"), "+", A.Constant(1))
    assert a == b and hash(a) == hash(b)
    assert a != A.BinOp(A.Name("x"), "-", A.Constant(1))
    assert A.Pass() != A.Break()
    assert len({a, b, A.Pass(), A.Pass()}) == 2


def test_replace_copies_with_changes() -> None:
    fn = parse("def f(a):\n    return a\n").body[0]
    renamed = A.replace(fn, name="g")
    assert (renamed.name, renamed.params, renamed.span) == ("g", fn.params, fn.span)
    assert fn.name == "f"
    with pytest.raises(TypeError, match="no field"):
        A.replace(fn, nmae="g")


def test_a_parsed_module_pickles_and_reprs() -> None:
    module = parse("x = [1, 2]\nif x:\n    print(f'{x}')\n")
    again = pickle.loads(pickle.dumps(module))
    assert again == module
    assert again.body[0].span == module.body[0].span
    assert repr(A.Name("x")) == "Name(id='x', scope=None)"
    assert A.Span(1, 2, 3, 4).end_column == 4
