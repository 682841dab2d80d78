"""The stable encoding of stored values: what goes in comes back as the same types.

JSON with tags for what JSON cannot say: tuples, sets, dicts whose keys are not
strings, non-finite floats and bytes round-trip exactly. Structs and other
objects come back as their data (a tagged dict naming the type) or their repr:
the store never imports user types. Memory and database stores both hand back
decoded values, so a caller sees the same types whichever store answered.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from typing import Any

_TAG = "$"


def to_jsonable(value: Any) -> Any:
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {_TAG: "float", "v": repr(float(value))}
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [to_jsonable(v) for v in value]}
    if isinstance(value, set | frozenset):
        kind = "frozenset" if isinstance(value, frozenset) else "set"
        return {_TAG: kind, "v": [to_jsonable(v) for v in value]}
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: to_jsonable(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[to_jsonable(k), to_jsonable(v)] for k, v in value.items()]}
    if isinstance(value, bytes | bytearray):
        return {_TAG: "bytes", "v": bytes(value).hex()}
    if hasattr(value, "to_dict"):
        return {_TAG: "struct", "type": type(value).__name__, "v": to_jsonable(value.to_dict())}
    if is_dataclass(value) and not isinstance(value, type):
        return {_TAG: "struct", "type": type(value).__name__, "v": to_jsonable(asdict(value))}
    return {_TAG: "repr", "v": repr(value)}


def from_jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: from_jsonable(v) for k, v in value.items()}
    inner: Any = value.get("v")
    if tag == "tuple":
        return tuple(from_jsonable(v) for v in inner)
    if tag == "set":
        return {from_jsonable(v) for v in inner}
    if tag == "frozenset":
        return frozenset(from_jsonable(v) for v in inner)
    if tag == "dict":
        return {from_jsonable(k): from_jsonable(v) for k, v in inner}
    if tag == "float":
        return float(inner)
    if tag == "bytes":
        return bytes.fromhex(inner)
    if tag == "struct":
        return from_jsonable(inner)
    if tag == "repr":
        return inner
    return {k: from_jsonable(v) for k, v in value.items()}


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"))


def loads(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    return from_jsonable(json.loads(text))


def round_trip(value: Any) -> Any:
    """What the value looks like after being stored and read back."""
    return from_jsonable(json.loads(json.dumps(to_jsonable(value))))
