"""The per-call steps: the warm path answers as the general path does, tracing is a hook,
executions reach the store in batches and are there whenever a feedback asks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dana_poet.poet.errors import POETCircuitOpenError, POETInputError, POETOutputError
from dana_poet.poet.orchestrate import WarmPlan, _warm_source
from dana_poet.poet.recorder import BATCH
from dana_poet.poet.result import execution_id_of
from dana_poet.poet.runtime import POETRuntime
from dana_poet.poet.store.memory import RECENT, MemoryStore


@pytest.fixture
def runtime() -> POETRuntime:
    return POETRuntime(lambda root: MemoryStore())


def _uses_warm_path(fn: Any) -> bool:
    return str(fn.__code__.co_filename).startswith("<poet warm path")


def test_plain_typed_functions_get_a_warm_path_and_others_do_not(runtime: POETRuntime) -> None:
    @runtime.poet()
    def typed(a: int, b: float) -> str:
        return f"{a}/{b}"

    @runtime.poet(domain="financial_services")
    def coerced_by_domain(credit_score: int) -> int:
        return credit_score

    @runtime.poet(optimize_for="accuracy")
    def learns(x: float, threshold: float = 0.5) -> bool:
        return x > threshold

    class Box:
        @runtime.poet()
        def method(self, n: int) -> int:
            return n

    assert _uses_warm_path(typed)
    assert not _uses_warm_path(coerced_by_domain)
    assert not _uses_warm_path(learns)
    assert not _uses_warm_path(Box.method)


def test_the_warm_path_answers_every_kind_of_call_as_the_general_path(
    runtime: POETRuntime,
) -> None:
    calls: list[tuple[Any, ...]] = []

    @runtime.poet(retries=1)
    def describe(n: int, unit: str = "kg") -> str:
        calls.append((n, unit))
        return f"{n} {unit}"

    assert _uses_warm_path(describe)
    assert describe(3, "g") == "3 g"  # first call: the general path publishes, then warm
    assert describe(4, "g") == "4 g"  # warm
    assert describe("5", "g") == "5 g"  # Perceive coerces: general path
    assert describe(6) == "6 kg"  # default used: general path
    assert describe(n=7, unit="t") == "7 t"  # keywords: general path
    assert calls == [(3, "g"), (4, "g"), (5, "g"), (6, "kg"), (7, "t")]
    with pytest.raises(POETInputError):
        describe("many", "g")
    assert all(execution_id_of(describe(i, "g")) for i in range(3))


def test_the_warm_path_retries_and_enforces_like_the_general_path(runtime: POETRuntime) -> None:
    attempts = {"n": 0}

    @runtime.poet(retries=2)
    def flaky(n: int) -> int:
        attempts["n"] += 1
        if attempts["n"] % 2:
            raise ConnectionError("try again")
        return n * 2

    flaky(0)
    attempts["n"] = 0
    assert flaky(5) == 10 and attempts["n"] == 2

    answers = iter(["7", "x", "nine", 9])

    @runtime.poet(retries=1)
    def count(n: int) -> int:
        return next(answers)  # type: ignore[return-value]

    assert count(1) == 7  # "7" coerced to int by Enforce
    with pytest.raises(POETOutputError):
        count(1)  # "x" refused, one more attempt: "nine" refused too
    assert count(1) == 9


def test_an_open_circuit_refuses_warm_calls(runtime: POETRuntime) -> None:
    @runtime.poet(circuit_threshold=2, circuit_cooldown=60)
    def down(n: int) -> int:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            down(1)
    with pytest.raises(POETCircuitOpenError):
        down(1)


def test_feedback_right_after_a_call_finds_the_execution(runtime: POETRuntime) -> None:
    @runtime.poet()
    def label(n: int) -> str:
        return "big" if n > 10 else "small"

    results = [label(i) for i in range(RECENT + 10)]
    signal = runtime.feedback(results[-1], {"correct": False})
    assert signal is not None
    store = runtime.stores()[0]
    execution = store.get_execution(execution_id_of(results[-1]))
    assert execution is not None and execution.inputs == {"n": RECENT + 9}
    assert execution.output == "big"


def test_a_learning_function_hands_executions_to_the_store_in_batches(
    runtime: POETRuntime,
) -> None:
    @runtime.poet(optimize_for="accuracy")
    def flag(x: float, threshold: float = 0.5) -> bool:
        return x > threshold

    for i in range(BATCH - 1):
        flag(i / 100)
    store = runtime.stores()[0]
    assert store.executions(flag.__poet__.key) == []  # still in the function's log
    flag(0.99)
    kept = store.executions(flag.__poet__.key)
    assert len(kept) == BATCH
    assert [e.inputs["x"] for e in kept] == [i / 100 for i in range(BATCH - 1)] + [0.99]


def test_tracing_is_a_hook_called_after_each_step_sync_and_async(runtime: POETRuntime) -> None:
    seen: list[tuple[str, str]] = []
    runtime.trace_hook = lambda function, step, seconds, detail: seen.append((function, step))

    @runtime.poet()
    def double(n: int) -> int:
        return n * 2

    @runtime.poet()
    async def triple(n: int) -> int:
        return n * 3

    assert not _uses_warm_path(double)  # a traced function runs the traced path
    assert double("4") == 8
    assert asyncio.run(triple("2")) == 6
    steps = ["perceive", "choose version", "operate", "enforce", "record"]
    assert [s for f, s in seen if f.endswith(".double")] == steps
    assert [s for f, s in seen if f.endswith(".triple")] == steps


def test_without_a_hook_nothing_traces(runtime: POETRuntime, capsys: Any) -> None:
    @runtime.poet()
    def double(n: int) -> int:
        return n * 2

    assert double(2) == 4
    assert capsys.readouterr().err == ""


def test_the_warm_path_source_checks_each_typed_parameter() -> None:
    plan = WarmPlan(
        [("a", int, False), ("b", None, False), ("c", str, False)],
        float,
        enforces=True,
        timed=False,
        optional=frozenset({"c"}),
    )
    source = _warm_source("f", plan)
    assert "def f(a, b, c=_p_MISSING):" in source
    assert "type(a) is not _p_T0" in source and "type(c) is not _p_T2" in source
    assert "type(b)" not in source  # an unannotated parameter is not checked


def test_a_call_the_function_refuses_is_refused_by_the_warm_path_alike(
    runtime: POETRuntime,
) -> None:
    def plain(n: int, unit: str = "kg") -> str:
        return f"{n} {unit}"

    enhanced = runtime.poet()(plain)
    for call in (lambda f: f(1, "g", 3), lambda f: f(1, units="g"), lambda f: f()):
        with pytest.raises(TypeError) as ours:
            call(enhanced)
        with pytest.raises(TypeError) as theirs:
            call(plain)
        assert str(ours.value) == str(theirs.value)


def test_positional_only_parameters_stay_positional_only(runtime: POETRuntime) -> None:
    @runtime.poet()
    def scale(n: int, /, factor: int = 2) -> int:
        return n * factor

    assert scale(3) == 6 and scale(3, factor=3) == 9 and scale(3, 4) == 12
    with pytest.raises(TypeError):
        scale(n=3)


def _inputs_of(runtime: POETRuntime, result: Any) -> dict[str, Any]:
    found = runtime.find_execution(execution_id_of(result))  # type: ignore[arg-type]
    assert found is not None
    return found[1].inputs


def test_the_same_value_from_two_calls_routes_each_feedback_to_its_own_call(
    runtime: POETRuntime,
) -> None:
    @runtime.poet()
    def label(n: int) -> str:
        return "big" if n > 10 else "small"  # the same str object every time

    @runtime.poet()
    def tens(n: int) -> int:
        return n // 10  # small ints: CPython hands out one object per value

    @runtime.poet()
    def pair(n: int) -> tuple:
        return (1, 2)  # one constant tuple

    for fn in (label, tens, pair):
        assert _uses_warm_path(fn)
        fn(0)  # the first call publishes; the rest are warm
        first, second, third = fn(11), fn(12), fn(13)
        assert first == second == third
        assert type(first) is type(second) and first is not second
        runtime.feedback(second, {"correct": True})
        assert _inputs_of(runtime, second) == {"n": 12}
        assert _inputs_of(runtime, first) == {"n": 11}  # older, given after a newer one
        assert _inputs_of(runtime, third) == {"n": 13}
        runtime.feedback(second, {"correct": False})  # twice: still its own call
        assert _inputs_of(runtime, second) == {"n": 12}


def test_bool_and_none_results_route_to_the_newest_call_that_returned_them(
    runtime: POETRuntime,
) -> None:
    @runtime.poet()
    def positive(n: int) -> bool:
        return n > 0

    @runtime.poet()
    def nothing(n: int) -> None:
        return None

    positive(0)
    assert positive(5) is True and positive(-5) is False and positive(7) is True
    assert _inputs_of(runtime, True) == {"n": 7}
    assert _inputs_of(runtime, False) == {"n": -5}
    assert nothing(1) is None and nothing(2) is None
    assert _inputs_of(runtime, None) == {"n": 2}


def test_a_result_keeps_its_execution_when_copied_pickled_or_returned_by_another(
    runtime: POETRuntime,
) -> None:
    import copy
    import pickle

    @runtime.poet()
    def name(n: int) -> str:
        return "same"

    @runtime.poet()
    def echo(s: str) -> str:
        return s

    name(0)
    result = name(1)
    for twin in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert twin == "same" and isinstance(twin, str)
        assert execution_id_of(twin) == execution_id_of(result)
    echo("x")
    again = echo(result)  # a carrier passed to another function: that function's result
    assert again == "same"
    assert _inputs_of(runtime, again) == {"s": "same"}
    assert _inputs_of(runtime, result) == {"n": 1}


def test_feedback_on_a_result_older_than_the_kept_calls_says_so(runtime: POETRuntime) -> None:
    from dana_poet.poet.errors import POETFeedbackError

    @runtime.poet()
    def label(n: int) -> str:
        return "small"

    label(0)
    old = label(1)
    for i in range(2 * RECENT):
        label(i)
    with pytest.raises(POETFeedbackError, match="no longer known"):
        runtime.feedback(old, {"correct": True})
    with pytest.raises(POETFeedbackError, match="needs a result returned by a @poet function"):
        runtime.feedback(12345, {"correct": True})


def test_execution_ids_are_text_of_call_order_numbers_across_functions(
    runtime: POETRuntime,
) -> None:
    from dana_poet.poet.store.ids import id_source

    @runtime.poet()
    def a(n: int) -> str:
        return "a"

    @runtime.poet()
    def b(n: int) -> float:
        return 1.5

    a(0), b(0)
    results = [a(1), b(1), a(2), b(2)]
    numbers = [id_source().number_of(execution_id_of(r)) for r in results]  # type: ignore[arg-type]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    assert [id_source().text_of(n) for n in numbers] == [execution_id_of(r) for r in results]
