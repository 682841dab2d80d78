"""ml_monitoring: numeric sequences (JSON or CSV text), NaN/inf dropped, minimum length, statistics."""

from __future__ import annotations

import math
import statistics
from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood, ParamCoercer
from dana_poet.poet.domains._common import FINITE

MIN_LENGTH = 2


def numeric_sequence(value: Any, annotation: Any) -> Any:
    """Lists of numbers: non-finite values are dropped (documented); fewer than 2 left is an error."""
    if not isinstance(value, list | tuple):
        raise NotUnderstood(value)
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise NotUnderstood(value)
        if math.isfinite(item):
            numbers.append(item)
    if len(numbers) < MIN_LENGTH:
        raise ValueError(f"needs at least {MIN_LENGTH} finite numbers, got {len(numbers)}")
    return numbers if len(numbers) != len(value) else value


def summary_statistics(values: list[float]) -> dict[str, float]:
    clean = [float(v) for v in values if math.isfinite(v)]
    if not clean:
        return {"count": 0}
    return {
        "count": len(clean),
        "mean": statistics.fmean(clean),
        "stdev": statistics.pstdev(clean),
        "min": min(clean),
        "max": max(clean),
        "median": statistics.median(clean),
    }


DOMAIN = Domain(
    name="ml_monitoring",
    description="model and data monitoring",
    coercers=(ParamCoercer("numeric sequence", r".", numeric_sequence, (list, tuple)),),
    output_rules=(FINITE,),
    prompt_hints="Inputs are numeric windows; NaN/inf are dropped; at least 2 values are needed.",
    sample_inputs={"values": [[1.0, 2.0, 3.0], "[1, 2, 3]"]},
)
