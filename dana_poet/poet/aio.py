"""The per-call steps for `async def` functions: the same stages, awaited.

Perceive and Enforce run around the awaited body; Operate awaits each attempt,
waits with `asyncio.sleep` and cancels the attempt at the deadline
(`Operator.run_async`). The sync path does not pass through here, so it pays
nothing for async support.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dana_poet.poet.errors import POETOutputError
from dana_poet.poet.operate import Operator
from dana_poet.poet.result import attach

Perceive = Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
Enforce = Callable[[Any, dict[str, Any]], Any]


def async_enhanced(
    fn: Callable[..., Any],
    record: Any,
    *,
    perceive: Perceive,
    enforce: Enforce,
    operator: Operator,
    param_names: list[str],
    bind_inputs: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]],
    choose_version: Callable[[], tuple[int, dict[str, Any]]],
    before_call: Callable[[], None] | None = None,
) -> Callable[..., Any]:
    """An `async def` wrapper running Perceive -> awaited Operate -> Enforce -> record."""
    learnable = record.learnable
    retries = record.config.retries
    trainable = bool(learnable)

    @functools.wraps(fn)
    async def enhanced(*args: Any, **kwargs: Any) -> Any:
        if before_call is not None:
            before_call()
        passed = set(param_names[: len(args)]).union(kwargs) if learnable else None
        args, kwargs = perceive(args, kwargs)
        version, params = choose_version()
        if learnable and params:
            kwargs = dict(kwargs)
            for pname, value in params.items():
                if pname not in passed:  # type: ignore[operator]
                    kwargs[pname] = value
        result, attempts = await operator.run_async(fn, args, kwargs)
        inputs = bind_inputs(args, kwargs)
        try:
            result = enforce(result, inputs)
        except POETOutputError:
            if retries <= 0 or attempts > retries:
                raise
            result, _ = await operator.run_async(fn, args, kwargs)
            result = enforce(result, inputs)
        store = record.store
        execution_id = store.new_execution_id()
        store.record_execution(
            execution_id, record.key, version, inputs, result, params, {}, persist=trainable
        )
        return attach(result, execution_id)

    return enhanced


def sync_replay(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` callable from sync code (Train replays recorded inputs through the original).

    A coroutine that finishes without suspending (the usual case for a body
    with a learnable threshold) is stepped to its end right here, with no event
    loop. One that suspends is run on a private event loop in a helper thread,
    since the caller may itself be inside a running loop.
    """
    import inspect

    if not inspect.iscoroutinefunction(fn):
        return fn

    def replay(*args: Any, **kwargs: Any) -> Any:
        coroutine = fn(*args, **kwargs)
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        coroutine.close()
        return _in_private_loop(fn, args, kwargs)

    return replay


def _in_private_loop(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import asyncio
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="poet-replay", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
