"""@poet on `async def`: stages around the awaited body, timeouts that cancel, feedback."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from dana_poet import feedback, poet
from dana_poet.poet.errors import (
    POETCircuitOpenError,
    POETConfigError,
    POETInputError,
    POETOutputError,
    POETTimeoutError,
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


def test_perceive_and_enforce_around_the_awaited_body() -> None:
    @poet(domain="financial_services", retries=2, timeout=2)
    async def assess(score: int, income: float) -> int:
        await asyncio.sleep(0)
        return f"{score}"  # type: ignore[return-value]

    assert inspect.iscoroutinefunction(assess)
    result = asyncio.run(assess("excellent", "$60K"))
    assert result == 780 and type(result).__mro__[1] is int
    with pytest.raises(POETInputError, match=r"assess\(\): parameter 'score'"):
        asyncio.run(assess("superb-ish", 1))


def test_enforce_failure_gets_one_more_awaited_attempt() -> None:
    calls: list[int] = []

    @poet(retries=1)
    async def count() -> int:
        calls.append(1)
        return "n/a" if len(calls) == 1 else "5"  # type: ignore[return-value]

    assert asyncio.run(count()) == 5
    assert len(calls) == 2

    @poet(retries=0)
    async def never() -> int:
        return "many"  # type: ignore[return-value]

    with pytest.raises(POETOutputError, match=r"never\(\): result 'many'"):
        asyncio.run(never())


def test_retries_wait_with_asyncio_and_the_loop_keeps_running() -> None:
    seen: list[str] = []

    @poet(retries=3, backoff_base=0.02, jitter="none")
    async def fetch() -> str:
        seen.append("attempt")
        if seen.count("attempt") < 3:
            raise ConnectionError("blip")
        return "ok"

    async def ticker() -> None:
        for _ in range(3):
            await asyncio.sleep(0.005)
            seen.append("tick")

    async def main() -> str:
        result, _ = await asyncio.gather(fetch(), ticker())
        return result

    assert asyncio.run(main()) == "ok"
    assert seen.count("attempt") == 3
    assert seen.index("tick") < seen.index("attempt", 1), "the loop ran during the backoff"


def test_timeout_cancels_the_task_and_raises_poet_timeout() -> None:
    cancelled: list[bool] = []

    @poet(timeout=0.05, retries=0)
    async def slow() -> int:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 1

    with pytest.raises(POETTimeoutError, match=r"slow\(\): timed out after 0.05 s"):
        asyncio.run(slow())
    assert cancelled == [True]


def test_circuit_breaker_as_for_sync_calls() -> None:
    calls: list[int] = []

    @poet(retries=0, circuit_threshold=2, circuit_cooldown=60)
    async def down() -> int:
        calls.append(1)
        raise RuntimeError("down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            asyncio.run(down())
    with pytest.raises(POETCircuitOpenError):
        asyncio.run(down())
    assert len(calls) == 2


def test_feedback_on_awaited_results_trains() -> None:
    @poet(domain="ml_monitoring", optimize_for="accuracy")
    async def flag(value: float, threshold: float = 10.0) -> bool:
        return value > threshold

    r = asyncio.run(flag("12.0"))
    assert r is True
    signal = feedback(r, "false alarm: 12 is normal here")
    assert signal.correct is False
    assert asyncio.run(flag(12.0)) is False, "the learned threshold applies to awaited calls"


def test_generators_are_refused_at_decoration() -> None:
    with pytest.raises(POETConfigError, match=r"@poet on numbers\(\): a generator function"):

        @poet
        def numbers():  # noqa: ANN202
            yield 1

    with pytest.raises(POETConfigError, match=r"@poet on stream\(\): an async generator"):

        @poet(retries=2)
        async def stream():  # noqa: ANN202
            yield 1
