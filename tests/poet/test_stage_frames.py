"""The audit layer finds stage code by its frames, and a stage call's budget is created only
when a check needs it (poet/safety.py, poet/policy.py; docs/stage-code.md). Attacks against
both: code compiled as stage code reaching the system directly, through a caller's object or
generator, with a budget of its own making; threads; helpers doing their own work."""

from __future__ import annotations

import io
import sys
import threading
import time
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

from dana_poet import poet
from dana_poet.poet import policy, safety


@pytest.fixture(autouse=True)
def _project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    safety.install()


def as_stage_code(source: str, **names: Any) -> dict[str, Any]:
    """Python compiled as admitted stage code is (its file name), skipping the checker: a
    hole in the checker, simulated. Nothing is contained or flagged around the call."""
    g: dict[str, Any] = dict(names)
    exec(compile(source, safety.STAGE_FILENAME, "exec"), g)  # noqa: S102 - the simulated hole
    return g


HOLES = {
    "open": "open(path, 'w').close()",
    "import": "sys.modules.pop('colorsys', None)\n    import colorsys",
    "subprocess": "import subprocess\n    subprocess.run(['touch', path], check=False)",
    "socket": "import socket\n    socket.socket().close()",
    "compile": "compile('1', '<x>', 'eval')",
    "exec": "exec('x = 1')",
    "os.system": "import os\n    os.system('touch ' + path)",
    "frames": "sys._getframe(0)",
}


@pytest.mark.parametrize("operation", sorted(HOLES))
def test_code_compiled_as_stage_code_reaches_nothing_without_any_flag(tmp_path, operation):
    marker = tmp_path / "marker"
    g = as_stage_code(f"def hole(path):\n    {HOLES[operation]}\n", sys=sys)
    with pytest.raises(safety.SystemAccessRefused):
        g["hole"](str(marker))
    assert not marker.exists()
    (tmp_path / "after").write_text("the caller may touch the system again")


def test_a_comprehension_of_stage_code_is_stage_code(tmp_path):
    marker = tmp_path / "marker"
    g = as_stage_code("def hole(path):\n    return [open(path, 'w') for _ in [1]]\n")
    with pytest.raises(safety.SystemAccessRefused):
        g["hole"](str(marker))
    assert not marker.exists()


class Touchy:
    """A caller's value whose comparison, text or iteration touches the file system."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __lt__(self, other: Any) -> bool:
        self.path.write_text("compared")
        return True

    def __str__(self) -> str:
        self.path.write_text("converted")
        return "touchy"


def test_program_code_that_stage_code_calls_into_is_refused_too(tmp_path):
    """A caller's object's method runs with the stage frame behind it: refused, as before."""
    marker = tmp_path / "marker"
    code = "def perceive(x):\n    if x < 5:\n        return {'x': 1}\n    return {'x': 2}\n"
    err = io.StringIO()
    with redirect_stderr(err):

        @poet(_stage_code=code, _stage_language="python")
        def f(x):
            return "body"

        assert f(Touchy(marker)) == "body"  # the stage was dropped, the built-in engine answered
    assert "dropped" in err.getvalue() and not marker.exists()


def test_a_callers_generator_resumed_by_stage_code_is_refused(tmp_path):
    marker = tmp_path / "marker"

    def touching():
        marker.write_text("resumed")
        yield 1

    g = as_stage_code("def stage(items):\n    return list(items)\n")
    with pytest.raises(safety.SystemAccessRefused):
        g["stage"](touching())
    assert not marker.exists()


def test_a_trusted_helper_does_its_own_work_for_the_stage(tmp_path):
    """A helper (registered trusted code) may import lazily and read files; what it calls on
    the caller's values runs as program code, as in the built-in engines."""

    @safety.trusted_code
    def coerce(value: Any, parameter: Any) -> Any:
        sys.modules.pop("colorsys", None)
        import colorsys  # noqa: F401 - a helper's lazy import

        (tmp_path / "helper.txt").write_text("a helper's own file")
        return str(value)

    stages = policy.load(
        policy.admit("def perceive(x):\n    return {'x': coerce(x, 'x')}\n", "python"),
        "python",
        {"coerce": coerce, "check_output": lambda v: v, "fail": lambda r, m="": None},
    )
    assert stages.perceive is not None
    marker = tmp_path / "marker"
    assert stages.perceive(Touchy(marker)) == {"x": "touchy"}
    assert marker.read_text() == "converted" and (tmp_path / "helper.txt").exists()


def test_stage_code_cannot_hand_a_helper_a_budget_of_its_own(tmp_path):
    """The budget is a hidden argument the translator adds; a stage passing one more
    argument (or a keyword) gets a TypeError, so it is dropped, never trusted."""
    for call in (
        'coerce(n, "n", [10 ** 9, "forged", -(10 ** 9), []])',
        'coerce(n, "n", budget=[10 ** 9, "forged", 0, []])',
        'check_output(result, [10 ** 9, "forged", 0, []])',
    ):
        stage = "perceive(n)" if "coerce" in call else "enforce(result, n)"
        returns = "{'n': x}" if "coerce" in call else "x"
        code = f"def {stage}:\n    x = {call}\n    return {returns}\n"
        err = io.StringIO()
        with redirect_stderr(err):

            @poet(_stage_code=code, _stage_language="python")
            def f(n: int) -> int:
                return n + 1

            assert f("41") == 42
        assert "TypeError" in err.getvalue(), (call, err.getvalue())


def test_names_of_the_budget_and_the_inline_tests_are_refused_at_admission():
    for name in ("__poet_b", "__poet_start", "__poet_exact_n", "__poet_coerce", "__poet_i0"):
        with pytest.raises(policy.PolicyError):
            policy.admit(f"def perceive(n):\n    return {{'n': {name}}}\n", "python")


def _recording_helpers(seen: list[Any]) -> dict[str, Any]:
    def coerce(value: Any, parameter: Any) -> Any:
        seen.append(value)
        return int(value)

    started: list[str] = []
    real = policy.budget_starter("f()", 5.0)

    def start(stage: str, inputs: tuple[Any, ...]) -> list[Any]:
        started.append(stage)
        return real(stage, inputs)

    return {
        "coerce": coerce,
        "check_output": lambda v: v,
        "fail": lambda r, m="": None,
        policy.G_EXACT + "n": int,
        policy.G_START: start,
        "started": started,
    }


def test_a_helper_given_exactly_its_type_is_an_inline_test_and_starts_no_budget():
    seen: list[Any] = []
    helpers = _recording_helpers(seen)
    code = "def perceive(n):\n    n = coerce(n, 'n')\n    return {'n': n}\n"
    stages = policy.load(policy.admit(code, "python"), "python", helpers)
    assert stages.perceive is not None
    assert stages.perceive(7) == {"n": 7}
    assert seen == [] and helpers["started"] == []  # no helper call, no budget
    assert stages.perceive("8") == {"n": 8}
    assert seen == ["8"] and helpers["started"] == ["perceive"]  # the slow path: one budget

    class Liar(int):
        @property  # type: ignore[misc]
        def __class__(self):  # noqa: D105 - says it is an int
            return int

    assert stages.perceive(Liar(9)) == {"n": 9}
    assert len(seen) == 2 and type(seen[1]) is Liar, "a subclass is not exactly the type"


def test_one_budget_per_stage_call_however_many_checks_need_it():
    helpers = _recording_helpers([])
    code = (
        "def perceive(n):\n"
        "    total = 0\n"
        "    for i in range(n):\n"
        "        total += len(str(i))\n"
        "    words = [w.upper() for w in str(n).split()]\n"
        "    return {'n': total + len(words)}\n"
    )
    stages = policy.load(policy.admit(code, "python"), "python", helpers)
    assert stages.perceive is not None
    assert stages.perceive(12) == {"n": 15}
    assert stages.perceive(3) == {"n": 4}
    assert helpers["started"] == ["perceive", "perceive"]


def test_a_budget_needed_first_in_a_comprehensions_iterable_is_started_before_it():
    helpers = _recording_helpers([])
    code = "def perceive(n):\n    return {'n': len([c for c in str(n).strip()])}\n"
    stages = policy.load(policy.admit(code, "python"), "python", helpers)
    assert stages.perceive is not None
    assert stages.perceive(1234) == {"n": 4}
    assert helpers["started"] == ["perceive"]


def test_stage_code_on_one_thread_does_not_touch_another_threads_access(tmp_path):
    code = "def perceive(n):\n    while True:\n        n = n + 1\n"
    helpers = {
        "coerce": lambda v, n: v,
        "check_output": lambda v: v,
        "fail": lambda r, m="": None,
        policy.G_START: policy.budget_starter("spin()", 0.5),
    }
    stages = policy.load(policy.admit(code, "python"), "python", helpers)
    assert stages.perceive is not None
    outcome: list[BaseException] = []

    def spin() -> None:
        try:
            stages.perceive(0)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=spin)
    worker.start()
    time.sleep(0.05)
    (tmp_path / "main.txt").write_text("the main thread is not stage code")
    worker.join(10)
    assert (tmp_path / "main.txt").exists()
    assert len(outcome) == 1 and isinstance(outcome[0], policy.StageTimeout)


def test_what_an_augmented_assignment_builds_counts_against_the_call():
    """`t += half` builds as much as `t = t + half`: both count against MAX_BUILT."""
    code = (
        "def perceive(n):\n"
        "    half = 'x' * 400000\n"
        "    for i in range(30):\n"
        "        t = ''\n"
        "        t += half\n"
        "    return {'n': n}\n"
    )
    stages = policy.load(
        policy.admit(code, "python"),
        "python",
        {"coerce": lambda v, n: v, "check_output": lambda v: v, "fail": lambda r, m="": None},
    )
    assert stages.perceive is not None
    with pytest.raises(policy.LimitExceeded, match="10,000,000"):
        stages.perceive(1)
