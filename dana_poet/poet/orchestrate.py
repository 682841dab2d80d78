"""One call of a @poet function, in small steps: perceive -> choose version -> operate ->
enforce -> record -> attach.

`build_call` turns a function's steps (made once, at decoration time, by poet/api.py)
into the wrapper its callers call. The wrapper has one of three shapes:

* the **warm path**, specialised for the function (`_warm_source`): when the call passes
  every parameter positionally with exactly the annotated types, Perceive is one
  `type(x) is T` per argument, Enforce one more for the result, the execution is a row
  appended to the function's log (poet/recorder.py) and the result gets its carrier
  directly. Any other call takes the general path, which gives the same answer;
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
from pathlib import Path
from typing import Any

from dana_poet.poet.errors import POETError, POETOutputError
from dana_poet.poet.function import EnhancedFunction, publish_stage_version
from dana_poet.poet.operate import Operator
from dana_poet.poet.recorder import IDS, ExecutionLog
from dana_poet.poet.result import attach, carrier_for
from dana_poet.poet.trace import TraceHook, short

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
        self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any], attempts: int
    ) -> Any:
        """Enforce; a refused result is tried once more when retries remain."""
        inputs = self.bind_inputs(args, kwargs)
        try:
            return self.enforce(result, inputs)
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
        execution_id = self.log.add(args, kwargs, result, version, params)
        hook(name, "record", clock() - started, execution_id)
        return attach(result, execution_id)

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
        execution_id = self.log.add(args, kwargs, result, version, params)
        if hook is not None:
            hook(name, "record", clock() - started, execution_id)
        return attach(result, execution_id)

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
    """What the warm path checks: each parameter's exact type (None: any) and the result's.

    `enforces=False`: the result is let by as it is (no return type, no rules); else a
    result of exactly `result_type` is let by and any other goes through the full Enforce
    (every result does when `result_type` is None)."""

    def __init__(
        self,
        param_types: list[type | None],
        result_type: type | None,
        *,
        enforces: bool,
        timed: bool,
    ) -> None:
        self.param_types = param_types
        self.result_type = result_type
        self.enforces = enforces
        self.carrier = carrier_for(result_type) if result_type is not None else None
        self.timed = timed


def _warm_source(name: str, plan: WarmPlan, steps_limit: int) -> str:
    """The source of a warm-path wrapper for `plan` (our own code, never the user's)."""
    n = len(plan.param_types)
    checks = "".join(
        f" or type(args[{i}]) is not T{i}" for i, t in enumerate(plan.param_types) if t is not None
    )
    lines = [
        "def make(fn, record, log, operator, general, after_failure, enforce_slowly, attach,",
        "         IDS, NO_KWARGS, RT, CARRIER, " + "".join(f"T{i}, " for i in range(n)) + "):",
        f"    def {name}(*args, **kwargs):",
        f"        if kwargs or len(args) != {n} or not record.published{checks}:",
        "            return general(args, kwargs)",
    ]
    if plan.timed:
        lines += [
            "        result = operator.run(fn, args, NO_KWARGS)",
            "        attempts = operator.attempts_last_call",
        ]
    else:
        lines += [
            "        breaker = operator.breaker",
            "        if breaker.state != 'closed':",
            "            return general(args, kwargs)",
            "        try:",
            "            result = fn(*args)",
            "        except Exception as exc:",
            "            return after_failure(exc, args)",
            "        if breaker.failures:",
            "            breaker.record_success()",
            "        attempts = 1",
        ]
    if not plan.enforces:
        pass
    elif plan.result_type is None:
        lines.append("        result = enforce_slowly(result, args, attempts)")
    else:
        lines += [
            "        if type(result) is not RT:",
            "            result = enforce_slowly(result, args, attempts)",
        ]
    lines += [
        "        execution_id = f'x{IDS.prefix}{next(IDS.counter)}'",
        "        rows = log.rows",
        "        rows[execution_id] = (args, NO_KWARGS, result, record.version, NO_KWARGS)",
        f"        if len(rows) >= {steps_limit}:",
        "            log.overflow()",
    ]
    if plan.carrier is not None:
        lines += [
            "        if type(result) is RT:",
            "            out = CARRIER(result)",
            "            out._poet_execution_id = execution_id",
            "            return out",
        ]
    lines += [
        "        return attach(result, execution_id)",
        f"    return {name}",
    ]
    return "\n".join(lines) + "\n"


def _warm_wrapper(steps: Steps, plan: WarmPlan) -> Callable[..., Any]:
    name = steps.record.name if steps.record.name.isidentifier() else "enhanced"
    if name in ("make", "args", "kwargs") or name.startswith("T"):
        name = "enhanced"
    namespace: dict[str, Any] = {}
    source = _warm_source(name, plan, steps.log.limit)
    code = compile(source, f"<poet warm path of {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own template, filled with names only
    return namespace["make"](  # type: ignore[no-any-return]
        steps.fn,
        steps.record,
        steps.log,
        steps.operator,
        steps.call,
        steps.after_failed_attempt,
        steps.enforce_slowly,
        attach,
        IDS,
        NO_KWARGS,
        plan.result_type,
        plan.carrier,
        *plan.param_types,
    )


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
