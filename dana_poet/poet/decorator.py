"""`@poet` and `feedback()`: the orchestrator that runs Perceive -> Operate -> Enforce -> (Train).

Everything per-function is built once, at decoration time (the perceiver,
enforcer, operator, learnable parameters), so a warm call does the minimum.
"""

from __future__ import annotations

import functools
import inspect
import os
import random
import time
import typing
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dana_poet.poet.callables import Target, describe
from dana_poet.poet.config import POETConfig
from dana_poet.poet.enforce import build_enforcer
from dana_poet.poet.errors import POETError, POETOutputError
from dana_poet.poet.identity import FunctionIdentity, identify_function
from dana_poet.poet.introspect import POETInfo
from dana_poet.poet.operate import Operator
from dana_poet.poet.perceive import build_perceiver
from dana_poet.poet.result import attach
from dana_poet.poet.train import LearnableParam, learnable_params

if TYPE_CHECKING:
    from dana_poet.poet.runtime import POETRuntime
    from dana_poet.poet.store.base import Store


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references fall back to raw annotations
        return dict(getattr(fn, "__annotations__", {}) or {})


@dataclass
class EnhancedFunction:
    """Everything POET knows about one decorated function."""

    name: str
    identity: FunctionIdentity
    original: Any
    config: POETConfig
    signature: inspect.Signature
    runtime: POETRuntime
    learnable: dict[str, LearnableParam] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    candidate: tuple[int, dict[str, Any]] | None = None  # A/B: (version, params) on trial
    stage_meta: dict[str, Any] = field(default_factory=dict)
    train_state: Any = None  # poet/train.py's TrainState, loaded on the first feedback
    published: bool = False
    stage_code: str | None = None
    operator: Any = None  # its circuit breaker is per function (dana_poet.testing resets it)
    _store: Store | None = None

    @property
    def function_id(self) -> str:
        return self.identity.id

    @property
    def key(self) -> str:
        """The id everything is stored under (the function id)."""
        return self.identity.id

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self.runtime.store_for(self.identity.root)
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
    runtime: POETRuntime | None = None,
) -> Any:
    """Wrap `fn` with the POET stages described by `config`.

    `stage_code` is the function's generated stage code (docs/stage-code.md), run by
    poet/stage_runner.py under the policy; without it the built-in engines are the stages.
    """
    target = describe(fn)  # methods, classmethods, partials, callable objects (poet/callables.py)
    fn, name, hints, bound = target.call, target.name, target.hints, target.bound
    signature = target.perceived
    from dana_poet.poet.domains import get_domain

    domain = get_domain(config.domain) if config.domain else None
    perceive = build_perceiver(name, signature, hints, domain)
    enforce = build_enforcer(name, hints.get("return", inspect.Parameter.empty), domain)
    operator = Operator(name, config)
    if runtime is None:
        from dana_poet.poet.runtime import default_runtime

        runtime = default_runtime()
    record = EnhancedFunction(
        name, identify_function(target.code_owner), fn, config, signature, runtime
    )
    record.operator = operator
    record.stage_meta = dict(stage_meta or {})
    record.stage_code = stage_code
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
    bind = getattr(record.store, "bind_function", None)
    if bind is not None:  # a POET service store: learn the function's service id and version
        bind(record)
    if learnable:
        load_current_params(record)
    runtime.register(record)
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

    if bound:  # `self` / `cls` rides along untouched: not perceived, not recorded
        perceive, bind_inputs, param_names = _passing_bound(perceive, param_names)

    if target.is_async:
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
            bind_inputs=bind_inputs,
            choose_version=choose_version,
            before_call=lambda: None if record.published else publish_stage_version(record),
        )
        return _finish(awaited, record, target)

    @functools.wraps(fn)
    def enhanced(*args: Any, **kwargs: Any) -> Any:
        if not record.published:
            publish_stage_version(record)
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

    return _finish(enhanced, record, target)


def _finish(wrapper: Any, record: EnhancedFunction, target: Target) -> Any:
    """Name the wrapper after what was decorated, attach the POET facts, re-wrap descriptors."""
    if not hasattr(target.call, "__name__"):  # partials, callable objects
        wrapper.__name__ = target.name
        wrapper.__qualname__ = target.qualname
    wrapper.__poet__ = record
    wrapper.poet = POETInfo(record)
    return target.rewrap(wrapper) if target.rewrap is not None else wrapper


def _passing_bound(perceive: Any, param_names: list[str]) -> tuple[Any, Any, list[str]]:
    """Perceive, input binding and positional names for a call whose first argument is bound."""
    names = list(param_names)

    def perceive_after_first(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not args:
            return perceive(args, kwargs)
        rest, kwargs = perceive(args[1:], kwargs)
        return (args[0], *rest), kwargs

    def bind_after_first(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(zip(names, args[1:], strict=False))
        if kwargs:
            inputs.update(kwargs)
        return inputs

    # "\0bound" is never a parameter name: positions line up with args, the bound one included
    return perceive_after_first, bind_after_first, ["\0bound", *names]


def _valid_params(record: EnhancedFunction, params: dict[str, Any]) -> str | None:
    """Why saved parameters cannot be used (type or bounds), or None when they can."""
    for name, value in params.items():
        spec = record.learnable.get(name)
        if spec is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name}={value!r} is not a number"
        if spec.is_int and float(value) != int(value):
            return f"{name}={value!r} is not an integer"
        if not (spec.low <= value <= spec.high):
            return f"{name}={value!r} is outside its bounds [{spec.low}, {spec.high}]"
    return None


def load_current_params(record: EnhancedFunction) -> None:
    """The current version's parameters; a damaged or invalid version is skipped with a
    warning and the newest good version before it is used (v0: the defaults)."""
    store = record.store
    version = store.current_version(record.key)
    while version > 0:
        info = store.read_version(record.key, version)
        problem = info.problem or _valid_params(record, info.params)
        if problem is None:
            record.version = version
            record.params = {k: v for k, v in info.params.items() if k in record.learnable}
            return
        warnings.warn(
            f"dana-poet: {record.function_id}: skipping v{version} ({problem}); "
            "using the version before it",
            RuntimeWarning,
            stacklevel=2,
        )
        version -= 1
    record.version, record.params = 0, {}


def publish_stage_version(record: EnhancedFunction) -> None:
    """On the first call: publish the stage code as a version unless the current one has it."""
    record.published = True
    key = record.stage_meta.get("cache_key")
    if not key:
        return
    version = record.store.publish_if_changed(
        record.key,
        cache_key=str(key),
        params=dict(record.params),
        reason=f"stage code generated by {record.stage_meta.get('generator')}",
        enhanced_source=record.stage_code,
        metadata={k: v for k, v in record.stage_meta.items() if k not in ("cache", "cache_dir")},
    )
    if version != record.version:
        if record.learnable:
            load_current_params(record)
        else:
            record.version = version


def poet_decorator(
    runtime: POETRuntime | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """`@poet`, `@poet()` and `@poet(...)` for `runtime` (None: the default runtime)."""
    bare = len(args) == 1 and not kwargs and not isinstance(args[0], str)
    if bare and (callable(args[0]) or isinstance(args[0], classmethod)):
        return enhance(args[0], POETConfig.from_decorator((), {}), runtime=runtime)
    kwargs = dict(kwargs)
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
            runtime=runtime,
        )

    return decorator


def poet(*args: Any, **kwargs: Any) -> Any:
    """`@poet`, `@poet()` and `@poet(domain=..., retries=..., ...)` on Dana or Python functions."""
    return poet_decorator(None, args, kwargs)


def feedback(result: Any, payload: Any = None, **kwargs: Any) -> Any:
    """Attach feedback in any form to the execution that produced `result`."""
    from dana_poet.poet.runtime import default_runtime

    return default_runtime().feedback(result, payload, **kwargs)


__all__ = ["POETError", "enhance", "feedback", "poet"]
