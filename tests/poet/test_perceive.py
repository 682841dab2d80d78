"""Perceive: table-driven acceptances and rejections."""

from __future__ import annotations

import datetime as dt
import inspect
import typing

import pytest

from dana_poet.poet.domains import get_domain
from dana_poet.poet.errors import POETInputError
from dana_poet.poet.perceive import build_perceiver, coerce_value

FIN = get_domain("financial_services")
BLD = get_domain("building_management")
HC = get_domain("healthcare")
ML = get_domain("ml_monitoring")
CMP = get_domain("computation")
LLM = get_domain("llm_optimization")

ACCEPT = [
    ("42", int, None, "n", 42),
    (" 42 ", int, None, "n", 42),
    (3.0, int, None, "n", 3),
    ("3.0", int, None, "n", 3),
    ("$1,234.50", float, None, "amount", 1234.5),
    ("€50", float, None, "amount", 50.0),
    ("USD 10", float, None, "amount", 10.0),
    ("50K", float, None, "amount", 50000.0),
    ("2.5M", float, None, "amount", 2_500_000.0),
    ("1B", float, None, "amount", 1e9),
    ("$50K", float, None, "income", 50000.0),
    ("65,000", float, None, "income", 65000.0),
    ("(1,200)", float, None, "amount", -1200.0),
    ("6%", float, None, "growth", 6.0),
    ("6%", float, FIN, "interest_rate", 0.06),
    ("35%", float, FIN, "debt_to_income", 0.35),
    ("excellent", int, FIN, "credit_score", 780),
    ("Very Good", int, FIN, "score", 740),
    ("good", int, FIN, "score", 705),
    ("fair", int, FIN, "score", 630),
    (900, int, FIN, "score", 850),
    ("720", int, FIN, "score", 720),
    ("yes", bool, None, "flag", True),
    ("OFF", bool, None, "flag", False),
    ("1", bool, None, "flag", True),
    (0, bool, None, "flag", False),
    ("72°F", float, BLD, "temperature", 72.0),
    ("21.5 C", float, BLD, "temperature", pytest.approx(70.7)),
    ("21.5 C", float, BLD, "temperature_c", 21.5),
    ("72 F", float, None, "temp", 72.0),
    ("30s", float, None, "delay", 30.0),
    ("5 min", float, None, "delay", 300.0),
    ("2h", float, None, "delay", 7200.0),
    ("vacant", int, BLD, "occupancy", 0),
    ("occupied", bool, BLD, "occupancy", True),
    ("72 bpm", int, HC, "heart_rate", 72),
    ("120/80", tuple, HC, "blood_pressure", (120, 80)),
    ("120/80", dict, HC, "bp", {"systolic": 120, "diastolic": 80}),
    ("120/80", int, HC, "systolic", 120),
    ("98%", float, HC, "spo2", 98.0),
    ("[1, 2, 3]", list[float], ML, "values", [1.0, 2.0, 3.0]),
    ("1, 2, 3", list[int], None, "values", [1, 2, 3]),
    ([1.0, float("nan"), 2.0], list[float], ML, "values", [1.0, 2.0]),
    ('{"a": "1"}', dict[str, int], None, "m", {"a": 1}),
    ("30%", float, CMP, "probability", 0.3),
    ("12", int, CMP, "count", 12),
    ("  hello   world  ", str, LLM, "prompt", "hello world"),
    (5, str, None, "label", "5"),
    ("2026-01-02", dt.date, None, "day", dt.date(2026, 1, 2)),
    ("2026-01-02T03:04:05", dt.datetime, None, "at", dt.datetime(2026, 1, 2, 3, 4, 5)),
    (None, int | None, None, "n", None),
    ("7", typing.Optional[int], None, "n", 7),  # noqa: UP045 - checking the typing spelling too
    ("7", int | str, None, "n", "7"),  # an exact type match wins
    ("7", int | float, None, "n", 7),
    ("seven", int | str, None, "n", "seven"),
]


@pytest.mark.parametrize(("value", "annotation", "domain", "param", "expected"), ACCEPT)
def test_accepts(value, annotation, domain, param, expected):
    assert coerce_value(value, annotation, domain=domain, parameter=param, function="f") == expected


REJECT = [
    ("abc", int, None, "n", "abc"),
    ("3.7", int, None, "n", "3.7"),
    (3.7, int, None, "n", "3.7"),
    (True, int, None, "n", "True"),
    ("wide", float, None, "width", "wide"),
    ("maybe", bool, None, "flag", "maybe"),
    (None, int, None, "n", "None"),
    ("superb-ish", int, FIN, "score", "superb-ish"),
    ("900 bpm", int, HC, "heart_rate", "outside the plausible range"),
    ("1.5", float, CMP, "probability", "probability"),
    ("-2", int, CMP, "count", "count"),
    ([1.0], list[float], ML, "values", "at least 2"),
    ("not json", dict, None, "m", "not json"),
    ("2026-13-45", dt.date, None, "day", "2026-13-45"),
    ("", float, None, "x", "x"),
]


@pytest.mark.parametrize(("value", "annotation", "domain", "param", "fragment"), REJECT)
def test_rejects_with_a_clear_message(value, annotation, domain, param, fragment):
    with pytest.raises(POETInputError) as info:
        coerce_value(value, annotation, domain=domain, parameter=param, function="calc")
    message = str(info.value)
    assert "calc()" in message
    assert f"'{param}'" in message
    assert fragment in message
    assert info.value.parameter == param
    assert info.value.function == "calc"


def _sig(fn):
    return inspect.signature(fn), typing.get_type_hints(fn)


def test_perceiver_keeps_argument_order_and_shape():
    def f(a: int, b: float, c: str, d: int = 0) -> str:
        return ""

    sig, hints = _sig(f)
    perceive = build_perceiver("f", sig, hints, None)
    args, kwargs = perceive(("1", "2.5", 3), {"d": "4"})
    assert args == (1, 2.5, "3")
    assert kwargs == {"d": 4}


def test_perceiver_fast_path_returns_the_same_objects():
    def f(a: int, b: float) -> int:
        return 0

    sig, hints = _sig(f)
    perceive = build_perceiver("f", sig, hints, None)
    args, kwargs = (1, 2.0), {}
    out_args, out_kwargs = perceive(args, kwargs)
    assert out_args is args and out_kwargs is kwargs


def test_null_takes_the_parameter_default():
    def f(a: int, b: int = 5) -> int:
        return 0

    sig, hints = _sig(f)
    perceive = build_perceiver("f", sig, hints, None)
    assert perceive((1, None), {}) == ((1, 5), {})
    with pytest.raises(POETInputError, match="'a'"):
        perceive((None,), {})


def test_struct_instances_pass_through_as_the_same_object():
    from dana_poet.lang.structs import make_struct

    point = make_struct("struct", "Point", [("x", int, 0), ("y", int, 0)], None, None, None)
    p = point(x=1, y=2)
    assert coerce_value(p, point, parameter="p", function="f") is p
    built = coerce_value({"x": "3", "y": 4}, point, parameter="p", function="f")
    assert built == point(x=3, y=4)
    assert coerce_value('{"x": 1}', point, parameter="p", function="f") == point(x=1, y=0)
