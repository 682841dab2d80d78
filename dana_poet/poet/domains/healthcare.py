"""healthcare: vitals with units, blood pressure as '120/80', plausible ranges."""

from __future__ import annotations

import re
from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood, ParamCoercer
from dana_poet.poet.domains._common import FINITE, as_number, in_range

_BP = re.compile(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*(mm\s*hg)?\s*$", re.I)


def heart_rate(value: Any, annotation: Any) -> Any:
    text = value.strip().lower().removesuffix("bpm").strip() if isinstance(value, str) else value
    number = as_number(text)
    return in_range(number, 20, 300, "heart rate")


def blood_pressure(value: Any, annotation: Any) -> Any:
    if isinstance(value, str):
        m = _BP.match(value)
        if m:
            systolic, diastolic = int(m.group(1)), int(m.group(2))
            in_range(systolic, 50, 260, "systolic pressure")
            in_range(diastolic, 30, 160, "diastolic pressure")
            if annotation is dict:
                return {"systolic": systolic, "diastolic": diastolic}
            return (systolic, diastolic) if annotation is tuple else [systolic, diastolic]
    raise NotUnderstood(value)


def systolic_part(value: Any, annotation: Any) -> Any:
    if isinstance(value, str) and _BP.match(value):
        return int(_BP.match(value).group(1))  # type: ignore[union-attr]
    return in_range(as_number(value), 50, 260, "systolic pressure")


def diastolic_part(value: Any, annotation: Any) -> Any:
    if isinstance(value, str) and _BP.match(value):
        return int(_BP.match(value).group(2))  # type: ignore[union-attr]
    return in_range(as_number(value), 30, 160, "diastolic pressure")


def oxygen(value: Any, annotation: Any) -> Any:
    return in_range(as_number(value), 50, 100, "oxygen saturation")


DOMAIN = Domain(
    name="healthcare",
    description="vital signs",
    coercers=(
        ParamCoercer("heart rate", r"heart|pulse|bpm|(^|_)hr($|_)", heart_rate, (int, float)),
        ParamCoercer(
            "blood pressure", r"blood_pressure|(^|_)bp($|_)", blood_pressure, (list, tuple, dict)
        ),
        ParamCoercer("systolic", r"systolic", systolic_part, (int, float)),
        ParamCoercer("diastolic", r"diastolic", diastolic_part, (int, float)),
        ParamCoercer("oxygen saturation", r"spo2|oxygen|o2_sat", oxygen, (int, float)),
    ),
    output_rules=(FINITE,),
    prompt_hints="Vitals arrive with units ('98.6F', '37 C', '72 bpm', '120/80'). Refuse implausible values.",
    temperature_unit="F",
    sample_inputs={"heart_rate": ["72 bpm", 80], "blood_pressure": ["120/80"]},
)
