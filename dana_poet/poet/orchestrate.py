"""One call of a @poet function, in small steps: perceive -> choose version -> operate ->
enforce -> record -> attach.

`build_call` turns a function's steps (made once, at decoration time, by poet/api.py)
into the wrapper its callers call. The wrapper has one of four shapes:

* the **warm path**, specialised for the function (`_warm_source`): when the call passes
  every parameter positionally with exactly the annotated types, Perceive is one
  `type(x) is T` per argument, Enforce one more for the result, the execution is a row
  appended to the function's log (poet/recorder.py) and the result gets its carrier
  directly. Any other call takes the general path, which gives the same answer;
* the **stage warm path** (`_stage_warm_source`), for a function with generated Perceive
  and Enforce stages: the same checks, each stage called by position under the policy
  and its answer re-validated; its slow exits (`Steps.perceive_failed`, ...) answer as
  the stage engines and the general path would from that point;
* the **general path** (`Steps.call`): each step in turn, for any arguments, learnable
  parameters and A/B trials;
* the **traced path** (`Steps.call_traced`), chosen when a trace hook is installed
  (poet/trace.py): the general path with the hook called after each step.

Async functions get the general or traced path, awaited (`Steps.call_async`).

A POET error (bad input, a result that breaks its contract, a timeout) leaves the
wrapper with the frames of POET's own code removed from its traceback: what remains
are the caller's frames (the call line) and the user's function. An Enforce error
also names where the result came from: the function's `return` line (its only one)
or else its `def` line (`exc.returned_at`, shown by errors_report.py and as a note).
"""

from __future__ import annotations

import dis
import functools
import time
import types
from collections.abc import Callable
from keyword import iskeyword
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dana_poet.poet.errors import POETError, POETOutputError
from dana_poet.poet.function import EnhancedFunction, publish_stage_version
from dana_poet.poet.operate import Operator
from dana_poet.poet.recorder import IDS, WARM_ROW, ExecutionLog
from dana_poet.poet.result import attach, carrier_for, keyed_carrier
from dana_poet.poet.trace import TraceHook, short

if TYPE_CHECKING:
    from dana_poet.poet.warm_stages import WarmStages

Perceive = Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
Enforce = Callable[[Any, dict[str, Any]], Any]
BindInputs = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]

NO_KWARGS: dict[str, Any] = {}  # shared, never written: steps copy before adding to kwargs
_POET_DIR = str(Path(__file__).resolve().parent)


class Steps:
    """One function's per-call steps, built once at decoration time."""

    def __init__(
        self,
        record: EnhancedFunction,
        fn: Callable[..., Any],
        *,
        perceive: Perceive,
        enforce: Enforce,
        operator: Operator,
        bind_inputs: BindInputs,
        param_names: list[str],
        ab_random: Callable[[], float],
        code_owner: Any,
        hook: TraceHook | None,
    ) -> None:
        self.record = record
        self.fn = fn
        self.perceive = perceive
        self.enforce = enforce
        self.operator = operator
        self.bind_inputs = bind_inputs
        self.param_names = param_names
        self.ab_random = ab_random
        self.ab_share = record.config.train.ab_share
        self.learnable = bool(record.learnable)
        self.retries = record.config.retries
        self.code_owner = code_owner
        self.hook = hook
        self.log = ExecutionLog(record, bind_inputs, persist=self.learnable)
        record.log = self.log
        self.guarded: Any = None  # the function's GuardedStages (poet/stage_runner.py), if any

    # ------------------------------------------------------------ the steps
    def choose_version(self) -> tuple[int, dict[str, Any]]:
        """The current version, or the A/B candidate for its share of calls."""
        record = self.record
        if self.learnable and record.candidate is not None and self.ab_random() < self.ab_share:
            return record.candidate
        return record.version, record.params

    def with_params(
        self, kwargs: dict[str, Any], params: dict[str, Any], passed: set[str]
    ) -> dict[str, Any]:
        """The version's learned parameters, for those the caller did not pass."""
        kwargs = dict(kwargs)
        for name, value in params.items():
            if name not in passed:
                kwargs[name] = value
        return kwargs

    def operate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
        result = self.operator.run(self.fn, args, kwargs)
        return result, self.operator.attempts_last_call

    def check(
        self,
        result: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempts: int,
        first: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Any:
        """Enforce; a refused result is tried once more when retries remain. `first`: what
        answers for the first result instead of the Enforce engine (the stage warm path's
        slow exits, after the stage itself ran)."""
        inputs = self.bind_inputs(args, kwargs)
        try:
            return self.enforce(result, inputs) if first is None else first(inputs)
        except POETOutputError as exc:
            if self.retries <= 0 or attempts > self.retries:
                raise self.located(exc) from None
        try:
            return self.enforce(self.operator.run(self.fn, args, kwargs), inputs)
        except POETOutputError as exc:
            raise self.located(exc) from None

    def located(self, exc: POETOutputError) -> POETOutputError:
        """`exc`, naming the user's line the result came from."""
        if getattr(exc, "returned_at", None) is None:
            where = returned_at(self.code_owner)
            exc.returned_at = where  # type: ignore[attr-defined]
            if where is not None:
                filename, line, name = where
                exc.add_note(f'  the result came from {name}(): File "{filename}", line {line}')
        return exc

    # ------------------------------------------------------------ one call
    def call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The general path: every step in turn."""
        record = self.record
        try:
            if not record.published:
                publish_stage_version(record)
            learnable = self.learnable
            passed = set(self.param_names[: len(args)]).union(kwargs) if learnable else None
            args, kwargs = self.perceive(args, kwargs)
            version, params = self.choose_version()
            if learnable and params:
                kwargs = self.with_params(kwargs, params, passed)  # type: ignore[arg-type]
            result, attempts = self.operate(args, kwargs)
            result = self.check(result, args, kwargs, attempts)
        except POETError as exc:
            raise without_poet_frames(exc) from None
        return attach(result, self.log.add(args, kwargs, result, version, params))

    def call_traced(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The general path with the trace hook called after each step."""
        hook, name, clock = self.hook, self.record.function_id, time.perf_counter
        assert hook is not None
        record = self.record
        try:
            if not record.published:
                publish_stage_version(record)
            learnable = self.learnable
            passed = set(self.param_names[: len(args)]).union(kwargs) if learnable else None
            started = clock()
            args, kwargs = self.perceive(args, kwargs)
            hook(name, "perceive", clock() - started, f"args={short(args)} kwargs={short(kwargs)}")
            started = clock()
            version, params = self.choose_version()
            if learnable and params:
                kwargs = self.with_params(kwargs, params, passed)  # type: ignore[arg-type]
            hook(name, "choose version", clock() - started, f"v{version} params={short(params)}")
            started = clock()
            result, attempts = self.operate(args, kwargs)
            hook(name, "operate", clock() - started, f"attempts={attempts}")
            started = clock()
            result = self.check(result, args, kwargs, attempts)
            hook(name, "enforce", clock() - started, f"result={short(result)}")
        except POETError as exc:
            raise without_poet_frames(exc) from None
        started = clock()
        number = self.log.add(args, kwargs, result, version, params)
        hook(name, "record", clock() - started, IDS.text_of(number))
        return attach(result, number)

    async def call_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The general path for an `async def` function: Operate awaits each attempt."""
        record, hook, clock = self.record, self.hook, time.perf_counter
        name = record.function_id
        try:
            if not record.published:
                publish_stage_version(record)
            learnable = self.learnable
            passed = set(self.param_names[: len(args)]).union(kwargs) if learnable else None
            started = clock()
            args, kwargs = self.perceive(args, kwargs)
            if hook is not None:
                hook(name, "perceive", clock() - started, f"args={short(args)}")
                started = clock()
            version, params = self.choose_version()
            if learnable and params:
                kwargs = self.with_params(kwargs, params, passed)  # type: ignore[arg-type]
            if hook is not None:
                hook(name, "choose version", clock() - started, f"v{version}")
                started = clock()
            result, attempts = await self.operator.run_async(self.fn, args, kwargs)
            if hook is not None:
                hook(name, "operate", clock() - started, f"attempts={attempts}")
                started = clock()
            result = await self.check_async(result, args, kwargs, attempts)
            if hook is not None:
                hook(name, "enforce", clock() - started, f"result={short(result)}")
                started = clock()
        except POETError as exc:
            raise without_poet_frames(exc) from None
        number = self.log.add(args, kwargs, result, version, params)
        if hook is not None:
            hook(name, "record", clock() - started, IDS.text_of(number))
        return attach(result, number)

    async def check_async(
        self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any], attempts: int
    ) -> Any:
        inputs = self.bind_inputs(args, kwargs)
        try:
            return self.enforce(result, inputs)
        except POETOutputError as exc:
            if self.retries <= 0 or attempts > self.retries:
                raise self.located(exc) from None
        again, _ = await self.operator.run_async(self.fn, args, kwargs)
        try:
            return self.enforce(again, inputs)
        except POETOutputError as exc:
            raise self.located(exc) from None

    # ------------------------------------------------------------ the warm path's slow exits
    def after_failed_attempt(self, failed: Exception, args: tuple[Any, ...]) -> Any:
        """The warm path's first attempt raised `failed`: retries, then the remaining steps."""
        operator = self.operator
        try:
            result = operator.after_failed_attempt(failed, self.fn, args, NO_KWARGS)
            result = self.check(result, args, NO_KWARGS, operator.attempts_last_call)
        except POETError as exc:
            raise without_poet_frames(exc) from None
        record = self.record
        return attach(result, self.log.add(args, NO_KWARGS, result, record.version, record.params))

    def enforce_slowly(self, result: Any, args: tuple[Any, ...], attempts: int) -> Any:
        """The warm path's result is not exactly of the return type: the full Enforce."""
        try:
            return self.check(result, args, NO_KWARGS, attempts)
        except POETError as exc:
            raise without_poet_frames(exc) from None

    # ------------------------------------------------------------ the stage warm path's exits
    # The generated stage ran (or failed) on the warm path; these answer the call from there
    # exactly as the stage engines (poet/stage_runner.py) and the general path would.

    def rest(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The general path after Perceive: choose version, Operate, Enforce, record."""
        try:
            version, params = self.choose_version()
            result, attempts = self.operate(args, kwargs)
            result = self.check(result, args, kwargs, attempts)
        except POETError as exc:
            raise without_poet_frames(exc) from None
        return attach(result, self.log.add(args, kwargs, result, version, params))

    def perceive_failed(self, failed: Exception, args: tuple[Any, ...]) -> Any:
        """The Perceive stage raised `failed`: the engine's answer (drop, built-in), then on."""
        guarded = self.guarded
        try:
            args, kwargs = guarded._perceive_failed(failed, guarded.builtin_perceive, args, {})
        except POETError as exc:
            raise without_poet_frames(exc) from None
        return self.rest(args, kwargs)

    def perceive_recheck(self, out: Any, args: tuple[Any, ...]) -> Any:
        """Perceive's answer is not exactly the parameters' types: re-coerced, or dropped."""
        guarded = self.guarded
        try:
            try:
                checked = guarded._recoerce(out)
                args, kwargs = tuple(checked[name] for name in guarded.params), NO_KWARGS
            except Exception as failed:  # noqa: BLE001 - as the stage engine: dropped
                args, kwargs = guarded._perceive_failed(failed, guarded.builtin_perceive, args, {})
        except POETError as exc:
            raise without_poet_frames(exc) from None
        return self.rest(args, kwargs)

    def enforce_failed(
        self, failed: Exception, result: Any, args: tuple[Any, ...], attempts: int
    ) -> Any:
        """The Enforce stage raised `failed`: the engine's answer, retried as `check` does."""
        guarded = self.guarded

        def first(inputs: dict[str, Any]) -> Any:
            return guarded._enforce_failed(failed, guarded.builtin_enforce, result, inputs)

        return self._recorded(result, args, attempts, first)

    def enforce_recheck(self, out: Any, result: Any, args: tuple[Any, ...], attempts: int) -> Any:
        """Enforce's answer is not exactly the return type: checked, or the stage dropped."""
        guarded = self.guarded

        def first(inputs: dict[str, Any]) -> Any:
            return guarded._checked(out, guarded.builtin_enforce, result, inputs)

        return self._recorded(result, args, attempts, first)

    def _recorded(
        self,
        result: Any,
        args: tuple[Any, ...],
        attempts: int,
        first: Callable[[dict[str, Any]], Any],
    ) -> Any:
        try:
            result = self.check(result, args, NO_KWARGS, attempts, first)
        except POETError as exc:
            raise without_poet_frames(exc) from None
        record = self.record
        return attach(result, self.log.add(args, NO_KWARGS, result, record.version, record.params))


# --------------------------------------------------------------------------- wrappers


def build_call(steps: Steps, *, is_async: bool, warm: WarmPlan | None) -> Callable[..., Any]:
    """The wrapper for one function: its warm path when `warm` is given, else the general
    or traced path."""
    fn = steps.fn
    if is_async:
        call_async = steps.call_async

        @functools.wraps(fn)
        async def enhanced_async(*args: Any, **kwargs: Any) -> Any:
            return await call_async(args, kwargs)

        return enhanced_async
    if steps.hook is None and warm is not None:
        return functools.wraps(fn)(_warm_wrapper(steps, warm))
    call = steps.call if steps.hook is None else steps.call_traced

    @functools.wraps(fn)
    def enhanced(*args: Any, **kwargs: Any) -> Any:
        return call(args, kwargs)

    return enhanced


class WarmPlan:
    """What the warm path checks: each parameter's name, exact type (None: any) and whether
    it is positional-only, and the result's type.

    `enforces=False`: the result is let by as it is (no return type, no rules); else a
    result of exactly `result_type` is let by and any other goes through the full Enforce
    (every result does when `result_type` is None). `publishes`: the first call must
    publish stage code as a version, so every call checks whether that has happened."""

    def __init__(
        self,
        params: list[tuple[str, type | None, bool]],
        result_type: type | None,
        *,
        enforces: bool,
        timed: bool,
        publishes: bool = False,
        optional: frozenset[str] = frozenset(),
    ) -> None:
        self.params = params
        self.optional = optional  # parameters with a default: left out, they are the marker
        self.result_type = result_type
        self.enforces = enforces
        self.carrier = carrier_for(result_type) if result_type is not None else None
        self.timed = timed
        self.publishes = publishes
        self.keyed = False  # set when the wrapper is made: the carrier is the function's own


# names the template uses; a function with a parameter of one of these names has no warm path
_TEMPLATE_PREFIX = "_p_"


def _warm_source(name: str, plan: WarmPlan) -> str:
    """The source of a warm-path wrapper for `plan` (our own template, never the user's code).

    The wrapper has the function's own parameters, those with a default defaulting to a
    marker, so a call binds (or is refused) as it would be by the function: a parameter
    left out (its default wanted) or a value of another type sends the call down the
    general path.
    """
    names = [n for n, _, _ in plan.params]
    positional_only = [n for n, _, only in plan.params if only]
    signature = [f"{n}=_p_MISSING" if n in plan.optional else n for n in names]
    if positional_only:
        signature.insert(len(positional_only), "/")
    values = "".join(f"{n}, " for n in names)
    tests = [f"{n} is _p_MISSING" for n in names if n in plan.optional]
    tests += [f"type({n}) is not _p_T{i}" for i, (n, t, _) in enumerate(plan.params) if t]
    if plan.publishes:
        tests.append("not _p_record.published")
    lines = [
        "def make(_p_fn, _p_record, _p_append, _p_operator, _p_general,",
        "         _p_unpacked, _p_after_failure, _p_enforce_slowly, _p_attach, _p_IDS,",
        "         _p_NO_KWARGS, _p_MISSING, _p_WARM, _p_RT, _p_CARRIER, "
        + "".join(f"_p_T{i}, " for i in range(len(names)))
        + "):",
        f"    def {name}({', '.join(signature)}):",
        f"        if {' or '.join(tests) or 'False'}:",
        f"            return _p_unpacked(({values}))",
    ]
    if plan.timed:
        lines += [
            f"        _p_result = _p_operator.run(_p_fn, ({values}), _p_NO_KWARGS)",
            "        _p_attempts = _p_operator.attempts_last_call",
        ]
    else:
        lines += [
            # no failure counted <=> the circuit is closed (the breaker opens on a failure)
            "        if _p_operator.breaker.failures:",
            f"            return _p_general(({values}), _p_NO_KWARGS)",
            "        try:",
            f"            _p_result = _p_fn({values})",
            "        except Exception as _p_exc:",
            f"            return _p_after_failure(_p_exc, ({values}))",
            "        _p_attempts = 1",
        ]
    record = [
        "        _p_id = next(_p_IDS.counter)",
        f"        _p_append((_p_id, _p_WARM, _p_result, _p_record.version, {values}))",
    ]
    if plan.carrier is not None:  # a result of exactly the return type: one check, then done
        lines.append("        if type(_p_result) is _p_RT:")
        if plan.keyed:  # the row holds the carrier itself: no attribute (poet/result.py)
            lines += [
                "            _p_out = _p_CARRIER(_p_result)",
                f"            _p_append((next(_p_IDS.counter), _p_WARM, _p_out, _p_record.version,"
                f" {values}))",
                "            return _p_out",
            ]
        else:
            lines += ["    " + line for line in record]
            lines += [
                "            _p_out = _p_CARRIER(_p_result)",
                "            _p_out._poet_execution_id = _p_id",
                "            return _p_out",
            ]
    if plan.enforces and (plan.result_type is None or plan.carrier is not None):
        lines.append(f"        _p_result = _p_enforce_slowly(_p_result, ({values}), _p_attempts)")
    elif plan.enforces:
        lines += [
            "        if type(_p_result) is not _p_RT:",
            f"            _p_result = _p_enforce_slowly(_p_result, ({values}), _p_attempts)",
        ]
    lines += record
    lines += [
        "        return _p_attach(_p_result, _p_id)",
        f"    return {name}",
    ]
    return "\n".join(lines) + "\n"


_MISSING = object()


def _warm_wrapper(steps: Steps, plan: WarmPlan) -> Callable[..., Any]:
    name = steps.record.name
    if not name.isidentifier() or name.startswith(_TEMPLATE_PREFIX) or name == "make":
        name = "enhanced"
    names = [n for n, _, _ in plan.params]
    general = steps.call
    unpacked = _unpacking(names, general)

    namespace: dict[str, Any] = {}
    assert not steps.log.persist, "a learning function has no warm path"
    carrier = plan.carrier
    if carrier is not None:
        keyed = keyed_carrier(plan.result_type, steps.log)  # type: ignore[arg-type]
        plan.keyed = keyed is not None
        carrier = keyed or carrier
    code = compile(_warm_source(name, plan), f"<poet warm path of {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own template, filled with names only
    return namespace["make"](  # type: ignore[no-any-return]
        steps.fn,
        steps.record,
        steps.log.rows.append,
        steps.operator,
        general,
        unpacked,
        steps.after_failed_attempt,
        steps.enforce_slowly,
        attach,
        IDS,
        NO_KWARGS,
        _MISSING,
        WARM_ROW,
        plan.result_type,
        carrier,
        *[t for _, t, _ in plan.params],
    )


class StageWarmPlan:
    """What the warm path of a function with generated Perceive and Enforce stages checks.

    `params`: (name, exact type or None, positional-only, copied). A parameter of a scalar
    type is passed to the stages as it is; a container, or an unannotated parameter, as a
    private copy (as the stage engines do). `result_type`: the return type's exact type or
    None; `any_result`: no return type (Enforce's answer is let by as it is). `timeout`:
    the function's `timeout=` (one deadline for the whole call), else None (each stage
    gets `limit` seconds).
    """

    def __init__(
        self,
        params: list[tuple[str, type | None, bool, bool]],
        result_type: type | None,
        *,
        any_result: bool,
        timeout: float | None,
        limit: float,
        optional: frozenset[str] = frozenset(),
        nullable: frozenset[str] = frozenset(),
    ) -> None:
        self.params = params
        self.optional = optional  # parameters with a default: left out, they are the marker
        self.nullable = nullable  # unannotated ones whose null means the default
        self.result_type = result_type
        self.any_result = any_result
        self.carrier = carrier_for(result_type) if result_type is not None else None
        self.keyed = False
        self.timeout = timeout
        self.limit = limit
        self.skip_perceive = False
        self.skip_enforce = False
        self.warm: WarmStages | None = None  # the stages' warm forms (poet/warm_stages.py)


_SCALAR_TYPES = (int, float, str, bool)


def _stage_warm_source(name: str, plan: StageWarmPlan) -> str:
    """The source of the warm-path wrapper of a function with generated stages (our own
    template; the stage code runs as admitted, called by position).

    Per call: one `type(x) is T` per parameter, each stage called by position (it starts
    its own budget only if a check needs one; the audit hook finds its frames by their
    file name, poet/safety.py), the stage's answer checked as the stage engines check it,
    the body, the record. With `timeout=` the call's deadline is set once (the stages'
    budgets end at it). Anything unusual leaves through the slow exits of
    `Steps`, which answer exactly as the general path does from that point.
    """
    names = [n for n, _, _, _ in plan.params]
    positional_only = [n for n, _, only, _ in plan.params if only]
    signature = [f"{n}=_p_MISSING" if n in plan.optional else n for n in names]
    if positional_only:
        signature.insert(len(positional_only), "/")
    values = "".join(f"{n}, " for n in names)
    tests = [f"{n} is _p_MISSING" for n in names if n in plan.optional]
    tests += [f"{n} is None" for n in names if n in plan.nullable]
    tests += [f"type({n}) is not _p_T{i}" for i, (n, t, _, _) in enumerate(plan.params) if t]
    tests += ["_p_guarded.dropped is not None", "not _p_record.published"]
    timed = plan.timeout is not None
    if not timed:
        tests.append("_p_operator.breaker.failures")  # a closed circuit counts no failure
    warm = plan.warm
    # the stages' warm forms (poet/warm_stages.py): which parameters they take, and what
    # their answers can be (Perceive's "the arguments, unchanged" only if all are scalars)
    answer = "dict" if warm is None or plan.skip_perceive else warm.perceive_answer
    perceive_args = set(warm.perceive_args if warm is not None else names)
    enforce_args = set(warm.enforce_args if warm is not None else names)
    marks = answer != "dict"
    given = "".join(
        f"_p_mine({n}), " if copied else f"{n}, "
        for n, _, _, copied in plan.params
        if n in perceive_args
    )
    if plan.skip_perceive or marks:  # every parameter an exactly-typed scalar, passed on
        perceived = values
        perceived_as = list(names)
    else:
        perceived = "".join(f"_p_a{i}, " for i in range(len(names)))
        perceived_as = [
            f"_p_mine(_p_a{i})" if copied else f"_p_a{i}"
            for i, (_, _, _, copied) in enumerate(plan.params)
        ]
    for_enforce = "".join(f"{v}, " for v in perceived_as)
    for_warm_enforce = "".join(
        f"{v}, " for v, n in zip(perceived_as, names, strict=True) if n in enforce_args
    )
    body: list[str] = []
    perceive = [
        "try:",
        ("    _p_perceive(" if answer == "inputs" else "    _p_out = _p_perceive(") + f"{given})",
        "except Exception as _p_exc:",
        f"    return _p_perceive_failed(_p_exc, ({values}))",
    ]
    if answer == "marked":  # any other answer is checked by the slow exit
        perceive += [
            "if _p_out is not _p_UNCHANGED:",
            f"    return _p_perceive_recheck(_p_out, ({values}))",
        ]
    elif answer == "dict":
        perceive += [
            "if type(_p_out) is not dict or _p_out.keys() != _p_PARAMS:",
            f"    return _p_perceive_recheck(_p_out, ({values}))",
        ]
        perceive += [f"_p_a{i} = _p_out[{n!r}]" for i, n in enumerate(names)]
        checks = [
            f"type(_p_a{i}) is not _p_T{i}" for i, (_, t, _, _) in enumerate(plan.params) if t
        ]
        if checks:
            perceive += [
                f"if {' or '.join(checks)}:",
                f"    return _p_perceive_recheck(_p_out, ({values}))",
            ]
    if not plan.skip_perceive:
        body += perceive
    attempts = "_p_attempts" if timed else "1"
    if timed:
        body += [
            f"_p_result = _p_operator.run(_p_fn, ({perceived}), _p_NO_KWARGS)",
            "_p_attempts = _p_operator.attempts_last_call",
        ]
    else:
        body += [
            "try:",
            f"    _p_result = _p_fn({perceived})",
            "except Exception as _p_exc:",
            f"    return _p_after_failure(_p_exc, ({perceived}))",
        ]
    scalar_result = plan.result_type in _SCALAR_TYPES
    failed = f"    return _p_enforce_failed(_p_exc, _p_result, ({perceived}), {attempts})"
    recheck = f"    return _p_enforce_recheck(_p_checked, _p_result, ({perceived}), {attempts})"

    checked = "_p_checked"  # where the checked result is (the result itself when unchanged)

    def enforced(call: str) -> list[str]:
        return ["try:", f"    {call}", "except Exception as _p_exc:", failed]

    if scalar_result and warm is not None and warm.enforce is not None:
        # its warm form wants a result of exactly the return type
        warm_call = f"_p_enforce_warm(_p_result, {for_warm_enforce})"
        enforce = ["if type(_p_result) is _p_RT:"]
        if warm.enforce_answer == "input":  # it hands back the result it was given
            warm_lines = enforced(warm_call)
            checked = "_p_result"
        else:
            warm_lines = [
                *enforced(f"_p_checked = {warm_call}"),
                "if type(_p_checked) is not _p_RT:",
                recheck,
            ]
        enforce += ["    " + line for line in warm_lines]
        enforce += ["else:"]
        general = [*enforced(f"_p_checked = _p_enforce(_p_mine(_p_result), {for_enforce})")]
        general += ["if type(_p_checked) is not _p_RT:", recheck]
        if checked == "_p_result":
            general.append("_p_result = _p_checked")
        enforce += ["    " + line for line in general]
    else:
        if scalar_result:
            enforce = ["_p_r = _p_result if type(_p_result) is _p_RT else _p_mine(_p_result)"]
            enforce += enforced(f"_p_checked = _p_enforce(_p_r, {for_enforce})")
        else:
            enforce = enforced(f"_p_checked = _p_enforce(_p_mine(_p_result), {for_enforce})")
        if not plan.any_result:
            enforce += [
                "if type(_p_checked) is not _p_RT:" if plan.result_type is not None else "if True:",
                recheck,
            ]
    if plan.skip_enforce:  # an identity stage: a result of exactly the (scalar) return type
        body += ["if type(_p_result) is not _p_RT:"]
        body += ["    " + line for line in [*enforce, "_p_result = _p_checked"]]
        checked = "_p_result"
    else:
        body += enforce
    if plan.carrier is not None and plan.keyed:
        body += [
            f"_p_out = _p_CARRIER({checked})",
            f"_p_append((next(_p_IDS.counter), _p_WARM, _p_out, _p_record.version, {perceived}))",
            "return _p_out",
        ]
    else:
        body += [
            "_p_id = next(_p_IDS.counter)",
            f"_p_append((_p_id, _p_WARM, {checked}, _p_record.version, {perceived}))",
        ]
        if plan.carrier is not None:  # a float, list or dict carrier: the number in a slot
            body += [
                f"_p_out = _p_CARRIER({checked})",
                "_p_out._poet_execution_id = _p_id",
                "return _p_out",
            ]
        else:
            body.append(f"return _p_attach({checked}, _p_id)")
    if timed:
        body = (
            ["_p_deadline = _p_clock() + _p_timeout", "_p_token = _p_set_deadline(_p_deadline)"]
            + ["try:"]
            + ["    " + line for line in body]
            + [
                "except _p_POETError as _p_exc:",
                "    raise _p_clean(_p_exc) from None",
                "finally:",
                "    _p_reset_deadline(_p_token)",
            ]
        )
    # the values it uses are the globals of its own module (no closure to copy per call)
    lines = [
        f"def {name}({', '.join(signature)}):",
        f"    if {' or '.join(tests)}:",
        f"        return _p_unpacked(({values}))",
    ]
    lines += ["    " + line for line in body]
    return "\n".join(lines) + "\n"


def _unpacking(names: list[str], general: Callable[..., Any]) -> Callable[[tuple[Any, ...]], Any]:
    """values -> the general path, given positionally up to the first value left out
    (the marker), by name after it."""

    def unpacked(values: tuple[Any, ...]) -> Any:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for pname, value in zip(names, values, strict=True):
            if value is _MISSING:
                continue
            if kwargs or len(args) < names.index(pname):
                kwargs[pname] = value
            else:
                args.append(value)
        return general(tuple(args), kwargs)

    return unpacked


def stage_warm_wrapper(
    steps: Steps, plan: StageWarmPlan, general: Callable[..., Any]
) -> Callable[..., Any]:
    """The warm path of a function with generated stages; `general` answers every call it
    does not take (the general path, with the call's own time budget when `timeout=`)."""
    from dana_poet.poet.operate import CALL_DEADLINE
    from dana_poet.poet.stage_runner import private

    guarded = steps.guarded
    name = steps.record.name
    if not name.isidentifier() or name.startswith((_TEMPLATE_PREFIX, "__")) or iskeyword(name):
        name = "enhanced"  # the wrapper's name is a global of its module, beside `_p_...`
    assert not steps.log.persist, "a learning function has no warm path"
    carrier = plan.carrier
    if carrier is not None:
        keyed = keyed_carrier(plan.result_type, steps.log)  # type: ignore[arg-type]
        plan.keyed = keyed is not None
        carrier = keyed or carrier
    warm = plan.warm
    namespace: dict[str, Any] = {
        "_p_fn": steps.fn,
        "_p_record": steps.record,
        "_p_append": steps.log.rows.append,
        "_p_operator": steps.operator,
        "_p_unpacked": _unpacking([n for n, _, _, _ in plan.params], lambda a, k: general(*a, **k)),
        "_p_guarded": guarded,
        "_p_clock": time.monotonic,
        "_p_timeout": plan.timeout,
        "_p_perceive": warm.perceive
        if warm is not None and warm.perceive is not None
        else guarded.stages.perceive,
        "_p_enforce": guarded.stages.enforce,
        "_p_enforce_warm": warm.enforce if warm is not None else None,
        "_p_UNCHANGED": warm.marker if warm is not None else None,
        "_p_PARAMS": guarded.param_set,
        "_p_mine": private,
        "_p_perceive_failed": steps.perceive_failed,
        "_p_perceive_recheck": steps.perceive_recheck,
        "_p_after_failure": steps.after_failed_attempt,
        "_p_enforce_failed": steps.enforce_failed,
        "_p_enforce_recheck": steps.enforce_recheck,
        "_p_attach": attach,
        "_p_IDS": IDS,
        "_p_NO_KWARGS": NO_KWARGS,
        "_p_MISSING": _MISSING,
        "_p_WARM": WARM_ROW,
        "_p_RT": plan.result_type,
        "_p_CARRIER": carrier,
        "_p_POETError": POETError,
        "_p_clean": without_poet_frames,
        "_p_set_deadline": CALL_DEADLINE.set,
        "_p_reset_deadline": CALL_DEADLINE.reset,
    }
    namespace.update((f"_p_T{i}", t) for i, (_, t, _, _) in enumerate(plan.params))
    code = compile(_stage_warm_source(name, plan), f"<poet warm path of {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own template, filled with names only
    return namespace[name]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- errors


def without_poet_frames(exc: BaseException) -> BaseException:
    """`exc` with the frames of POET's own code (and generated stage code) taken out."""
    kept: list[types.TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith(_POET_DIR) or filename.startswith(("<stages", "<poet"))):
            kept.append(tb)
        tb = tb.tb_next
    rebuilt: types.TracebackType | None = None
    for entry in reversed(kept):
        rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return exc.with_traceback(rebuilt)


def returned_at(code_owner: Any) -> tuple[str, int, str] | None:
    """(file, line, name) of the function's only `return`, else of its `def` line."""
    code = getattr(code_owner, "__code__", None)
    if code is None:
        return None
    filename = code.co_filename
    if filename.startswith("<") and not filename.startswith(("<dana", "<stdin", "<repl")):
        return None
    lines: set[int] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("RETURN_VALUE", "RETURN_CONST") and ins.positions is not None:
            if ins.positions.lineno is not None:
                lines.add(ins.positions.lineno)
    from dana_poet.lang.runtime import source_line

    if len(lines) == 1:
        line = next(iter(lines))
        if source_line(filename, line).strip().startswith("return"):
            return filename, line, code.co_name
    first = code.co_firstlineno  # a decorated function's code starts at its first decorator
    for line in range(first, first + 50):
        if source_line(filename, line).lstrip().startswith(("def ", "async def ")):
            return filename, line, code.co_name
    return filename, first, code.co_name
