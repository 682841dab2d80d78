"""building_management: temperatures with units, humidity, occupancy words, actuator limits."""

from __future__ import annotations

import re
from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood, OutputRule, ParamCoercer
from dana_poet.poet.domains._common import FINITE
from dana_poet.poet.enforce import rule_error

OCCUPANCY = {
    "empty": 0,
    "vacant": 0,
    "unoccupied": 0,
    "none": 0,
    "nobody": 0,
    "occupied": 1,
    "present": 1,
    "busy": 1,
    "someone": 1,
    "full": 1,
}


def occupancy(value: Any, annotation: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in OCCUPANCY:
        level = OCCUPANCY[value.strip().lower()]
        return bool(level) if annotation is bool else level
    raise NotUnderstood(value)


def _actuator_limits(value: Any, inputs: dict[str, Any], function: str) -> Any:
    if re.search(
        r"valve|damper|fan|actuator|speed|position|percent|pct|output_level", function, re.I
    ):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return type(value)(min(100, max(0, value)))
    return value


def _heat_and_cool(value: Any, inputs: dict[str, Any], function: str) -> Any:
    data = value.to_dict() if hasattr(value, "to_dict") else value
    if isinstance(data, dict):
        heating = next((v for k, v in data.items() if "heat" in str(k).lower()), None)
        cooling = next((v for k, v in data.items() if "cool" in str(k).lower()), None)
        if heating and cooling:
            raise rule_error(
                function, "no_simultaneous_heat_cool", "heating and cooling are both on", value
            )
    return value


DOMAIN = Domain(
    name="building_management",
    description="HVAC and building sensors",
    coercers=(ParamCoercer("occupancy words", r"occup", occupancy, (int, float, bool)),),
    output_rules=(
        FINITE,
        OutputRule("actuator_range", "actuator outputs are clamped to 0-100", _actuator_limits),
        OutputRule(
            "no_simultaneous_heat_cool", "heating and cooling are never both on", _heat_and_cool
        ),
    ),
    prompt_hints="Temperatures may carry units ('72°F', '21.5 C'); targets are Fahrenheit unless the parameter ends in _c. Actuators take 0-100.",
    temperature_unit="F",
    sample_inputs={"temperature": ["72°F", "21.5 C", 70.0], "humidity": ["45%", 40.0]},
)
