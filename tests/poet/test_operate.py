"""Operate: attempts, backoff, timeout, circuit breaker."""

from __future__ import annotations

import random
import threading
import time

import pytest

from dana_poet.poet.config import POETConfig
from dana_poet.poet.errors import POETCircuitOpenError, POETInputError, POETTimeoutError
from dana_poet.poet.operate import CircuitBreaker, Operator


class Flaky:
    def __init__(self, failures: int, exc: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.calls = 0
        self.exc = exc

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return "ok"


def operator(**config) -> tuple[Operator, list[float]]:
    slept: list[float] = []
    op = Operator("fn", POETConfig(**config), sleep=slept.append, rng=random.Random(1))
    return op, slept


@pytest.mark.parametrize("retries", [0, 1, 2, 5])
def test_retries_mean_n_more_attempts(retries):
    op, _ = operator(retries=retries)
    always = Flaky(100)
    with pytest.raises(RuntimeError, match=f"failure {retries + 1}"):
        op.run(always, (), {})
    assert always.calls == retries + 1
    recovers = Flaky(retries)
    assert op.run(recovers, (), {}) == "ok"
    assert recovers.calls == retries + 1


def test_input_errors_are_never_retried():
    op, _ = operator(retries=3)
    bad = Flaky(10, POETInputError)
    with pytest.raises(POETInputError):
        op.run(bad, (), {})
    assert bad.calls == 1


def test_last_error_keeps_its_type():
    op, _ = operator(retries=1)
    with pytest.raises(KeyError):
        op.run(Flaky(5, KeyError), (), {})


def test_backoff_is_full_jitter_within_the_caps():
    op, slept = operator(retries=5, backoff_base=0.1, backoff_max=0.5)
    op.run(Flaky(5), (), {})
    assert len(slept) == 5
    caps = [min(0.5, 0.1 * 2**i) for i in range(5)]
    assert all(0 <= s <= cap for s, cap in zip(slept, caps, strict=True))
    assert len(set(slept)) > 1


def test_timeout_returns_at_the_limit_and_stops_the_work():
    progress = {"n": 0}

    def busy() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            progress["n"] += 1

    op = Operator("busy", POETConfig(timeout=0.2, retries=0))
    started = time.monotonic()
    with pytest.raises(POETTimeoutError, match=r"busy\(\): timed out after 0.2 s"):
        op.run(busy, (), {})
    assert time.monotonic() - started < 3.0
    time.sleep(0.2)
    seen = progress["n"]
    time.sleep(0.3)
    assert progress["n"] == seen, "the timed-out work kept running"


def test_worker_threads_are_reused_and_healthy():
    op = Operator("quick", POETConfig(timeout=5, retries=0))
    names = {
        op.run(lambda: threading.current_thread().name + str(threading.get_ident()), (), {})
        for _ in range(20)
    }
    assert len(names) <= 2
    slow = Operator("slow", POETConfig(timeout=0.1, retries=0))
    with pytest.raises(POETTimeoutError):
        slow.run(lambda: [None for _ in iter(int, 1)], (), {})
    assert op.run(lambda: 41 + 1, (), {}) == 42


def test_errors_inside_a_timed_call_keep_their_type():
    op = Operator("f", POETConfig(timeout=5, retries=1))
    flaky = Flaky(1, ValueError)
    assert op.run(flaky, (), {}) == "ok"
    with pytest.raises(ZeroDivisionError):
        op.run(lambda: 1 / 0, (), {})


def test_circuit_breaker_state_machine():
    now = [0.0]
    breaker = CircuitBreaker("svc", threshold=3, cooldown=10, clock=lambda: now[0])
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(POETCircuitOpenError, match="svc"):
        breaker.before_call()
    now[0] = 11
    breaker.before_call()
    assert breaker.state == "half_open"
    with pytest.raises(POETCircuitOpenError):
        breaker.before_call()  # only one probe at a time
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 22
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"


def test_open_circuit_refuses_without_running():
    op, _ = operator(retries=0, circuit_threshold=2, circuit_cooldown=60)
    f = Flaky(100)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            op.run(f, (), {})
    with pytest.raises(POETCircuitOpenError):
        op.run(f, (), {})
    assert f.calls == 2
