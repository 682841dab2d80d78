"""POETConfig: every `@poet(...)` argument, validated at definition time."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import threading
import warnings
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from dana_poet.poet.errors import POETConfigError


class POETConfigWarning(UserWarning):
    """An argument POET does not use was given; it is kept in `extra` as metadata."""


# Names real Dana programs pass that POET records but does not act on.
METADATA_NAMES = frozenset(
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

# Keys of the `operate={...}` dict that may stand in for the top-level arguments.
OPERATE_KEYS = (
    "retries",
    "timeout",
    "backoff_base",
    "backoff_max",
    "backoff_multiplier",
    "jitter",
    "circuit_threshold",
    "circuit_cooldown",
    "retry_on",
    "no_retry_on",
)

_MAX_TIMEOUT = threading.TIMEOUT_MAX

_EXPECTED = {
    "domain": "a domain name string such as 'financial_services', or none",
    "retries": "a whole number >= 0 (how many more attempts after the first)",
    "timeout": "a number of seconds > 0, or none",
    "backoff_base": "a number of seconds >= 0",
    "backoff_max": "a number of seconds >= 0",
    "backoff_multiplier": "a number >= 1",
    "jitter": "'full' or 'none'",
    "circuit_threshold": "a whole number >= 0 (0 turns the circuit breaker off)",
    "circuit_cooldown": "a number of seconds >= 0",
    "retry_on": "an exception class, a tuple of exception classes, or a function "
    "(exception) -> bool",
    "no_retry_on": "an exception class, a tuple of exception classes, or a function "
    "(exception) -> bool",
    "optimize_for": "an objective name string such as 'accuracy', or none",
    "perceive": "a dict",
    "operate": "a dict",
    "enforce": "a dict",
    "train": "a dict of train settings (params, bounds, policy, window, rollback_window, ab_share)",
    "debug": "true or false",
    "trace_phases": "true or false",
    "enable_training": "true or false",
    "extra": "a dict",
}


def _seconds(value: Any, *, low_inclusive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not low_inclusive):
        raise ValueError("out of range")
    if seconds > _MAX_TIMEOUT:
        raise ValueError("too large")
    return seconds


ExceptionMatcher = tuple[type[Exception], ...] | Callable[[Exception], bool]


def _exception_matcher(value: Any) -> ExceptionMatcher | None:
    """`retry_on=` / `no_retry_on=`: None, an exception class, a tuple or list of them, or a predicate."""
    if value is None:
        return None
    if isinstance(value, type):
        value = (value,)
    if isinstance(value, tuple | list):
        if not value:
            raise ValueError("empty")
        for item in value:
            if not (isinstance(item, type) and issubclass(item, Exception)):
                raise ValueError("not an exception class")
        return tuple(value)
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise ValueError("not an exception class or predicate")


_TRAIN_EXPECTED = {
    "params": "a list of parameter names",
    "bounds": "a dict of parameter name -> [low, high] with finite numbers, low < high",
    "policy": "'on_feedback' or 'manual'",
    "window": "a whole number of labelled executions between 1 and 1000000",
    "rollback_window": "a whole number of feedback items >= 1",
    "ab_share": "a share of calls between 0 and 1",
}


class TrainConfig(BaseModel):
    """`train={...}`: what Train learns and how (docs/feedback.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    params: tuple[str, ...] | None = None
    bounds: dict[str, tuple[float, float]] = {}
    policy: Literal["on_feedback", "manual"] = "on_feedback"
    window: int = 1000
    rollback_window: int = 5
    ab_share: float = 0.0

    @field_validator("params", mode="before")
    @classmethod
    def _names(cls, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("not a list of names")
        return tuple(value)

    @field_validator("bounds", mode="before")
    @classmethod
    def _bounds(cls, value: Any) -> dict[str, tuple[float, float]]:
        if not isinstance(value, dict):
            raise ValueError("not a dict")
        out: dict[str, tuple[float, float]] = {}
        for name, pair in value.items():
            if not isinstance(name, str):
                raise ValueError(f"the key {name!r} is not a parameter name")
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError(f"{name!r}: {pair!r} is not [low, high]")
            low, high = pair
            if not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in (low, high)
            ):
                raise ValueError(f"{name!r}: {pair!r} is not two finite numbers")
            if not low < high:
                raise ValueError(f"{name!r}: low {low!r} is not below high {high!r}")
            out[name] = (float(low), float(high))
        return out

    @field_validator("window", "rollback_window", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
            raise ValueError("not a whole number in range")
        return value

    @field_validator("ab_share", mode="before")
    @classmethod
    def _share(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError("not a share between 0 and 1")
        return float(value)


class POETConfig(BaseModel):
    """The validated `@poet(...)` arguments of one function (immutable)."""

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
    retry_on: Any = None
    no_retry_on: Any = None
    optimize_for: str | None = None
    perceive: dict[str, Any] = {}
    operate: dict[str, Any] = {}
    enforce: dict[str, Any] = {}
    train: TrainConfig = TrainConfig()
    debug: bool = False
    trace_phases: bool = False
    enable_training: bool = False
    extra: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _lift_operate_keys(cls, data: Any) -> Any:
        """`operate={"retries": 3}` means `retries=3`; a conflicting pair is an error."""
        if not isinstance(data, dict) or not isinstance(data.get("operate"), dict):
            return data
        operate = data["operate"]
        lifted = dict(data)
        for key in OPERATE_KEYS:
            if key not in operate:
                continue
            if key in data and data[key] != operate[key]:
                raise ValueError(f"conflict:{key}")
            lifted[key] = operate[key]
        return lifted

    @field_validator("retries", "circuit_threshold", mode="before")
    @classmethod
    def _whole_non_negative(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("not a whole number >= 0")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float | None:
        return None if value is None else _seconds(value, low_inclusive=False)

    @field_validator("backoff_base", "backoff_max", "circuit_cooldown", mode="before")
    @classmethod
    def _non_negative_seconds(cls, value: Any) -> float:
        return _seconds(value, low_inclusive=True)

    @field_validator("backoff_multiplier", mode="before")
    @classmethod
    def _multiplier(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
            raise ValueError("not a number >= 1")
        if math.isinf(value):
            raise ValueError("infinite")
        return float(value)

    @field_validator("retry_on", "no_retry_on", mode="before")
    @classmethod
    def _matcher(cls, value: Any) -> ExceptionMatcher | None:
        return _exception_matcher(value)

    @field_validator("jitter", mode="before")
    @classmethod
    def _jitter(cls, value: Any) -> str:
        if value not in ("full", "none"):
            raise ValueError("unknown jitter")
        return value

    @classmethod
    def from_decorator(
        cls, args: tuple[Any, ...], kwargs: dict[str, Any], *, function: str = ""
    ) -> POETConfig:
        """Build the config from `@poet(*args, **kwargs)`; raise POETConfigError on bad input.

        Unknown names go to `extra` and are warned about once per set of names.
        """
        where = f"@poet on {function}()" if function else "@poet(...)"
        if len(args) > 1:
            raise POETConfigError(
                f"{where}: takes at most one positional argument (the domain), got {len(args)}: "
                f"{', '.join(repr(a) for a in args)}",
                function=function,
                value=args,
            )
        values = dict(kwargs)
        if args:
            if "domain" in values:
                raise POETConfigError(
                    f"{where}: domain given twice ({args[0]!r} and domain={values['domain']!r})",
                    function=function,
                    value=args[0],
                )
            values["domain"] = args[0]
        unknown = {name: values.pop(name) for name in list(values) if name not in _FIELDS}
        if unknown:
            _warn_unknown(where, unknown)
        try:
            return cls(**values, extra=unknown)
        except ValidationError as exc:
            raise _config_error(exc, values, where, function) from None

    def cache_key(self) -> str:
        """A stable hash of every setting, for content-addressed caches."""
        dumped = self.model_dump()
        try:
            blob = json.dumps(dumped, sort_keys=True, default=_canonical)
        except TypeError:  # keys json cannot sort or encode (tuples, mixed types)
            blob = repr(dumped)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


_FIELDS = frozenset(POETConfig.model_fields) - {"extra"}
_WARNED: set[frozenset[str]] = set()
_WARNED_LOCK = threading.Lock()


def _warn_unknown(where: str, unknown: dict[str, Any]) -> None:
    names = frozenset(unknown)
    with _WARNED_LOCK:
        if names in _WARNED:
            return
        _WARNED.add(names)
    described = []
    for name in sorted(names):
        close = difflib.get_close_matches(name, _FIELDS, n=1, cutoff=0.8)
        if name not in METADATA_NAMES and close:
            described.append(f"{name} (did you mean {close[0]}?)")
        else:
            described.append(name)
    warnings.warn(
        f"{where}: {', '.join(described)} not used by dana-poet; kept as metadata in config.extra",
        POETConfigWarning,
        stacklevel=4,
    )


def _config_error(
    exc: ValidationError, values: dict[str, Any], where: str, function: str
) -> POETConfigError:
    error = exc.errors()[0]
    message = str(error.get("msg", ""))
    if "conflict:" in message:
        name = message.split("conflict:", 1)[1].strip()
        return POETConfigError(
            f"{where}: {name} given twice with different values: {name}={values.get(name)!r} "
            f"and operate[{name!r}]={values['operate'][name]!r}",
            function=function,
            value=values.get(name),
        )
    name = str(error["loc"][0]) if error.get("loc") else "argument"
    if name == "train" and len(error["loc"]) > 1 and isinstance(values.get("train"), dict):
        return _train_error(error, values["train"], where, function, len(exc.errors()) - 1)
    operate = values.get("operate")
    if name not in values and isinstance(operate, dict) and name in operate:
        shown, bad = f"operate[{name!r}]", operate[name]
    else:
        shown, bad = name, values.get(name, error.get("input"))
    expected = _EXPECTED.get(name, "a valid value")
    more = len(exc.errors()) - 1
    tail = f" ({more} more invalid argument{'s' if more > 1 else ''})" if more else ""
    return POETConfigError(
        f"{where}: {shown}={bad!r} is not valid; expected {expected}{tail}",
        function=function,
        value=bad,
    )


def _train_error(
    error: Any, train: dict[str, Any], where: str, function: str, more: int
) -> POETConfigError:
    key = str(error["loc"][1])
    bad = train.get(key, error.get("input"))
    tail = f" ({more} more invalid argument{'s' if more > 1 else ''})" if more else ""
    if error.get("type") == "extra_forbidden":
        close = difflib.get_close_matches(key, list(_TRAIN_EXPECTED), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return POETConfigError(
            f"{where}: train[{key!r}]={bad!r} is not a train setting{hint}; "
            f"known: {', '.join(sorted(_TRAIN_EXPECTED))}{tail}",
            function=function,
            value=bad,
        )
    detail = str(error.get("msg", "")).removeprefix("Value error, ")
    why = f" ({detail})" if key == "bounds" and detail else ""
    return POETConfigError(
        f"{where}: train[{key!r}]={bad!r} is not valid{why}; "
        f"expected {_TRAIN_EXPECTED.get(key, 'a valid value')}{tail}",
        function=function,
        value=bad,
    )


def _canonical(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(repr(item) for item in value)
    if isinstance(value, type) or callable(value):  # reprs of functions hold addresses
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    return f"{type(value).__qualname__}:{value!r}"
