"""What the built-in decorators print, line by line, as the reference's corelib prints it."""

from __future__ import annotations

from pathlib import Path

from tests.lang.dana_fixtures import run_cli


def test_repeat_announces_the_runs_then_each_run(tmp_path: Path) -> None:
    source = "@repeat(2)\ndef hello(v):\n    print('hi', v)\n    return v\nprint(hello(7))\n"
    result = run_cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "[repeat] Executing hello 2 times\n"
        "[repeat] Execution 1/2\nhi 7\n"
        "[repeat] Execution 2/2\nhi 7\n7\n"
    )


def test_log_with_prefix_prints_the_call_and_the_result(tmp_path: Path) -> None:
    source = "@log_with_prefix('[API]')\ndef add(a, b):\n    return a + b\nprint(add(1, b=2))\n"
    result = run_cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "[API] Calling add with args: (1,), kwargs: {'b': 2}\n[API] add returned: 3\n3\n"
    )


def test_log_with_prefix_can_leave_out_the_result(tmp_path: Path) -> None:
    source = "@log_with_prefix('>>', false)\ndef one():\n    return 1\nprint(one())\n"
    result = run_cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ">> Calling one with args: (), kwargs: {}\n1\n"


def test_validate_args_announces_the_check(tmp_path: Path) -> None:
    source = "@validate_args\ndef f(x):\n    return x\nprint(f(2))\n"
    result = run_cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[validate_args] Validating arguments for f\n2\n"
