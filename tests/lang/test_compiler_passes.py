"""The compiler's own passes agree with the standard ones they replace."""

from __future__ import annotations

import ast as py
import copy
from pathlib import Path

import pytest

from dana_poet.engine import new_program
from dana_poet.lang import ast as A
from dana_poet.lang.analysis import binders, walk
from dana_poet.lang.compiler import Compiler
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.parser import parse
from dana_poet.lang.pyast import fill_locations
from tests.lang.test_printer import PROGRAMS


def _parsed(path: Path) -> A.Module | None:
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except DanaSyntaxError:  # the syntax-error fixtures
        return None


PARSED = [p for p in PROGRAMS if _parsed(p) is not None]


def _unlocated(compiler: Compiler, module: A.Module) -> py.Module:
    """The Python AST before positions are filled in."""
    import dana_poet.lang.compiler as C

    saved = C.fill_locations
    C.fill_locations = lambda tree: tree  # type: ignore[assignment]
    try:
        return compiler.module_ast(module)
    finally:
        C.fill_locations = saved


@pytest.mark.parametrize("path", PARSED, ids=[p.name for p in PARSED])
def test_fill_locations_is_fix_missing_locations(path: Path) -> None:
    module = _parsed(path)
    assert module is not None
    text = path.read_text(encoding="utf-8")
    compiler = Compiler(str(path), new_program(None).builtin_names, text)
    try:
        tree = _unlocated(compiler, module)
    except DanaSyntaxError:  # a compile-time error fixture: nothing to place
        return
    ours, standard = fill_locations(copy.deepcopy(tree)), py.fix_missing_locations(tree)
    assert py.dump(ours, include_attributes=True) == py.dump(standard, include_attributes=True)


def _reference_walk(node: object) -> list[A.Node]:
    """Every node, parents first, by plain recursion over all fields (into scopes)."""
    out: list[A.Node] = []

    def visit(value: object) -> None:
        if isinstance(value, tuple | list):
            for item in value:
                visit(item)
        elif isinstance(value, A.Node):
            out.append(value)
            for name in value._fields:
                visit(getattr(value, name))

    visit(node)
    return out


@pytest.mark.parametrize("path", PARSED, ids=[p.name for p in PARSED])
def test_walk_reaches_every_node(path: Path) -> None:
    module = _parsed(path)
    assert module is not None
    expected = _reference_walk(module.body)
    assert [id(n) for n in walk(module.body, into_scopes=True)] == [id(n) for n in expected]
    in_scope = binders(module.body)
    assert all(any(b is n for n in expected) for b in in_scope)
    assert not any(
        isinstance(n, A.FunctionDef) and n.body and n.body[0] in in_scope for n in expected
    )


@pytest.mark.parametrize("path", PARSED, ids=[p.name for p in PARSED])
def test_binders_are_the_binding_nodes_walk_finds(path: Path) -> None:
    """`binders` walks statements only; it finds what a walk over every node finds."""
    module = _parsed(path)
    assert module is not None
    scopes = [module.body] + [
        n.body for n in walk(module.body, into_scopes=True) if isinstance(n, A.FunctionDef)
    ]
    kinds = (
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
    for body in scopes:
        expected = [n for n in walk(body) if isinstance(n, kinds)]
        assert [id(n) for n in binders(body)] == [id(n) for n in expected]
