"""Perceive: turn what a caller passed into what the signature asks for, or say exactly why not.

The generic engine understands numbers written the way people write them
(`"$1,234.50"`, `"€50"`, `"50K"`, `"2.5M"`, `"6%"`, `"72°F"`, `"5 min"`),
bool words, ISO dates, JSON and comma-separated lists, dicts and structs.
A domain adds coercers for parameters by name (`"excellent"` -> 780 for a
credit score). What cannot be understood raises `POETInputError`; nothing is
ever guessed (`"abc"` for an int is an error, not 0).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from dana_poet.poet.domains import Domain, NotUnderstood
from dana_poet.poet.errors import POETInputError

EMPTY = inspect.Parameter.empty

# Two anchored patterns, not one `\s*...$` alternation: that one backtracks over every run of
# spaces (quadratic: "1" + 20,000 spaces + "usdx" took minutes).
_CURRENCY_PREFIX = re.compile(r"^(?:[$€£¥₹]|usd|eur|gbp|jpy|inr|cad|aud)\s*", re.I)
_CURRENCY_SUFFIX = re.compile(r"(?:[$€£¥₹]|usd|eur|gbp|jpy|inr|cad|aud|dollars?|euros?)$", re.I)
_SUFFIX = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "trillion": 1e12,
}
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_SUFFIXED = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-z]+)$", re.I)
_TEMPERATURE = re.compile(
    r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:°\s*|deg(?:rees?)?\s*)?(f|c|k|fahrenheit|celsius|kelvin)$",
    re.I,
)
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_DURATION = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-z]+)$", re.I)
_TRUE = frozenset({"true", "yes", "y", "on", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "off", "0", "f"})


class _Fail(ValueError):
    """Internal: this coercion path did not work; `tried` says what was attempted."""


class _FieldFail(_Fail):
    """Internal: a field inside a nested struct failed; `path` leads to it from the parameter."""

    def __init__(
        self, path: list[str | int], annotation: Any, value: Any, tried: list[str], detail: str
    ) -> None:
        super().__init__(detail)
        self.path = path
        self.annotation = annotation
        self.value = value
        self.tried = tried
        self.detail = detail

    def where(self, parameter: str) -> str:
        return parameter + "".join(
            f".{step}" if isinstance(step, str) else f"[{step}]" for step in self.path
        )


def _convert_temperature(value: float, unit: str, target: str) -> float:
    unit = unit[0].upper()
    target = target[0].upper()
    if unit == target:
        return value
    celsius = value if unit == "C" else (value - 32) * 5 / 9 if unit == "F" else value - 273.15
    if target == "C":
        return celsius
    if target == "F":
        return celsius * 9 / 5 + 32
    return celsius + 273.15


def parse_number(
    text: str,
    *,
    ratio: bool = False,
    temperature_unit: str | None = None,
    tried: list[str] | None = None,
) -> float:
    """A number as people write it. Raises _Fail when the text is not one."""
    tried = tried if tried is not None else []
    s = text.strip().replace("\u2212", "-")
    if not s:
        raise _Fail("empty text")
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1].strip()
    tried.append("number")
    if _NUMBER.match(s):
        return -float(s) if negative else float(s)
    stripped = _CURRENCY_SUFFIX.sub("", _CURRENCY_PREFIX.sub("", s, count=1), count=1).strip()
    if stripped != s:
        tried.append("currency")
    s = stripped.replace(" ", "") if re.match(r"^[-+]?\d", stripped) else stripped
    if _THOUSANDS.match(s):
        tried.append("thousands separators")
        s = s.replace(",", "")
    if _NUMBER.match(s):
        value = float(s)
        return -value if negative else value
    if s.endswith("%"):
        tried.append("percentage")
        inner = s[:-1].strip().replace(",", "")
        if _NUMBER.match(inner):
            value = float(inner) / 100 if ratio else float(inner)
            return -value if negative else value
    tried.append("suffix (K/M/B)")
    m = _SUFFIXED.match(s.replace(",", ""))
    if m and m.group(2).lower() in _SUFFIX:
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
        return -value if negative else value
    tried.append("temperature")
    m = _TEMPERATURE.match(text.strip())
    if m:
        value = float(m.group(1))
        unit = m.group(2)
        return _convert_temperature(value, unit, temperature_unit) if temperature_unit else value
    tried.append("duration")
    m = _DURATION.match(text.strip())
    if m and m.group(2).lower() in _DURATION_UNITS:
        return float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]
    raise _Fail(f"not a number: {text!r}")


def _type_label(annotation: Any) -> str:
    if annotation is EMPTY or annotation is typing.Any:
        return "any"
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_label(a) for a in typing.get_args(annotation))
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_label(a) for a in typing.get_args(annotation))}]"
    return getattr(annotation, "__name__", str(annotation))


def _value_label(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _allows_none(annotation: Any) -> bool:
    if annotation in (EMPTY, typing.Any, type(None), None):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_allows_none(a) for a in typing.get_args(annotation))
    return False


def null_means_default(annotation: Any, default: Any) -> bool:
    """Whether a `null` argument stands for the parameter's default: there is a default
    other than `None` and the type does not allow `None` itself."""
    return default is not EMPTY and default is not None and not _allows_none(annotation)


def _is_struct(annotation: Any) -> bool:
    return isinstance(annotation, type) and (
        hasattr(annotation, "__dana_fields__")
        or dataclasses.is_dataclass(annotation)
        or hasattr(annotation, "model_fields")
    )


def _struct_fields(annotation: Any) -> dict[str, Any]:
    if hasattr(annotation, "__dana_fields__"):
        return dict(annotation.__dana_fields__)
    if dataclasses.is_dataclass(annotation):
        try:
            hints = typing.get_type_hints(annotation)
        except Exception:  # noqa: BLE001 - unresolvable forward references: fields stay as given
            hints = {}
        return {f.name: hints.get(f.name, EMPTY) for f in dataclasses.fields(annotation) if f.init}
    out: dict[str, Any] = {}
    for name, info in annotation.model_fields.items():
        out[name] = info.annotation
        if info.alias and info.alias != name:
            out[info.alias] = info.annotation
    return out


def _required_fields(annotation: Any) -> list[str]:
    if hasattr(annotation, "__dana_fields__"):
        defaults = annotation.__dana_defaults__
        return [n for n in annotation.__dana_fields__ if n not in defaults]
    if dataclasses.is_dataclass(annotation):
        missing = dataclasses.MISSING
        return [
            f.name
            for f in dataclasses.fields(annotation)
            if f.init and f.default is missing and f.default_factory is missing
        ]
    return [
        name
        for name, info in annotation.model_fields.items()
        if info.is_required() and not (info.alias and info.alias != name)
    ]


def _is_pydantic(annotation: Any) -> bool:
    return hasattr(annotation, "model_fields") and not (
        hasattr(annotation, "__dana_fields__") or dataclasses.is_dataclass(annotation)
    )


class _Coercer:
    """One coercion, with the context needed for good error messages."""

    def __init__(self, domain: Domain | None, parameter: str, function: str) -> None:
        self.domain = domain
        self.parameter = parameter
        self.function = function
        self.tried: list[str] = []

    def number(self, value: Any) -> float:
        if isinstance(value, bool):
            raise _Fail("a bool is not a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            domain = self.domain
            return parse_number(
                value,
                ratio=domain.is_ratio(self.parameter) if domain else False,
                temperature_unit=self._temperature_target(),
                tried=self.tried,
            )
        raise _Fail(f"{type(value).__name__} is not a number")

    def _temperature_target(self) -> str | None:
        if self.domain is None:
            return None
        if re.search(r"(^|_)(c|celsius)$", self.parameter, re.I):
            return "C"
        if re.search(r"(^|_)(f|fahrenheit)$", self.parameter, re.I):
            return "F"
        return self.domain.temperature_unit

    def coerce(self, value: Any, annotation: Any) -> Any:
        if annotation is EMPTY or annotation is typing.Any or isinstance(annotation, str):
            return value
        if value is None:
            if _allows_none(annotation):
                return None
            raise _Fail("null is not allowed here")
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            options = typing.get_args(annotation)
            for option in options:
                if type(value) is option:
                    return value
            nested: _FieldFail | None = None
            for option in options:
                if option is type(None):
                    continue
                try:
                    return self.coerce(value, option)
                except _FieldFail as exc:
                    nested = exc
                except _Fail:
                    continue
            if nested is not None:
                raise nested
            raise _Fail("no option of the union fits")
        target = origin or annotation
        if self.domain is not None and target in (int, float, bool, str, list, tuple, dict):
            for c in self.domain.coercers_for(self.parameter, target):
                self.tried.append(c.name)
                try:
                    value = c.coerce(value, annotation)
                except NotUnderstood:
                    continue
                except (ValueError, TypeError) as exc:
                    raise _Fail(str(exc)) from None
                break
        if target is int:
            if isinstance(value, bool):
                raise _Fail("a bool is not an int")
            if isinstance(value, int):
                return int(value)
            number = self.number(value)
            if not math.isfinite(number) or number != int(number):
                raise _Fail(f"{value!r} is not a whole number")
            return int(number)
        if target is float:
            number = self.number(value)
            return number
        if target is str:
            if isinstance(value, str):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.tried.append("number to text")
                return str(value)
            if isinstance(value, bool):
                return "true" if value else "false"
            raise _Fail(f"{type(value).__name__} is not text")
        if target is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            if isinstance(value, str):
                self.tried.append("yes/no words")
                word = value.strip().lower()
                if word in _TRUE:
                    return True
                if word in _FALSE:
                    return False
            raise _Fail(f"{value!r} is not a yes/no value")
        if target in (list, tuple, set, frozenset):
            items = self._sequence(value)
            args = typing.get_args(annotation)
            if args and target is tuple and len(args) == 2 and args[1] is Ellipsis:
                args = (args[0],)
            if args and not (target is tuple and len(args) > 1):
                items = self._items(items, [args[0]] * len(items))
            elif args and target is tuple:
                if len(items) != len(args):
                    raise _Fail(f"expected {len(args)} items, got {len(items)}")
                items = self._items(items, list(args))
            if type(value) is target and all(a is b for a, b in zip(items, value, strict=False)):
                return value
            return target(items)
        if target is dict:
            mapping = self._mapping(value)
            args = typing.get_args(annotation)
            if args:
                out = {}
                for k, v in mapping.items():
                    try:
                        out[self.coerce(k, args[0])] = self.coerce(v, args[1])
                    except _FieldFail as exc:
                        exc.path.insert(0, repr(k) if isinstance(k, str) else k)
                        raise
                return out
            return mapping
        if target is dt.datetime or target is dt.date:
            if isinstance(value, target):
                return value
            if isinstance(value, str):
                self.tried.append("ISO date")
                try:
                    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                except ValueError:
                    raise _Fail(f"{value!r} is not an ISO date") from None
                return parsed if target is dt.datetime else parsed.date()
            raise _Fail("not a date")
        if _is_struct(target):
            if isinstance(value, target):
                return value
            return self._build(target, self._mapping(value))
        if isinstance(target, type):
            if isinstance(value, target):
                return value
            raise _Fail(f"not a {target.__name__}")
        return value

    def _items(self, items: list[Any], annotations: list[Any]) -> list[Any]:
        out = []
        for index, (item, annotation) in enumerate(zip(items, annotations, strict=True)):
            try:
                out.append(self.coerce(item, annotation))
            except _FieldFail as exc:
                exc.path.insert(0, index)
                raise
        return out

    def _build(self, target: type, mapping: dict[Any, Any]) -> Any:
        """A struct from a mapping, each field coerced as a parameter of that name would be."""
        fields = _struct_fields(target)
        pydantic = _is_pydantic(target)
        built: dict[Any, Any] = {}
        for key, raw in mapping.items():
            annotation = fields.get(key, EMPTY) if isinstance(key, str) else EMPTY
            if annotation is EMPTY and key not in fields:
                if pydantic:  # the model's own `extra` setting decides
                    built[key] = raw
                    continue
                close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.7)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                known = ", ".join(fields) or "none"
                raise _FieldFail(
                    [str(key)],
                    EMPTY,
                    raw,
                    [],
                    f"{target.__name__} has no field {key!r}{hint}; its fields: {known}",
                )
            field = _Coercer(self.domain, key, self.function)
            try:
                built[key] = field.coerce(raw, annotation)
            except _FieldFail as exc:
                exc.path.insert(0, key)
                raise
            except (_Fail, NotUnderstood) as exc:
                raise _FieldFail([key], annotation, raw, field.tried, str(exc)) from None
        for name in _required_fields(target):
            if name not in built:
                raise _FieldFail([name], EMPTY, None, [], f"missing; {target.__name__} requires it")
        try:
            return target(**built)
        except (TypeError, ValueError) as exc:
            errors = getattr(exc, "errors", None)
            if pydantic and callable(errors) and errors():
                first = errors()[0]
                path: list[str | int] = [
                    step if isinstance(step, int) else str(step) for step in first["loc"]
                ]
                raise _FieldFail(
                    path or ["?"], EMPTY, first.get("input"), [], str(first["msg"])
                ) from None
            raise _Fail(str(exc)) from None

    def _sequence(self, value: Any) -> list[Any]:
        if isinstance(value, list | tuple | set | frozenset):
            return list(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                self.tried.append("JSON array")
                try:
                    parsed = json.loads(text)
                except ValueError:
                    raise _Fail("not valid JSON") from None
                if isinstance(parsed, list):
                    return parsed
            self.tried.append("comma-separated list")
            if not text:
                return []
            return [p.strip() for p in text.split(",")]
        raise _Fail(f"{type(value).__name__} is not a list")

    def _mapping(self, value: Any) -> dict[Any, Any]:
        if isinstance(value, dict):
            return value
        if hasattr(value, "to_dict"):
            return value.to_dict()
        if isinstance(value, str):
            self.tried.append("JSON object")
            try:
                parsed = json.loads(value)
            except ValueError:
                raise _Fail("not valid JSON") from None
            if isinstance(parsed, dict):
                return parsed
        raise _Fail(f"{type(value).__name__} is not a mapping")


def coerce_value(
    value: Any,
    annotation: Any,
    *,
    domain: Domain | None = None,
    parameter: str = "",
    function: str = "",
) -> Any:
    """Coerce one argument, or raise POETInputError naming function, parameter, value and what was tried."""
    coercer = _Coercer(domain, parameter, function)
    try:
        return coercer.coerce(value, annotation)
    except _FieldFail as exc:
        raise _field_error(exc, function, parameter) from None
    except (_Fail, NotUnderstood) as exc:
        tried = tuple(dict.fromkeys(coercer.tried))
        expected = _type_label(annotation)
        message = (
            f"{function or 'function'}(): parameter '{parameter}' expects {expected}, "
            f"got {_value_label(value)}"
        )
        if tried:
            message += f"; tried: {', '.join(tried)}"
        detail = str(exc)
        if detail and "not a number" not in detail:
            message += f" ({detail})"
        raise POETInputError(
            message,
            function=function,
            parameter=parameter,
            value=value,
            expected=expected,
            tried=tried,
        ) from None


def _field_error(exc: _FieldFail, function: str, parameter: str) -> POETInputError:
    where = exc.where(parameter)
    head = f"{function or 'function'}(): parameter '{where}'"
    tried = tuple(dict.fromkeys(exc.tried))
    if exc.annotation is EMPTY:
        message = f"{head}: {exc.detail}"
        expected = ""
    else:
        expected = _type_label(exc.annotation)
        message = f"{head} expects {expected}, got {_value_label(exc.value)}"
        if tried:
            message += f"; tried: {', '.join(tried)}"
        if exc.detail and "not a number" not in exc.detail:
            message += f" ({exc.detail})"
    return POETInputError(
        message,
        function=function,
        parameter=where,
        value=exc.value,
        expected=expected,
        tried=tried,
    )


def exact_type(annotation: Any) -> type | None:
    if annotation in (int, float, str, bool, list, dict, tuple, set):
        return annotation
    return None


def build_perceiver(
    function: str, signature: inspect.Signature, hints: dict[str, Any], domain: Domain | None
) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]:
    """Per-function Perceive: (args, kwargs) -> (args, kwargs), same shape, never reordered."""
    params = list(signature.parameters.values())
    plan = []
    for p in params:
        annotation = hints.get(p.name, p.annotation)
        if isinstance(annotation, str):
            annotation = EMPTY
        plan.append((p.name, annotation, exact_type(annotation), p.default))
    # domain coercers must see even well-typed values (clamping a credit score, say)
    plan = [
        (
            name,
            annotation,
            None
            if (domain and domain.coercers_for(name, typing.get_origin(annotation) or annotation))
            else exact,
            default,
        )
        for name, annotation, exact, default in plan
    ]
    by_name = {name: (annotation, exact, default) for name, annotation, exact, default in plan}
    has_domain_coercers = False

    def one(name: str, annotation: Any, default: Any, value: Any) -> Any:
        if value is None and null_means_default(annotation, default):
            return default
        return coerce_value(value, annotation, domain=domain, parameter=name, function=function)

    if not has_domain_coercers and all(a is EMPTY for _, a, _, _ in plan):
        return lambda args, kwargs: (args, kwargs)

    def perceive(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        new_args: list[Any] | None = None
        for i, value in enumerate(args):
            if i >= len(plan):
                break
            name, annotation, exact, default = plan[i]
            if exact is not None and type(value) is exact and not has_domain_coercers:
                continue
            if annotation is EMPTY:
                continue
            coerced = one(name, annotation, default, value)
            if coerced is not value:
                if new_args is None:
                    new_args = list(args)
                new_args[i] = coerced
        new_kwargs = kwargs
        for key, value in kwargs.items():
            entry = by_name.get(key)
            if entry is None:
                continue
            annotation, exact, default = entry
            if (
                exact is not None and type(value) is exact and not has_domain_coercers
            ) or annotation is EMPTY:
                continue
            coerced = one(key, annotation, default, value)
            if coerced is not value:
                if new_kwargs is kwargs:
                    new_kwargs = dict(kwargs)
                new_kwargs[key] = coerced
        return (tuple(new_args) if new_args is not None else args), new_kwargs

    return perceive


def with_null_defaults(
    perceive: Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]],
    signature: inspect.Signature,
    hints: dict[str, Any],
) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]:
    """`perceive`, seeing a parameter's default where the caller passed null (None) for a
    parameter whose type does not allow it, as Dana's `f(x, null)` and Python's `f(x, None)`
    both mean "the default". Generated stage code sees the default too."""
    defaults: dict[str, Any] = {}
    positions: list[tuple[int, str]] = []
    for index, p in enumerate(signature.parameters.values()):
        annotation = hints.get(p.name, p.annotation)
        if isinstance(annotation, str):
            annotation = EMPTY
        if null_means_default(annotation, p.default):
            defaults[p.name] = p.default
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                positions.append((index, p.name))
    if not defaults:
        return perceive

    def perceive_with_defaults(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if any(value is None for value in args):
            given = list(args)
            for index, name in positions:
                if index < len(given) and given[index] is None:
                    given[index] = defaults[name]
            args = tuple(given)
        if kwargs and any(value is None for value in kwargs.values()):
            kwargs = {
                k: (defaults[k] if v is None and k in defaults else v) for k, v in kwargs.items()
            }
        return perceive(args, kwargs)

    return perceive_with_defaults
