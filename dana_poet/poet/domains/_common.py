"""Pieces several domains share: number reading, range checks, finite-number rule."""

from __future__ import annotations

import math
import re
from typing import Any

from dana_poet.poet.domains import NotUnderstood, OutputRule
from dana_poet.poet.enforce import rule_error
from dana_poet.poet.perceive import _Fail, parse_number


def as_number(value: Any) -> float:
    if isinstance(value, bool):
        raise NotUnderstood("bool")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_number(value)
        except _Fail:
            raise NotUnderstood(value) from None
    raise NotUnderstood(type(value).__name__)


def in_range(value: float, low: float, high: float, what: str) -> float:
    if not (low <= value <= high):
        raise ValueError(f"{what} {value:g} is outside the plausible range {low:g}-{high:g}")
    return value


def _finite(value: Any, inputs: dict[str, Any], function: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise rule_error(function, "finite_number", "the result must be a finite number", value)
    return value


FINITE = OutputRule("finite_number", "numeric results must be finite (no NaN or infinity)", _finite)


def unit_interval_for(pattern: str, rule_name: str) -> OutputRule:
    """Results of functions whose name matches `pattern` must lie in [0, 1]."""

    def check(value: Any, inputs: dict[str, Any], function: str) -> Any:
        if (
            re.search(pattern, function, re.I)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            if not (0.0 <= float(value) <= 1.0):
                raise rule_error(function, rule_name, "the result must lie between 0 and 1", value)
        return value

    return OutputRule(
        rule_name, f"results of functions named like /{pattern}/ lie in [0, 1]", check
    )
