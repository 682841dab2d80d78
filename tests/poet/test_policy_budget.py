"""One time budget per call: generated Perceive, Operate's attempts and generated Enforce share
the function's `timeout=` (docs/stage-code.md, "Limits")."""

from __future__ import annotations

import asyncio
import io
import time
from contextlib import redirect_stderr
from typing import Any

import pytest

from dana_poet import poet
from dana_poet.poet import operate, policy
from dana_poet.poet.errors import POETTimeoutError

SPIN = "    for i in range(ROUNDS):\n        x = i\n"


def perceive_code(rounds: int) -> str:
    return (
        "def perceive(n):\n"
        + SPIN.replace("ROUNDS", str(rounds))
        + '    return {"n": coerce(n, "n")}\n'
    )


def enforce_code(rounds: int) -> str:
    return (
        "def enforce(result, n):\n"
        + SPIN.replace("ROUNDS", str(rounds))
        + "    return check_output(result)\n"
    )


@pytest.fixture
def deadlines(monkeypatch: pytest.MonkeyPatch, tmp_path) -> list[float]:
    """The deadline each loop iteration of stage code was checked against, in order."""
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    seen: list[float] = []
    real = policy.tick

    def recording_tick(budget: list) -> bool:
        seen.append(budget[0])  # [deadline, label, items built, values passed in]
        return real(budget)

    monkeypatch.setattr(policy, "tick", recording_tick)  # bound into stage globals at load
    return seen


def test_perceive_operate_and_enforce_share_one_deadline(deadlines):
    body_deadlines: list[float] = []

    @poet(timeout=30, _stage_code=perceive_code(3) + enforce_code(3), _stage_language="python")
    def double(n: int) -> int:
        enclosing = operate.attempt_deadline()  # the deadline the Operate attempt runs under
        assert enclosing is not None
        body_deadlines.append(enclosing)
        return 2 * n

    started = time.monotonic()
    assert double("21") == 42
    assert len(deadlines) == 6 and len(set(deadlines)) == 1, deadlines
    (shared,) = set(deadlines)
    assert body_deadlines == [shared], "Operate's attempt ran under the stages' deadline"
    assert started + 30 <= shared <= time.monotonic() + 30
    # the next call gets a budget of its own
    assert double(4) == 8
    assert len(set(deadlines)) == 2 and max(deadlines) > shared
    assert operate.CALL_DEADLINE.get() is None, "no call's budget outlives the call"


def test_a_slow_perceive_leaves_the_body_less_time(deadlines):
    entered: list[float] = []

    @poet(timeout=1.5, _stage_code=perceive_code(60_000), _stage_language="python")
    def slow(n: int) -> int:
        entered.append(time.monotonic())
        enclosing = operate.attempt_deadline()
        assert enclosing is not None
        entered.append(enclosing)
        while True:  # runs until the call's deadline interrupts it
            time.sleep(0.01)

    started = time.monotonic()
    with pytest.raises(POETTimeoutError) as caught:
        slow(1)
    ended = time.monotonic()
    body_started, body_deadline = entered
    assert body_deadline == deadlines[0], "the body's deadline is the one Perceive started"
    # the call started the budget, not Operate: Perceive's time came out of the body's
    assert body_deadline <= started + 1.5 + (body_started - started) / 2
    assert ended >= body_deadline, "the call ended at the deadline, not before"
    assert ended - started < 15, "and not long after it"
    assert caught.value.function == "slow" and caught.value.stage == "operate"
    assert "slow(): timed out after 1.5 s" in str(caught.value)


def test_a_hanging_enforce_ends_the_call_at_the_deadline(deadlines):
    ran: list[int] = []
    code = "def enforce(result, n):\n    while true:\n        x = 1\n    return result\n"

    @poet(timeout=0.5, _stage_code=code)
    def inc(n: int) -> int:
        ran.append(n)
        return n + 1

    err = io.StringIO()
    started = time.monotonic()
    with redirect_stderr(err), pytest.raises(POETTimeoutError) as caught:
        inc(1)
    assert time.monotonic() >= deadlines[0] and time.monotonic() - started < 15
    assert caught.value.stage == "enforce" and caught.value.function == "inc"
    assert "inc(): timed out after 0.5 s in the generated enforce stage" in str(caught.value)
    assert ran == [1]
    assert "was dropped" in err.getvalue()
    with redirect_stderr(err):
        assert inc(2) == 3, "the built-in engines answer from then on"


def test_without_a_timeout_each_stage_has_the_stage_default(deadlines):
    from dana_poet.poet.stage_runner import STAGE_DEFAULT_TIMEOUT

    @poet(_stage_code=perceive_code(2) + enforce_code(2), _stage_language="python")
    def same(n: int) -> int:
        assert operate.CALL_DEADLINE.get() is None
        return n

    before = time.monotonic()
    assert same(5) == 5
    after = time.monotonic()
    assert len(deadlines) == 4
    for at in deadlines:
        assert before + STAGE_DEFAULT_TIMEOUT <= at <= after + STAGE_DEFAULT_TIMEOUT


def test_async_stages_share_the_deadline_per_task(deadlines):
    @poet(timeout=30, _stage_code=perceive_code(2) + enforce_code(2), _stage_language="python")
    async def triple(n: int) -> int:
        await asyncio.sleep(0)
        return 3 * n

    async def both() -> list[Any]:
        return list(await asyncio.gather(triple("1"), triple(2)))

    assert asyncio.run(both()) == [3, 6]
    assert len(deadlines) == 8
    assert len(set(deadlines)) == 2, "one deadline per call, shared by its two stages"
    assert operate.CALL_DEADLINE.get() is None


def test_an_async_hanging_perceive_is_a_timeout_naming_the_stage(deadlines):
    code = "def perceive(n):\n    while True:\n        x = 1\n    return {'n': n}\n"

    @poet(timeout=0.3, _stage_code=code, _stage_language="python")
    async def never(n: int) -> int:
        raise AssertionError("the body does not run once the budget is spent")

    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(POETTimeoutError, match="perceive stage"):
        asyncio.run(never(1))
