"""The fast parse loop (lang/lalr.py) gives exactly what Lark's own pipeline gives.

For any text, the loop either returns the AST Lark's parser returns, spans included, or
hands the text back (`Fallback`, or a builder error) so that Lark decides. On real
programs it must not hand anything back, or the front end would silently be slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dana_poet.lang import ast as A
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.lalr import Fallback
from dana_poet.lang.parser import _fast_parser, _lark
from dana_poet.lang.printer import to_source
from tests.hypothesis_profile import examples
from tests.lang.ast_strategies import expressions, modules
from tests.lang.test_parser_fuzz import line_based, mutated_programs, tight_soup, token_soup
from tests.lang.test_printer import PROGRAMS


def shape(value: Any) -> Any:
    """The value with every node's span made part of what is compared."""
    if isinstance(value, A.Node):
        return (
            type(value).__name__,
            tuple(value.span),
            tuple(shape(getattr(value, f)) for f in value._fields),
        )
    if isinstance(value, tuple | list):
        return tuple(shape(v) for v in value)
    return value


def by_lark(text: str, start: str) -> Any:
    try:
        return ("ok", shape(_lark().parse(text, start=start)))
    except Exception as exc:  # noqa: BLE001 - any failure: the loop must not succeed then
        return ("error", type(exc).__name__)


def by_loop(text: str, start: str) -> Any:
    fast = _fast_parser()
    assert fast is not None, "the fast loop does not know the grammar's terminals"
    try:
        return ("ok", shape(fast.parse(text, start)))
    except (Fallback, DanaSyntaxError):
        return ("handed back",)


def agrees(text: str, start: str = "start") -> None:
    if start == "start" and not text.endswith("\n"):
        text += "\n"
    loop = by_loop(text, start)
    if loop != ("handed back",):
        assert loop == by_lark(text, start), text


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_real_programs_take_the_fast_loop_and_match_lark(path: Any) -> None:
    text = path.read_text(encoding="utf-8")
    text = text if text.endswith("\n") else text + "\n"
    loop = by_loop(text, "start")
    lark = by_lark(text, "start")
    if lark[0] == "ok":
        assert loop == lark
    else:  # a fixture that is meant to be a syntax error
        assert loop == ("handed back",)


@pytest.mark.parametrize(
    "text",
    [
        "x = a[1::2]\n",
        "x = a[::2]\n",
        "x = a[lambda v :: v]\n",
        "f = lambda x :: x[1::2]\n",
        "g = lambda a: int -> a\n",
        "def f(x) -> int:\n    return x\n",
        "from . import x\n",
        "from ..pkg.mod import y as z\n",
        "from .m import (a, b,)\n",
        "x = (1, # comment\n  2)\n",
        "if a:\n    b = 1\n  # dedented comment\n    c = 2\n",
        "x = private:y + local:z\n",
        "s = '''a\nb''' + f\"{x!r:>{w}}\" + r'\\d'\n",
        "struct P:\n    x: int = 0\n    resource: str = 'r'\n",
        "x = .5 + 1. + 1e3 + 007\n",
        "y = (z += 1)\n",
        "d = {(k: v) for k, v in items}\n",
        "x = a if b else c\n",
        'while f"{(lambda x: int | None :: x)(1)}":\n    pass\n',
    ],
)
def test_constructs_match_lark(text: str) -> None:
    assert by_loop(text, "start") == by_lark(text, "start")


@pytest.mark.parametrize(
    "text",
    ["and = 1\n", "x = a orb\n", "x = (1\n", "if x:\ny = 1\n", "x = 1 +\n", "a..b\n", "x = $\n"],
)
def test_anything_unusual_is_left_to_lark(text: str) -> None:
    assert by_loop(text, "start") == ("handed back",)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(mutated_programs(), token_soup, tight_soup, line_based))
def test_fuzzed_text_matches_lark_or_is_handed_back(text: str) -> None:
    agrees(text)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(modules)
def test_printed_programs_take_the_fast_loop(module: A.Module) -> None:
    text = to_source(module)
    assert by_loop(text, "start") == by_lark(text, "start")


@settings(max_examples=examples(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(expressions)
def test_printed_expressions_take_the_fast_loop(expr: A.Expr) -> None:
    text = to_source(expr)
    assert by_loop(text, "test") == by_lark(text, "test")


def test_saved_tables_give_the_same_parse(tmp_path: Path) -> None:
    from dana_poet.lang import lalr
    from dana_poet.lang.build import AstBuilder
    from dana_poet.lang.tokens import RESERVED_WORDS

    tables = lalr.tables_from_lark(_lark(), AstBuilder)
    path = str(tmp_path / "tables.cache")
    lalr.save_tables(path, "key-1", tables)
    assert lalr.load_tables(path, "key-2") is None
    loaded = lalr.load_tables(path, "key-1")
    assert loaded is not None
    fast = lalr.FastParser(loaded, AstBuilder(), RESERVED_WORDS)
    for program in PROGRAMS[:20]:
        text = program.read_text(encoding="utf-8")
        text = text if text.endswith("\n") else text + "\n"
        lark = by_lark(text, "start")
        if lark[0] == "ok":
            assert ("ok", shape(fast.parse(text, "start"))) == lark


def test_parsing_valid_code_needs_no_lark_once_tables_are_saved(tmp_path: Path) -> None:
    program = 'struct P:\n    x: int = 1\n\ndef f(p: P) -> str:\n    return f"{p.x:>3}"\n'
    script = (
        "import sys\n"
        "from dana_poet.lang.parser import parse\n"
        f"parse({program!r}, 'p.na')\n"
        "print('lark' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["True", "False"]  # the first run builds and saves the tables


@pytest.mark.parametrize("rule", ["__start_star", "__suite_plus"])
def test_statement_lists_grow_in_place(rule: str) -> None:
    """`_items: _items _stmt` adds to the list its left part built: a copy per statement
    made parsing a long file quadratic in its number of statements."""
    fast = _fast_parser()
    assert fast is not None
    grown = 0
    for cut, origin, reducer in fast.rules:  # cut: minus the rule's length
        if origin.startswith(rule) and cut == -2 and reducer is not None:
            left = ["s1", "s2"]
            out = reducer([left, ["s3"]])
            if out == ["s1", "s2", "s3"]:
                assert out is left
                grown += 1
    assert grown, f"no `{rule}: {rule} _stmt` rule found"


def test_module_statements_keep_their_order_in_a_long_file() -> None:
    text = "".join(f"x{i} = {i}\nif x{i}:\n    y{i} = {i}\n    z{i} = {i}\n" for i in range(300))
    module = by_loop(text, "start")
    assert module == by_lark(text, "start")
    body = _fast_parser().parse(text, "start")  # type: ignore[union-attr]
    assert [s.target.id for s in body[::2]] == [f"x{i}" for i in range(300)]
    assert [s.body[1].target.id for s in body[1::2]] == [f"z{i}" for i in range(300)]


@pytest.mark.parametrize(
    "text", ["a + f(b)", 'a + """x\ny""" + c', "[k for k in xs if k > 1]", 'f"{n}!"']
)
def test_an_expression_parsed_at_a_position_has_the_same_spans_either_way(text: str) -> None:
    """f-string fields are parsed where they sit in the file: the loop counts from there,
    Lark's pipeline parses at 1:1 and shifts the spans; both give the same nodes."""
    from dana_poet.lang.parser import _expression_with_lark, parse_expression

    here = shape(parse_expression(text, "<t>", 3, 7))
    assert here == shape(_expression_with_lark(text, "<t>", 3, 7))
    line, column = shape(parse_expression(text))[1][:2]
    assert here[1][:2] == (line + 2, column + 6)
