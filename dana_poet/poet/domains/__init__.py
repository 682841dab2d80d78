"""Domains as data: parameter coercers, output rules and prompt hints, one module per domain.

A domain is looked up by name (case-insensitive; `-` and spaces read as `_`).
Users can register their own with `register_domain(Domain(...))`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class NotUnderstood(ValueError):
    """A coercer does not recognise the value; the next coercer (or the generic engine) gets a go."""


@dataclass(frozen=True)
class ParamCoercer:
    """Coerces values of parameters whose name matches `pattern` (a regex, searched case-insensitively)."""

    name: str
    pattern: str
    coerce: Callable[[Any, Any], Any]  # (value, annotation) -> value, or raise NotUnderstood
    targets: tuple[type, ...] = (int, float)

    def matches(self, parameter: str, target: Any) -> bool:
        return re.search(self.pattern, parameter, re.I) is not None and (
            not self.targets or target in self.targets
        )


@dataclass(frozen=True)
class OutputRule:
    name: str
    description: str
    check: Callable[
        [Any, dict[str, Any], str], Any
    ]  # (value, inputs, function) -> value or raise POETOutputError


@dataclass(frozen=True)
class Domain:
    name: str
    description: str = ""
    coercers: tuple[ParamCoercer, ...] = ()
    output_rules: tuple[OutputRule, ...] = ()
    prompt_hints: str = ""
    ratio_pattern: str | None = None  # parameters whose "6%" means 0.06
    temperature_unit: str = "F"  # target unit for temperatures with a unit
    sample_inputs: dict[str, list[Any]] = field(default_factory=dict)

    def coercers_for(self, parameter: str, target: Any) -> list[ParamCoercer]:
        key = (parameter, target)
        cache = _MATCH_CACHE.setdefault(id(self), {})
        found = cache.get(key)
        if found is None:
            found = cache[key] = [c for c in self.coercers if c.matches(parameter, target)]
        return found

    def is_ratio(self, parameter: str) -> bool:
        if not self.ratio_pattern:
            return False
        return re.search(self.ratio_pattern, parameter, re.I) is not None


_REGISTRY: dict[str, Domain] = {}
_MATCH_CACHE: dict[int, dict[tuple[str, Any], list[ParamCoercer]]] = {}
_BUILTIN = (
    "financial_services",
    "building_management",
    "healthcare",
    "ml_monitoring",
    "llm_optimization",
    "computation",
)
_WARNED: set[tuple[str, str]] = set()


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def register_domain(domain: Domain) -> Domain:
    _REGISTRY[_normalise(domain.name)] = domain
    return domain


def known_domains() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


GENERIC = Domain("generic", "no domain-specific knowledge")


def get_domain(name: str | None, *, function: str | None = None) -> Domain | None:
    """The domain called `name`, or GENERIC for a name no domain has. Given the `function`
    that asked for it, an unknown name is warned about once per function and name, at the
    user's line that decorated it."""
    if not name:
        return None
    key = _normalise(name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    if key in _BUILTIN:
        module = importlib.import_module(f"dana_poet.poet.domains.{key}")
        return register_domain(module.DOMAIN)
    if function is not None and (function, key) not in _WARNED:
        from dana_poet.poet.warn import warn

        _WARNED.add((function, key))
        warn(
            f"{function}(): unknown POET domain '{name}': using generic coercion "
            f"(known: {', '.join(known_domains())})"
        )
    return GENERIC
