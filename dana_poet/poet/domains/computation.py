"""computation: finite numbers only, probabilities in [0, 1], counts >= 0."""

from __future__ import annotations

import math
from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood, ParamCoercer
from dana_poet.poet.domains._common import FINITE, as_number, unit_interval_for
from dana_poet.poet.perceive import _Fail, parse_number


def finite(value: Any, annotation: Any) -> Any:
    number = as_number(value)
    if not math.isfinite(number):
        raise ValueError("NaN and infinity are not accepted")
    raise NotUnderstood(value)  # finite: let the generic engine finish the job


def probability(value: Any, annotation: Any) -> Any:
    if isinstance(value, str):
        try:
            number = parse_number(value, ratio=True)
        except _Fail:
            raise NotUnderstood(value) from None
    else:
        number = as_number(value)
    if not (0.0 <= number <= 1.0):
        raise ValueError(f"a probability must lie in [0, 1], got {number:g}")
    return number


def count(value: Any, annotation: Any) -> Any:
    number = as_number(value)
    if number < 0 or number != int(number):
        raise ValueError(f"a count must be a whole number >= 0, got {number:g}")
    return int(number)


DOMAIN = Domain(
    name="computation",
    description="numeric computation",
    coercers=(
        ParamCoercer("probability", r"prob|likelihood|^p$", probability, (float,)),
        ParamCoercer("count", r"count|^n$|^num_|_count$|size", count, (int,)),
        ParamCoercer("finite number", r".", finite, (int, float)),
    ),
    output_rules=(FINITE, unit_interval_for(r"prob|likelihood", "probability_range")),
    prompt_hints="Reject NaN/inf; probabilities lie in [0, 1]; counts are whole numbers >= 0.",
    ratio_pattern=r"prob|likelihood|fraction|ratio|rate",
)
