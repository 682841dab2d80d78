"""Operate: attempts, backoff, timeout, worker pool, circuit breaker."""

from __future__ import annotations

import _thread
import contextlib
import contextvars
import os
import random
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from dana_poet.poet import operate
from dana_poet.poet.config import POETConfig
from dana_poet.poet.errors import (
    POETCircuitOpenError,
    POETConfigError,
    POETInputError,
    POETTimeoutError,
)
from dana_poet.poet.operate import CircuitBreaker, Operator

TIMEOUTS = pytest.mark.parametrize("timeout", [None, 5.0], ids=["inline", "worker"])


class Flaky:
    """Fails `failures` times, then returns "ok"; remembers every error it raised."""

    def __init__(self, failures: int, exc: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0
        self.raised: list[Exception] = []

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            error = self.exc(f"failure {self.calls}")
            self.raised.append(error)
            raise error
        return "ok"


def operator(**config: object) -> tuple[Operator, list[float]]:
    slept: list[float] = []
    op = Operator("fn", POETConfig(**config), sleep=slept.append, rng=random.Random(1))
    return op, slept


@pytest.fixture
def worker_crashes() -> Iterator[list[BaseException]]:
    """Exceptions that escaped any thread while the test ran (there must be none)."""
    crashes: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: crashes.append(args.exc_value)  # type: ignore[assignment]
    yield crashes
    threading.excepthook = previous


# --------------------------------------------------------------------------- attempts


@TIMEOUTS
@pytest.mark.parametrize("retries", [0, 1, 2, 5])
def test_retries_mean_n_more_attempts(retries: int, timeout: float | None) -> None:
    op, _ = operator(retries=retries, timeout=timeout)
    always = Flaky(100)
    with pytest.raises(RuntimeError, match=f"^failure {retries + 1}$"):
        op.run(always, (), {})
    assert always.calls == op.attempts_last_call == retries + 1

    recovers = Flaky(retries)
    assert op.run(recovers, (), {}) == "ok"
    assert recovers.calls == op.attempts_last_call == retries + 1


@TIMEOUTS
def test_success_first_time_is_one_attempt(timeout: float | None) -> None:
    op, slept = operator(retries=3, timeout=timeout)
    assert op.run(lambda a, b=0: a + b, (1,), {"b": 2}) == 3
    assert op.attempts_last_call == 1
    assert slept == []


@TIMEOUTS
@pytest.mark.parametrize("error", [POETInputError, POETConfigError, POETCircuitOpenError])
def test_errors_retrying_cannot_fix_are_not_retried(
    error: type[Exception], timeout: float | None
) -> None:
    op, slept = operator(retries=3, timeout=timeout)
    bad = Flaky(10, error)
    with pytest.raises(error):
        op.run(bad, (), {})
    assert bad.calls == op.attempts_last_call == 1
    assert slept == []


@TIMEOUTS
@pytest.mark.parametrize("error", [KeyError, ValueError, ZeroDivisionError, POETTimeoutError])
def test_the_last_error_itself_is_raised(error: type[Exception], timeout: float | None) -> None:
    op, _ = operator(retries=2, timeout=timeout)
    failing = Flaky(5, error)
    with pytest.raises(error) as info:
        op.run(failing, (), {})
    assert info.value is failing.raised[-1]
    assert type(info.value) is error


def test_keyboard_interrupt_is_not_retried() -> None:
    op, _ = operator(retries=3)
    calls = []

    def interrupted() -> None:
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        op.run(interrupted, (), {})
    assert len(calls) == 1


# --------------------------------------------------------------------------- backoff


def test_backoff_is_full_jitter_under_exponential_caps() -> None:
    op, slept = operator(retries=6, backoff_base=0.1, backoff_max=0.5, backoff_multiplier=2)
    assert op.run(Flaky(6), (), {}) == "ok"
    caps = [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    assert len(slept) == 6
    assert all(0 <= delay <= cap for delay, cap in zip(slept, caps, strict=True))
    assert len(set(slept)) == 6


def test_backoff_draws_uniformly_from_the_seeded_rng() -> None:
    op, slept = operator(retries=4, backoff_base=0.05, backoff_max=0.3, backoff_multiplier=3)
    op.run(Flaky(4), (), {})
    reference = random.Random(1)
    assert slept == pytest.approx([reference.uniform(0, cap) for cap in (0.05, 0.15, 0.3, 0.3)])


def test_no_jitter_waits_exactly_the_caps() -> None:
    op, slept = operator(retries=4, backoff_base=0.01, backoff_max=0.05, jitter="none")
    op.run(Flaky(4), (), {})
    assert slept == pytest.approx([0.01, 0.02, 0.04, 0.05])


def test_many_retries_do_not_overflow_the_backoff() -> None:
    op, slept = operator(retries=3000, backoff_base=1e-300, backoff_max=2.0, jitter="none")
    assert op.run(Flaky(3000), (), {}) == "ok"
    assert slept[-1] == 2.0 and max(slept) == 2.0


def test_no_wait_after_the_last_attempt() -> None:
    op, slept = operator(retries=2)
    with pytest.raises(RuntimeError):
        op.run(Flaky(10), (), {})
    assert len(slept) == 2


# --------------------------------------------------------------------------- timeout


def test_timeout_returns_at_the_limit_and_stops_the_work(worker_crashes) -> None:
    progress = {"n": 0}

    def slow_sum() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            progress["n"] += 1

    op = Operator("slow_sum", POETConfig(timeout=0.2, retries=0))
    started = time.monotonic()
    with pytest.raises(POETTimeoutError, match=r"^slow_sum\(\): timed out after 0.2 s$") as info:
        op.run(slow_sum, (), {})
    assert time.monotonic() - started < 3.0
    assert info.value.function == "slow_sum" and info.value.limit == 0.2
    time.sleep(0.2)
    seen = progress["n"]
    assert seen > 0
    time.sleep(0.3)
    assert progress["n"] == seen, "the timed-out work kept running"
    assert worker_crashes == []


def test_dana_style_except_does_not_swallow_the_interruption() -> None:
    progress = {"n": 0}

    def stubborn() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                progress["n"] += 1
            except Exception:  # what a Dana `except:` compiles to
                pass

    op = Operator("stubborn", POETConfig(timeout=0.1, retries=0))
    with pytest.raises(POETTimeoutError):
        op.run(stubborn, (), {})
    time.sleep(0.2)
    seen = progress["n"]
    time.sleep(0.3)
    assert progress["n"] == seen


def test_timeout_bounds_all_attempts_and_waits() -> None:
    calls = []

    def fails_slowly() -> None:
        calls.append(time.monotonic())
        time.sleep(0.1)
        raise RuntimeError("still broken")

    op = Operator("fails_slowly", POETConfig(timeout=0.35, retries=50, backoff_base=0.05))
    started = time.monotonic()
    with pytest.raises(POETTimeoutError, match="fails_slowly"):
        op.run(fails_slowly, (), {})
    elapsed = time.monotonic() - started
    assert elapsed < 0.35 * 4, "fifty attempts of 0.1 s would take 5 s"
    assert 1 <= len(calls) < 50


@contextlib.contextmanager
def untraced_thread() -> Iterator[None]:
    """This thread without the trace/profile function that coverage (or a debugger) set.

    On CPython 3.11 a thread running under a trace or profile function stalls at each
    Python call while another thread has an asynchronous exception pending that it
    cannot take yet (the worker blocked in C): the caller, and any other traced thread,
    would get control back only when the C call ends. So the caller side is tested
    untraced, and nothing else runs until the C call ends; see docs/troubleshooting.md.
    """
    trace, profile = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    try:
        yield
    finally:
        sys.setprofile(profile)
        sys.settrace(trace)


def wait_until_idle(ident: int) -> None:
    """Poll (bounded) until the worker thread `ident` is back in the pool."""
    for _ in range(2000):
        if any(worker.ident == ident for worker in operate._IDLE):
            return
        time.sleep(0.005)
    raise AssertionError("the worker did not come back to the pool")


def test_function_blocked_in_c_gives_control_back_then_stops(worker_crashes) -> None:
    workers: list[int] = []
    progress = {"n": 0}
    gate = _thread.allocate_lock()
    gate.acquire()
    failsafe = threading.Timer(30, gate.release)  # only if the caller waited for the C call

    def blocked() -> None:
        workers.append(threading.get_ident())
        gate.acquire()  # C code: cannot be interrupted while inside
        for _ in range(1_000_000):
            progress["n"] += 1

    op = Operator("blocked", POETConfig(timeout=0.1, retries=0))
    quick = Operator("quick", POETConfig(timeout=5, retries=0))
    with untraced_thread():
        failsafe.start()
        with pytest.raises(POETTimeoutError):
            op.run(blocked, (), {})
        # Back while the worker is still inside the C call, which only this test ends.
        back_before_the_c_call_ended = failsafe.is_alive()
        blocked_worker_idle = any(worker.ident == workers[0] for worker in operate._IDLE)
        failsafe.cancel()
        gate.release()
    assert back_before_the_c_call_ended, "the caller waited for the C call"
    assert not blocked_worker_idle, "the blocked worker was back in the pool"
    wait_until_idle(workers[0])
    assert progress["n"] == 0, "the code after the C call ran"
    assert quick.run(threading.get_ident, (), {}) == workers[0], "the worker did not come back"
    assert worker_crashes == []


def test_errors_inside_a_timed_call_keep_their_type() -> None:
    op = Operator("f", POETConfig(timeout=5, retries=1))
    assert op.run(Flaky(1, ValueError), (), {}) == "ok"
    with pytest.raises(ZeroDivisionError):
        op.run(lambda: 1 / 0, (), {})


def test_contextvars_reach_the_worker_and_do_not_leak_back() -> None:
    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")
    op = Operator("ctx", POETConfig(timeout=5))

    def read_and_write() -> str:
        seen = current.get()
        current.set("changed in worker")
        return seen

    token = current.set("execution-42")
    try:
        assert op.run(read_and_write, (), {}) == "execution-42"
        assert current.get() == "execution-42"
    finally:
        current.reset(token)


# --------------------------------------------------------------------------- worker pool


def test_worker_threads_are_reused() -> None:
    op = Operator("quick", POETConfig(timeout=5, retries=0))
    idents = {op.run(threading.get_ident, (), {}) for _ in range(50)}
    assert threading.get_ident() not in idents
    assert len(idents) <= 3


def test_an_interrupted_worker_serves_the_next_call(worker_crashes) -> None:
    interrupted: list[int] = []

    def spin() -> None:
        interrupted.append(threading.get_ident())
        while True:
            pass

    slow = Operator("slow", POETConfig(timeout=0.1, retries=0))
    quick = Operator("quick", POETConfig(timeout=5, retries=0))
    threads_before = threading.active_count()
    for _ in range(5):
        with pytest.raises(POETTimeoutError):
            slow.run(spin, (), {})
        time.sleep(0.05)  # let the interrupted worker unwind back into the pool
        assert quick.run(threading.get_ident, (), {}) == interrupted[-1]
        assert quick.run(lambda x: x * 2, (21,), {}) == 42
    assert len(set(interrupted)) == 1, "interrupted workers were replaced instead of reused"
    assert threading.active_count() <= threads_before + 1
    assert worker_crashes == []


def test_timeouts_at_the_edge_never_mix_up_results(worker_crashes) -> None:
    """Finishing and timing out race here; every call must end one way or the other."""
    op = Operator("edge", POETConfig(timeout=0.001, retries=0, circuit_threshold=0))

    def work(n: int) -> int:
        total = 0
        for i in range(n):
            total += i
        return total

    outcomes = {"ok": 0, "timeout": 0}
    rng = random.Random(7)
    for _ in range(150):
        n = rng.randrange(1, 400_000)
        try:
            assert op.run(work, (n,), {}) == n * (n - 1) // 2
            outcomes["ok"] += 1
        except POETTimeoutError:
            outcomes["timeout"] += 1
    time.sleep(0.1)
    healthy = Operator("after", POETConfig(timeout=5, retries=0))
    assert [healthy.run(work, (k,), {}) for k in range(10)] == [k * (k - 1) // 2 for k in range(10)]
    assert sum(outcomes.values()) == 150
    assert worker_crashes == []


def test_concurrent_callers_get_their_own_results() -> None:
    op = Operator("echo", POETConfig(timeout=5, retries=0))
    wrong: list[tuple[int, int]] = []

    def caller(k: int) -> None:
        for i in range(200):
            got = op.run(lambda a, b: (a, b), (k, i), {})
            if got != (k, i):
                wrong.append(got)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


class Boom(Exception):
    """An exception a weak reference can follow."""


class Payload:
    """An argument a weak reference can follow."""


def test_a_worker_keeps_nothing_of_the_attempt_it_ran() -> None:
    import gc
    import weakref

    op = Operator("keeps", POETConfig(timeout=5, retries=0))
    payload = Payload()
    seen = weakref.ref(payload)
    assert op.run(lambda p: type(p).__name__, (payload,), {}) == "Payload"
    errors: list[weakref.ref[Boom]] = []

    def fails(p: Payload) -> None:
        error = Boom("no")
        errors.append(weakref.ref(error))
        raise error

    with pytest.raises(Boom):
        op.run(fails, (payload,), {})
    del payload
    time.sleep(0.05)  # the worker clears its locals after handing the result over
    gc.collect()
    assert seen() is None, "the pool kept the last attempt's argument alive"
    assert errors[0]() is None, "the pool kept the last attempt's exception alive"


def test_ctrl_c_in_the_waiting_caller_stops_the_work(worker_crashes) -> None:
    import signal

    progress = {"n": 0}
    workers: list[int] = []

    def spin() -> None:
        workers.append(threading.get_ident())
        while True:
            progress["n"] += 1

    def ctrl_c(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    op = Operator("spin", POETConfig(timeout=30, retries=3))
    previous = signal.signal(signal.SIGALRM, ctrl_c)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            op.run(spin, (), {})
        assert time.monotonic() - started < 10, "the caller waited out the timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert len(workers) == 1, "Ctrl-C is not retried"
    wait_until_idle(workers[0])
    seen = progress["n"]
    time.sleep(0.2)
    assert progress["n"] == seen, "the interrupted work kept running"
    assert op.run(threading.get_ident, (), {}) in set(workers) | {w.ident for w in operate._IDLE}
    assert worker_crashes == []


def test_the_pipe_wake_serves_where_there_is_no_eventfd(monkeypatch, worker_crashes) -> None:
    monkeypatch.setattr(operate, "_channel", operate._pipe_channel)
    monkeypatch.setattr(operate, "_IDLE", type(operate._IDLE)())  # a pool of pipe workers
    op = Operator("piped", POETConfig(timeout=5, retries=0))
    slow = Operator("slow", POETConfig(timeout=0.1, retries=0))
    assert [op.run(lambda k: k * k, (k,), {}) for k in range(20)] == [k * k for k in range(20)]
    (worker,) = operate._IDLE
    assert len(worker.fds) == 2, "a pipe: one end to wait on, one to wake"
    with pytest.raises(POETTimeoutError):
        slow.run(lambda: time.sleep(0.01) or spin_forever(), (), {})
    wait_until_idle(worker.ident)
    assert op.run(threading.get_ident, (), {}) == worker.ident
    assert worker_crashes == []


def spin_forever() -> None:
    while True:
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_a_pool_of_its_own() -> None:
    op = Operator("forked", POETConfig(timeout=5, retries=0))
    slow = Operator("slow", POETConfig(timeout=0.1, retries=0))
    parent_worker = op.run(threading.get_ident, (), {})
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        code = 1
        try:
            fresh = not operate._IDLE and not operate._BY_THREAD
            worker = op.run(threading.get_ident, (), {})
            try:
                slow.run(spin_forever, (), {})
                timed_out = False
            except POETTimeoutError:
                timed_out = True
            answer = op.run(lambda: 6 * 7, (), {})
            os.write(write_end, repr((fresh, worker != parent_worker, timed_out, answer)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as report:
        text = report.read()
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert text == "(True, True, True, 42)"
    assert op.run(threading.get_ident, (), {}) == parent_worker, "the parent's pool is intact"


def test_nested_timed_calls_do_not_deadlock() -> None:
    def nest(depth: int) -> int:
        if depth == 0:
            return threading.get_ident()
        inner = Operator(f"level{depth}", POETConfig(timeout=5, retries=0))
        return inner.run(nest, (depth - 1,), {})

    outer = Operator("outer", POETConfig(timeout=5, retries=0))
    results: list[int] = []
    callers = [threading.Thread(target=lambda: results.append(outer.run(nest, (20,), {})))]
    callers += [threading.Thread(target=lambda: results.append(outer.run(nest, (20,), {})))]
    for t in callers:
        t.start()
    for t in callers:
        t.join(timeout=10)
    assert len(results) == 2, "nested timed calls deadlocked"


def test_nested_call_with_a_shorter_timeout_times_out_on_its_own() -> None:
    def spin() -> None:
        while True:
            pass

    inner = Operator("inner", POETConfig(timeout=0.1, retries=0))

    def outer_body() -> str:
        try:
            inner.run(spin, (), {})
        except POETTimeoutError as exc:
            return str(exc)
        return "no timeout"

    outer = Operator("outer", POETConfig(timeout=5, retries=0))
    assert outer.run(outer_body, (), {}) == "inner(): timed out after 0.1 s"


def test_outer_timeout_stops_nested_work() -> None:
    progress = {"n": 0}

    def spin() -> None:
        while True:
            progress["n"] += 1

    inner = Operator("inner", POETConfig(timeout=30, retries=0))
    outer = Operator("outer", POETConfig(timeout=0.2, retries=0))
    with pytest.raises(POETTimeoutError, match=r"^outer\(\)"):
        outer.run(lambda: inner.run(spin, (), {}), (), {})
    time.sleep(0.2)
    seen = progress["n"]
    time.sleep(0.3)
    assert progress["n"] == seen


# --------------------------------------------------------------------------- circuit breaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_circuit_breaker_state_machine() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("svc", threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_success()  # a success resets the count of consecutive failures
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"

    clock.now = 4
    with pytest.raises(POETCircuitOpenError, match=r"svc\(\).* in 6\.0 s"):
        breaker.before_call()
    clock.now = 10.5
    breaker.before_call()
    assert breaker.state == "half_open"
    with pytest.raises(POETCircuitOpenError, match="probe"):
        breaker.before_call()  # exactly one probe
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now = 15
    with pytest.raises(POETCircuitOpenError):
        breaker.before_call()  # the cooldown starts again from the failed probe
    clock.now = 21
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.before_call()


def test_a_neutral_probe_outcome_lets_the_next_call_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("svc", threshold=1, cooldown=1, clock=clock)
    breaker.record_failure()
    clock.now = 2
    breaker.before_call()
    breaker.record_neutral()
    assert breaker.state == "half_open"
    breaker.before_call()


def test_threshold_zero_turns_the_breaker_off() -> None:
    breaker = CircuitBreaker("svc", threshold=0, cooldown=10)
    for _ in range(100):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"


def test_open_circuit_refuses_without_running_then_probes() -> None:
    clock = FakeClock()
    config = POETConfig(retries=2, circuit_threshold=2, circuit_cooldown=60)
    op = Operator("svc", config, sleep=lambda s: None, clock=clock)
    down = Flaky(100)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            op.run(down, (), {})
    assert down.calls == 6, "the breaker counts calls; each call made all its attempts"
    assert op.breaker.state == "open"
    with pytest.raises(POETCircuitOpenError, match=r"^svc\(\): circuit open"):
        op.run(down, (), {})
    assert down.calls == 6

    clock.now = 61
    assert op.run(lambda: "back", (), {}) == "back"
    assert op.breaker.state == "closed"


def test_failed_probe_reopens_through_the_operator() -> None:
    clock = FakeClock()
    config = POETConfig(retries=0, circuit_threshold=1, circuit_cooldown=5)
    op = Operator("svc", config, clock=clock)
    with pytest.raises(RuntimeError):
        op.run(Flaky(1), (), {})
    clock.now = 6
    probe = Flaky(1)
    with pytest.raises(RuntimeError):
        op.run(probe, (), {})
    assert probe.calls == 1 and op.breaker.state == "open"


def test_input_errors_do_not_open_the_circuit() -> None:
    op, _ = operator(retries=0, circuit_threshold=2)
    for _ in range(5):
        with pytest.raises(POETInputError):
            op.run(Flaky(1, POETInputError), (), {})
    assert op.breaker.state == "closed"


def test_timeouts_count_as_failures() -> None:
    op = Operator("slow", POETConfig(timeout=0.05, retries=0, circuit_threshold=2))
    for _ in range(2):
        with pytest.raises(POETTimeoutError):
            op.run(time.sleep, (0.3,), {})
    with pytest.raises(POETCircuitOpenError):
        op.run(time.sleep, (0,), {})
