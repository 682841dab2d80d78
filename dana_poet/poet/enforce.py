"""Enforce: a result is coerced to the return annotation where that is safe, then checked by the domain's rules.

Safe means lossless and unambiguous: `"42"` -> 42 for `-> int`, 3 -> 3.0 for
`-> float`, a number for `-> str`. Anything else (`"many"` for an int) raises
`POETOutputError` naming the function, the rule and the value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dana_poet.poet.domains import Domain
from dana_poet.poet.errors import POETInputError, POETOutputError
from dana_poet.poet.perceive import _type_label, _value_label, coerce_value

EMPTY = inspect.Parameter.empty
_EXACT = (int, float, str, bool, list, dict, tuple, set)


def build_enforcer(
    function: str, return_annotation: Any, domain: Domain | None
) -> Callable[[Any, dict[str, Any]], Any]:
    """Per-function Enforce: (result, inputs) -> result, or POETOutputError."""
    annotation = EMPTY if isinstance(return_annotation, str) else return_annotation
    exact = annotation if annotation in _EXACT else None
    rules = domain.output_rules if domain is not None else ()
    label = _type_label(annotation)

    def coerce_result(result: Any) -> Any:
        if annotation is EMPTY:
            return result
        if exact is not None and type(result) is exact:
            return result
        try:
            return coerce_value(result, annotation, parameter="return", function=function)
        except POETInputError as exc:
            at = f" at {exc.parameter}" if exc.parameter != "return" else ""
            raise POETOutputError(
                f"{function}(): result {_value_label(result)} is not a valid {label}{at} "
                f"(rule: return type {label})",
                function=function,
                value=result,
                rule=f"return type {label}",
            ) from None

    if not rules:
        if annotation is EMPTY:
            return lambda result, inputs: result
        return lambda result, inputs: coerce_result(result)

    def enforce(result: Any, inputs: dict[str, Any]) -> Any:
        value = coerce_result(result)
        for rule in rules:
            value = rule.check(value, inputs, function)
        return value

    return enforce


def rule_error(function: str, rule: str, message: str, value: Any) -> POETOutputError:
    """A domain rule's failure, worded the same way everywhere."""
    return POETOutputError(
        f"{function}(): {message}; got {_value_label(value)} (rule: {rule})",
        function=function,
        value=value,
        rule=rule,
    )
