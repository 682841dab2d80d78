"""The REPL as a user meets it, driven through a pipe."""

from __future__ import annotations

import subprocess
import sys


def repl(text: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "repl"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_definitions_accumulate_and_values_print():
    out = repl("x = 2\nx * 21\ndef sq(n):\n    return n * n\n\nsq(x)\nnums = [1,\n  2]\nnums\n")
    assert ">>> 42\n" in out and ">>> 4\n" in out.replace("... ", "") and ">>> [1, 2]\n" in out


def test_errors_are_reported_and_the_session_goes_on():
    out = repl("1 / 0\nif x > 1\nprint('still here')\n")
    assert "ZeroDivisionError: division by zero" in out and "1 / 0" in out
    assert "syntax error" in out and "^" in out
    assert "still here" in out
    assert "Traceback" not in out


def test_piped_decorated_function_commands_and_exit_without_parentheses(tmp_path):
    text = (
        "@poet()\n"
        "def area(w: float, h: float) -> float:\n"
        "    return w * h\n"
        "\n"
        'area("2", 3)\n'
        ":stages area\n"
        "1 / 0\n"
        "exit\n"
        "print('not reached')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "repl"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert ">>> 6.0\n" in out.replace("... ", "")
    assert "def perceive(w, h):" in out
    assert "<repl>:5: error: ZeroDivisionError: division by zero" in out
    assert "not reached" not in out


def test_piped_repl_does_not_import_prompt_toolkit():
    probe = (
        "import io, sys\n"
        "sys.stdin = io.StringIO('1 + 1\\n')\n"
        "from dana_poet.repl import run_repl\n"
        "run_repl()\n"
        "print('PT', 'prompt_toolkit' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "PT False" in result.stdout, result.stdout + result.stderr


DEPTH = "def depth(n):\n    if n == 0:\n        return 0\n    return 1 + depth(n - 1)\n\n"


def test_deep_recursion_runs_as_in_dana_poet_run():
    out = repl(DEPTH + "depth(5000)\ndepth(20000)\n").replace("... ", "")
    assert ">>> 5000\n" in out and ">>> 20000\n" in out, out
    assert "RecursionError" not in out


def test_runaway_recursion_is_an_error_and_the_session_goes_on():
    out = repl("def f(n):\n    return f(n + 1)\n\nf(0)\nprint('still here')\n")
    assert "RecursionError" in out and "<repl>:2" in out
    assert "still here" in out and "Traceback" not in out
