"""`@poet` and `feedback()`: the orchestrator that runs Perceive -> Operate -> Enforce -> (Train).

Everything per-function is built once, at decoration time (the perceiver,
enforcer, operator, learnable parameters), so a warm call does the minimum.
"""

from __future__ import annotations

import functools
import inspect
import os
import random
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dana_poet.poet.callables import refuse_generators
from dana_poet.poet.config import POETConfig
from dana_poet.poet.enforce import build_enforcer
from dana_poet.poet.errors import POETError, POETFeedbackError, POETOutputError
from dana_poet.poet.introspect import POETInfo
from dana_poet.poet.operate import Operator
from dana_poet.poet.perceive import build_perceiver
from dana_poet.poet.result import attach, execution_id_of
from dana_poet.poet.store import POETStore
from dana_poet.poet.train import LearnableParam, learnable_params

_STORES: dict[Path, POETStore] = {}
_FUNCTIONS: dict[str, EnhancedFunction] = {}


def store_for(directory: Path) -> POETStore:
    root = (directory / ".dana" / "poet").resolve()
    store = _STORES.get(root)
    if store is None:
        store = _STORES[root] = POETStore(root)
    return store


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references fall back to raw annotations
        return dict(getattr(fn, "__annotations__", {}) or {})


def _source_dir(fn: Any) -> Path:
    override = os.environ.get("DANA_POET_DIR")
    if override:
        return Path(override)
    code = getattr(fn, "__code__", None)
    filename = code.co_filename if code is not None else ""
    if filename and not filename.startswith("<"):
        return Path(filename).resolve().parent
    return Path.cwd()


@dataclass
class EnhancedFunction:
    """Everything POET knows about one decorated function."""

    name: str
    key: str
    original: Any
    config: POETConfig
    signature: inspect.Signature
    store_dir: Path
    learnable: dict[str, LearnableParam] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    candidate: tuple[int, dict[str, Any]] | None = None  # A/B: (version, params) on trial
    stage_meta: dict[str, Any] = field(default_factory=dict)
    train_state: Any = None  # poet/train.py's TrainState, loaded on the first feedback
    _store: POETStore | None = None

    @property
    def store(self) -> POETStore:
        if self._store is None:
            self._store = store_for(self.store_dir)
        return self._store


def _tracer(config: POETConfig) -> Any:
    if not (config.trace_phases or config.debug or os.environ.get("DANA_POET_TRACE")):
        return None
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def enhance(
    fn: Any,
    config: POETConfig,
    *,
    stage_code: str | None = None,
    stage_language: str = "dana",
    stage_meta: dict[str, Any] | None = None,
) -> Any:
    """Wrap `fn` with the POET stages described by `config`.

    `stage_code` is the function's generated stage code (docs/stage-code.md), run by
    poet/stage_runner.py under the policy; without it the built-in engines are the stages.
    """
    name = getattr(fn, "__name__", "function")
    refuse_generators(fn, name)
    signature = inspect.signature(fn)
    hints = _hints(fn)
    from dana_poet.poet.domains import get_domain

    domain = get_domain(config.domain) if config.domain else None
    perceive = build_perceiver(name, signature, hints, domain)
    enforce = build_enforcer(name, hints.get("return", inspect.Parameter.empty), domain)
    operator = Operator(name, config)
    directory = _source_dir(fn)
    key = f"{name}"
    record = EnhancedFunction(name, key, fn, config, signature, directory)
    record.stage_meta = dict(stage_meta or {})
    if stage_code:
        from dana_poet.poet.stage_runner import build_stage_engines, record_drop

        perceive, enforce, _ = build_stage_engines(
            name,
            signature,
            hints,
            domain,
            source=stage_code,
            language=stage_language,
            timeout=config.timeout,
            builtin_perceive=perceive,
            builtin_enforce=enforce,
            on_drop=lambda stage, reason: record_drop(
                record.store, record.key, record.stage_meta, stage, reason
            ),
        )
    record.learnable = learnable_params(name, signature, config)
    param_names = list(signature.parameters)
    learnable = record.learnable
    if learnable:
        _load_current_params(record)
    _FUNCTIONS[_function_key(directory, name)] = record
    tracer = _tracer(config)
    retries = config.retries
    trainable = bool(learnable)
    ab_share = config.train.ab_share
    ab_random = random.Random(0x5EED).random

    def bind_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(zip(param_names, args, strict=False))
        if kwargs:
            inputs.update(kwargs)
        return inputs

    if inspect.iscoroutinefunction(fn):
        from dana_poet.poet.aio import async_enhanced

        def choose_version() -> tuple[int, dict[str, Any]]:
            if learnable and record.candidate is not None and ab_random() < ab_share:
                return record.candidate
            return record.version, record.params

        awaited = async_enhanced(
            fn,
            record,
            perceive=perceive,
            enforce=enforce,
            operator=operator,
            param_names=param_names,
            choose_version=choose_version,
        )
        awaited.__poet__ = record  # type: ignore[attr-defined]
        awaited.poet = POETInfo(record)  # type: ignore[attr-defined]
        return awaited

    @functools.wraps(fn)
    def enhanced(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter() if tracer else 0.0
        passed = set(param_names[: len(args)]).union(kwargs) if learnable else None
        args, kwargs = perceive(args, kwargs)
        version, params = record.version, record.params
        if learnable and record.candidate is not None and ab_random() < ab_share:
            version, params = record.candidate
        if learnable and params:
            kwargs = dict(kwargs)
            for pname, value in params.items():
                if pname not in passed:  # type: ignore[operator]
                    kwargs[pname] = value
        if tracer:
            t_perceive = time.perf_counter()
            tracer.print(
                f"[cyan]POET({name})[/] perceive  {1000 * (t_perceive - started):.2f} ms  args={args!r} kwargs={kwargs!r}"
            )
        result = operator.run(fn, args, kwargs)
        if tracer:
            t_operate = time.perf_counter()
            tracer.print(
                f"[cyan]POET({name})[/] operate   {1000 * (t_operate - t_perceive):.2f} ms  attempts={operator.attempts_last_call}"
            )
        inputs = bind_inputs(args, kwargs)
        try:
            result = enforce(result, inputs)
        except POETOutputError:
            if retries <= 0 or operator.attempts_last_call > retries:
                raise
            result = enforce(operator.run(fn, args, kwargs), inputs)
        if tracer:
            tracer.print(
                f"[cyan]POET({name})[/] enforce   {1000 * (time.perf_counter() - t_operate):.2f} ms  result={result!r}"
            )
        store = record.store
        execution_id = store.new_execution_id()
        store.record_execution(
            execution_id,
            record.key,
            version,
            inputs,
            result,
            params,
            {},
            persist=trainable,
        )
        return attach(result, execution_id)

    enhanced.__poet__ = record  # type: ignore[attr-defined]
    enhanced.poet = POETInfo(record)  # type: ignore[attr-defined]
    return enhanced


def _function_key(directory: Path, name: str) -> str:
    return f"{directory}::{name}"


def _load_current_params(record: EnhancedFunction) -> None:
    try:
        version = record.store.current_version(record.key)
        if version:
            info = record.store.read_version(record.key, version)
            record.version = version
            record.params = {k: v for k, v in (info.params or {}).items() if k in record.learnable}
    except (OSError, ValueError, KeyError) as exc:  # a damaged store never stops a program
        print(
            f"dana-poet: warning: could not read saved parameters for {record.name}: {exc}",
            file=sys.stderr,
        )


def poet(*args: Any, **kwargs: Any) -> Any:
    """`@poet`, `@poet()` and `@poet(domain=..., retries=..., ...)` on Dana or Python functions."""
    if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], str):
        return enhance(args[0], POETConfig.from_decorator((), {}))
    stage_code = kwargs.pop("_stage_code", None)
    stage_language = kwargs.pop("_stage_language", "dana")
    stage_meta = kwargs.pop("_stage_meta", None)

    # validated once the function is known, so the error can name it (still at definition time)
    def decorator(fn: Any) -> Any:
        name = getattr(fn, "__name__", "")
        named = POETConfig.from_decorator(args, kwargs, function=name)
        return enhance(
            fn,
            named,
            stage_code=stage_code,
            stage_language=stage_language,
            stage_meta=stage_meta,
        )

    return decorator


def feedback(result: Any, payload: Any = None, **kwargs: Any) -> Any:
    """Attach feedback in any form to the execution that produced `result`."""
    from dana_poet.poet.feedback import translate_feedback

    execution_id = execution_id_of(result)
    if execution_id is None and isinstance(result, str):
        for store in _STORES.values():
            if store.get_execution(result) is not None:
                execution_id = result
                break
    if execution_id is None:
        raise POETFeedbackError(
            f"feedback() needs a result returned by a @poet function (or its execution id); "
            f"got {result!r} ({type(result).__name__})",
            value=result,
        )
    if payload is None and kwargs:
        payload = kwargs
    for record in list(_FUNCTIONS.values()):
        execution = record.store.get_execution(execution_id) if record._store is not None else None
        if execution is None:
            continue
        from dana_poet.poet.train import current_params

        signal = translate_feedback(
            payload, output=execution.output, parameters=current_params(record)
        )
        signal_data = signal.model_dump(mode="json")
        feedback_id = record.store.record_feedback(execution_id, payload, signal_data)
        if record.learnable:
            from dana_poet.poet.train import learn

            learn(record, execution, signal_data, feedback_id)
        return signal
    raise POETFeedbackError(
        f"feedback(): execution {execution_id} is not known to this program", value=result
    )


__all__ = ["POETError", "enhance", "feedback", "poet"]
