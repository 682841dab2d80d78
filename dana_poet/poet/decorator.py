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

from dana_poet.poet.config import POETConfig
from dana_poet.poet.enforce import build_enforcer
from dana_poet.poet.errors import POETError, POETFeedbackError, POETOutputError
from dana_poet.poet.operate import Operator
from dana_poet.poet.perceive import build_perceiver
from dana_poet.poet.result import attach, execution_id_of
from dana_poet.poet.store import POETStore

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
class LearnableParam:
    name: str
    default: float
    low: float
    high: float
    is_int: bool


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
    _store: POETStore | None = None

    @property
    def store(self) -> POETStore:
        if self._store is None:
            self._store = store_for(self.store_dir)
        return self._store


def _learnable_params(
    signature: inspect.Signature, config: POETConfig
) -> dict[str, LearnableParam]:
    train = config.train or {}
    wanted = train.get("params")
    if not (config.optimize_for or wanted or config.enable_training):
        return {}
    bounds = train.get("bounds", {}) or {}
    out: dict[str, LearnableParam] = {}
    for p in signature.parameters.values():
        if p.default is p.empty or isinstance(p.default, bool):
            continue
        if not isinstance(p.default, int | float):
            continue
        if wanted is not None and p.name not in wanted:
            continue
        default = float(p.default)
        low, high = bounds.get(p.name, (None, None)) if p.name in bounds else (None, None)
        if low is None:
            span = abs(default) if default else 1.0
            low, high = default - 10 * span, default + 10 * span
            if default >= 0:
                low = 0.0
        out[p.name] = LearnableParam(
            p.name, default, float(low), float(high), isinstance(p.default, int)
        )
    return out


def _tracer(config: POETConfig) -> Any:
    if not (config.trace_phases or config.debug or os.environ.get("DANA_POET_TRACE")):
        return None
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stage_helpers(name: str, hints: dict[str, Any], domain: Any) -> tuple[Any, Any, Any]:
    """The `coerce`, `check_output` and `fail` helpers generated stage code calls (docs/stage-code.md)."""
    from dana_poet.poet.perceive import coerce_value

    check = build_enforcer(name, hints.get("return", inspect.Parameter.empty), domain)

    def coerce(value: Any, parameter: str) -> Any:
        annotation = hints.get(parameter, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty:
            return value
        return coerce_value(value, annotation, domain=domain, parameter=parameter, function=name)

    def check_output(value: Any) -> Any:
        return check(value, {})

    def fail(rule: Any, message: Any = "") -> Any:
        raise POETOutputError(f"{name}(): {message} (rule: {rule})", function=name, rule=str(rule))

    return coerce, check_output, fail


def _staged_perceiver(name: str, signature: inspect.Signature, stage: Any) -> Any:
    params = signature.parameters
    names = list(params)
    defaults = {n: p.default for n, p in params.items() if p.default is not p.empty}

    def perceive(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if len(args) > len(names):
            raise TypeError(f"{name}() takes {len(names)} arguments but {len(args)} were given")
        bound = dict(defaults)
        bound.update(zip(names, args, strict=False))
        for key in kwargs:
            if key not in params:
                raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
        bound.update(kwargs)
        missing = [n for n in names if n not in bound]
        if missing:
            raise TypeError(f"{name}() missing required argument: '{missing[0]}'")
        out = stage(**bound)
        if not isinstance(out, dict):
            raise TypeError(
                f"{name}(): generated perceive stage returned {type(out).__name__}, not a dict"
            )
        return (), out

    return perceive


def _staged_enforcer(stage: Any) -> Any:
    def enforce(result: Any, inputs: dict[str, Any]) -> Any:
        return stage(result, **inputs)

    return enforce


def enhance(
    fn: Any,
    config: POETConfig,
    *,
    stages: Any = None,
    stage_meta: dict[str, Any] | None = None,
    python_stages: str | None = None,
) -> Any:
    """Wrap `fn` with the POET stages described by `config`.

    `stages` is the factory the rewrite generated from the function's stage code
    (docs/stage-code.md); without it the built-in engines are the stages.
    """
    name = getattr(fn, "__name__", "function")
    signature = inspect.signature(fn)
    hints = _hints(fn)
    from dana_poet.poet.domains import get_domain

    domain = get_domain(config.domain) if config.domain else None
    perceive = build_perceiver(name, signature, hints, domain)
    enforce = build_enforcer(name, hints.get("return", inspect.Parameter.empty), domain)
    if stages is None and python_stages:
        from dana_poet.poet.codegen import load_python_stages

        stages = load_python_stages(python_stages)
    if stages is not None:
        stage_perceive, stage_enforce = stages(*_stage_helpers(name, hints, domain))[:2]
        if stage_perceive is not None:
            perceive = _staged_perceiver(name, signature, stage_perceive)
        if stage_enforce is not None:
            enforce = _staged_enforcer(stage_enforce)
    operator = Operator(name, config)
    directory = _source_dir(fn)
    key = f"{name}"
    record = EnhancedFunction(name, key, fn, config, signature, directory)
    record.stage_meta = dict(stage_meta or {})
    record.learnable = _learnable_params(signature, config)
    param_names = list(signature.parameters)
    learnable = record.learnable
    if learnable:
        _load_current_params(record)
    _FUNCTIONS[_function_key(directory, name)] = record
    tracer = _tracer(config)
    retries = config.retries
    trainable = bool(learnable)
    ab_share = float((config.train or {}).get("ab_share", 0.0))
    ab_random = random.Random(0x5EED).random

    def bind_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(zip(param_names, args, strict=False))
        if kwargs:
            inputs.update(kwargs)
        return inputs

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
    stages = kwargs.pop("_stages", None)
    stage_meta = kwargs.pop("_stage_meta", None)
    python_stages = kwargs.pop("_python_stages", None)

    # validated once the function is known, so the error can name it (still at definition time)
    def decorator(fn: Any) -> Any:
        name = getattr(fn, "__name__", "")
        named = POETConfig.from_decorator(args, kwargs, function=name)
        return enhance(fn, named, stages=stages, stage_meta=stage_meta, python_stages=python_stages)

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
        record.store.record_feedback(execution_id, payload, signal.model_dump(mode="json"))
        if record.learnable:
            from dana_poet.poet.train import maybe_train

            maybe_train(record)
        return signal
    raise POETFeedbackError(
        f"feedback(): execution {execution_id} is not known to this program", value=result
    )


__all__ = ["POETError", "enhance", "feedback", "poet"]
