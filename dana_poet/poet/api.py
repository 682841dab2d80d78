"""`@poet` and `feedback()`: the public surface, and putting a function's steps together.

Everything per-function is decided here, once, at decoration time: the Perceive and
Enforce engines (built-in, or generated stage code through poet/stage_runner.py), the
operator, the learnable parameters, the trace hook and whether the function gets a
warm path. poet/orchestrate.py runs the steps of each call.
"""

from __future__ import annotations

import functools
import inspect
import random
from typing import TYPE_CHECKING, Any

from dana_poet.poet.callables import Target, describe
from dana_poet.poet.config import POETConfig
from dana_poet.poet.enforce import build_enforcer
from dana_poet.poet.errors import POETError
from dana_poet.poet.function import EnhancedFunction, load_current_params
from dana_poet.poet.identity import identify_function
from dana_poet.poet.introspect import POETInfo
from dana_poet.poet.operate import Operator
from dana_poet.poet.orchestrate import (
    StageWarmPlan,
    Steps,
    WarmPlan,
    build_call,
    stage_warm_wrapper,
)
from dana_poet.poet.perceive import build_perceiver, exact_type, with_null_defaults
from dana_poet.poet.trace import hook_for
from dana_poet.poet.train import learnable_params

if TYPE_CHECKING:
    from dana_poet.poet.domains import Domain
    from dana_poet.poet.runtime import POETRuntime
    from dana_poet.poet.stage_runner import GuardedStages


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

    domain = get_domain(config.domain, function=name) if config.domain else None
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
    guarded = None
    if stage_code:
        from dana_poet.poet.stage_runner import build_stage_engines, record_drop

        perceive, enforce, guarded = build_stage_engines(
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
    perceive = with_null_defaults(perceive, signature, hints)
    record.learnable = learnable_params(name, signature, config)
    param_names = list(signature.parameters)
    bind = getattr(record.store, "bind_function", None)
    if bind is not None:  # a POET service store: learn the function's service id and version
        bind(record)
    if record.learnable:
        load_current_params(record)
    runtime.register(record)

    def bind_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(zip(param_names, args, strict=False))
        if kwargs:
            inputs.update(kwargs)
        return inputs

    if bound:  # `self` / `cls` rides along untouched: not perceived, not recorded
        perceive, bind_inputs, param_names = _passing_bound(perceive, param_names)
    steps = Steps(
        record,
        fn,
        perceive=perceive,
        enforce=enforce,
        operator=operator,
        bind_inputs=bind_inputs,
        param_names=param_names,
        ab_random=random.Random(0x5EED).random,
        code_owner=target.code_owner,
        hook=hook_for(config, runtime.trace_hook),
    )
    warm = None
    plain = not (bound or record.learnable or target.is_async)
    if plain and (not stage_code or _identity_on_warm_path(guarded, signature, hints, domain)):
        warm = warm_plan(
            signature,
            hints,
            domain,
            timed=config.timeout is not None,
            publishes=bool(record.stage_meta.get("cache_key")),
        )
    call = build_call(steps, is_async=target.is_async, warm=warm)
    if guarded is not None:  # its stages and Operate share one time budget per call
        call = guarded.bounded_async(call) if target.is_async else guarded.bounded(call)
        steps.guarded = guarded
        staged = None
        if plain and warm is None and steps.hook is None:
            staged = stage_warm_plan(signature, hints, guarded, domain)
        if staged is not None:
            call = functools.wraps(fn)(stage_warm_wrapper(steps, staged, call))
    return _finish(call, record, target)


def _untouched(
    signature: inspect.Signature, hints: dict[str, Any], domain: Domain | None
) -> tuple[bool, bool]:
    """Whether every parameter, and the result, is a scalar that the stage helpers hand back
    unchanged when it has exactly its annotated type (no domain coercer, no output rule)."""
    params = True
    for p in signature.parameters.values():
        exact = exact_type(hints.get(p.name, p.annotation))
        if exact not in _SCALARS or (domain is not None and domain.coercers_for(p.name, exact)):
            params = False
    returns = exact_type(hints.get("return", inspect.Parameter.empty))
    result = returns in _SCALARS and not (domain is not None and domain.output_rules)
    return params, result


_SCALARS = (int, float, str, bool)


def _identity_on_warm_path(
    guarded: GuardedStages | None,
    signature: inspect.Signature,
    hints: dict[str, Any],
    domain: Domain | None,
) -> bool:
    """Whether both generated stages are the identity on the warm path's calls (scalars of
    exactly their types; warm_stages.identity_stages), so the built-in warm path answers
    every such call exactly as running them would. Any other call runs the stages."""
    if guarded is None or not (guarded.identity_perceive and guarded.identity_enforce):
        return False
    if guarded.stages.perceive is None or guarded.stages.enforce is None:
        return False
    return all(_untouched(signature, hints, domain))


def stage_warm_plan(
    signature: inspect.Signature,
    hints: dict[str, Any],
    guarded: GuardedStages,
    domain: Domain | None,
) -> StageWarmPlan | None:
    """What the warm path of a function with generated stages checks, or None when it has
    none: a stage missing or not taking the parameters in order, a parameter that is not a
    plain positional one, or one annotated with a type `type(x) is T` cannot check."""
    from dana_poet.poet.perceive import null_means_default

    if guarded.stages.perceive is None or guarded.stages.enforce is None:
        return None
    if not (guarded.positional_perceive and guarded.positional_enforce):
        return None
    plain = _plain_parameters(signature, hints)
    if plain is None:
        return None
    params: list[tuple[str, type | None, bool, bool]] = []
    nullable = set()
    for p, exact, only in plain:
        if exact is None:
            params.append((p.name, None, only, True))
            if null_means_default(inspect.Parameter.empty, p.default):
                nullable.add(p.name)
        else:
            params.append((p.name, exact, only, exact not in (int, float, str, bool)))
    optional = frozenset(
        p.name for p in signature.parameters.values() if p.default is not inspect.Parameter.empty
    )
    returns = hints.get("return", inspect.Parameter.empty)
    any_result = returns is inspect.Parameter.empty or isinstance(returns, str)
    plan = StageWarmPlan(
        params,
        None if any_result else exact_type(returns),
        any_result=any_result,
        timeout=guarded.timeout,
        limit=guarded.limit,
        optional=optional,
        nullable=frozenset(nullable),
    )
    params_untouched, result_untouched = _untouched(signature, hints, domain)
    plan.skip_perceive = guarded.identity_perceive and params_untouched
    plan.skip_enforce = guarded.identity_enforce and result_untouched
    if guarded.tree is not None:
        from dana_poet.poet.warm_stages import warm_stages

        checked = {name: t for name, t, _, _ in params}
        scalar = plan.result_type in _SCALARS and not plan.skip_enforce
        plan.warm = warm_stages(
            guarded.tree, guarded.stages.namespace, checked, plan.result_type if scalar else None
        )
    return plan


def _plain_parameters(
    signature: inspect.Signature, hints: dict[str, Any]
) -> list[tuple[inspect.Parameter, type | None, bool]] | None:
    """Each parameter with the exact type `type(x) is T` checks (None: unannotated) and
    whether it is positional-only; None when one is not a plain positional parameter or
    its annotation is not such a type."""
    out: list[tuple[inspect.Parameter, type | None, bool]] = []
    for p in signature.parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            return None
        if not p.name.isidentifier() or p.name.startswith("_p_"):
            return None
        annotation = hints.get(p.name, p.annotation)
        if annotation is inspect.Parameter.empty or isinstance(annotation, str):
            exact = None
        else:
            exact = exact_type(annotation)
            if exact is None:
                return None
        out.append((p, exact, p.kind is p.POSITIONAL_ONLY))
    return out


def warm_plan(
    signature: inspect.Signature,
    hints: dict[str, Any],
    domain: Domain | None,
    *,
    timed: bool,
    publishes: bool,
) -> WarmPlan | None:
    """What a warm call must check, or None when the function cannot have a warm path:
    a parameter that is not a plain positional one, one whose type is not checked by
    `type(x) is T`, one a domain coerces by name, or a domain with output rules."""
    if domain is not None and domain.output_rules:
        return None
    plain = _plain_parameters(signature, hints)
    if plain is None:
        return None
    params: list[tuple[str, type | None, bool]] = []
    for p, exact, only in plain:
        if exact is not None and domain is not None and domain.coercers_for(p.name, exact):
            return None
        params.append((p.name, exact, only))
    optional = frozenset(
        p.name for p in signature.parameters.values() if p.default is not inspect.Parameter.empty
    )
    returns = hints.get("return", inspect.Parameter.empty)
    typed = not (returns is inspect.Parameter.empty or isinstance(returns, str))
    return WarmPlan(  # with no return type Enforce lets any result by
        params,
        exact_type(returns) if typed else None,
        enforces=typed,
        timed=timed,
        publishes=publishes,
        optional=optional,
    )


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


__all__ = ["POETError", "enhance", "feedback", "poet", "poet_decorator"]
