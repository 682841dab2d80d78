"""The warm path of a function with generated stage code: the stages run as admitted, under
the policy, and every guarantee of the stage engines holds on it (docs/stage-code.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dana_poet import poet
from dana_poet.poet import operate
from dana_poet.poet.errors import POETInputError, POETOutputError, POETTimeoutError


@pytest.fixture(autouse=True)
def _project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


def _warm(fn: Any) -> bool:
    return str(fn.__code__.co_filename).startswith("<poet warm path")


PLUS_ONE = (
    "def perceive(n):\n"
    "    n = coerce(n, 'n')\n"
    "    if n > 1000:\n"
    "        fail('range', 'too big')\n"
    "    return {'n': n + 1}\n"
    "def enforce(result, n):\n"
    "    result = check_output(result)\n"
    "    return result * 10\n"
)


def test_stage_code_that_does_something_runs_on_the_warm_path() -> None:
    @poet(_stage_code=PLUS_ONE, _stage_language="python")
    def same(n: int) -> int:
        return n

    assert _warm(same)
    assert same(1) == 20  # the first call publishes (general path)
    assert same(2) == 30 and same(3) == 40  # warm: both stages ran
    assert same("4") == 50  # not exactly an int: the general path, the same stages
    assert same(5000) == 5000  # fail() in Perceive drops the stage, as on the general path
    assert same(6) == 6  # the built-in engines answer from then on


def test_template_stages_on_exact_types_answer_as_the_built_in_warm_path() -> None:
    from dana_poet.poet.codegen import FunctionSpec, ParamSpec, template_stage_code

    code = template_stage_code(
        FunctionSpec("label", (ParamSpec("score", "int"),), "str", None, "label")
    )

    @poet(_stage_code=code)
    def label(score: int) -> str:
        return "high" if score > 700 else "low"

    assert _warm(label) and label.__poet__.stage_code
    assert label(720) == "high" and label(10) == "low"
    assert label("720") == "high"  # the template's coerce runs for a value to coerce
    with pytest.raises(POETInputError):
        label(True)  # bool is not exactly int: the stage's coerce decides, and refuses


def test_a_warm_perceive_that_breaks_its_contract_is_dropped_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = (
        "def perceive(n):\n"
        "    if n > 10:\n"
        "        return {'n': n, 'extra': 1}\n"
        "    return {'n': n}\n"
        "def enforce(result, n):\n"
        "    return result\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def double(n: int) -> int:
        return n * 2

    assert double(1) == 2 and double(2) == 4
    assert double(11) == 22  # the built-in engines answer
    assert double(12) == 24
    err = capsys.readouterr().err
    assert err.count("was dropped") == 1 and "extra" in err
    assert double.__poet__.stage_meta.get("dropped", {}).get("stage") == "perceive"


def test_a_warm_perceive_value_is_recoerced_or_the_stage_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = (
        "def perceive(n):\n"
        "    if n == 5:\n"
        "        return {'n': '50'}\n"
        "    if n == 6:\n"
        "        return {'n': 'sixty'}\n"
        "    return {'n': n}\n"
        "def enforce(result, n):\n"
        "    return result\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def same(n: int) -> int:
        return n

    assert same(1) == 1
    assert same(5) == 50  # '50' re-coerced to the annotation
    assert "dropped" not in capsys.readouterr().err
    assert same(6) == 6  # cannot be an int: dropped, the built-in Perceive answers
    assert "was dropped" in capsys.readouterr().err


def test_a_warm_enforce_that_breaks_the_return_type_is_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = (
        "def perceive(n):\n"
        "    return {'n': n}\n"
        "def enforce(result, n):\n"
        "    if n > 10:\n"
        "        return 'not a number'\n"
        "    return result\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def double(n: int) -> int:
        return n * 2

    assert double(1) == 2 and double(3) == 6
    assert double(11) == 22  # the built-in Enforce answers
    assert double(12) == 24
    assert capsys.readouterr().err.count("was dropped") == 1


def test_a_warm_stage_that_raises_or_breaks_a_guard_is_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = (
        "def perceive(n):\n"
        "    if n == 7:\n"
        "        x = 1 // (n - 7)\n"
        "    if n == 8:\n"
        "        s = 'ab' * (10 ** 8)\n"
        "    return {'n': n}\n"
        "def enforce(result, n):\n"
        "    return result\n"
    )
    for bad in (7, 8):

        @poet(_stage_code=code, _stage_language="python")
        def triple(n: int) -> int:
            return n * 3

        assert triple(1) == 3 and triple(2) == 6
        assert triple(bad) == bad * 3
        assert triple(3) == 9
        assert capsys.readouterr().err.count("was dropped") == 1


def test_the_enforce_rule_is_retried_on_the_warm_path() -> None:
    answers = iter([1, 99, 2])
    code = (
        "def perceive(n):\n"
        "    return {'n': n}\n"
        "def enforce(result, n):\n"
        "    if result > 50:\n"
        "        fail('small', 'must be small')\n"
        "    return result\n"
    )

    @poet(retries=1, _stage_code=code, _stage_language="python")
    def pick(n: int) -> int:
        return next(answers)

    assert pick(0) == 1
    assert pick(0) == 2  # 99 refused by the stage's rule, one more attempt

    @poet(_stage_code=code, _stage_language="python")
    def echo(n: int) -> int:
        return n

    assert echo(1) == 1 and echo(2) == 2
    with pytest.raises(POETOutputError, match="must be small"):
        echo(99)  # no retries: the stage's rule is the call's answer


def test_the_audit_layer_sees_stage_code_only_while_it_runs(tmp_path: Path) -> None:
    from dana_poet.poet import safety

    seen: list[Any] = []

    @poet(_stage_code=PLUS_ONE, _stage_language="python")
    def writes(n: int) -> int:
        seen.append((safety.stage_code_running(), safety.contained_state()))
        (tmp_path / f"body-{n}.txt").write_text("the body may touch the system")
        return n

    for n in range(1, 4):
        assert writes(n) == (n + 1) * 10
    assert seen == [(False, None)] * 3
    assert safety.contained_state() is None
    assert len(list(tmp_path.glob("body-*.txt"))) == 3


def test_a_warm_call_keeps_one_deadline_for_stages_and_body() -> None:
    seen: list[float | None] = []
    spin = (
        "def perceive(n):\n"
        "    while n > 100:\n"
        "        x = n\n"
        "    return {'n': n}\n"
        "def enforce(result, n):\n"
        "    return result\n"
    )

    @poet(timeout=0.5, _stage_code=spin, _stage_language="python")
    def slow(n: int) -> int:
        seen.append(operate.CALL_DEADLINE.get())
        return n

    assert _warm(slow)
    assert slow(1) == 1
    started = time.monotonic()
    assert slow(2) == 2  # warm
    deadline = seen[-1]
    assert deadline is not None and started < deadline <= started + 0.5 + 0.05
    with pytest.raises(POETTimeoutError) as caught:
        slow(101)  # the stage spins past the call's deadline
    assert caught.value.stage == "perceive"  # type: ignore[attr-defined]
    assert time.monotonic() - started < 5
    assert operate.CALL_DEADLINE.get() is None  # the call's deadline is gone with it


def test_warm_stages_get_private_copies_of_containers() -> None:
    code = (
        "def perceive(items, tag):\n"
        "    items.append(99)\n"
        "    return {'items': items, 'tag': tag}\n"
        "def enforce(result, items, tag):\n"
        "    items.append(100)\n"
        "    return result\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def count(items: list, tag: str) -> int:
        return len(items)

    mine = [1, 2]
    assert count(mine, "a") == 3 and count(mine, "b") == 3
    assert mine == [1, 2]


def test_a_caller_s_cyclic_or_widely_shared_argument_reaches_a_stage_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    looks = "def perceive(items):\n    return {'items': items}\ndef enforce(result, items):\n    return result\n"

    @poet(_stage_code=looks, _stage_language="python")
    def count(items: list) -> int:
        return len(items)

    looped: list = [1, 2]
    looped.append(looped)
    shared: list = [0]
    for _ in range(60):
        shared = [shared, shared]
    assert [count(looped), count(looped), count(shared), count(shared)] == [3, 3, 2, 2]
    assert looped[2] is looped and len(looped) == 3
    assert count.__poet__.stage_code, "the stage was not dropped"
    assert "dropped" not in capsys.readouterr().err
