"""Operate on coroutines: awaited attempts, asyncio backoff, cancelling timeout, circuit breaker."""

from __future__ import annotations

import asyncio
import random

import pytest

from dana_poet.poet.config import POETConfig
from dana_poet.poet.errors import POETCircuitOpenError, POETInputError, POETTimeoutError
from dana_poet.poet.operate import Operator


class AsyncFlaky:
    def __init__(self, failures: int, exc: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return "ok"


def operator(**config: object) -> tuple[Operator, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    op = Operator("fn", POETConfig(**config), async_sleep=sleep, rng=random.Random(1))
    return op, slept


@pytest.mark.parametrize("timeout", [None, 5.0])
@pytest.mark.parametrize("retries", [0, 1, 3])
def test_attempts_and_backoff_waits(retries: int, timeout: float | None) -> None:
    op, slept = operator(retries=retries, timeout=timeout, jitter="none")
    always = AsyncFlaky(100)
    with pytest.raises(RuntimeError, match=f"^failure {retries + 1}$"):
        asyncio.run(op.run_async(always, (), {}))
    assert always.calls == retries + 1
    assert slept == [0.01 * 2**k for k in range(retries)]

    recovers = AsyncFlaky(retries)
    assert asyncio.run(op.run_async(recovers, (), {})) == ("ok", retries + 1)


def test_timeout_cancels_the_awaited_attempt() -> None:
    op = Operator("slow", POETConfig(timeout=0.05, retries=0))
    state = {"cancelled": False, "finished": False}

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
            state["finished"] = True
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    with pytest.raises(POETTimeoutError, match=r"slow\(\): timed out after 0.05 s") as info:
        asyncio.run(op.run_async(slow, (), {}))
    assert info.value.limit == 0.05
    assert state == {"cancelled": True, "finished": False}
    assert op.breaker.failures == 1


def test_timeout_bounds_attempts_and_waits_together() -> None:
    op = Operator("f", POETConfig(timeout=0.2, retries=50, backoff_base=0.5, jitter="none"))
    body = AsyncFlaky(100)
    with pytest.raises(POETTimeoutError):
        asyncio.run(op.run_async(body, (), {}))
    assert body.calls == 1, "the first wait would pass the limit: raised at once"


def test_the_functions_own_timeout_error_is_not_ours() -> None:
    op, _ = operator(timeout=5.0, retries=1)
    body = AsyncFlaky(5, exc=TimeoutError)
    with pytest.raises(TimeoutError) as info:
        asyncio.run(op.run_async(body, (), {}))
    assert not isinstance(info.value, POETTimeoutError)
    assert body.calls == 2


def test_other_tasks_run_while_one_backs_off() -> None:
    op = Operator("f", POETConfig(retries=1, backoff_base=0.05, jitter="none"))
    order: list[str] = []

    async def failing_once() -> str:
        order.append("attempt")
        if order.count("attempt") == 1:
            raise RuntimeError("once")
        return "done"

    async def other() -> None:
        await asyncio.sleep(0.01)
        order.append("other")

    async def main() -> tuple[object, None]:
        return await asyncio.gather(op.run_async(failing_once, (), {}), other())

    result, _ = asyncio.run(main())
    assert result == ("done", 2)
    assert order == ["attempt", "other", "attempt"]


def test_circuit_breaker_opens_and_refuses_without_running() -> None:
    op, _ = operator(retries=0, circuit_threshold=2, circuit_cooldown=60)
    body = AsyncFlaky(100)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            asyncio.run(op.run_async(body, (), {}))
    with pytest.raises(POETCircuitOpenError, match="circuit open after 2"):
        asyncio.run(op.run_async(body, (), {}))
    assert body.calls == 2


def test_input_errors_and_caller_cancellation_are_neutral() -> None:
    op, _ = operator(retries=3, circuit_threshold=1)

    async def bad() -> None:
        raise POETInputError("bad")

    with pytest.raises(POETInputError):
        asyncio.run(op.run_async(bad, (), {}))

    async def cancelled_by_caller() -> None:
        task = asyncio.ensure_future(op.run_async(asyncio.sleep, (30,), {}))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_by_caller())
    assert op.breaker.state == "closed" and op.breaker.failures == 0


def test_retry_on_applies_to_coroutines() -> None:
    op, _ = operator(retries=3, retry_on=ConnectionError)
    body = AsyncFlaky(5, exc=ValueError)
    with pytest.raises(ValueError):
        asyncio.run(op.run_async(body, (), {}))
    assert body.calls == 1
