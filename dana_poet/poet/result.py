"""Results stay themselves: a POET result behaves as the raw value and still knows its execution.

int, float, str, list, dict and tuple results are returned as private
subclasses that carry the execution id (`==`, `isinstance`, hashing, JSON,
format specs and arithmetic behave as the raw value; arithmetic returns plain
values). Objects that accept attributes (structs, most class instances) are
tagged in place. `bool` and `None` cannot be subclassed: the most recent
execution that returned each of them is remembered, so `feedback(True, ...)`
resolves to the newest execution that returned True.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

_ATTR = "_poet_execution_id"


class _ResultInt(int):
    pass


class _ResultFloat(float):
    __slots__ = (_ATTR,)


class _ResultStr(str):
    pass


class _ResultTuple(tuple):
    pass


class _ResultList(list):
    __slots__ = (_ATTR,)


class _ResultDict(dict):
    __slots__ = (_ATTR,)


_CARRIERS: dict[type, type] = {
    int: _ResultInt,
    float: _ResultFloat,
    str: _ResultStr,
    tuple: _ResultTuple,
    list: _ResultList,
    dict: _ResultDict,
}
_RAW = {carrier: raw for raw, carrier in _CARRIERS.items()}
_SINGLETONS: OrderedDict[tuple[type, Any], str] = OrderedDict()
_MAX_SINGLETONS = 1024


def attach(value: Any, execution_id: str) -> Any:
    cls = type(value)
    carrier = _CARRIERS.get(cls)
    if carrier is not None:
        out = carrier(value)
        object.__setattr__(out, _ATTR, execution_id)
        return out
    if cls in _RAW:  # already a carrier (a POET function returned another's result)
        out = cls(value)
        object.__setattr__(out, _ATTR, execution_id)
        return out
    if value is None or cls is bool:
        key = (cls, value)
        _SINGLETONS[key] = execution_id
        _SINGLETONS.move_to_end(key)
        if len(_SINGLETONS) > _MAX_SINGLETONS:
            _SINGLETONS.popitem(last=False)
        return value
    try:
        object.__setattr__(value, _ATTR, execution_id)
    except (AttributeError, TypeError):
        pass
    return value


def execution_id_of(value: Any) -> str | None:
    cls = type(value)
    if value is None or cls is bool:
        return _SINGLETONS.get((cls, value))
    return getattr(value, _ATTR, None) if cls not in _CARRIERS else None


def raw_type(value: Any) -> type:
    return _RAW.get(type(value), type(value))


def carrier_for(cls: type) -> type | None:
    """The carrier class results of exactly type `cls` are returned as, or None."""
    return _CARRIERS.get(cls)
