"""Operate: retries with backoff and full jitter, a timeout that really stops waiting, a circuit breaker.

Without a timeout, attempts run in the caller's thread. With one, each attempt
runs in a pooled daemon worker thread while the caller waits on a lock with the
remaining budget. At the limit the caller gets `POETTimeoutError` at once and
the worker is sent an asynchronous exception (`PyThreadState_SetAsyncExc`),
which stops compiled Dana and Python code between bytecodes. Code blocked
inside a C call keeps running until it returns to the interpreter; its worker
then unwinds and goes back to the pool (see docs/operate.md). On CPython 3.11, while
that interrupt waits for a worker blocked in C, every thread running under a trace or
profile function (coverage, a debugger, cProfile) stalls at its next Python call until
the C call returns; untraced threads are not affected.
"""

from __future__ import annotations

import _thread
import contextvars
import ctypes
import functools
import itertools
import os
import random
import threading
import time
from _queue import Empty, SimpleQueue
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from dana_poet.poet.config import POETConfig
from dana_poet.poet.errors import (
    POETCircuitOpenError,
    POETConfigError,
    POETInputError,
    POETTimeoutError,
)

# Raised again at once: retrying cannot help (bad input, bad config, a refusing circuit).
NOT_RETRIED = (POETInputError, POETConfigError, POETCircuitOpenError)


class _Interrupted(BaseException):
    """Sent into a worker whose attempt timed out; a BaseException so Dana `except` cannot catch it."""


# --------------------------------------------------------------------------- circuit breaker


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failed calls -> half-open after `cooldown`.

    In half-open exactly one probe call runs: success closes the circuit, failure
    opens it again. `threshold=0` turns the breaker off.
    """

    def __init__(
        self,
        function: str,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.function = function
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.state: Literal["closed", "open", "half_open"] = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self._probe_running = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        if self.state == "closed":
            return
        with self._lock:
            if self.state == "open":
                wait = self.opened_at + self.cooldown - self.clock()
                if wait > 0:
                    raise POETCircuitOpenError(
                        f"{self.function}(): circuit open after {self.failures} consecutive "
                        f"failures; next try allowed in {wait:.1f} s",
                        function=self.function,
                    )
                self.state = "half_open"
                self._probe_running = False
            if self.state == "half_open":
                if self._probe_running:
                    raise POETCircuitOpenError(
                        f"{self.function}(): circuit half-open and a probe call is running; "
                        "try again when it has finished",
                        function=self.function,
                    )
                self._probe_running = True

    def record_success(self) -> None:
        if self.state == "closed" and self.failures == 0:
            return
        with self._lock:
            self.failures = 0
            self.state = "closed"
            self._probe_running = False

    def record_failure(self) -> None:
        if self.threshold <= 0:
            return
        with self._lock:
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.state = "open"
                self.opened_at = self.clock()
                self._probe_running = False

    def record_neutral(self) -> None:
        """An outcome that says nothing about the function's health (bad input, interruption)."""
        if self._probe_running:
            with self._lock:
                self._probe_running = False


# --------------------------------------------------------------------------- worker pool

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_get_ident = _thread.get_ident
_copy_context = contextvars.copy_context

_MAX_IDLE = 16
_IDLE: deque[_Worker] = deque()
# Every live worker by its thread's ident: a timed call made inside a worker finds the
# deadline that worker's attempt runs under (and so whether that interrupt covers it).
_BY_THREAD: dict[int, _Worker] = {}
_NAMES = itertools.count(1)
_FAILED = object()  # the attempt raised; the exception is in the worker's `error`

# The deadline of the whole POET call this context runs in, when its stages share the
# function's `timeout=` with Operate (poet/stage_runner.py sets it): attempts stop there.
CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "poet_call_deadline", default=None
)


def attempt_deadline() -> float | None:
    """The deadline of the timed attempt running in this thread, if it runs in a worker."""
    worker = _BY_THREAD.get(_get_ident())
    return None if worker is None else worker.deadline


def _eventfd_channel() -> tuple[tuple[int, ...], Callable[[], Any], Callable[[], Any]]:
    """(descriptors, wait, wake) of one counter descriptor (Linux)."""
    fd = os.eventfd(0)
    return (fd,), functools.partial(os.eventfd_read, fd), functools.partial(os.eventfd_write, fd, 1)


def _pipe_channel() -> tuple[tuple[int, ...], Callable[[], Any], Callable[[], Any]]:
    """(descriptors, wait, wake) of a pipe, where there is no eventfd."""
    wait_fd, wake_fd = os.pipe()
    return (
        (wait_fd, wake_fd),
        functools.partial(os.read, wait_fd, 1),
        functools.partial(os.write, wake_fd, b"\0"),
    )


# How a caller wakes a worker: a write to a descriptor the worker reads, which releases
# the GIL before the worker wakes (the class docstring says why that matters).
_channel = _eventfd_channel if hasattr(os, "eventfd") else _pipe_channel


class _Worker:
    """A daemon thread that runs one attempt at a time, in a copy of its caller's context.

    The hand-off (docs/operate.md, "What a timeout costs"): the caller writes the attempt
    into `call`, puts one `ticket` in, and wakes the worker with a write to a descriptor
    (`_channel`), a call that releases the GIL before the worker wakes, so the worker does
    not wake only to wait for the GIL (a lock released by the caller wakes it while the
    caller still holds the GIL). The caller waits on `results` with the time left; the
    worker puts the value there (or `_FAILED`, the exception in `error`), and the caller
    gives the worker back to the pool.

    Finishing and giving up race for the one ticket, each side taking it with one
    `deque.pop` (atomic under the GIL): the worker takes it before it puts its result; a
    caller giving up (`_cancel`) takes it and, holding `lock`, interrupts the worker.
    A worker that finds the ticket gone takes `lock` (so the interrupt, if one was sent,
    has been), clears any interrupt still pending, and goes back to the pool itself, as
    does a worker the interrupt reached. So an interrupt never reaches a later attempt,
    and a result never reaches a caller that gave up.
    """

    __slots__ = (
        "fds",
        "wait",
        "wake",
        "results",
        "ticket",
        "lock",
        "call",
        "deadline",
        "error",
        "ident",
    )

    def __init__(self) -> None:
        self.fds, self.wait, self.wake = _channel()
        self.results: SimpleQueue[Any] = SimpleQueue()
        self.ticket: deque[bool] = deque()
        self.lock = _thread.allocate_lock()
        self.call: (
            tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None
        ) = None
        self.deadline = 0.0
        self.error: BaseException | None = None
        thread = threading.Thread(
            target=self._serve, name=f"poet-worker-{next(_NAMES)}", daemon=True
        )
        thread.start()
        self.ident: int = thread.ident or 0
        _BY_THREAD[self.ident] = self

    def _serve(self) -> None:
        wait = self.wait
        take_ticket, put = self.ticket.pop, self.results.put
        call: Any = None
        value: Any = None
        while True:
            try:
                while True:
                    wait()
                    call = self.call
                    if call is None:
                        _BY_THREAD.pop(self.ident, None)
                        for fd in self.fds:
                            os.close(fd)
                        return
                    self.call = None
                    try:
                        if call[3]:
                            value = call[0].run(call[1], *call[2], **call[3])
                        else:
                            value = call[0].run(call[1], *call[2])
                    except _Interrupted:
                        raise
                    except BaseException as exc:  # handed to the caller, who raises it
                        self.error = exc
                        value = _FAILED
                    try:
                        take_ticket()
                    except IndexError:  # the caller gave up on this attempt
                        call = value = None
                        self.error = None
                        with self.lock:  # any interrupt it sent has been sent: drop it
                            _set_async_exc(ctypes.c_ulong(self.ident), None)
                        _give_back(self)
                        continue
                    put(value)
                    call = value = None
            except _Interrupted:
                call = value = None
                self.error = None
                _give_back(self)

    def retire(self) -> None:
        self.call = None
        self.wake()


def _give_back(worker: _Worker) -> None:
    if len(_IDLE) < _MAX_IDLE:
        _IDLE.append(worker)
    else:
        worker.retire()


def _cancel(worker: _Worker) -> bool:
    """Interrupt the attempt `worker` runs unless it has finished; False if it has."""
    with worker.lock:
        try:
            worker.ticket.pop()
        except IndexError:
            return False
        _set_async_exc(ctypes.c_ulong(worker.ident), ctypes.py_object(_Interrupted))
        return True


def _forget_workers_after_fork() -> None:
    """The child has none of the parent's threads: drop their pipes and start a fresh pool."""
    for worker in _IDLE:
        for fd in worker.fds:
            os.close(fd)
    _IDLE.clear()
    _BY_THREAD.clear()


os.register_at_fork(after_in_child=_forget_workers_after_fork)

_TIMED_OUT = object()


class WaitMode:
    """Process-wide switch for backoff waits; `dana_poet.testing` turns them instant."""

    instant = False


WAITS = WaitMode()


# --------------------------------------------------------------------------- operator


class Operator:
    """Runs one POET function's body: attempts, backoff, deadline, circuit breaker."""

    def __init__(
        self,
        function: str,
        config: POETConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        async_sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.function = function
        self.config = config
        self.sleep = sleep
        self.async_sleep = async_sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.breaker = CircuitBreaker(
            function, config.circuit_threshold, config.circuit_cooldown, clock
        )
        self.attempts_last_call = 0
        self._timeout = config.timeout
        self._attempts = config.retries + 1
        self._full_jitter = config.jitter == "full"
        self._backoff_caps = _backoff_caps(
            config.backoff_base, config.backoff_max, config.backoff_multiplier
        )
        self._refuses = _refusal(config)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        caps = self._backoff_caps
        cap = caps[attempt] if attempt < len(caps) else caps[-1]
        return self.rng.uniform(0, cap) if self._full_jitter else cap

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        breaker = self.breaker
        if breaker.state == "closed":
            timeout = self._timeout
            if timeout is None:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - retried or raised again below
                    failed = exc
                else:
                    self.attempts_last_call = 1
                    if breaker.failures:
                        breaker.record_success()
                    return result
                return self.after_failed_attempt(failed, fn, args, kwargs)
            # the first attempt of a timed call, as `_run_attempts` makes it, without its loop
            now = self.clock()
            deadline = now + timeout
            shared = CALL_DEADLINE.get()
            if shared is not None and shared < deadline:
                deadline = shared
            self.attempts_last_call = 1
            try:
                result = self._attempt_before(deadline, deadline - now, fn, args, kwargs)
            except Exception as exc:  # noqa: BLE001 - retried or raised again below
                failed = exc
            else:
                if result is _TIMED_OUT:
                    breaker.record_failure()
                    raise self._timeout_error()
                if breaker.failures:
                    breaker.record_success()
                return result
            return self.after_failed_attempt(failed, fn, args, kwargs, deadline)
        breaker.before_call()
        limit = None
        if self._timeout is not None:
            limit = self.clock() + self._timeout
            shared = CALL_DEADLINE.get()
            if shared is not None and shared < limit:
                limit = shared
        return self._run_attempts(fn, args, kwargs, limit, 0)

    def after_failed_attempt(
        self,
        failed: Exception,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None = None,
    ) -> Any:
        """The first attempt (run in the fast path) failed with `failed`."""
        self.attempts_last_call = 1
        if isinstance(failed, NOT_RETRIED):
            raise failed
        if self._attempts == 1 or (self._refuses is not None and self._refuses(failed)):
            self.breaker.record_failure()
            raise failed
        self._wait(0, deadline)
        return self._run_attempts(fn, args, kwargs, deadline, 1)

    def _run_attempts(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None,
        attempt: int,
    ) -> Any:
        """Attempts from `attempt` on; the circuit breaker counts calls, not attempts."""
        breaker = self.breaker
        while True:
            self.attempts_last_call = attempt + 1
            try:
                if deadline is None:
                    result = fn(*args, **kwargs)
                else:
                    result = self._attempt_before(
                        deadline, deadline - self.clock(), fn, args, kwargs
                    )
            except NOT_RETRIED:
                breaker.record_neutral()
                raise
            except Exception as exc:
                if attempt + 1 >= self._attempts or (
                    self._refuses is not None and self._refuses(exc)
                ):
                    breaker.record_failure()
                    raise
                self._wait(attempt, deadline)
                attempt += 1
                continue
            except BaseException:
                breaker.record_neutral()
                raise
            if result is _TIMED_OUT:
                breaker.record_failure()
                raise self._timeout_error()
            breaker.record_success()
            return result

    def _wait(self, attempt: int, deadline: float | None) -> None:
        if WAITS.instant:
            return
        delay = self.backoff(attempt)
        if deadline is not None and self.clock() + delay >= deadline:
            self.breaker.record_failure()
            raise self._timeout_error()
        if delay > 0:
            self.sleep(delay)

    async def run_async(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, int]:
        """The awaited twin of `run`: (result, attempts made).

        Attempts are awaited in the caller's task and backoff waits use
        `asyncio.sleep`, so the event loop keeps running. With a `timeout`, the
        whole stage runs inside one `asyncio.timeout`: at the limit the attempt
        (or the wait) in progress is cancelled and `POETTimeoutError` raised.
        The attempt count is returned, not kept on the operator, because many
        tasks share one operator.
        """
        import asyncio

        self.breaker.before_call()
        if self._timeout is None:
            return await self._attempts_async(fn, args, kwargs, None)
        deadline = asyncio.get_running_loop().time() + self._timeout
        shared = CALL_DEADLINE.get()  # the loop's clock is time.monotonic, as the stages' is
        if shared is not None and shared < deadline:
            deadline = shared
        scope = asyncio.timeout_at(deadline)
        try:
            async with scope:
                return await self._attempts_async(fn, args, kwargs, deadline)
        except TimeoutError:
            if not scope.expired():
                raise  # the function's own TimeoutError, or a wait that would pass the limit
            self.breaker.record_failure()
            raise self._timeout_error() from None

    async def _attempts_async(
        self,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None,
    ) -> tuple[Any, int]:
        import asyncio

        breaker = self.breaker
        attempt = 0
        while True:
            try:
                result = await fn(*args, **kwargs)
            except NOT_RETRIED:
                breaker.record_neutral()
                raise
            except Exception as exc:
                if attempt + 1 >= self._attempts or (
                    self._refuses is not None and self._refuses(exc)
                ):
                    breaker.record_failure()
                    raise
                if not WAITS.instant:
                    delay = self.backoff(attempt)
                    if deadline is not None:
                        if asyncio.get_running_loop().time() + delay >= deadline:
                            breaker.record_failure()
                            raise self._timeout_error() from None
                    if delay > 0:
                        await (self.async_sleep or asyncio.sleep)(delay)
                attempt += 1
                continue
            except BaseException:  # cancelled (by the caller or the deadline), interrupted
                breaker.record_neutral()
                raise
            breaker.record_success()
            return result, attempt + 1

    def _timeout_error(self) -> POETTimeoutError:
        limit = self._timeout or 0.0
        return POETTimeoutError(
            f"{self.function}(): timed out after {limit:g} s", function=self.function, limit=limit
        )

    def _attempt_before(
        self,
        deadline: float,
        remaining: float,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """One attempt that must end by `deadline`, `remaining` seconds from now; returns
        `_TIMED_OUT` if it did not."""
        enclosing = _BY_THREAD.get(_get_ident())
        if enclosing is not None and enclosing.deadline <= deadline:
            # Inside a worker whose own (earlier) deadline will interrupt this thread.
            return fn(*args, **kwargs)
        if remaining <= 0:
            return _TIMED_OUT
        try:
            worker = _IDLE.pop()
        except IndexError:
            worker = _Worker()
        worker.deadline = deadline
        worker.call = (_copy_context(), fn, args, kwargs)
        worker.ticket.append(True)
        worker.wake()  # releases the GIL before the worker wakes up
        try:
            value = worker.results.get(True, remaining)
        except Empty:
            if _cancel(worker):
                return _TIMED_OUT
            value = worker.results.get()  # it finished as we gave up: use its outcome
        except BaseException:  # e.g. Ctrl-C in the waiting caller: stop the work too
            if not _cancel(worker):
                worker.results.get()
                worker.error = None
                _give_back(worker)
            raise
        if value is _FAILED:
            error = worker.error
            worker.error = None
            _give_back(worker)
            try:
                raise error  # type: ignore[misc]
            finally:
                del error
        if len(_IDLE) < _MAX_IDLE:  # _give_back(worker), inline
            _IDLE.append(worker)
        else:
            worker.retire()
        return value


def _matches(matcher: Any, exc: Exception) -> bool:
    if isinstance(matcher, tuple):
        return isinstance(exc, matcher)
    return bool(matcher(exc))


def _refusal(config: POETConfig) -> Callable[[Exception], bool] | None:
    """(exception) -> True when `retry_on` / `no_retry_on` say it must not be retried.

    None when every `Exception` is retried (the default), so the common case pays nothing.
    """
    retry_on, no_retry_on = config.retry_on, config.no_retry_on
    if retry_on is None and no_retry_on is None:
        return None

    def refuses(exc: Exception) -> bool:
        if no_retry_on is not None and _matches(no_retry_on, exc):
            return True
        return retry_on is not None and not _matches(retry_on, exc)

    return refuses


def _backoff_caps(base: float, maximum: float, multiplier: float) -> tuple[float, ...]:
    """min(maximum, base * multiplier**n) for n = 0.. until it stops growing (no float overflow)."""
    caps = [min(maximum, base)]
    uncapped = base
    while multiplier > 1 and 0 < uncapped < maximum and len(caps) < 1100:
        uncapped *= multiplier
        caps.append(min(maximum, uncapped))
    return tuple(caps)
