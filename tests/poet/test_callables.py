"""@poet on methods, classmethods, staticmethods, partials and callable objects."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

import dana_poet
from dana_poet import feedback, poet
from dana_poet.poet.errors import POETInputError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


class Lender:
    """`self` is never perceived: it is passed through as it is, and not recorded as an input."""

    def __init__(self, cutoff: int) -> None:
        self.cutoff = cutoff

    @poet(domain="financial_services")
    def approve(self, credit_score: int, income: float) -> bool:
        return credit_score >= self.cutoff and income > 0

    @poet(domain="financial_services")
    @classmethod
    def default_score(cls, credit_score: int) -> int:
        return credit_score

    @poet(domain="financial_services")
    @staticmethod
    def normalise(credit_score: int) -> int:
        return credit_score

    @staticmethod
    @poet(domain="financial_services")
    def inner_static(credit_score: int) -> int:
        return credit_score

    @poet(retries=1)
    async def fetch(self, n: int) -> int:
        return n + self.cutoff


def _inputs_of(fn: object, result: object) -> dict[str, object]:
    from dana_poet.poet.result import execution_id_of

    record = dana_poet.poet.introspect.record_of(fn)  # type: ignore[attr-defined]
    found = record.runtime.find_execution(execution_id_of(result))
    assert found is not None
    return found[1].inputs


def test_method_self_passes_through_and_arguments_are_perceived() -> None:
    lender = Lender(700)
    result = lender.approve("excellent", "$50K")
    assert result is True
    assert _inputs_of(Lender.approve, result) == {"credit_score": 780, "income": 50000.0}
    assert lender.approve(credit_score="fair", income=1) is False
    with pytest.raises(POETInputError, match=r"approve\(\): parameter 'credit_score'"):
        lender.approve("superb-ish", 1)


def test_identity_includes_the_class() -> None:
    assert Lender.approve.poet.function_id.endswith(":Lender.approve")
    assert Lender.approve.poet.identity.qualname == "Lender.approve"


def test_classmethods_and_staticmethods_in_either_order() -> None:
    assert Lender.default_score("good") == 705
    assert Lender(1).default_score("poor") == 560
    assert Lender.normalise("excellent") == 780
    assert Lender(1).normalise("900") == 850
    assert Lender.inner_static("fair") == 630
    assert Lender.normalise.poet.function_id.endswith(":Lender.normalise")


def test_bare_poet_above_classmethod_and_staticmethod() -> None:
    class Units:
        @poet
        @classmethod
        def metres(cls, feet: float) -> float:
            return feet * 0.3048

        @poet
        @staticmethod
        def double(n: int) -> int:
            return 2 * n

    assert Units.metres("10") == 3.048
    assert Units().double("4") == 8


def test_async_methods() -> None:
    assert asyncio.run(Lender(10).fetch("5")) == 15


def test_functools_partial_keeps_the_remaining_parameters() -> None:
    def assess(cutoff: int, credit_score: int) -> bool:
        return credit_score >= cutoff

    strict = poet(domain="financial_services")(functools.partial(assess, 750))
    assert strict("excellent") is True
    assert strict(credit_score="good") is False
    assert strict.poet.name == "assess"
    assert strict.__name__ == "assess"
    with pytest.raises(POETInputError, match="'credit_score'"):
        strict("nope")


def test_callable_objects() -> None:
    class Threshold:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, value: float, threshold: float = 10.0) -> bool:
            self.calls += 1
            return value > threshold

    obj = Threshold()
    flag = poet(domain="ml_monitoring", optimize_for="accuracy")(obj)
    r = flag("12.5")
    assert r is True and obj.calls == 1
    assert flag.poet.function_id.endswith("Threshold.__call__")
    assert flag.poet.name == "Threshold"
    feedback(r, "false alarm")
    assert flag(12.5) is False, "learned threshold applies to the object's call"


def test_bound_methods_decorated_after_the_fact() -> None:
    lender = Lender.__new__(Lender)
    lender.cutoff = 600

    def check(self: Lender, credit_score: int) -> bool:
        return credit_score >= self.cutoff

    bound = poet(domain="financial_services")(check.__get__(lender))
    assert bound("fair") is True
