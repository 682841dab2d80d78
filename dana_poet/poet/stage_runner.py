"""How generated stage code is invoked: contained, bounded, re-validated, and dropped when it breaks.

The orchestrator asks `build_stage_engines` for a function's Perceive and
Enforce engines. When the function has admitted stage code the engines run
it under the policy (poet/policy.py) and the audit layer (poet/safety.py)
with a deadline; they check what it returns against the function's
signature; and when the stage breaks its contract or fails on real input,
the built-in engines answer instead. That happens once per function: one
warning, the drop is recorded (version metadata and stage-code cache, so
the next run generates new code), and the built-in engines answer from
then on.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable
from typing import Any

from dana_poet.poet import policy, safety
from dana_poet.poet.errors import POETInputError, POETOutputError

EMPTY = inspect.Parameter.empty
STAGE_DEFAULT_TIMEOUT = 2.0
"""Seconds one stage call may run when the function sets no `timeout=`."""

Engine = Callable[..., Any]


def run_contained(
    label: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], limit: float
) -> Any:
    """Call stage function `fn` with the audit flag raised and a deadline `limit` seconds away."""
    state, flag = policy.STATE, safety.FLAG
    saved = (state.deadline, state.stage, flag.active)
    state.deadline = time.monotonic() + limit
    state.stage = label
    flag.active = True
    try:
        return fn(*args, **kwargs)
    finally:
        flag.active = saved[2]
        state.deadline, state.stage = saved[0], saved[1]


def stage_helpers(function: str, hints: dict[str, Any], domain: Any) -> dict[str, Any]:
    """The `coerce`, `check_output` and `fail` helpers bound for one function (trusted code)."""
    from dana_poet.poet.enforce import build_enforcer
    from dana_poet.poet.perceive import coerce_value

    check = build_enforcer(function, hints.get("return", EMPTY), domain)

    def coerce(value: Any, parameter: Any) -> Any:
        annotation = hints.get(parameter, EMPTY) if isinstance(parameter, str) else EMPTY
        if annotation is EMPTY or isinstance(annotation, str):
            return value
        return coerce_value(
            value, annotation, domain=domain, parameter=parameter, function=function
        )

    def check_output(value: Any) -> Any:
        return check(value, {})

    def fail(rule: Any, message: Any = "") -> Any:
        exc = POETOutputError(
            f"{function}(): {message} (rule: {rule})", function=function, rule=str(rule)
        )
        exc.from_stage_rule = True  # type: ignore[attr-defined]
        raise exc

    return {
        "coerce": safety.trusted(coerce),
        "check_output": safety.trusted(check_output),
        "fail": safety.trusted(fail),
    }


def _type_checker(function: str, annotation: Any) -> Callable[[Any], Any]:
    from dana_poet.poet.enforce import build_enforcer

    check = build_enforcer(function, annotation, None)
    return lambda value: check(value, {})


class GuardedStages:
    """One function's admitted stage code and the bookkeeping of its contract."""

    def __init__(
        self,
        function: str,
        signature: inspect.Signature,
        hints: dict[str, Any],
        stages: policy.StageFunctions,
        limit: float,
        on_drop: Callable[[str, str], None] | None,
    ) -> None:
        self.function = function
        self.stages = stages
        self.limit = limit
        self.on_drop = on_drop
        self.dropped: str | None = None
        self.params = list(signature.parameters)
        self.param_set = frozenset(self.params)
        self.parameters = signature.parameters
        self.defaults = {
            n: p.default for n, p in signature.parameters.items() if p.default is not p.empty
        }
        self.annotations: dict[str, Any] = {}
        for name in self.params:
            annotation = hints.get(name, EMPTY)
            if annotation is not EMPTY and not isinstance(annotation, str):
                self.annotations[name] = annotation
        self.check_result = _type_checker(function, hints.get("return", EMPTY))

    def drop(self, stage: str, reason: str) -> None:
        if self.dropped is not None:
            return
        self.dropped = f"{stage}: {reason}"
        print(
            f"dana-poet: warning: the generated {stage} stage of {self.function}() was dropped "
            f"({reason}); the built-in engines answer instead, and new stage code is generated "
            "next run",
            file=sys.stderr,
        )
        if self.on_drop is not None:
            try:
                self.on_drop(stage, reason)
            except Exception as exc:  # noqa: BLE001 - recording a drop never stops a program
                print(
                    f"dana-poet: warning: could not record the dropped stage of "
                    f"{self.function}(): {exc}",
                    file=sys.stderr,
                )

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.params
        if len(args) > len(names):
            raise TypeError(
                f"{self.function}() takes {len(names)} arguments but {len(args)} were given"
            )
        bound = dict(self.defaults)
        bound.update(zip(names, args, strict=False))
        for key in kwargs:
            if key not in self.parameters:
                raise TypeError(f"{self.function}() got an unexpected keyword argument '{key}'")
        bound.update(kwargs)
        missing = [n for n in names if n not in bound]
        if missing:
            raise TypeError(f"{self.function}() missing required argument: '{missing[0]}'")
        return bound

    def _recoerce(self, out: Any) -> dict[str, Any]:
        from dana_poet.poet.perceive import coerce_value

        if type(out) is not dict:
            raise _Broken(f"perceive returned {type(out).__name__}, not a dict")
        if out.keys() != self.param_set:
            raise _Broken(
                f"perceive returned keys {sorted(map(str, out))}, expected {sorted(self.params)}"
            )
        for name, annotation in self.annotations.items():
            value = out[name]
            if type(value) is annotation:
                continue
            try:
                out[name] = coerce_value(value, annotation, parameter=name, function=self.function)
            except POETInputError as exc:
                raise _Broken(f"perceive returned {value!r} for '{name}': {exc}") from None
        return out

    def perceive_engine(self, builtin: Engine) -> Engine:
        fn = self.stages.perceive
        assert fn is not None
        label = f"{self.function}() perceive stage"

        def perceive(
            args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
            if self.dropped is not None:
                return builtin(args, kwargs)
            bound = self._bind(args, kwargs)
            mine = {k: policy.private_copy(v) for k, v in bound.items()}
            try:
                out = run_contained(label, fn, (), mine, self.limit)
                return (), self._recoerce(out)
            except POETInputError as exc:
                answer = builtin(args, kwargs)  # the built-in engine's own error wins
                self.drop("perceive", f"it refused input the built-in engine accepts: {exc}")
                return answer
            except Exception as exc:  # noqa: BLE001 - any failure of untrusted code drops it
                self.drop("perceive", _describe(exc))
                return builtin(args, kwargs)

        return perceive

    def enforce_engine(self, builtin: Engine) -> Engine:
        fn = self.stages.enforce
        assert fn is not None
        label = f"{self.function}() enforce stage"

        def enforce(result: Any, inputs: dict[str, Any]) -> Any:
            if self.dropped is not None:
                return builtin(result, inputs)
            mine = {k: policy.private_copy(v) for k, v in inputs.items()}
            try:
                out = run_contained(label, fn, (policy.private_copy(result),), mine, self.limit)
            except POETOutputError as exc:
                if getattr(exc, "from_stage_rule", False):
                    raise  # the stage's own rule, through fail(): the contract says so
                answer = builtin(result, inputs)
                self.drop("enforce", f"it refused a result the built-in engine accepts: {exc}")
                return answer
            except Exception as exc:  # noqa: BLE001
                self.drop("enforce", _describe(exc))
                return builtin(result, inputs)
            try:
                return self.check_result(out)
            except POETOutputError as exc:
                self.drop("enforce", f"it returned {out!r}, which breaks the return type: {exc}")
                return builtin(result, inputs)

        return enforce


class _Broken(Exception):  # noqa: N818
    """A stage's answer broke its contract."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Broken | policy.PolicyViolation | safety.SystemAccessRefused):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def build_stage_engines(
    function: str,
    signature: inspect.Signature,
    hints: dict[str, Any],
    domain: Any,
    *,
    source: str,
    language: str,
    timeout: float | None,
    builtin_perceive: Engine,
    builtin_enforce: Engine,
    on_drop: Callable[[str, str], None] | None = None,
) -> tuple[Engine, Engine, GuardedStages | None]:
    """The Perceive and Enforce engines for one function with generated stage code.

    Refused code (admission failed) is reported once and the built-in engines
    are returned; so is code that defines neither stage.
    """
    safety.install()
    try:
        code = policy.admit(source, language, f"<stages of {function}>")
        stages = policy.load(code, language, stage_helpers(function, hints, domain))
    except policy.PolicyError as exc:
        print(
            f"dana-poet: warning: the generated stage code of {function}() was refused "
            f"({exc}); using the built-in stage engines",
            file=sys.stderr,
        )
        if on_drop is not None:
            try:
                on_drop("load", str(exc))
            except Exception:  # noqa: BLE001
                pass
        return builtin_perceive, builtin_enforce, None
    limit = timeout if timeout else STAGE_DEFAULT_TIMEOUT
    guarded = GuardedStages(function, signature, hints, stages, limit, on_drop)
    perceive = guarded.perceive_engine(builtin_perceive) if stages.perceive else builtin_perceive
    enforce = guarded.enforce_engine(builtin_enforce) if stages.enforce else builtin_enforce
    return perceive, enforce, guarded


def record_drop(
    store: Any,
    function_key: str,
    stage_meta: dict[str, Any],
    stage: str,
    reason: str,
) -> None:
    """Record a dropped stage: in the function's version metadata and in the stage-code cache."""
    from pathlib import Path

    from dana_poet.poet import cache

    stage_meta["dropped"] = {"stage": stage, "reason": reason}
    cache_dir, key = stage_meta.get("cache_dir"), stage_meta.get("cache_key")
    if isinstance(cache_dir, str) and isinstance(key, str):
        cache.mark_dropped(Path(cache_dir), key, f"{stage}: {reason}")
    current = store.current_version(function_key)
    params: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    if current:
        info = store.read_version(function_key, current)
        params, metadata = dict(info.params or {}), dict(info.metadata or {})
    for k in ("version", "reason", "evidence", "created"):
        metadata.pop(k, None)
    metadata["stage_dropped"] = {"stage": stage, "reason": reason}
    metadata["cache_key"] = None
    store.write_version(
        function_key,
        params=params,
        reason=f"generated {stage} stage dropped: {reason}",
        evidence={"stage": stage, "reason": reason},
        metadata=metadata,
    )


__all__ = [
    "STAGE_DEFAULT_TIMEOUT",
    "GuardedStages",
    "build_stage_engines",
    "record_drop",
    "run_contained",
    "stage_helpers",
]
