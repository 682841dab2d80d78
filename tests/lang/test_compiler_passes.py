"""The compiler's own passes agree with the standard ones they replace."""

from __future__ import annotations

import ast as py
import copy
import warnings
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


def _compiled(path: Path) -> py.Module | None:
    """The Python AST of a fixture (None for the compile-time error fixtures)."""
    module = _parsed(path)
    assert module is not None
    text = path.read_text(encoding="utf-8")
    try:
        return Compiler(str(path), new_program(None).builtin_names, text).module_ast(module)
    except DanaSyntaxError:
        return None


def _positioned(tree: py.AST) -> list[py.AST]:
    return [n for n in py.walk(tree) if "lineno" in n._attributes]


@pytest.mark.parametrize("path", PARSED, ids=[p.name for p in PARSED])
def test_every_node_is_placed_when_made(path: Path) -> None:
    """No pass fills positions in: each node the compiler makes has one, on a line of the
    file, within the lines of the top-level statement it belongs to."""
    tree = _compiled(path)
    if tree is None:
        return
    last_line = max(1, len(path.read_text(encoding="utf-8").splitlines()))
    for top in tree.body:
        first, last = top.lineno, top.end_lineno or top.lineno
        for node in _positioned(top):
            assert "lineno" in node.__dict__ and "col_offset" in node.__dict__, py.dump(node)
            assert 1 <= node.lineno <= last_line
            if not isinstance(top, py.FunctionDef | py.ClassDef):  # decorators come first
                assert first <= node.lineno <= last, py.dump(node)
    with warnings.catch_warnings():  # the compiler's own compile() silences them too
        warnings.simplefilter("ignore")
        compile(tree, str(path), "exec", dont_inherit=True)


@pytest.mark.parametrize("path", PARSED, ids=[p.name for p in PARSED])
def test_fill_locations_is_fix_missing_locations(path: Path) -> None:
    """The fallback for a node made without a position places it as the standard pass
    does (checked on compiled fixtures with every other position taken away)."""
    tree = _compiled(path)
    if tree is None:
        return
    for i, node in enumerate(_positioned(tree)):
        if i % 2:
            for name in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
                node.__dict__.pop(name, None)
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


ASSERTS = [
    # (program, left, right): a failed comparison reports both sides as they were compared
    ("x = 2\nassert x == 3\n", 2, 3),
    ("x = 2\nassert 3 == x\n", 3, 2),
    ("def f():\n    return 5\nassert f() == 4\n", 5, 4),
    ("x = 1\nassert x == (x += 1)\n", 1, 2),  # the left side read before the right runs
    ("x = 1\nassert (x += 1) != x\n", 2, 2),
]


@pytest.mark.parametrize(("program", "left", "right"), ASSERTS, ids=[a[0] for a in ASSERTS])
def test_a_failed_comparison_assert_reports_both_sides(
    program: str, left: object, right: object
) -> None:
    from dana_poet.lang.runtime import DanaAssertionError

    runtime = new_program(None)
    code = runtime.compile_source(program, "<assert.na>")
    with pytest.raises(DanaAssertionError) as failed:
        exec(code, runtime.new_globals("<assert.na>", "__main__"))
    assert (failed.value.left, failed.value.right) == (left, right)
