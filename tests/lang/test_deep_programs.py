"""Deep programs: deep recursion runs; deep nesting runs or is a located syntax error (exit 2),
never an internal RecursionError; oversize literals are located errors; many keyword
arguments compile to one mapping (CPython checks keyword names pairwise)."""

from __future__ import annotations

import ast as py
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dana_poet.engine import new_program
from dana_poet.lang import ast as A
from dana_poet.lang.compiler import Compiler
from dana_poet.lang.deep import RECURSION_LIMIT, run_deep
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.parser import parse
from tests.hypothesis_profile import examples


def run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "prog.na").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "DANA_POET_NO_CACHE"}
    return subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "--no-cache", "prog.na"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


DEPTH = "def depth(n):\n    if n == 0:\n        return 0\n    return 1 + depth(n - 1)\n"


def test_recursion_far_deeper_than_cpythons_default(tmp_path: Path) -> None:
    r = run(tmp_path, DEPTH + "print(depth(5000))\nprint(depth(20000))\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "5000\n20000\n", "")


def test_runaway_recursion_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    source = "def f(n):\n    return sorted([n], key=lambda v :: f(v + 1))[0]\n\nprint(f(0))\n"
    r = run(tmp_path, source)
    assert r.returncode == 1
    assert "prog.na:2" in r.stderr and "RecursionError" in r.stderr
    assert "Traceback" not in r.stderr


def nested_lists(n: int) -> str:
    return "x = " + "[" * n + "1" + "]" * n + "\nprint(len(x))\n"


def nested_ifs(n: int) -> str:
    return "".join(" " * i + "if true:\n" for i in range(n)) + " " * n + 'print("in")\n'


def nested_defs(n: int) -> str:
    body = "".join("  " * i + f"def f{i}():\n" for i in range(n))
    body += "  " * n + "return 1\n"
    return body + 'print("defined")\n'


@pytest.mark.parametrize(
    ("source", "output"),
    [
        (nested_lists(500), "1\n"),
        (nested_ifs(2000), "in\n"),
        (nested_defs(1000), "defined\n"),
        ("x = " + "(" * 3000 + "1" + ")" * 3000 + "\nprint(x)\n", "1\n"),
        ("x = " + "-" * 5000 + "1\nprint(x)\n", "1\n" if 5000 % 2 == 0 else "-1\n"),
    ],
    ids=["500 lists", "2000 ifs", "1000 defs", "3000 parens", "5000 minus"],
)
def test_deep_nesting_runs(tmp_path: Path, source: str, output: str) -> None:
    r = run(tmp_path, source)
    assert (r.returncode, r.stdout, r.stderr) == (0, output, "")


def test_more_nested_loops_than_cpython_allows_is_a_located_syntax_error(tmp_path: Path) -> None:
    source = "".join("    " * i + f"for i{i} in range(1):\n" for i in range(30))
    source += "    " * 30 + "print(1)\n"
    r = run(tmp_path, source)
    assert r.returncode == 2
    assert r.stderr.startswith("prog.na:21:81: syntax error: the program nests too deeply")
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr


def test_an_expression_too_deep_to_compile_is_a_located_syntax_error(tmp_path: Path) -> None:
    source = "ok = 1\ntotal = " + " + ".join(["1"] * 60_000) + "\nprint(total)\n"
    r = run(tmp_path, source)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("prog.na:2:1: syntax error: the program nests too deeply")
    assert "Traceback" not in r.stderr


def test_a_100k_digit_literal_is_a_located_syntax_error(tmp_path: Path) -> None:
    r = run(tmp_path, "a = 1\nx = " + "7" * 100_000 + "\n")
    assert r.returncode == 2
    assert r.stderr.startswith(
        "prog.na:2:5: syntax error: integer literal too long (100,000 digits"
    )


def test_eight_thousand_keyword_arguments(tmp_path: Path) -> None:
    call = "dict(" + ", ".join(f"k{i}={i}" for i in range(8000)) + ")"
    r = run(tmp_path, f"d = {call}\nprint(len(d), d['k7999'])\n")
    assert (r.returncode, r.stdout) == (0, "8000 7999\n")


def test_many_keywords_compile_to_one_mapping_and_repeats_are_still_refused() -> None:
    call = "f(" + ", ".join(f"k{i}={i}" for i in range(500)) + ")\n"
    tree = Compiler("<t>", frozenset({"f"}), call).module_ast(parse(call))
    calls = [n for n in py.walk(tree) if isinstance(n, py.Call)]
    assert [len(c.keywords) for c in calls] == [1]
    assert calls[0].keywords[0].arg is None and len(calls[0].keywords[0].value.keys) == 500
    few = "f(a=1, b=2)\n"
    tree = Compiler("<t>", frozenset({"f"}), few).module_ast(parse(few))
    assert [k.arg for n in py.walk(tree) if isinstance(n, py.Call) for k in n.keywords] == [
        "a",
        "b",
    ]
    repeated = call.replace("k499=", "k3=")
    with pytest.raises(DanaSyntaxError, match="keyword argument 'k3' repeated") as err:
        parse(repeated, "r.na")
    assert err.value.line == 1


def test_run_deep_raises_the_programs_exception_in_the_caller() -> None:
    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_deep(boom)
    assert run_deep(lambda: sys.getrecursionlimit()) >= RECURSION_LIMIT
    with pytest.raises(SystemExit):
        run_deep(lambda: sys.exit(3))


# ------------------------------------------------------------------ fuzz: generated deep nesting

OPENERS = {
    "list": ("[", "]"),
    "paren": ("(", ")"),
    "call": ("abs(", ")"),
    "dict": ('{"k": ', "}"),
    "minus": ("-", ""),
    "not": ("not ", ""),
    "lambda": ("(lambda :: ", ")()"),
}


@st.composite
def deep_programs(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["expr", "if", "def", "while", "mixed"]))
    depth = draw(st.integers(min_value=1, max_value=1500))
    if kind == "expr":
        parts = draw(st.lists(st.sampled_from(sorted(OPENERS)), min_size=1, max_size=4))
        chosen = [OPENERS[parts[i % len(parts)]] for i in range(depth)]
        expr = "".join(o for o, _ in chosen) + "1" + "".join(c for _, c in reversed(chosen))
        return f"x = {expr}\nprint(1)\n"
    if kind == "mixed":
        lines = []
        for i in range(min(depth, 400)):
            word = draw(st.sampled_from(["if true:", "while false:", f"def g{i}():", "try:"]))
            lines.append(" " * i + word)
        return "\n".join(lines) + "\n" + " " * len(lines) + "pass\n"
    header = {"if": "if true:", "def": "def f():", "while": "while false:"}[kind]
    return "".join(" " * i + header + "\n" for i in range(depth)) + " " * depth + "pass\n"


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(deep_programs())
def test_generated_deep_nesting_runs_or_is_a_located_error(source: str) -> None:
    """What `dana-poet run` does: exit 0, or a syntax error with a line (exit 2)."""
    program = new_program(None)
    try:
        run_deep(lambda: program.run_source(source, "<fuzz>"))
    except DanaSyntaxError as err:
        assert err.line > 0, err.render()
        assert "nests too deeply" in err.message or "syntax" in err.render()
    except (RecursionError, MemoryError) as err:  # pragma: no cover - the failure being tested
        pytest.fail(f"internal {type(err).__name__} for a program of {len(source)} chars")
    except Exception as err:  # noqa: BLE001 - a runtime error must name a line of the program
        lines = [
            f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == "<fuzz>"
        ]
        assert lines and lines[-1] > 0, f"{type(err).__name__} with no program line"


def test_an_ast_too_deep_for_our_compiler_alone_is_located() -> None:
    """The locating pass names the first top-level statement that fails on its own."""
    deep: A.Expr = A.Constant(1)
    for _ in range(RECURSION_LIMIT + 10):
        deep = A.UnaryOp("-", deep)
    program = new_program(None)
    source = "a = 1\nb = -1\n"
    module = A.Module(
        (
            A.Assign(A.Name("a"), A.Constant(1), span=A.Span(1, 1, 1, 6)),
            A.Assign(A.Name("b"), deep, span=A.Span(2, 1, 2, 7)),
        )
    )
    program.ast_transform = lambda m, f, s: module
    program.cache_token = lambda f, s: None
    with pytest.raises(DanaSyntaxError) as err:
        run_deep(lambda: program.run_source(source, "<deep>"))
    assert (err.value.line, err.value.column) == (2, 1)
