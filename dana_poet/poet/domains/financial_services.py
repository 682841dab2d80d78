"""financial_services: credit words, money as people write it, rates as ratios."""

from __future__ import annotations

from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood, ParamCoercer
from dana_poet.poet.domains._common import FINITE, as_number, unit_interval_for

CREDIT_WORDS = {
    "exceptional": 820,
    "excellent": 780,
    "very good": 740,
    "good": 705,
    "fair": 630,
    "poor": 560,
    "bad": 520,
    "very poor": 500,
}


def credit_score(value: Any, annotation: Any) -> Any:
    """Credit words -> FICO-style scores; numbers clamped to 300-850."""
    if isinstance(value, str):
        word = value.strip().lower().removesuffix(" credit").strip()
        if word in CREDIT_WORDS:
            return CREDIT_WORDS[word]
    number = as_number(value)
    if number != int(number):
        raise NotUnderstood(value)
    return int(min(850, max(300, number)))


DOMAIN = Domain(
    name="financial_services",
    description="credit, lending and money amounts",
    coercers=(
        ParamCoercer("credit score words", r"score|credit|fico", credit_score, (int, float)),
    ),
    output_rules=(FINITE, unit_interval_for(r"probabilit|default_risk|pd$", "probability_range")),
    prompt_hints=(
        "Credit scores are 300-850 (excellent ~780, good ~705, fair ~630, poor ~560). "
        "Money may arrive as '$50K', '65,000', '€1.2M'. Rates and ratios given as '6%' mean 0.06."
    ),
    ratio_pattern=r"rate|ratio|dti|apr|apy|interest|debt_to_income|utili[sz]ation|ltv",
    sample_inputs={"score": ["excellent", "720", 650], "income": ["$50K", "65,000", 80000.0]},
)
