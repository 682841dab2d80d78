"""The command line as a user meets it: exit codes, output, error reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(
    tmp_path: Path, source: str, *args: str, name: str = "prog.na"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(source)
    env = {**os.environ, "DANA_MOCK_LLM": "true"}
    env.pop("DANA_POET_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", name, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_ok_program_exit_0(tmp_path):
    r = run(tmp_path, 'print("hello")\n')
    assert r.returncode == 0 and r.stdout == "hello\n" and r.stderr == ""


def test_failed_assert_exit_1_with_both_values(tmp_path):
    r = run(tmp_path, "x = 2\nassert x + 1 == 4\n")
    assert r.returncode == 1
    assert "prog.na:2" in r.stderr and "left: 3, right: 4" in r.stderr
    assert "Traceback" not in r.stderr and "dana_poet" not in r.stderr


def test_runtime_error_shows_the_dana_call_chain(tmp_path):
    src = "def divide(a, b):\n    return a / b\n\ndef outer(x):\n    return divide(x, 0)\n\nouter(3)\n"
    r = run(tmp_path, src)
    assert r.returncode == 1
    assert "ZeroDivisionError" in r.stderr
    for fragment in (
        "prog.na:7 in top level",
        "prog.na:5 in outer",
        "prog.na:2 in divide",
        "return a / b",
    ):
        assert fragment in r.stderr
    assert "Traceback" not in r.stderr


def test_debug_shows_the_python_traceback(tmp_path):
    (tmp_path / "p.na").write_text("x = 1 / 0\n")
    r = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "p.na", "--debug"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" in r.stderr


SYNTAX = [
    ("if x > 0\n    print(x)\n", 1, 9, "expected ':'"),
    ("x = [1, 2\ny = 3\n", 1, 5, "'[' was never closed"),
    ("def f(x):\nreturn x\n", 2, 1, "unexpected"),
    ("t = 1, 2\n", 1, 6, "tuple"),
    ("y = x | f\n", 1, 7, "pipe"),
    ("sq = lambda x: x * x\n", 1, 18, "lambdas use '::'"),
    ('s = "unterminated\n', 1, 5, "unterminated"),
    ("return 5\n", 1, 1, "outside a function"),
    ("a, b = 1, 2\n", 1, 2, "tuple"),
]


@pytest.mark.parametrize(("source", "line", "column", "fragment"), SYNTAX)
def test_syntax_errors_name_file_line_col_with_a_caret(tmp_path, source, line, column, fragment):
    r = run(tmp_path, source)
    assert r.returncode == 2, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"prog.na:{line}:{column}: syntax error"), r.stderr
    assert fragment in r.stderr
    assert "^" in r.stderr
    assert "Traceback" not in r.stderr


def test_main_receives_key_value_arguments(tmp_path):
    src = "def __main__(name: str, times: int = 1):\n    print(name * times)\n"
    r = run(tmp_path, src, "name=ab", "times=2")
    assert r.returncode == 0 and r.stdout == "abab\n"


def test_parse_command(tmp_path):
    (tmp_path / "p.na").write_text("x = 1\ndef f(a):\n    return a\n")
    r = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "parse", "p.na", "--ast"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "FunctionDef" in r.stdout


def test_missing_file(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "nope.na"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "no such file" in r.stderr


def test_plain_programs_do_not_import_heavy_modules(tmp_path):
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['dana-poet', 'run', 'p.na']\n"
        "from dana_poet.cli import main\n"
        "main(['run', 'p.na'])\n"
        "heavy = [m for m in ('openai', 'fastapi', 'uvicorn', 'prompt_toolkit', 'pydantic', 'rich') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    (tmp_path / "p.na").write_text('print("hi")\n')
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


POET_PROGRAMS = {
    "credit": (
        '@poet(domain="financial_services", retries=1)\n'
        "def assess(score: int, income: float) -> str:\n"
        '    if score >= 700 and income >= 50000:\n        return "approved"\n    return "declined"\n'
        'assert assess("excellent", "$50K") == "approved"\n'
        'assert assess("720", "65,000") == "approved"\n'
        'assert assess("fair", "$40K") == "declined"\n'
        'print(assess("good", "$1.2M"))\n',
        "approved\n",
    ),
    "bad_input": (
        "@poet()\ndef area(width: float, height: float) -> float:\n    return width * height\n"
        'assert area("2.5", 4) == 10.0\n'
        'try:\n    area("wide", 4)\nexcept POETInputError as e:\n    print(e.parameter, e.function)\n',
        "width area\n",
    ),
    "retries": (
        "struct Counter:\n    n: int = 0\n"
        '@poet(retries=2)\ndef flaky(c: Counter) -> str:\n    c.n = c.n + 1\n    if c.n < 3:\n        raise "transient"\n    return "ok"\n'
        'c = Counter()\nassert flaky(c) == "ok"\nprint(c.n)\n',
        "3\n",
    ),
    "timeout": (
        "@poet(timeout=0.2, retries=0)\ndef slow_sum(n: int) -> int:\n    total = 0\n    for i in range(n):\n        total = total + i\n    return total\n"
        "assert slow_sum(10) == 45\n"
        'try:\n    slow_sum(500000000)\nexcept POETTimeoutError as e:\n    print("timed out:", "slow_sum" in e.message)\n',
        "timed out: True\n",
    ),
    "feedback": (
        '@poet(domain="ml_monitoring", optimize_for="accuracy")\n'
        "def flag(value: float, threshold: float = 10.0) -> bool:\n    return value > threshold\n"
        "r = flag(12.0)\nassert r == true\n"
        'feedback(r, {"correct": false, "expected": false})\n'
        "print(flag(12.0))\n",
        "False\n",
    ),
}


@pytest.mark.parametrize("name", sorted(POET_PROGRAMS))
def test_poet_programs(tmp_path, name):
    source, expected = POET_PROGRAMS[name]
    r = run(tmp_path, source)
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected


def test_examples_run_as_documented(tmp_path):
    import shutil

    env = {**os.environ}
    env.pop("DANA_POET_DIR", None)
    copy = tmp_path / "examples"  # a copy: running writes .dana/ and __pycache__/ beside it
    shutil.copytree(ROOT / "examples", copy, ignore=shutil.ignore_patterns(".dana", "__pycache__"))
    r = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "credit_check.na"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == (ROOT / "examples" / "credit_check.expected").read_text()


def test_an_unknown_domain_is_one_warning_naming_each_function(tmp_path):
    src = (
        '@poet(domain="finance_stuff")\ndef f(x: int) -> int:\n    return x\n'
        '@poet(domain="finance_stuff")\ndef g(x: int) -> int:\n    return x + 1\n'
        "print(f(2), f(3), g(4), g(5))\n"
    )
    r = run(tmp_path, src)
    assert r.returncode == 0 and r.stdout == "2 3 5 6\n", r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("dana-poet: warning: f(): unknown POET domain 'finance_stuff'")
    assert lines[1].startswith("dana-poet: warning: g(): unknown POET domain 'finance_stuff'")
    assert "financial_services" in lines[0]
