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

import ast
import functools
import inspect
import operator
import sys
import time
from collections.abc import Callable
from typing import Any

from dana_poet.poet import policy, safety
from dana_poet.poet.errors import POETInputError, POETOutputError, POETTimeoutError
from dana_poet.poet.warm_stages import identity_stages

EMPTY = inspect.Parameter.empty
STAGE_DEFAULT_TIMEOUT = policy.DEFAULT_STAGE_SECONDS
"""Seconds each of Perceive and Enforce may run when the function sets no `timeout=` (with
one, the whole call -- Perceive, Operate's attempts, Enforce -- shares that one budget)."""

MAX_HELPER_TEXT = 100_000
"""The longest text stage code may hand to `coerce`/`check_output`: their parsers run in C,
where no deadline reaches, so their input is bounded instead."""

MAX_REASON = 1_000
"""The longest reason a dropped stage is recorded with (warning, metadata, next prompt)."""

Engine = Callable[..., Any]
_clock = time.monotonic
_SCALARS = frozenset({int, float, str, bool, type(None)})
"""Immutable values a stage may receive as they are (anything else gets a private copy)."""
_EXACT = (int, float, str, bool, list, dict, tuple, set)


def run_until(
    label: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    deadline: float,
) -> Any:
    """Call `fn` as stage code is run, with one budget ending at `deadline` for every stage
    call inside (the smoke test's way; also any callable: its system access is refused)."""
    with safety.contain([deadline, label, 0, (*args, *kwargs.values())]):
        return fn(*args, **kwargs)


def run_contained(
    label: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], limit: float
) -> Any:
    """`run_until` with a deadline `limit` seconds away."""
    return run_until(label, fn, args, kwargs, _clock() + limit)


def _passed_in(value: Any, budget: list[Any]) -> bool:
    """Whether `value` is one of the values the running stage was called with (the caller's
    own text may be as long as it is; text the stage built is bounded)."""
    return any(value is given for given in budget[3])


def stage_helpers(
    function: str,
    hints: dict[str, Any],
    domain: Any,
    defaults: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The `coerce`, `check_output` and `fail` helpers bound for one function (trusted code),
    their in-stage forms, the exact types of their inline tests and the budget starter
    (poet/policy.py's `stage_globals` says what each is).

    A value that already has its parameter's exact type, with no domain coercer to pass
    through, is returned as it is, as the built-in engine does: stage code tests that
    inline (`__poet_exact_<parameter>`) and calls the helper only otherwise. The in-stage
    forms take the stage's budget: they refuse long text the stage built and check the
    deadline and size after their work. The audit hook lets what a helper does through
    (poet/safety.py); the helpers themselves never run stage code.
    """
    import typing

    from dana_poet.poet.enforce import build_enforcer
    from dana_poet.poet.operate import CALL_DEADLINE
    from dana_poet.poet.perceive import coerce_value, exact_type, null_means_default

    check = build_enforcer(function, hints.get("return", EMPTY), domain)
    defaults = defaults or {}
    plans: dict[str, tuple[Any, type | None, Any]] = {}
    for name, annotation in hints.items():
        if name == "return" or annotation is EMPTY or isinstance(annotation, str):
            continue
        exact = exact_type(annotation)
        if exact is not None and domain is not None:
            if domain.coercers_for(name, typing.get_origin(annotation) or annotation):
                exact = None  # domain coercers see even well-typed values
        plans[name] = (annotation, exact, defaults.get(name, EMPTY))
    tock = policy.tock
    exact_of = {name: plan[1] for name, plan in plans.items()}

    @safety.trusted_code
    def coerce(value: Any, parameter: Any) -> Any:
        if type(parameter) is not str:
            return value
        if type(value) is exact_of.get(parameter):
            return value
        plan = plans.get(parameter)
        if plan is None:
            return value
        annotation, exact, default = plan
        if value is None and null_means_default(annotation, default):
            return default
        return coerce_value(
            value, annotation, domain=domain, parameter=parameter, function=function
        )

    @safety.trusted_code
    def stage_coerce(budget: list[Any], /, value: Any, parameter: Any) -> Any:
        if type(parameter) is not str or type(value) is exact_of.get(parameter):
            return value
        if parameter not in plans:
            return value
        if not _passed_in(value, budget):
            policy.bounded(value, "coerce")
        if type(value) is str and len(value) > MAX_HELPER_TEXT and not _passed_in(value, budget):
            raise policy.PolicyViolation(
                f"coerce() takes text of at most {MAX_HELPER_TEXT:,} characters built by stage code"
            )
        return tock(coerce(value, parameter), budget)

    empty: dict[str, Any] = {}
    returns = hints.get("return", EMPTY)
    # a result of exactly the return type passes unchanged when no domain rule looks at it
    passes = returns if returns in _EXACT and not (domain and domain.output_rules) else None

    @safety.trusted_code
    def check_output(value: Any) -> Any:
        if type(value) is passes:
            return value
        return check(value, empty)

    @safety.trusted_code
    def stage_check_output(budget: list[Any], /, value: Any) -> Any:
        if type(value) is passes:
            return value
        if not _passed_in(value, budget):
            policy.bounded(value, "check")
        if type(value) is str and len(value) > MAX_HELPER_TEXT and not _passed_in(value, budget):
            raise policy.PolicyViolation(
                f"check_output() takes text of at most {MAX_HELPER_TEXT:,} characters built "
                "by stage code"
            )
        return tock(check_output(value), budget)

    @safety.trusted_code
    def fail(rule: Any, message: Any = "") -> Any:
        if type(message) is not str or len(message) > MAX_HELPER_TEXT:
            message = policy.excerpt(message, MAX_HELPER_TEXT)
        if type(rule) is not str or len(rule) > 200:
            rule = policy.excerpt(rule)
        exc = POETOutputError(
            f"{function}(): {message} (rule: {rule})", function=function, rule=str(rule)
        )
        exc.from_stage_rule = True  # type: ignore[attr-defined]
        raise exc

    helpers: dict[str, Any] = {
        "coerce": coerce,
        "check_output": check_output,
        "fail": fail,
        "__poet_coerce": stage_coerce,
        "__poet_check_output": stage_check_output,
        policy.G_START: policy.budget_starter(
            f"{function}()",
            timeout or STAGE_DEFAULT_TIMEOUT,
            CALL_DEADLINE.get if timeout else None,
        ),
    }
    for name, exact in exact_of.items():
        if exact is not None:
            helpers[policy.G_EXACT + name] = exact
    if passes is not None:
        helpers[policy.G_RETURNS] = passes
    return helpers


def _type_checker(function: str, annotation: Any) -> Callable[[Any], Any]:
    from dana_poet.poet.enforce import build_enforcer

    check = build_enforcer(function, annotation, None)
    empty: dict[str, Any] = {}
    return lambda value: check(value, empty)


def _mine(value: Any) -> Any:
    return value if type(value) in _SCALARS else policy.private_copy(value)


private = _mine
"""value -> what a stage may receive of it: the value itself when immutable and plain, else
a private copy (poet/orchestrate.py's stage warm path calls it for containers)."""


def _picker(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """dict -> the tuple of its values for `names`, in that order."""
    if len(names) >= 2:
        return operator.itemgetter(*names)  # type: ignore[return-value]
    if names:
        only = names[0]
        return lambda values: (values[only],)
    return lambda values: ()


def _parameters(fn: Callable[..., Any] | None) -> tuple[str, ...]:
    code = getattr(fn, "__code__", None)
    return tuple(code.co_varnames[: code.co_argcount]) if code is not None else ()


class GuardedStages:
    """One function's admitted stage code, how it is called, and the bookkeeping of its contract.

    Everything a call needs is worked out here once: whether the stage functions take the
    parameters in the function's order (then a call passes them positionally), which
    checks Perceive's answer needs, the return type Enforce's answer must have. A call then
    pays for the stage code itself, a deadline, the audit flag and those checks.
    """

    def __init__(
        self,
        function: str,
        signature: inspect.Signature,
        hints: dict[str, Any],
        stages: policy.StageFunctions,
        timeout: float | None,
        on_drop: Callable[[str, str], None] | None,
    ) -> None:
        self.function = function
        self.stages = stages
        self.timeout = timeout or None
        self.limit = timeout or STAGE_DEFAULT_TIMEOUT
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
        self.positional_perceive = _parameters(stages.perceive) == tuple(self.params)
        self.positional_enforce = _parameters(stages.enforce) == ("result", *self.params)
        returns = hints.get("return", EMPTY)
        self.any_result = returns is EMPTY or isinstance(returns, str)
        self.exact_result = returns if returns in _EXACT else None
        self.check_result = _type_checker(function, returns)
        self.builtin_perceive: Engine | None = None  # the engines that answer when dropped
        self.builtin_enforce: Engine | None = None
        self.identity_perceive = False  # identity_stages(): see there
        self.identity_enforce = False
        self.tree: ast.Module | None = None  # the admitted Python form (warm_stages.py)

    # ------------------------------------------------------------ the call's one budget

    def bounded(self, call: Callable[..., Any]) -> Callable[..., Any]:
        """`call` (the whole POET call) with one time budget its stages and Operate share.

        With `timeout=` the budget starts when Perceive starts (`start_budget`): the stages
        stop at its deadline and Operate's attempts (poet/operate.py) never run past it;
        this wrapper gives each call its own and forgets it afterwards. Without `timeout=`
        each stage gets `STAGE_DEFAULT_TIMEOUT` and `call` is returned as it is.
        """
        from dana_poet.poet.operate import CALL_DEADLINE

        if self.timeout is None:
            return call
        set_deadline, reset = CALL_DEADLINE.set, CALL_DEADLINE.reset

        @functools.wraps(call)
        def timed(*args: Any, **kwargs: Any) -> Any:
            token = set_deadline(None)
            try:
                return call(*args, **kwargs)
            finally:
                reset(token)

        return timed

    def bounded_async(self, call: Callable[..., Any]) -> Callable[..., Any]:
        """`bounded` for an `async def` function (each task has its own deadline)."""
        from dana_poet.poet.operate import CALL_DEADLINE

        if self.timeout is None:
            return call

        @functools.wraps(call)
        async def awaited(*args: Any, **kwargs: Any) -> Any:
            token = CALL_DEADLINE.set(None)
            try:
                return await call(*args, **kwargs)
            finally:
                CALL_DEADLINE.reset(token)

        return awaited

    def start_budget(self) -> Callable[[], float]:
        """() -> the deadline of a call that starts now (Perceive's), shared with the rest."""
        from dana_poet.poet.operate import CALL_DEADLINE

        timeout = self.timeout
        if timeout is None:
            limit = self.limit
            return lambda: _clock() + limit
        set_deadline = CALL_DEADLINE.set

        def start() -> float:
            deadline = _clock() + timeout
            set_deadline(deadline)
            return deadline

        return start

    def timing_perceive(self, builtin: Engine) -> Engine:
        """The built-in Perceive, starting the call's budget (code with an Enforce stage only)."""
        start = self.start_budget()

        def perceive(
            args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
            start()
            return builtin(args, kwargs)  # type: ignore[no-any-return]

        return perceive

    def _timed_out(self, stage: str) -> POETTimeoutError:
        self.drop(stage, "it ran past the function's deadline")
        exc = POETTimeoutError(
            f"{self.function}(): timed out after {self.timeout:g} s in the generated {stage} "
            "stage (Perceive, Operate and Enforce share the function's timeout)",
            function=self.function,
            limit=self.timeout or 0.0,
        )
        exc.stage = stage
        return exc

    # ------------------------------------------------------------ contract and drops

    def drop(self, stage: str, reason: str) -> None:
        if self.dropped is not None:
            return
        if len(reason) > MAX_REASON:  # it is printed, stored and quoted in the next prompt
            reason = reason[: MAX_REASON - 3] + "..."
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
        return {k: _mine(v) for k, v in bound.items()}

    def _recoerce(self, out: Any) -> dict[str, Any]:
        from dana_poet.poet.perceive import coerce_value

        if type(out) is not dict:
            raise _Broken(f"perceive returned {type(out).__name__}, not a dict")
        if out.keys() != self.param_set:
            keys = sorted(str(k)[:100] for k in out)
            shown = keys if len(keys) <= 20 else [*keys[:20], f"... {len(keys) - 20:,} more"]
            raise _Broken(f"perceive returned keys {shown}, expected {sorted(self.params)}")
        for name, annotation in self.annotations.items():
            value = out[name]
            if type(value) is annotation:
                continue
            try:
                out[name] = coerce_value(value, annotation, parameter=name, function=self.function)
            except POETInputError as exc:
                raise _Broken(
                    f"perceive returned {policy.excerpt(value)} for '{name}': {exc}"
                ) from None
        return out

    def _perceive_failed(
        self, exc: Exception, builtin: Engine, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if isinstance(exc, policy.StageTimeout) and self.timeout is not None:
            raise self._timed_out("perceive") from None
        if isinstance(exc, POETInputError):
            answer = builtin(args, kwargs)  # the built-in engine's own error wins
            self.drop("perceive", f"it refused input the built-in engine accepts: {exc}")
            return answer  # type: ignore[no-any-return]
        self.drop("perceive", _describe(exc))
        return builtin(args, kwargs)  # type: ignore[no-any-return]

    def perceive_engine(self, builtin: Engine) -> Engine:
        fn = self.stages.perceive
        assert fn is not None
        begin = self.start_budget() if self.timeout is not None else None
        arity = len(self.params) if self.positional_perceive else -1
        scalars, param_set = _SCALARS, self.param_set
        checks = tuple(self.annotations.items())
        pick = _picker(self.params)

        def perceive(
            args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
            if self.dropped is not None:
                return builtin(args, kwargs)  # type: ignore[no-any-return]
            try:
                positional = not kwargs and len(args) == arity
                if begin is not None:
                    begin()  # the call's one budget starts with Perceive
                if positional:
                    given = args if scalars.issuperset(map(type, args)) else tuple(map(_mine, args))
                    out = fn(*given)
                else:
                    out = fn(**self._bind(args, kwargs))
                if type(out) is not dict or out.keys() != param_set:
                    out = self._recoerce(out)
                else:
                    for name, annotation in checks:
                        if type(out[name]) is not annotation:
                            out = self._recoerce(out)
                            break
                # the same shape as the call: every argument passed by position stays so
                return (pick(out), kwargs) if positional else ((), out)
            except Exception as exc:  # noqa: BLE001 - any failure of untrusted code drops it
                return self._perceive_failed(exc, builtin, args, kwargs)

        return perceive

    def _enforce_failed(
        self, exc: Exception, builtin: Engine, result: Any, inputs: dict[str, Any]
    ) -> Any:
        if isinstance(exc, policy.StageTimeout) and self.timeout is not None:
            raise self._timed_out("enforce") from None
        if isinstance(exc, POETOutputError):
            if getattr(exc, "from_stage_rule", False):
                raise exc  # the stage's own rule, through fail(): the contract says so
            answer = builtin(result, inputs)
            self.drop("enforce", f"it refused a result the built-in engine accepts: {exc}")
            return answer
        self.drop("enforce", _describe(exc))
        return builtin(result, inputs)

    def _checked(self, out: Any, builtin: Engine, result: Any, inputs: dict[str, Any]) -> Any:
        try:
            return self.check_result(out)
        except POETOutputError as exc:
            self.drop(
                "enforce",
                f"it returned {policy.excerpt(out)}, which breaks the return type: {exc}",
            )
            return builtin(result, inputs)

    def enforce_engine(self, builtin: Engine) -> Engine:
        fn = self.stages.enforce
        assert fn is not None
        scalars, exact, any_result = _SCALARS, self.exact_result, self.any_result
        params = self.params
        pick = _picker(params) if self.positional_enforce else None

        def enforce(result: Any, inputs: dict[str, Any]) -> Any:
            if self.dropped is not None:
                return builtin(result, inputs)
            try:
                if pick is not None and len(inputs) == len(params):
                    given = (result, *pick(inputs))
                    if not scalars.issuperset(map(type, given)):
                        given = tuple(map(_mine, given))
                    out = fn(*given)
                else:
                    out = fn(_mine(result), **{k: _mine(v) for k, v in inputs.items()})
            except Exception as exc:  # noqa: BLE001 - any failure of untrusted code drops it
                return self._enforce_failed(exc, builtin, result, inputs)
            if any_result or type(out) is exact:
                return out
            return self._checked(out, builtin, result, inputs)

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
        code, tree = policy.admit_with_tree(source, language, f"<stages of {function}>")
        defaults = {n: p.default for n, p in signature.parameters.items()}
        helpers = stage_helpers(function, hints, domain, defaults, timeout)
        stages = policy.load(code, language, helpers)
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
    guarded = GuardedStages(function, signature, hints, stages, timeout, on_drop)
    guarded.builtin_perceive, guarded.builtin_enforce = builtin_perceive, builtin_enforce
    guarded.identity_perceive, guarded.identity_enforce = identity_stages(tree, guarded.params)
    guarded.tree = tree
    if stages.perceive is not None:
        perceive = guarded.perceive_engine(builtin_perceive)
    elif stages.enforce is not None and guarded.timeout is not None:
        perceive = guarded.timing_perceive(builtin_perceive)
    else:
        perceive = builtin_perceive
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
    "MAX_HELPER_TEXT",
    "STAGE_DEFAULT_TIMEOUT",
    "GuardedStages",
    "build_stage_engines",
    "private",
    "record_drop",
    "run_contained",
    "run_until",
    "stage_helpers",
]
