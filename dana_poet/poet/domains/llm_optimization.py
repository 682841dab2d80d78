"""llm_optimization: prompt clean-up and length limits; outputs must not be empty."""

from __future__ import annotations

import re
from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood, OutputRule, ParamCoercer
from dana_poet.poet.enforce import rule_error

MAX_PROMPT_CHARS = 8000


def clean_prompt(value: Any, annotation: Any) -> Any:
    if not isinstance(value, str):
        raise NotUnderstood(value)
    text = re.sub(r"[ \t]+", " ", value.strip())
    text = re.sub(r"\n{3,}", "\n\n", text)
    if not text:
        raise ValueError("the prompt is empty")
    return text[:MAX_PROMPT_CHARS]


def _non_empty(value: Any, inputs: dict[str, Any], function: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise rule_error(function, "non_empty_output", "the output must not be empty", value)
    return value


DOMAIN = Domain(
    name="llm_optimization",
    description="prompts and LLM outputs",
    coercers=(
        ParamCoercer(
            "prompt clean-up", r"prompt|query|question|instruction|text", clean_prompt, (str,)
        ),
    ),
    output_rules=(OutputRule("non_empty_output", "outputs are non-empty", _non_empty),),
    prompt_hints=f"Prompts are stripped, whitespace collapsed, cut at {MAX_PROMPT_CHARS} characters.",
)
