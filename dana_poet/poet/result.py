"""Results stay themselves: a POET result behaves as the raw value and still knows its execution.

int, float, str, list, dict and tuple results are returned as private
subclasses that carry the execution id (`==`, `isinstance`, hashing, JSON,
format specs and arithmetic behave as the raw value; arithmetic returns plain
values). Objects that accept attributes (structs, most class instances) are
tagged in place. `bool` and `None` cannot be subclassed: the most recent
execution that returned each of them is remembered, so `feedback(True, ...)`
resolves to the newest execution that returned True.

What a result carries is its execution's id, or (from the record step) its execution
*number* (poet/store/ids.py), whose text is made only when asked for. On the warm path an
`int`, `str` or `tuple` result carries nothing at all: its carrier's class is the
function's own (`keyed_carrier`), whose log holds the carrier next to its execution
number, so `execution_id_of` finds it there by identity (each call's carrier is a new
object) and no per-call attribute dict is built. A carrier pickles and copies with its id
as text, so it means the same in another process.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from dana_poet.poet.store.ids import id_source

_ATTR = "_poet_execution_id"
_IDS = id_source()


def _restore(cls: type, raw: Any, execution_id: str | None) -> Any:
    out = cls(raw)
    if execution_id is not None:
        object.__setattr__(out, _ATTR, execution_id)
    return out


def _reduce(self: Any) -> tuple[Any, ...]:
    """Carriers pickle and copy as their raw value plus the id's text (a keyed carrier
    becomes a plain one: its function's log is not part of the value)."""
    raw = _raw_of(type(self))
    assert raw is not None
    return _restore, (_CARRIERS[raw], raw(self), execution_id_of(self))


class _ResultInt(int):
    __reduce__ = _reduce


class _ResultFloat(float):
    __slots__ = (_ATTR,)
    __reduce__ = _reduce


class _ResultStr(str):
    __reduce__ = _reduce


class _ResultTuple(tuple):  # type: ignore[type-arg]
    __reduce__ = _reduce


class _ResultList(list):  # type: ignore[type-arg]
    __slots__ = (_ATTR,)
    __reduce__ = _reduce


class _ResultDict(dict):  # type: ignore[type-arg]
    __slots__ = (_ATTR,)
    __reduce__ = _reduce


_CARRIERS: dict[type, type] = {
    int: _ResultInt,
    float: _ResultFloat,
    str: _ResultStr,
    tuple: _ResultTuple,
    list: _ResultList,
    dict: _ResultDict,
}
_RAW = {carrier: raw for raw, carrier in _CARRIERS.items()}
_SINGLETONS: OrderedDict[tuple[type, Any], str | int] = OrderedDict()
_MAX_SINGLETONS = 1024


def _raw_of(cls: type) -> type | None:
    """The raw type of carrier class `cls` (None: `cls` is no carrier)."""
    raw = _RAW.get(cls)
    if raw is None and cls.__module__ == __name__:
        raw = cls.__dict__.get("_poet_raw")
    return raw


def keyed_carrier(cls: type, log: Any) -> type | None:
    """A carrier class of one function's results of exactly `cls` (int, str, tuple) whose
    instances carry nothing: `log` (poet/recorder.py) holds each one in its row. None for
    other types (their carriers keep the id in a slot, which costs no dict)."""
    base = _CARRIERS.get(cls)
    if base is None or cls not in (int, str, tuple):
        return None
    namespace = {"__slots__": (), "__module__": __name__, "_poet_raw": cls, "_poet_log": log}
    return type(base.__name__, (base,), namespace)


def plain(value: Any) -> Any:
    """`value` as its raw type when it is a carrier (what the store records)."""
    raw = _raw_of(type(value))
    return value if raw is None else raw(value)


def is_result(value: Any) -> bool:
    """Whether `value` is a carrier (a POET result that may have outlived its execution)."""
    return _raw_of(type(value)) is not None


def attach(value: Any, execution_id: str | int) -> Any:
    """`value` carrying `execution_id` (its text, or its number from poet/store/ids.py)."""
    cls = type(value)
    carrier = _CARRIERS.get(cls)
    if carrier is not None:
        out = carrier(value)
        object.__setattr__(out, _ATTR, execution_id)
        return out
    raw = _raw_of(cls)
    if raw is not None:  # already a carrier (a POET function returned another's result)
        out = _CARRIERS[raw](value)
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
    """The id of the execution that returned `value`, or None."""
    cls = type(value)
    if value is None or cls is bool:
        found: Any = _SINGLETONS.get((cls, value))
    elif cls in _CARRIERS:
        return None
    else:
        found = getattr(value, _ATTR, None)
        if found is None and cls.__module__ == __name__:
            log = cls.__dict__.get("_poet_log")
            if log is not None:
                found = log.number_of_result(value)
                if found is not None:  # the row may leave the log: remember the number
                    object.__setattr__(value, _ATTR, found)
    if type(found) is int:
        return _IDS.text_of(found)
    return found if type(found) is str else None


def raw_type(value: Any) -> type:
    cls = type(value)
    return _raw_of(cls) or cls


def carrier_for(cls: type) -> type | None:
    """The carrier class results of exactly type `cls` are returned as, or None."""
    return _CARRIERS.get(cls)
