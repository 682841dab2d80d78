"""Language features, each in a `.na` fixture with asserts inside (tests/lang/fixtures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lang.dana_fixtures import (
    DANAPATH_DIR,
    FIXTURES,
    dana_env,
    fixture_cases,
    run_cli,
    run_fixture,
)


@pytest.fixture(autouse=True)
def _dana_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANA_MOCK_LLM", "true")
    monkeypatch.setenv("DANAPATH", str(DANAPATH_DIR))


@pytest.mark.parametrize(
    ("fixture", "function"),
    fixture_cases(),
    ids=[f"{f}::{fn}" if fn else f for f, fn in fixture_cases()],
)
def test_fixture(fixture: str, function: str | None) -> None:
    run_fixture(fixture, function)


# ---------------------------------------------------------------- the program as the CLI runs it


def test_a_fixture_runs_under_the_cli_with_exit_code_0(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "imports.na"],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=120,
        env=dana_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("loading helpers") == 1  # a module runs once per program


@pytest.mark.parametrize(
    ("source", "stdout"),
    [
        ("print('a', 1, true, null, [1, 'a'])\n", "a 1 True None [1, 'a']\n"),
        ("print('a', 'b', sep='-', end='!')\nprint()\n", "a-b!\n"),
        ("print(1.0, 2.5, -0.5, 10 / 4)\n", "1.0 2.5 -0.5 2.5\n"),
        ("struct P:\n    x: int\n    name: str\nprint(P(x=1, name='n'))\n", "P(x=1, name='n')\n"),
        ("print({'k': (1,)}, {1}, ())\n", "{'k': (1,)} {1} ()\n"),
        ("print(f'{3.14159:.2f}', 'Total: ' + 5, 'x' + true)\n", "3.14 Total: 5 xtrue\n"),
        ("print(type(5), type('s'), type([]))\n", "int str list\n"),
        ("def f():\n    print('in f')\n    return 1\nprint(f() + 1)\n", "in f\n2\n"),
    ],
)
def test_print_writes_str_of_values_to_stdout(tmp_path: Path, source: str, stdout: str) -> None:
    result = run_cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == stdout
    assert result.stderr == ""


def test_log_writes_to_stderr_from_the_warning_threshold(tmp_path: Path) -> None:
    source = (
        "log('quiet info')\n"
        "log('loud warning', 'WARNING')\n"
        "log('an error', level='error')\n"
        "log_level('DEBUG')\n"
        "log('now shown')\n"
        "print('done')\n"
    )
    result = run_cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "quiet info" not in result.stderr
    for shown in ("loud warning", "an error", "now shown"):
        assert shown in result.stderr


def test_main_receives_key_value_arguments(tmp_path: Path) -> None:
    source = "def __main__(name='x', n=1, flag=false):\n    print(name, n + 1, flag)\n"
    result = run_cli(tmp_path, source, "name=Bob", "n=3", "flag=true")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Bob 4 True\n"


RUNTIME_ERRORS = [
    (
        "def divide(a, b):\n    return a / b\n\ndef outer(x):\n    return divide(x, 0)\n\nouter(3)\n",
        "ZeroDivisionError",
        ["prog.na:7 in top level", "prog.na:5 in outer", "prog.na:2 in divide", "return a / b"],
    ),
    ("x = 1\ny = undefined_name + x\n", "name 'undefined_name' is not defined", ["prog.na:2"]),
    ("raise 'quota exceeded'\n", "RuntimeError: quota exceeded", ["prog.na:1"]),
    ("x = 2\nassert x + 1 == 4, 'sum'\n", "AssertionError", ["prog.na:2", "sum"]),
    (
        "square = lambda v :: v * v\nprint('before')\nsquare('a')\n",
        "TypeError",
        ["prog.na:3 in top level", "prog.na:1"],
    ),
    (
        "struct P:\n    x: int\ndef (p: P) bad():\n    return p.missing\nP(x=1).bad()\n",
        "AttributeError",
        ["prog.na:5", "prog.na:4 in bad"],
    ),
    (
        "def inc(x):\n    return x + none_such\ndef twice(x) = inc | inc\ntwice(1)\n",
        "none_such",
        ["prog.na:4", "prog.na:2 in inc"],
    ),
    ("open('/etc/passwd')\n", "SandboxError", ["prog.na:1"]),
    ("import missing_module_xyz\n", "missing_module_xyz", ["prog.na:1"]),
    ("def f(a):\n    return a\nf(1, 2)\n", "f", ["prog.na:3"]),
    ("struct P:\n    x: int\nstruct P:\n    y: int\n", "'P'", ["prog.na:3"]),
]


@pytest.mark.parametrize(
    ("source", "error", "fragments"), RUNTIME_ERRORS, ids=[r[1] for r in RUNTIME_ERRORS]
)
def test_runtime_errors_exit_1_with_dana_locations_and_no_python_traceback(
    tmp_path: Path, source: str, error: str, fragments: list[str]
) -> None:
    result = run_cli(tmp_path, source)
    assert result.returncode == 1
    assert error in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "dana_poet/" not in result.stderr and '.py"' not in result.stderr


def test_errors_in_imported_modules_name_both_files(tmp_path: Path) -> None:
    (tmp_path / "lib.na").write_text("def explode(x):\n    return x / 0\n")
    result = run_cli(tmp_path, "import lib\n\nlib.explode(1)\n")
    assert result.returncode == 1
    assert "prog.na:3 in top level" in result.stderr
    assert "lib.na:2 in explode" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_before_an_error_is_kept(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "print('first')\nx = 1 / 0\nprint('never')\n")
    assert result.returncode == 1
    assert result.stdout == "first\n"


def test_exit_ends_the_program_with_its_status(tmp_path: Path) -> None:
    result = run_cli(tmp_path, 'exit\nprint("before")\nexit(3)\nprint("after")\n')
    assert result.stdout == "before\n"
    assert result.returncode == 3
    nested = run_cli(tmp_path, 'def stop():\n    exit(0)\nstop()\nprint("never")\n')
    assert nested.stdout == ""
    assert nested.returncode == 0


def test_missing_file_exits_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "nope.na"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=dana_env(),
    )
    assert result.returncode == 1
    assert "nope.na" in result.stderr and "Traceback" not in result.stderr


def test_runaway_recursion_reports_a_short_call_chain(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "def f(n):\n    return f(n + 1)\n\nf(0)\n")
    assert result.returncode == 1
    assert "RecursionError" in result.stderr
    assert "prog.na:2 in f" in result.stderr
    assert len(result.stderr.splitlines()) < 40  # repeated frames are summarised
    assert "Traceback" not in result.stderr
