"""POETConfig: every `@poet(...)` argument, validated at definition time."""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dana_poet.poet.errors import POETConfigError


class POETConfigWarning(UserWarning):
    """An argument POET does not use was given; it is kept as metadata."""


_KNOWN_METADATA = frozenset(
    {
        "performance_tracking",
        "enable_monitoring",
        "objectives",
        "learning_algorithm",
        "collect_metrics",
        "profile",
        "interrupts",
        "hipaa_compliance",
    }
)
_WARNED: set[frozenset[str]] = set()


class POETConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    domain: str | None = None
    retries: int = 1
    timeout: float | None = None
    backoff_base: float = 0.01
    backoff_max: float = 1.0
    backoff_multiplier: float = 2.0
    jitter: str = "full"
    circuit_threshold: int = 5
    circuit_cooldown: float = 30.0
    optimize_for: str | None = None
    perceive: dict[str, Any] = {}
    operate: dict[str, Any] = {}
    enforce: dict[str, Any] = {}
    train: dict[str, Any] = {}
    debug: bool = False
    trace_phases: bool = False
    enable_training: bool = False
    extra: dict[str, Any] = {}

    @field_validator("retries", "circuit_threshold")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be 0 or more")
        return v

    @field_validator("timeout", "backoff_base", "backoff_max", "circuit_cooldown", mode="before")
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError("must be a number of seconds")
        if v <= 0:
            raise ValueError("must be more than 0 seconds")
        return float(v)

    @field_validator("backoff_multiplier", mode="before")
    @classmethod
    def _multiplier(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 1:
            raise ValueError("must be a number >= 1")
        return float(v)

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, v: str) -> str:
        if v not in ("full", "none"):
            raise ValueError("must be 'full' or 'none'")
        return v

    @classmethod
    def from_decorator(
        cls, args: tuple[Any, ...], kwargs: dict[str, Any], *, function: str = ""
    ) -> POETConfig:
        where = f"@poet on {function}()" if function else "@poet"
        if len(args) > 1:
            raise POETConfigError(
                f"{where}: takes at most one positional argument (the domain), got {len(args)}",
                function=function,
                value=args,
            )
        values = dict(kwargs)
        if args:
            if "domain" in values:
                raise POETConfigError(f"{where}: domain given twice", function=function)
            values["domain"] = args[0]
        operate = values.get("operate")
        if isinstance(operate, dict):
            for key in ("retries", "timeout"):
                if key in operate and key not in values:
                    values[key] = operate[key]
        fields = set(cls.model_fields) - {"extra"}
        unknown = {k: values.pop(k) for k in list(values) if k not in fields}
        if unknown:
            names = frozenset(unknown)
            if names not in _WARNED:
                _WARNED.add(names)
                warnings.warn(
                    f"{where}: {', '.join(sorted(unknown))} not used by dana-poet; kept as metadata",
                    POETConfigWarning,
                    stacklevel=3,
                )
        try:
            return cls(**values, extra=unknown)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "argument"
            bad = values.get(name)
            expected = _EXPECTED.get(name, "a valid value")
            reason = err["msg"].removeprefix("Value error, ")
            raise POETConfigError(
                f"{where}: {name}={bad!r} is invalid: {reason} (expected {expected})",
                function=function,
                value=bad,
            ) from None

    def cache_key(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_EXPECTED = {
    "domain": "a domain name string such as 'financial_services'",
    "retries": "a whole number >= 0",
    "timeout": "seconds > 0",
    "optimize_for": "an objective name such as 'accuracy'",
    "debug": "true or false",
    "trace_phases": "true or false",
    "enable_training": "true or false",
    "perceive": "a dict",
    "operate": "a dict",
    "enforce": "a dict",
    "train": "a dict",
}
