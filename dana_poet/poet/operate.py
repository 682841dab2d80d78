"""Operate: retries with backoff and full jitter, a timeout that really stops waiting, a circuit breaker.

Timeouts run the attempt in a pooled worker thread. At the limit the caller
gets `POETTimeoutError` at once and the worker is interrupted with an
asynchronous exception (`PyThreadState_SetAsyncExc`), which stops compiled
Dana and Python code between bytecodes. Code blocked inside a C call keeps
running until it returns to the interpreter (see docs/operate.md).
"""

from __future__ import annotations

import _thread
import contextvars
import ctypes
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from dana_poet.poet.config import POETConfig
from dana_poet.poet.errors import (
    POETCircuitOpenError,
    POETConfigError,
    POETInputError,
    POETTimeoutError,
)

_NO_RETRY = (POETInputError, POETConfigError, POETCircuitOpenError)


class _Interrupted(BaseException):
    """Raised inside a worker whose attempt timed out; BaseException so Dana `except` can't catch it."""


class CircuitBreaker:
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
        self._probe_out = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        if self.state == "closed":
            return
        with self._lock:
            if self.state == "open":
                wait = self.opened_at + self.cooldown - self.clock()
                if wait > 0:
                    raise POETCircuitOpenError(
                        f"{self.function}(): circuit open after {self.failures} consecutive failures; "
                        f"retry in {wait:.1f} s",
                        function=self.function,
                    )
                self.state = "half_open"
                self._probe_out = False
            if self.state == "half_open":
                if self._probe_out:
                    raise POETCircuitOpenError(
                        f"{self.function}(): circuit half-open, a probe call is already running",
                        function=self.function,
                    )
                self._probe_out = True

    def record_success(self) -> None:
        if self.state == "closed" and self.failures == 0:
            return
        with self._lock:
            self.failures = 0
            self.state = "closed"
            self._probe_out = False

    def record_failure(self) -> None:
        if self.threshold <= 0:
            return
        with self._lock:
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.state = "open"
                self.opened_at = self.clock()
                self._probe_out = False


class _Worker(threading.Thread):
    def __init__(self, pool: _WorkerPool) -> None:
        super().__init__(daemon=True, name="poet-worker")
        self.pool = pool
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        box: list[tuple[bool, Any]] = []
        done = _thread.allocate_lock()
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                ctx, fn, args, kwargs, box, done = job
                try:
                    box.append((True, ctx.run(fn, *args, **kwargs)))
                except _Interrupted:
                    raise
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    box.append((False, exc))
                done.release()
                if self.tainted:
                    return
                self.pool.release(self)
        except _Interrupted:
            if not box:
                box.append((False, None))
            try:
                done.release()
            except RuntimeError:
                pass

    tainted = False


class _WorkerPool:
    """Reusable daemon threads; an interrupted worker is healthy again after its job unwinds."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def acquire(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Worker(self)

    def release(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < 8:
                self._idle.append(worker)
                return
        worker.jobs.put(None)


_POOL = _WorkerPool()


def _interrupt(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(_Interrupted)
        )


class Operator:
    def __init__(
        self,
        function: str,
        config: POETConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.function = function
        self.config = config
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.breaker = CircuitBreaker(
            function, config.circuit_threshold, config.circuit_cooldown, clock
        )
        self.attempts_last_call = 0
        self.delays_last_call: list[float] = []

    def backoff(self, attempt: int) -> float:
        cfg = self.config
        cap = min(cfg.backoff_max, cfg.backoff_base * cfg.backoff_multiplier**attempt)
        return self.rng.uniform(0, cap) if cfg.jitter == "full" else cap

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.config.timeout is None:
            breaker = self.breaker
            if breaker.state == "closed":
                # the common case: one attempt, no deadline, nothing to undo
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - retried or re-raised below
                    return self._after_first_failure(exc, fn, args, kwargs)
                if breaker.failures:
                    breaker.record_success()
                self.attempts_last_call = 1
                return result
            return self._run_attempts(fn, args, kwargs, None)
        deadline = self.clock() + self.config.timeout
        return self._run_attempts(fn, args, kwargs, deadline)

    def _after_first_failure(
        self, exc: Exception, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self.attempts_last_call = 1
        self.delays_last_call = []
        if isinstance(exc, _NO_RETRY):
            raise exc
        if self.config.retries == 0:
            self.breaker.record_failure()
            raise exc
        delay = self.backoff(0)
        self.delays_last_call.append(delay)
        if delay > 0:
            self.sleep(delay)
        return self._run_attempts(fn, args, kwargs, None, start=1)

    def _run_attempts(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None,
        start: int = 0,
    ) -> Any:
        """One call: up to retries+1 attempts. The breaker counts calls, not attempts."""
        attempts = self.config.retries + 1
        if start == 0:
            self.delays_last_call = []
            self.breaker.before_call()
        for attempt in range(start, attempts):
            self.attempts_last_call = attempt + 1
            try:
                result = (
                    fn(*args, **kwargs)
                    if deadline is None
                    else self._with_deadline(fn, args, kwargs, deadline)
                )
            except _NO_RETRY:
                self.breaker.record_success()  # the caller's input was wrong, not the function
                raise
            except POETTimeoutError:
                self.breaker.record_failure()
                raise
            except Exception:
                if attempt + 1 >= attempts:
                    self.breaker.record_failure()
                    raise
                delay = self.backoff(attempt)
                if deadline is not None and deadline - self.clock() <= delay:
                    self.breaker.record_failure()
                    self._timed_out()
                self.delays_last_call.append(delay)
                if delay > 0:
                    self.sleep(delay)
                continue
            self.breaker.record_success()
            return result
        raise AssertionError("unreachable")

    def _timed_out(self) -> None:
        limit = self.config.timeout or 0.0
        raise POETTimeoutError(
            f"{self.function}(): timed out after {limit:g} s", function=self.function, limit=limit
        )

    def _with_deadline(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], deadline: float
    ) -> Any:
        remaining = deadline - self.clock()
        if remaining <= 0:
            self._timed_out()
        worker = _POOL.acquire()
        box: list[tuple[bool, Any]] = []
        done = _thread.allocate_lock()
        done.acquire()  # released by the worker when the job is finished
        worker.jobs.put((contextvars.copy_context(), fn, args, kwargs, box, done))
        if not done.acquire(timeout=remaining):
            worker.tainted = True  # never reused: the interrupt may land after the job
            _interrupt(worker)
            self._timed_out()
        ok, value = box[0]
        if ok:
            return value
        if value is None:
            self._timed_out()
        raise value
