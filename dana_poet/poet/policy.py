"""The capability policy generated stage code runs under: deny by default.

Stage code (Perceive/Enforce functions written by an LLM, in Dana or in the
Python fallback) is untrusted. It is admitted in three steps and then runs
with guards:

1. *Admission over the source AST* (Dana AST or Python AST): only the
   statement subset of docs/stage-code.md; names limited to the stage's
   parameters, the locals it assigns itself, the three stage helpers and a
   short list of pure builtins; attribute names limited to listed methods
   of plain values and (checked at run time) declared struct fields.
2. *Admission over the Python AST*: Dana stage code is translated to Python
   by a small translator of the stage subset (not the language compiler, whose
   output is tuned for speed) and checked again by the same deny-by-default
   rules as Python stage code.
3. *Guards*: the admitted tree is rewritten so every attribute read, item
   read, method call, `**`, `*`, `<<`, `+` and `%` goes through a checking
   function, and every loop iteration checks the stage deadline. The code
   runs in its own globals with a weeded builtins table: no name resolves
   to the program's globals, the Dana builtins or the interpreter.

The audit-hook layer (poet/safety.py) sits below all of this.
"""

from __future__ import annotations

import ast as py
import builtins as py_builtins
import copy
import dataclasses
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dana_poet.poet import safety

STAGE_FUNCTIONS = ("perceive", "enforce", "train")
STAGE_HELPERS = frozenset({"coerce", "check_output", "fail"})

MAX_ITEMS = 1_000_000
"""The longest string, list, tuple, set, dict or range stage code may build."""
MAX_INT_BITS = 100_000
"""The largest integer (in bits) stage code may build with `**`, `*` or `<<`."""
MAX_FORMAT_WIDTH = 1_000
"""The widest field an f-string format spec or a `%` format may ask for."""
MAX_BUILT = 10_000_000
"""The total size (items, characters) of the values one stage call may build."""
MAX_SOURCE_CHARS = 40_000
"""The longest stage code admitted (checked before it is parsed)."""
MAX_NODES = 5_000
"""The most syntax-tree nodes admitted stage code may have (its Python form)."""
MAX_DEPTH = 60
"""The deepest nesting of statements and expressions admitted stage code may have."""
MAX_CHAIN = 3
"""The most comparisons one chained comparison (`a < b < c`) may make."""


class PolicyError(Exception):
    """Stage code was refused at admission; `problems` says why (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class PolicyViolation(Exception):  # noqa: N818 - it is a refusal, not an error of the caller
    """A run-time guard refused an operation of stage code."""


class LimitExceeded(PolicyViolation):
    """Stage code tried to build a value larger than the policy's limits."""


class StageTimeout(PolicyViolation):
    """Stage code ran past its deadline."""


# ------------------------------------------------------------------ what stage code may touch

_STR_METHODS = frozenset(
    "capitalize casefold center count endswith find index isalnum isalpha isascii isdecimal "
    "isdigit isidentifier islower isnumeric isspace istitle isupper join ljust lower lstrip "
    "partition removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip "
    "split splitlines startswith strip swapcase title upper zfill".split()
)
_LIST_METHODS = frozenset(
    "append clear copy count extend index insert pop remove reverse sort".split()
)
_DICT_METHODS = frozenset("clear copy get items keys pop popitem setdefault update values".split())
_SET_METHODS = frozenset(
    "add clear copy difference difference_update discard intersection intersection_update "
    "isdisjoint issubset issuperset pop remove symmetric_difference "
    "symmetric_difference_update union update".split()
)
_FROZENSET_METHODS = frozenset(
    "copy difference intersection isdisjoint issubset issuperset symmetric_difference union".split()
)
_INT_ATTRS = frozenset("bit_length conjugate real imag numerator denominator".split())
_FLOAT_ATTRS = frozenset("is_integer conjugate real imag".split())

PLAIN_ATTRIBUTES: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    list: _LIST_METHODS,
    dict: _DICT_METHODS,
    set: _SET_METHODS,
    frozenset: _FROZENSET_METHODS,
    tuple: frozenset({"count", "index"}),
    int: _INT_ATTRS,
    bool: _INT_ATTRS,
    float: _FLOAT_ATTRS,
}
"""Attributes of plain values stage code may read, by exact type (subclasses get none)."""

ALL_PLAIN_ATTRIBUTES = frozenset().union(*PLAIN_ATTRIBUTES.values())
REFUSED_ATTRIBUTES = frozenset({"format", "format_map", "mro", "translate", "maketrans"})

PURE_BUILTIN_NAMES = (
    "abs all any bool chr dict enumerate float frozenset int isinstance len list max min ord "
    "range reversed round set sorted str sum tuple zip"
).split()
"""The builtins stage code may name; containers and sorting are size-checked wrappers."""

_ITEMS_LIMIT_TEXT = f"{MAX_ITEMS:,}"


def _limit(what: str) -> LimitExceeded:
    return LimitExceeded(f"stage code may not build {what} (limit {_ITEMS_LIMIT_TEXT} items)")


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


# ------------------------------------------------------------------ the size of a value as a tree

MAX_WEIGHT = 2 * MAX_ITEMS
"""The largest value (items and characters, shared parts counted each time they appear)
stage code may compare, hash, sort, turn into text, hand to a helper or return."""

_FLAT = frozenset({int, float, complex, bool, type(None), str, bytes, range})
"""Values whose comparison, hash and text cost no more than their own (size-limited) size."""
_NESTED = frozenset({list, tuple, set, frozenset, type({}.keys()), type({}.values())})
_ITEMS_VIEW: type = type({}.items())
_CONTAINERS = frozenset({*_NESTED, _ITEMS_VIEW, dict})


def materialized(value: Any) -> Any:
    """`value`, or when it is an iterator (a `zip`, a caller's generator...) its items as a
    list of at most `MAX_ITEMS`: C code that runs it to its end is then bounded."""
    kind = type(value)
    if kind in _FLAT or kind in _CONTAINERS or not hasattr(kind, "__next__"):
        return value
    import itertools

    items = list(itertools.islice(value, MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise _limit("a list that long from an iterator")
    return items


def bounded(value: Any, doing: str = "use") -> Any:
    """`value`, once its size read as a tree is known to be within `MAX_WEIGHT`.

    A list of a thousand references to a list of a thousand references to ... is cheap to
    build and costs a thousand to the power of its depth to compare, hash, copy or print, all
    in C where no deadline reaches; so every such use is preceded by this walk, which stops
    as soon as the count passes the limit (it never visits more than that many items). A
    value that is not plain (a caller's struct) is let by at the top, where its own methods
    answer for it, and refused inside a container.
    """
    if type(value) in _FLAT:
        return value
    total = 1
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind in _FLAT:
            if kind is str or kind is bytes:
                total += len(item)
            elif kind is int:
                total += item.bit_length() >> 6
            continue
        if kind in _NESTED:
            total += len(item)
            if total > MAX_WEIGHT:
                break
            push(item)
        elif kind is dict or kind is _ITEMS_VIEW:
            total += 2 * len(item)
            if total > MAX_WEIGHT:
                break
            push(item.keys() if kind is dict else item.mapping.keys())
            push(item.values() if kind is dict else item.mapping.values())
        elif item is not value:
            raise PolicyViolation(
                f"stage code may not {doing} a container holding a {kind.__name__} value"
            )
        if total > MAX_WEIGHT:
            break
    if total > MAX_WEIGHT:
        raise LimitExceeded(
            f"stage code may not {doing} a value of more than {MAX_WEIGHT:,} items and "
            "characters (shared parts counted each time they appear)"
        )
    return value


def _compared(value: Any) -> Any:
    """An operand of a chained comparison, bounded first."""
    return bounded(value, "compare")


def _hashed(value: Any) -> Any:
    """A key about to be hashed: only a tuple's hash reads everything inside it, every time."""
    if type(value) is tuple:
        bounded(value, "hash")
    return value


def returned(value: Any, inputs: tuple[Any, ...]) -> Any:
    """What a stage function returns: bounded like `bounded` (the caller's own values it was
    handed pass as they are), and for Perceive's dict each key and value the same way."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                bounded(key, "return")
            if type(item) not in _FLAT and not _given(item, inputs):
                _shallow(bounded(item, "return"))
        return value
    if kind in _FLAT or _given(value, inputs):
        return value
    return _shallow(bounded(value, "return"))


MAX_VALUE_DEPTH = 100
"""The deepest nesting of containers a stage may hand the program (printing, copying or
storing a deeper value recurses past Python's limit)."""


def _shallow(value: Any) -> Any:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            raise LimitExceeded(
                f"stage code may not return containers nested more than {MAX_VALUE_DEPTH} deep"
            )
        kind = type(item)
        if kind is dict:
            item = item.values()
        elif kind not in _NESTED:
            continue
        stack.extend((child, depth + 1) for child in item if type(child) not in _FLAT)
    return value


def _given(value: Any, inputs: tuple[Any, ...]) -> bool:
    for given in inputs:
        if value is given:
            return True
    return False


def excerpt(value: Any, width: int = 200) -> str:
    """A short text of `value` for a message (only a small value is printed in full)."""
    try:
        bounded(value, "show")
    except PolicyViolation:
        return f"<a {type(value).__name__} of {_length(value):,} items>"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# ------------------------------------------------------------------ the deadline


_clock = time.monotonic
DEFAULT_STAGE_SECONDS = 2.0
"""Seconds a stage may run when whoever loads it says nothing else (stage_runner: the
function's `timeout=`, or `STAGE_DEFAULT_TIMEOUT`)."""

# A stage call's budget is a list [deadline, label, items built, values passed in]. It is
# created by the first check that needs it (`__poet_start`, see `_Guard`), kept in a hidden
# local of the stage function that stage code cannot name, and handed to every guard and
# helper that checks time or size; a call in which no such check runs creates none.
Budget = list


def tick(budget: Budget, _clock: Callable[[], float] = _clock) -> bool:
    """One loop iteration of stage code: stop it once its deadline has passed."""
    if _clock() > budget[0]:
        raise StageTimeout(f"{budget[1]} ran past its deadline")
    return True


_SIZED = frozenset({str, list, tuple, dict, set, frozenset, bytes})


def tock(value: Any, budget: Budget, _clock: Callable[[], float] = _clock) -> Any:
    """After one operation that may cost time or memory: check the deadline, count the size
    of what was built against `MAX_BUILT`, and pass the value on.

    Stage code without loops is bounded this way too: every such operation is followed by
    this check, so a stage stops within one (size-limited) operation of its deadline.
    """
    if _clock() > budget[0]:
        raise StageTimeout(f"{budget[1]} ran past its deadline")
    if type(value) in _SIZED:
        budget[2] += len(value)
        if budget[2] > MAX_BUILT:
            raise LimitExceeded(
                f"stage code may not build more than {MAX_BUILT:,} items in one call"
            )
    return value


def budget_starter(
    label: str, limit: float, shared: Callable[[], float | None] | None = None
) -> Callable[[str, tuple[Any, ...]], Budget]:
    """(stage, values passed in) -> a new budget for one call of that stage of `label`.

    The deadline is `shared()` when it gives one (the call's deadline with `timeout=`), else
    `limit` seconds from the stage's first check: before it the stage ran only operations
    that need no check (each bounded by the size limits). Inside `safety.contain` the
    budget given there is used instead (one budget for everything contained).
    """
    contained = safety.contained_state

    def start(stage: str, inputs: tuple[Any, ...]) -> Budget:
        running = contained()
        if running is not None:
            return running  # type: ignore[no-any-return]
        deadline = shared() if shared is not None else None
        if deadline is None:
            deadline = _clock() + limit
        return [deadline, f"{label} {stage} stage", 0, inputs]

    return start


def formatted(value: Any, conversion: int, spec: str, budget: Budget) -> str:
    """One `{value!conversion:spec}` of an f-string, formatted, then checked like `tock`."""
    if type(value) not in _FLAT:
        bounded(value, "format")
    if conversion == 114:
        value = repr(value)
    elif conversion == 97:
        value = ascii(value)
    elif conversion == 115:
        value = str(value)
    return tock(format(value, spec), budget)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ run-time guards


def _struct_fields(obj: Any) -> Iterable[str] | None:
    fields = getattr(type(obj), "__dana_fields__", None)
    if isinstance(fields, dict):
        return fields
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [f.name for f in dataclasses.fields(obj)]
    model_fields = getattr(type(obj), "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(type(obj), "model_validate"):
        return model_fields
    return None


@safety.trusted_code
def private_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A copy of the mutable plain parts of `value`, so a stage changes only its own data.

    Parts the value shares, and cycles, are copied once (as `copy.deepcopy` does), so the
    copy costs what the value holds, not what it would print as. Trusted by the audit
    layer: it acts for the stage (its `id()` calls are audited events)."""
    kind = type(value)
    if kind in (int, float, str, bool) or value is None:
        return value
    if memo is None:
        memo = {}
    else:
        done = memo.get(id(value))
        if done is not None:
            return done[0]
    if kind is list:
        out: Any = []
        memo[id(value)] = (out, value)  # the original is kept alive so its id stays its own
        out.extend([private_copy(v, memo) for v in value])
        return out
    if kind is dict:
        out = {}
        memo[id(value)] = (out, value)
        for k, v in value.items():
            out[k] = private_copy(v, memo)
        return out
    if kind is set:
        out = set(value)
    elif kind is tuple:
        out = tuple([private_copy(v, memo) for v in value])
        done = memo.get(id(value))
        if done is not None:  # reached again through a cycle while its items were copied
            return done[0]
    elif isinstance(value, list | dict | set | tuple):
        # a subclass (OrderedDict, defaultdict, a namedtuple...): a deep copy keeps its type
        out = copy.deepcopy(value)
    else:
        return value
    memo[id(value)] = (out, value)
    return out


def guarded_getattr(obj: Any, name: str) -> Any:
    """`obj.name` for stage code: listed methods of plain values, declared struct fields."""
    allowed = PLAIN_ATTRIBUTES.get(type(obj))
    if allowed is not None:
        if name in allowed:
            return _checked_method(obj, name)
        if type(obj) is dict and name in obj and not name.startswith("_"):
            return obj[name]  # Dana reads dict keys as attributes
        raise PolicyViolation(f"stage code may not read '.{name}' of a {type(obj).__name__}")
    if not name.startswith("_"):
        fields = _struct_fields(obj)
        if fields is not None and name in fields:
            return private_copy(getattr(obj, name))
    raise PolicyViolation(f"stage code may not read '.{name}' of a {type(obj).__name__} value")


def guarded_method(obj: Any, name: str) -> Any:
    """`obj.name(...)`: only listed methods of plain values are callable (never a field value)."""
    allowed = PLAIN_ATTRIBUTES.get(type(obj))
    if allowed is not None and name in allowed:
        return _checked_method(obj, name)
    raise PolicyViolation(f"stage code may not call '.{name}()' on a {type(obj).__name__} value")


def _checked_method(obj: Any, name: str) -> Any:
    method = getattr(obj, name)
    kind = type(obj)
    check = _METHOD_CHECKS.get((kind, name))
    if name == "join" and kind is str:
        return _join(obj)
    if kind is not str and name in _ITERATING_METHODS:
        method = _comparing(obj, method, name)
    if check is None:
        return method

    def checked(*args: Any, **kwargs: Any) -> Any:
        check(obj, *args, **kwargs)
        return method(*args, **kwargs)

    return checked


_COMPARING_METHODS = frozenset(
    "count index remove sort get pop setdefault update add discard difference "
    "difference_update intersection intersection_update isdisjoint issubset issuperset "
    "symmetric_difference symmetric_difference_update union".split()
)
"""Methods of lists, tuples, dicts and sets that compare or hash their arguments (and, for
`count`, `index`, `remove` and `sort` of a list or tuple, its own items)."""
_ITERATING_METHODS = _COMPARING_METHODS | {"extend"}
"""... and those that iterate an argument in C (an iterator is read into a list first)."""


def _comparing(obj: Any, method: Callable[..., Any], name: str) -> Callable[..., Any]:
    own = type(obj) in (list, tuple) and name in ("count", "index", "remove", "sort")
    compares = name in _COMPARING_METHODS

    def compared(*args: Any, **kwargs: Any) -> Any:
        if own:
            bounded(obj, "compare")
        args = tuple(map(materialized, args))
        if compares:
            for arg in args:
                if type(arg) not in _FLAT:
                    bounded(arg, "compare")
        return method(*args, **kwargs)

    return compared


def _join(sep: str) -> Callable[..., str]:
    def join(items: Any) -> str:
        parts = items if type(items) in (list, tuple) else list(materialized(items))
        total = len(sep) * len(parts) + sum(len(p) if type(p) is str else 0 for p in parts)
        if total > MAX_ITEMS:
            raise _limit(f"a string of {total:,} characters")
        return sep.join(parts)

    return join


def _check_width(obj: Any, width: Any = 0, *rest: Any) -> None:
    if isinstance(width, int) and width > MAX_ITEMS:
        raise _limit(f"a string {width:,} wide")


def _check_replace(s: str, old: Any = "", new: Any = "", *rest: Any) -> None:
    if isinstance(old, str) and isinstance(new, str):
        count = s.count(old) if old else len(s) + 1
        if len(s) + count * max(len(new) - len(old), 0) > MAX_ITEMS:
            raise _limit("a string that large")


def _check_grow(container: Any, other: Any = (), *rest: Any) -> None:
    if _length(container) + _length(other) > MAX_ITEMS:
        raise _limit(f"a {type(container).__name__} that large")


def _check_key(obj: Any, *args: Any, key: Any = None, **kwargs: Any) -> None:
    if key is not None and not _is_pure_callable(key):
        raise PolicyViolation("sort key= must be a builtin such as len or str")


_METHOD_CHECKS: dict[tuple[type, str], Callable[..., None]] = {
    (str, "center"): _check_width,
    (str, "ljust"): _check_width,
    (str, "rjust"): _check_width,
    (str, "zfill"): _check_width,
    (str, "replace"): _check_replace,
    (list, "extend"): _check_grow,
    (list, "sort"): _check_key,
    (dict, "update"): _check_grow,
    (set, "update"): _check_grow,
}


def guarded_setitem(obj: Any, key: Any, value: Any) -> None:
    """`obj[key] = value` for stage code: only into its own plain lists and dicts."""
    kind = type(obj)
    if kind is dict:
        obj[_hashed(key)] = value
        return
    if kind is list:
        if type(key) is slice and len(obj) + _length(value) > MAX_ITEMS:
            raise _limit("a list that large")
        obj[key] = value
        return
    raise PolicyViolation(f"stage code may not assign items of a {kind.__name__} value")


def guarded_getitem(obj: Any, key: Any) -> Any:
    """`obj[key]` for stage code: items of plain containers only."""
    if isinstance(obj, str | list | tuple | dict | range | bytes):
        return obj[_hashed(key)]
    raise PolicyViolation(f"stage code may not index a {type(obj).__name__} value")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | list | tuple | bytes)


def guarded_mul(a: Any, b: Any) -> Any:
    if _is_sequence(a) and isinstance(b, int):
        if len(a) * b > MAX_ITEMS:
            raise _limit(f"a {type(a).__name__} of {len(a) * b:,} items")
    elif _is_sequence(b) and isinstance(a, int):
        if len(b) * a > MAX_ITEMS:
            raise _limit(f"a {type(b).__name__} of {len(b) * a:,} items")
    elif type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(
            f"stage code may not build an integer over the limit of {MAX_INT_BITS:,} bits"
        )
    return a * b


def guarded_pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 1 and a not in (0, 1, -1):
        if a.bit_length() * b > MAX_INT_BITS:
            raise LimitExceeded(
                f"stage code may not compute {a.bit_length()}-bit ** {b:,} "
                f"(limit {MAX_INT_BITS:,} bits)"
            )
    return a**b


def guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a and a.bit_length() + b > MAX_INT_BITS:
        raise LimitExceeded(
            f"stage code may not build an integer over the limit of {MAX_INT_BITS:,} bits"
        )
    return a << b


def _plain_add(a: Any, b: Any) -> Any:
    if _is_sequence(a) and _is_sequence(b) and len(a) + len(b) > MAX_ITEMS:
        raise _limit(f"a {type(a).__name__} of {len(a) + len(b):,} items")
    return a + b


def guarded_add(a: Any, b: Any) -> Any:
    """`+` with Dana's string-and-number rule and the size limit."""
    try:
        return _plain_add(a, b)
    except TypeError:
        if isinstance(a, str) and isinstance(b, int | float):
            return a + _word(b)
        if isinstance(b, str) and isinstance(a, int | float):
            return _word(a) + b
        raise


def _word(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[a-zA-Z%]")


def guarded_mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        fields = 0
        spec = a if isinstance(a, str) else a.decode("latin-1")
        for match in _PERCENT_FIELD.finditer(spec):
            fields += 1
            for part in match.groups():
                if part == "*" or (part and int(part) > MAX_FORMAT_WIDTH):
                    raise _limit("a %-format field that wide")
        # each field as wide as its widest allowed width, or as its value's text
        if type(b) is tuple:
            text = sum(_text_weight(item) for item in b)
        else:
            text = fields * _text_weight(b)
        if len(a) + fields * MAX_FORMAT_WIDTH + text > MAX_WEIGHT:
            raise _limit("a %-formatted string that large")
    return a % b


def _text_weight(value: Any) -> int:
    if type(value) is str:
        return len(value)
    if type(value) is dict:
        return sum(_text_weight(v) for v in bounded(value, "format").values())
    bounded(value, "format")
    return MAX_FORMAT_WIDTH if type(value) in _FLAT else len(repr(value))


_COMPARISONS: tuple[Callable[[Any, Any], Any], ...] = (
    lambda a, b: a == b,
    lambda a, b: a != b,
    lambda a, b: a < b,
    lambda a, b: a <= b,
    lambda a, b: a > b,
    lambda a, b: a >= b,
    lambda a, b: a in b,
    lambda a, b: a not in b,
    lambda a, b: a is b,
    lambda a, b: a is not b,
)
_COMPARE_CODES: dict[type, int] = {
    op: code
    for code, op in enumerate(
        (py.Eq, py.NotEq, py.Lt, py.LtE, py.Gt, py.GtE, py.In, py.NotIn, py.Is, py.IsNot)
    )
}


def guarded_compare(code: int, a: Any, b: Any, budget: Budget, _clock: Any = _clock) -> Any:
    """`a <op> b` of stage code: both sides bounded as trees first, then checked like `tock`."""
    if type(a) not in _FLAT:
        bounded(a, "compare")
    if type(b) not in _FLAT:
        if code in (6, 7):  # `in` runs an iterator to its end
            b = materialized(b)
        bounded(b, "compare")
    result = _COMPARISONS[code](a, b)
    if _clock() > budget[0]:
        raise StageTimeout(f"{budget[1]} ran past its deadline")
    return result


def _sized(kind: type) -> Callable[..., Any]:
    hashes = kind in (dict, set, frozenset)

    def build(*args: Any, **kwargs: Any) -> Any:
        if args:
            args = (materialized(args[0]), *args[1:])
        if args and _length(args[0]) > MAX_ITEMS:
            raise _limit(f"a {kind.__name__} that large")
        if hashes and args and type(args[0]) not in _FLAT:
            bounded(args[0], "hash")
        return kind(*args, **kwargs)

    build.__name__ = kind.__name__
    return build


def _range(*args: Any) -> range:
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise _limit(f"a range of {len(r):,} numbers")
    return r


def _keyed(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, key: Any = None, **kwargs: Any) -> Any:
        if key is not None and not _is_pure_callable(key):
            raise PolicyViolation(f"{fn.__name__}(key=...) must be a builtin such as len or str")
        if key is not None:
            kwargs["key"] = key
        args = tuple(map(materialized, args))
        for arg in (*args, *kwargs.values()):
            if type(arg) not in _FLAT:
                bounded(arg, "compare")
        return fn(*args, **kwargs)

    call.__name__ = fn.__name__
    return call


MAX_SUM_BITS = 100 * MAX_INT_BITS
"""The most bits of integers one `sum()` of stage code may add (it runs in C)."""


def _sum(items: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise PolicyViolation("sum() of stage code adds numbers only")
    values = items if type(items) in (list, tuple) else list(materialized(items))
    if len(values) > 1_000:
        bits = sum(map(_bits, values))
        if bits > MAX_SUM_BITS:
            raise LimitExceeded(f"stage code may not add up {bits:,} bits of integers")
    return sum(values, start)


def _bits(value: Any) -> int:
    return value.bit_length() if type(value) is int else 64


def _str(*args: Any, **kwargs: Any) -> str:
    if args and type(args[0]) not in _FLAT:
        bounded(args[0], "format")
    return str(*args, **kwargs)


_str.__name__ = "str"


def _build_pure_builtins() -> dict[str, Any]:
    table: dict[str, Any] = {n: getattr(py_builtins, n) for n in PURE_BUILTIN_NAMES}
    for name in ("list", "tuple", "set", "frozenset", "dict"):
        table[name] = _sized(getattr(py_builtins, name))
    table["range"] = _range
    table["sorted"] = _keyed(sorted)
    table["min"] = _keyed(min)
    table["max"] = _keyed(max)
    table["sum"] = _sum
    table["str"] = _str
    table["all"] = _reading(all)
    table["any"] = _reading(any)
    return table


def _reading(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(items: Any) -> Any:
        return fn(materialized(items))

    call.__name__ = fn.__name__
    return call


PURE_BUILTINS: dict[str, Any] = _build_pure_builtins()
_TYPES_FOR_ISINSTANCE = {
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
}
_PURE_CALLABLES: tuple[Any, ...] = (
    *PURE_BUILTINS.values(),
    *(getattr(py_builtins, n) for n in PURE_BUILTIN_NAMES),
)


def _is_pure_callable(fn: Any) -> bool:
    # identity, not id(): id() is an audited event, refused while stage code runs
    return any(fn is known for known in _PURE_CALLABLES)


def _isinstance(value: Any, kinds: Any) -> bool:
    """isinstance() where the builtins table's wrappers stand for their types."""
    if type(kinds) is tuple:
        if len(kinds) > 16 or any(type(k) is tuple for k in kinds):
            raise PolicyViolation(
                "isinstance() in stage code takes a type or a flat tuple of types"
            )
        return any(_isinstance(value, k) for k in kinds)
    real = _TYPES_FOR_ISINSTANCE.get(getattr(kinds, "__name__", ""), kinds)
    if not isinstance(real, type):
        raise PolicyViolation("isinstance() in stage code takes a builtin type")
    return isinstance(value, real)


PURE_BUILTINS["isinstance"] = _isinstance
_PURE_CALLABLES = (*_PURE_CALLABLES, _isinstance)

# ------------------------------------------------------------------ admission: Dana source


def _dana_nodes(node: Any) -> Iterable[Any]:
    from dana_poet.lang import ast as A

    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple | list):
            stack.extend(reversed(n))
            continue
        if not isinstance(n, A.Node):
            continue
        yield n
        for slot in getattr(n, "__slots__", ()):
            if slot != "span":
                stack.append(getattr(n, slot))


def _dana_allowed_nodes() -> tuple[type, ...]:
    from dana_poet.lang import ast as A

    return (
        A.Name,
        A.Constant,
        A.FormattedValue,
        A.FString,
        A.ListExpr,
        A.TupleExpr,
        A.SetExpr,
        A.DictExpr,
        A.CompFor,
        A.Comprehension,
        A.Keyword,
        A.Call,
        A.Attribute,
        A.Slice,
        A.Subscript,
        A.BinOp,
        A.UnaryOp,
        A.BoolOp,
        A.Compare,
        A.IfExp,
        A.ExprStmt,
        A.Assign,
        A.AugAssign,
        A.Pass,
        A.Break,
        A.Continue,
        A.Return,
        A.If,
        A.While,
        A.For,
    )


def _dana_locals(fn: Any) -> set[str]:
    """Names the stage function itself binds: its parameters, assignments, loop targets."""
    from dana_poet.lang import ast as A

    names = {p.name for p in fn.params}
    for n in _dana_nodes(fn.body):
        if isinstance(n, A.Assign | A.AugAssign) and isinstance(n.target, A.Name):
            names.add(n.target.id)
        elif isinstance(n, A.For):
            names.update(n.targets)
        elif isinstance(n, A.CompFor):
            names.update(n.targets)
    return names


def check_dana(module: Any) -> list[str]:
    """Problems with Dana stage code under the policy ([] when admitted)."""
    from dana_poet.lang import ast as A

    allowed_nodes = _dana_allowed_nodes()
    errors: list[str] = []
    seen: set[str] = set()
    for stmt in module.body:
        line = stmt.span.line
        if isinstance(stmt, A.ExprStmt) and isinstance(stmt.value, A.Constant):
            continue
        if not isinstance(stmt, A.FunctionDef) or stmt.name not in STAGE_FUNCTIONS:
            errors.append(
                f"line {line}: only def perceive/enforce/train may appear at the top level "
                f"(found {_dana_kind(stmt)})"
            )
            continue
        if stmt.name in seen:
            errors.append(f"line {line}: {stmt.name}() is defined twice")
        seen.add(stmt.name)
        if stmt.decorators or stmt.receiver or stmt.returns is not None:
            errors.append(
                f"line {line}: stage functions take no decorators, receivers or return types"
            )
        for p in stmt.params:
            if p.annotation is not None or p.default is not None:
                errors.append(
                    f"line {line}: stage parameter '{p.name}' takes no annotation or default"
                )
        local = _dana_locals(stmt)
        for n in _dana_nodes(stmt.body):
            at = n.span.line if getattr(n, "span", None) and n.span.line else line
            if not isinstance(n, allowed_nodes):
                errors.append(f"line {at}: {_dana_kind(n)} is not allowed in stage code")
            elif isinstance(n, A.Name):
                if n.scope not in (None, "local"):
                    errors.append(
                        f"line {at}: scoped variable '{n.scope}:{n.id}' is not allowed in stage code"
                    )
                elif n.id.startswith("_"):
                    errors.append(f"line {at}: name '{n.id}' is not allowed in stage code")
                elif n.id not in local and n.id not in PURE_BUILTINS and n.id not in STAGE_HELPERS:
                    errors.append(f"line {at}: '{n.id}' is not available to stage code")
            elif isinstance(n, A.Attribute):
                if n.attr.startswith("_") or n.attr in REFUSED_ATTRIBUTES:
                    errors.append(f"line {at}: attribute '{n.attr}' is not allowed in stage code")
            elif isinstance(n, A.Assign):
                if n.annotation is not None:
                    errors.append(f"line {at}: typed assignments are not allowed in stage code")
                if not _dana_local_target(n.target):
                    errors.append(f"line {at}: stage code may assign only to its own variables")
            elif isinstance(n, A.AugAssign):
                if not (isinstance(n.target, A.Name) and n.target.scope in (None, "local")):
                    errors.append(f"line {at}: stage code may assign only to its own variables")
            elif isinstance(n, A.Call):
                if not _dana_callable(n.func, local):
                    errors.append(
                        f"line {at}: stage code may call only the stage helpers, the listed "
                        "builtins and methods of plain values"
                    )
            elif isinstance(n, A.FormattedValue) and n.format_spec is not None:
                errors.extend(f"line {at}: {p}" for p in _spec_problems(n.format_spec.parts))
    return list(dict.fromkeys(errors))


def _dana_kind(node: Any) -> str:
    from dana_poet.lang import ast as A

    names = {
        A.FunctionDef: "a function definition",
        A.Lambda: "lambda",
        A.TypeDecl: "a struct/resource declaration",
        A.Import: "import (imports are not allowed)",
        A.ImportFrom: "import (imports are not allowed)",
        A.With: "'with'",
        A.Try: "try/except",
        A.Raise: "'raise' (call fail(rule, message) instead)",
        A.Assert: "'assert' (call fail(rule, message) instead)",
        A.AugAssignExpr: "an assignment expression",
        A.DeclarativeDef: "a declarative function",
    }
    return names.get(type(node), type(node).__name__)


def _dana_local_target(target: Any) -> bool:
    from dana_poet.lang import ast as A

    if isinstance(target, A.Name):
        return target.scope in (None, "local")
    if isinstance(target, A.TupleExpr | A.ListExpr):
        return all(_dana_local_target(t) for t in target.elts)
    if isinstance(target, A.Subscript):
        return isinstance(target.value, A.Name) and target.value.scope in (None, "local")
    return False


def _dana_callable(func: Any, local: set[str]) -> bool:
    from dana_poet.lang import ast as A

    if isinstance(func, A.Name):
        return (
            func.scope is None
            and func.id not in local
            and (func.id in PURE_BUILTINS or func.id in STAGE_HELPERS)
        )
    return isinstance(func, A.Attribute)


_SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?#?0?(\d*)[,_]?(?:\.(\d+))?[bcdeEfFgGnosxX%]?$")


def _spec_problems(parts: Iterable[Any]) -> list[str]:
    if not all(isinstance(p, str) for p in parts):
        return ["format specs in stage code must be written out (no nested {...})"]
    spec = "".join(parts)
    match = _SPEC.match(spec)
    if match is None:
        return [f"format spec ':{spec}' is not allowed in stage code"]
    for number in match.groups():
        if number and int(number) > MAX_FORMAT_WIDTH:
            return [f"format spec ':{spec}' is wider than {MAX_FORMAT_WIDTH}"]
    return []


# ------------------------------------------------------------------ admission: Python AST

_PY_ALLOWED = (
    py.Module,
    py.FunctionDef,
    py.arguments,
    py.arg,
    py.Return,
    py.Assign,
    py.AugAssign,
    py.If,
    py.For,
    py.While,
    py.Break,
    py.Continue,
    py.Pass,
    py.Expr,
    py.Compare,
    py.BinOp,
    py.UnaryOp,
    py.BoolOp,
    py.Call,
    py.Name,
    py.Constant,
    py.Dict,
    py.List,
    py.Tuple,
    py.Set,
    py.Subscript,
    py.Slice,
    py.Attribute,
    py.IfExp,
    py.ListComp,
    py.DictComp,
    py.SetComp,
    py.GeneratorExp,
    py.comprehension,
    py.JoinedStr,
    py.FormattedValue,
    py.keyword,
    py.Starred,
    py.Load,
    py.Store,
    py.operator,
    py.unaryop,
    py.cmpop,
    py.boolop,
)
_PY_REFUSED_OPS = (py.MatMult,)


def _py_locals(fn: py.FunctionDef) -> set[str]:
    names = {a.arg for a in fn.args.args}
    for node in py.walk(fn):
        if isinstance(node, py.Name) and isinstance(node.ctx, py.Store):
            names.add(node.id)
    return names


def _size_problems(tree: py.AST) -> list[str]:
    """The node-count and nesting caps, counted without recursion."""
    count = deepest = 0
    stack: list[tuple[py.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in py.iter_child_nodes(node))
    problems = []
    if count > MAX_NODES:
        problems.append(f"stage code has {count:,} syntax nodes (limit {MAX_NODES:,})")
    if deepest > MAX_DEPTH:
        problems.append(f"stage code is nested {deepest} levels deep (limit {MAX_DEPTH})")
    return problems


def check_python(tree: py.Module) -> list[str]:
    """Problems with a Python stage module under the policy ([] when admitted)."""
    errors: list[str] = _size_problems(tree)
    for stmt in tree.body:
        if isinstance(stmt, py.Expr) and isinstance(stmt.value, py.Constant):
            continue
        if isinstance(stmt, py.Import | py.ImportFrom):
            errors.append(f"line {stmt.lineno}: imports are not allowed in stage code")
        elif not isinstance(stmt, py.FunctionDef) or stmt.name not in STAGE_FUNCTIONS:
            errors.append(
                f"line {getattr(stmt, 'lineno', 0)}: only def perceive/enforce/train may appear "
                f"at the top level (found {type(stmt).__name__})"
            )
        else:
            errors.extend(_check_stage_function(stmt))
    return list(dict.fromkeys(errors))


def _check_stage_function(fn: py.FunctionDef) -> list[str]:
    errors: list[str] = []
    line = fn.lineno
    a = fn.args
    if fn.decorator_list or fn.returns is not None:
        errors.append(f"line {line}: stage functions take no decorators or return annotations")
    if a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg or a.defaults or a.kw_defaults:
        errors.append(f"line {line}: stage functions take plain parameters only")
    if any(arg.annotation is not None for arg in a.args):
        errors.append(f"line {line}: stage parameters take no annotations")
    local = _py_locals(fn)
    item_targets = {  # `x[k] = v` alone: the guard rewrites exactly this form
        id(n.targets[0]) for n in py.walk(fn) if isinstance(n, py.Assign) and len(n.targets) == 1
    }
    for node in py.walk(fn):
        at = getattr(node, "lineno", line)
        if node is fn:
            continue
        if not isinstance(node, _PY_ALLOWED) or isinstance(node, _PY_REFUSED_OPS):
            errors.append(f"line {at}: {type(node).__name__} is not allowed in stage code")
        elif isinstance(node, py.FunctionDef):
            errors.append(f"line {at}: nested function definitions are not allowed")
        elif isinstance(node, py.Starred) or (
            isinstance(node, py.Dict) and any(k is None for k in node.keys)
        ):
            errors.append(f"line {at}: unpacking with * or ** is not allowed in stage code")
        elif isinstance(node, py.keyword) and node.arg is None:
            errors.append(f"line {at}: unpacking with ** is not allowed in stage code")
        elif isinstance(node, py.Compare) and len(node.ops) > MAX_CHAIN:
            errors.append(
                f"line {at}: a chained comparison may make at most {MAX_CHAIN} comparisons"
            )
        elif isinstance(node, py.Name):
            errors.extend(_name_problems(node, local, at))
        elif isinstance(node, py.Attribute):
            if not isinstance(node.ctx, py.Load):
                errors.append(f"line {at}: stage code may not assign to attributes")
            elif node.attr.startswith("_") or node.attr in REFUSED_ATTRIBUTES:
                errors.append(f"line {at}: attribute '{node.attr}' is not allowed in stage code")
        elif isinstance(node, py.Subscript) and not isinstance(node.ctx, py.Load):
            if not (isinstance(node.value, py.Name) and node.value.id in local):
                errors.append(f"line {at}: stage code may assign only to its own variables")
            elif id(node) not in item_targets:
                errors.append(
                    f"line {at}: an item is assigned on its own line (`items[k] = value`)"
                )

        elif isinstance(node, py.AugAssign) and not isinstance(node.target, py.Name):
            errors.append(f"line {at}: stage code may assign only to its own variables")
        elif isinstance(node, py.Call) and not _py_callable(node.func, local):
            errors.append(
                f"line {at}: stage code may call only the stage helpers, the listed builtins "
                "and methods of plain values"
            )
        elif isinstance(node, py.FormattedValue) and node.format_spec is not None:
            parts = [
                v.value if isinstance(v, py.Constant) else v
                for v in getattr(node.format_spec, "values", [node.format_spec])
            ]
            errors.extend(f"line {at}: {p}" for p in _spec_problems(parts))
    return errors


def _name_problems(node: py.Name, local: set[str], at: int) -> list[str]:
    name = node.id
    if name.startswith("_"):
        return [f"line {at}: name '{name}' is not allowed in stage code"]
    if isinstance(node.ctx, py.Store) or name in local:
        return []
    if name in PURE_BUILTINS or name in STAGE_HELPERS:
        return []
    return [f"line {at}: '{name}' is not available to stage code"]


def _py_callable(func: py.expr, local: set[str]) -> bool:
    if isinstance(func, py.Name):
        return func.id not in local and (func.id in PURE_BUILTINS or func.id in STAGE_HELPERS)
    return isinstance(func, py.Attribute)


# ------------------------------------------------------------------ guard rewriting

G_ATTR = "__poet_getattr"
G_METHOD = "__poet_method"
G_ITEM = "__poet_getitem"
G_SETITEM = "__poet_setitem"
G_TICK = "__poet_tick"
G_TOCK = "__poet_tock"
G_FORMAT = "__poet_format"
G_START = "__poet_start"
G_BUDGET = "__poet_b"
G_INPUT = "__poet_i"
G_TYPE = "__poet_type"
G_EXACT = "__poet_exact_"
"""+ a parameter name: the exact type `coerce(x, "name")` hands back unchanged."""
G_RETURNS = "__poet_returns"
"""The exact type `check_output(x)` hands back unchanged."""
G_COMPARE = "__poet_compare"
G_BOUNDED = "__poet_bounded"
G_HASHED = "__poet_hashed"
G_RETURNED = "__poet_returned"
G_FLAT = "__poet_flat"
G_UNCHANGED = "__poet_unchanged"
"""What a warm form of Perceive returns for "the arguments, unchanged" (poet/warm_stages.py)."""
_G_BINOPS = {
    py.Pow: "__poet_pow",
    py.Mult: "__poet_mul",
    py.LShift: "__poet_lshift",
    py.Add: "__poet_add",
    py.Mod: "__poet_mod",
}


def _gcall(name: str, *args: py.expr) -> py.Call:
    return py.Call(func=py.Name(id=name, ctx=py.Load()), args=list(args), keywords=[])


def _name(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Load())


def _constant(node: py.expr) -> bool:
    """A literal, or a display of literals: cheap to compare with and to hash."""
    if isinstance(node, py.Constant):
        return True
    if isinstance(node, py.List | py.Tuple | py.Set):
        return all(_constant(e) for e in node.elts)
    return False


class _Guard(py.NodeTransformer):
    """Routes attribute/item reads, growing operators and loop iterations through guards,
    and follows every operation that may cost time or memory with `tock`.

    Cheap on purpose where it can be: comparisons with literals, items read with a literal
    key and displays with literal keys run unchecked, and a helper call whose value needs
    no work (`coerce(x, "p")` given exactly p's type, `check_output(x)` given exactly the
    return type) is an inline type test; so the usual stage code pays nothing.

    The budget: each stage function with a check starts with `__poet_b = None` and hidden
    copies (`__poet_i0`, ...) of the parameters its body binds again (one it never binds
    is its own copy). Every check that needs the budget is handed
    `(__poet_b := __poet_b or __poet_start("perceive", (__poet_i0, ...)))`, so the first
    one creates it and the rest reuse it; inside a comprehension's iterable, where Python
    allows no `:=`, the statement is preceded by `__poet_b = __poet_b or __poet_start(...)`.
    Stage code cannot name any of these (names starting with `_` are refused).
    """

    def __init__(self) -> None:
        self.stage = ""
        self.inputs: list[str] = []
        self.in_iterable = 0
        self.needs_start = False
        self.uses_budget = False

    # -------------------------------------------------------------- the budget

    def _start(self) -> py.Call:
        self.uses_budget = True
        inputs = py.Tuple(elts=[_name(n) for n in self.inputs], ctx=py.Load())
        return _gcall(G_START, py.Constant(self.stage), inputs)

    def _started(self) -> py.expr:
        return py.BoolOp(op=py.Or(), values=[_name(G_BUDGET), self._start()])

    def _budget(self) -> py.expr:
        self.uses_budget = True
        if self.in_iterable:
            self.needs_start = True
            return _name(G_BUDGET)
        return py.NamedExpr(target=py.Name(id=G_BUDGET, ctx=py.Store()), value=self._started())

    def _checked(self, node: py.expr, at: py.AST) -> py.expr:
        """`node`, followed by the deadline and size check (`tock`)."""
        return py.copy_location(_gcall(G_TOCK, node, self._budget()), at)

    def _block(self, body: list[py.stmt]) -> list[py.stmt]:
        out: list[py.stmt] = []
        for statement in body:
            saved, self.needs_start = self.needs_start, False
            visited = self.visit(statement)
            if self.needs_start:
                start = py.Assign(
                    targets=[py.Name(id=G_BUDGET, ctx=py.Store())], value=self._started()
                )
                out.append(py.copy_location(start, statement))
            out.append(visited)
            self.needs_start = saved
        return out

    def visit_FunctionDef(self, node: py.FunctionDef) -> py.AST:
        params = [a.arg for a in node.args.args]
        rebound = rebound_names(node.body)
        self.stage = node.name
        # a parameter the body never rebinds is its own copy of what the stage was passed
        self.inputs = [f"{G_INPUT}{i}" if p in rebound else p for i, p in enumerate(params)]
        self.uses_budget = False
        body = self._block(node.body)
        prologue: list[py.stmt] = []
        if self.uses_budget:
            prologue.append(
                py.Assign(targets=[py.Name(id=G_BUDGET, ctx=py.Store())], value=py.Constant(None))
            )
            prologue += [
                py.Assign(targets=[py.Name(id=hidden, ctx=py.Store())], value=_name(param))
                for hidden, param in zip(self.inputs, params, strict=True)
                if hidden != param
            ]
        for statement in prologue:
            py.copy_location(statement, node)
        node.body = prologue + body
        return node

    # -------------------------------------------------------------- statements

    def visit_If(self, node: py.If) -> py.AST:
        node.test = self.visit(node.test)
        node.body = self._block(node.body)
        node.orelse = self._block(node.orelse)
        return node

    def visit_Assign(self, node: py.Assign) -> py.AST:
        value = self.visit(node.value)
        if len(node.targets) == 1 and isinstance(node.targets[0], py.Subscript):
            target = node.targets[0]
            index = self.visit(target.slice)
            if isinstance(index, py.Slice):
                index = _gcall("__poet_slice", *_slice_parts(index))
            store = _gcall(G_SETITEM, self.visit(target.value), index, value)
            return py.copy_location(py.Expr(value=store), node)
        node.targets = [self.visit(t) for t in node.targets]
        node.value = value
        return node

    def visit_AugAssign(self, node: py.AugAssign) -> py.AST:
        value = self.visit(node.value)
        guard = _G_BINOPS.get(type(node.op))
        assert isinstance(node.target, py.Name)
        current = py.Name(id=node.target.id, ctx=py.Load())
        combined: py.expr = (
            self._checked(_gcall(guard, current, value), node)  # counted like `x = x + y`
            if guard
            else py.BinOp(left=current, op=node.op, right=value)
        )
        return py.copy_location(py.Assign(targets=[node.target], value=combined), node)

    def _loop_body(self, body: list[py.stmt], at: py.AST) -> list[py.stmt]:
        check = py.copy_location(py.Expr(value=_gcall(G_TICK, self._budget())), at)
        return [check, *self._block(body)]

    def visit_While(self, node: py.While) -> py.AST:
        node.test = self.visit(node.test)
        node.body = self._loop_body(node.body, node)
        node.orelse = self._block(node.orelse)
        return node

    def visit_For(self, node: py.For) -> py.AST:
        node.iter = self.visit(node.iter)
        node.target = self.visit(node.target)
        node.body = self._loop_body(node.body, node)
        node.orelse = self._block(node.orelse)
        return node

    # -------------------------------------------------------------- expressions

    def visit_Call(self, node: py.Call) -> py.AST:
        func = node.func
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if isinstance(func, py.Attribute):
            node.func = py.copy_location(
                _gcall(G_METHOD, self.visit(func.value), py.Constant(func.attr)), func
            )
        elif isinstance(func, py.Name) and func.id in STAGE_HELPERS:
            return self._helper_call(func.id, node)
        else:
            node.func = self.visit(func)
        return self._checked(node, node)

    def _helper_call(self, helper: str, node: py.Call) -> py.expr:
        """A stage helper's call: `fail` as it is (it only raises); `coerce`/`check_output`
        through their in-stage forms, which take the budget (checked after their slow path),
        behind an inline type test when their first argument is a plain name."""
        if helper == "fail":
            return node
        args, keywords = node.args, node.keywords
        exact = None
        if helper == "coerce" and len(args) == 2 and not keywords:
            parameter = args[1]
            if (
                isinstance(parameter, py.Constant)
                and type(parameter.value) is str
                and parameter.value.isidentifier()
            ):
                exact = G_EXACT + parameter.value
        elif helper == "check_output" and len(args) == 1 and not keywords:
            exact = G_RETURNS
        call = py.Call(
            func=_name(f"__poet_{helper}"), args=[self._budget(), *args], keywords=keywords
        )
        value = args[0] if args else None
        if exact is None or not isinstance(value, py.Name):
            return py.copy_location(call, node)
        test = py.Compare(
            left=_gcall(G_TYPE, _name(value.id)), ops=[py.Is()], comparators=[_name(exact)]
        )
        inline = py.IfExp(test=test, body=_name(value.id), orelse=call)
        return py.copy_location(inline, node)

    def visit_Attribute(self, node: py.Attribute) -> py.AST:
        value = self.visit(node.value)
        return self._checked(_gcall(G_ATTR, value, py.Constant(node.attr)), node)

    def visit_Subscript(self, node: py.Subscript) -> py.AST:
        if not isinstance(node.ctx, py.Load):
            self.generic_visit(node)
            return node
        value = self.visit(node.value)
        index = self.visit(node.slice)
        if isinstance(index, py.Slice):
            return self._checked(
                _gcall(G_ITEM, value, _gcall("__poet_slice", *_slice_parts(index))), node
            )
        read = py.copy_location(_gcall(G_ITEM, value, index), node)
        return read if isinstance(index, py.Constant) else self._checked(read, node)

    def visit_BinOp(self, node: py.BinOp) -> py.AST:
        left, right = self.visit(node.left), self.visit(node.right)
        guard = _G_BINOPS.get(type(node.op))
        if guard is None:
            node.left, node.right = left, right
            return self._checked(node, node)
        return self._checked(_gcall(guard, left, right), node)

    def visit_Compare(self, node: py.Compare) -> py.AST:
        """A comparison with literals only is bounded by the literals; any other operand is
        first bounded as a tree (`bounded`): one comparison, one guard call."""
        self.generic_visit(node)
        if all(_constant(c) for c in node.comparators):
            return node
        if len(node.ops) == 1:
            code = _COMPARE_CODES[type(node.ops[0])]
            call = _gcall(
                G_COMPARE, py.Constant(code), node.left, node.comparators[0], self._budget()
            )
            return py.copy_location(call, node)
        node.left = self._bounded(node.left)
        node.comparators = [self._bounded(c) for c in node.comparators]
        return self._checked(node, node)

    @staticmethod
    def _bounded(node: py.expr, guard: str = G_BOUNDED) -> py.expr:
        return node if _constant(node) else py.copy_location(_gcall(guard, node), node)

    def visit_Return(self, node: py.Return) -> py.AST:
        """What a stage returns is bounded (`returned`): a plain name of a flat type, also as
        a value of a dict display with literal keys (Perceive's usual answer), by an inline
        type test; anything else by the guard."""
        value = node.value
        if value is None or (isinstance(value, py.Name) and value.id == G_UNCHANGED):
            return node  # nothing, or a warm form's marker (poet/warm_stages.py), our own value
        if isinstance(value, py.Dict) and all(
            isinstance(k, py.Constant) and type(k.value) is str for k in value.keys
        ):
            value.values = [self._returned(self.visit(v)) for v in value.values]
            return node
        node.value = self._returned(self.visit(value))
        return node

    def _returned(self, value: py.expr) -> py.expr:
        inputs = py.Tuple(elts=[_name(n) for n in self.inputs], ctx=py.Load())
        call = py.copy_location(_gcall(G_RETURNED, value, inputs), value)
        if not isinstance(value, py.Name):
            return call
        test = py.Compare(
            left=_gcall(G_TYPE, _name(value.id)), ops=[py.In()], comparators=[_name(G_FLAT)]
        )
        return py.copy_location(py.IfExp(test=test, body=_name(value.id), orelse=call), value)

    def visit_JoinedStr(self, node: py.JoinedStr) -> py.AST:
        values: list[py.expr] = []
        for part in node.values:
            if not isinstance(part, py.FormattedValue) or isinstance(part.value, py.Constant):
                values.append(part)
                continue
            spec = "".join(
                v.value
                for v in getattr(part.format_spec, "values", [])
                if isinstance(v, py.Constant) and isinstance(v.value, str)
            )
            text = _gcall(
                G_FORMAT,
                self.visit(part.value),
                py.Constant(part.conversion),
                py.Constant(spec),
                self._budget(),
            )
            values.append(
                py.copy_location(
                    py.FormattedValue(value=text, conversion=-1, format_spec=None), part
                )
            )
        node.values = values
        return node

    def visit_Set(self, node: py.Set) -> py.AST:
        self.generic_visit(node)
        if all(_constant(e) for e in node.elts):
            return node
        node.elts = [self._bounded(e, G_HASHED) for e in node.elts]
        return self._checked(node, node)

    def visit_Dict(self, node: py.Dict) -> py.AST:
        self.generic_visit(node)
        keys = [k for k in node.keys if k is not None]
        if all(_constant(k) for k in keys):
            return node
        node.keys = [self._bounded(k, G_HASHED) if k is not None else k for k in node.keys]
        return self._checked(node, node)

    def _comprehension(self, node: py.ListComp | py.SetComp | py.DictComp) -> py.AST:
        self.generic_visit(node)
        if isinstance(node, py.SetComp):
            node.elt = self._bounded(node.elt, G_HASHED)
        elif isinstance(node, py.DictComp):
            node.key = self._bounded(node.key, G_HASHED)
        return self._checked(node, node)

    visit_ListComp = visit_SetComp = visit_DictComp = _comprehension

    def visit_comprehension(self, node: py.comprehension) -> py.AST:
        self.in_iterable += 1
        try:
            node.iter = self.visit(node.iter)
        finally:
            self.in_iterable -= 1
        node.target = self.visit(node.target)
        node.ifs = [_gcall(G_TICK, self._budget()), *[self.visit(c) for c in node.ifs]]
        return node

    def visit_GeneratorExp(self, node: py.GeneratorExp) -> py.AST:
        # a list holds the same values and has no frame to reach through
        listed = py.ListComp(elt=node.elt, generators=node.generators)
        return self.visit(py.copy_location(listed, node))


def rebound_names(body: list[py.stmt]) -> set[str]:
    """The names `body` binds anywhere (assignments, loop and comprehension targets)."""
    return {
        node.id
        for statement in body
        for node in py.walk(statement)
        if isinstance(node, py.Name) and not isinstance(node.ctx, py.Load)
    }


def _slice_parts(index: py.Slice) -> list[py.expr]:
    return [
        part if part is not None else py.Constant(None)
        for part in (index.lower, index.upper, index.step)
    ]


def guard_tree(tree: py.Module) -> py.Module:
    """The admitted tree with every guarded operation routed through its guard (and the
    budget threaded through them, see `_Guard`)."""
    guarded = _Guard().visit(tree)
    py.fix_missing_locations(guarded)
    return guarded


# ------------------------------------------------------------------ loading admitted code


@dataclass
class StageFunctions:
    """The callables of one admitted stage module (None where the code defines none)."""

    perceive: Callable[..., Any] | None
    enforce: Callable[..., Any] | None
    language: str
    namespace: dict[str, Any] = field(default_factory=dict)
    """The globals they run in (`stage_globals`)."""


def stage_globals(helpers: dict[str, Any]) -> dict[str, Any]:
    """A fresh globals dict for stage code: guards, pure builtins, the helpers, nothing else.

    `helpers` holds `coerce`, `check_output`, `fail` (as trusted code calls them) and may
    hold their in-stage forms (`__poet_coerce(budget, value, parameter)`, ...), the exact
    types their inline tests compare with (`__poet_exact_<parameter>`, `__poet_returns`)
    and the budget starter (`__poet_start`, see `budget_starter`)."""
    table = dict(PURE_BUILTINS)
    g: dict[str, Any] = {
        "__builtins__": table,
        "__name__": "poet-stage",
        G_ATTR: guarded_getattr,
        G_METHOD: guarded_method,
        G_ITEM: guarded_getitem,
        G_SETITEM: guarded_setitem,
        G_TICK: tick,
        G_TOCK: tock,
        G_FORMAT: formatted,
        G_TYPE: type,
        G_COMPARE: guarded_compare,
        G_BOUNDED: _compared,
        G_HASHED: _hashed,
        G_RETURNED: returned,
        G_FLAT: _FLAT,
        "__poet_slice": slice,
    }
    for op, name in _G_BINOPS.items():
        g[name] = _BINOP_GUARDS[op]
    for name in STAGE_HELPERS:
        if name in helpers:
            g[name] = helpers[name]
            g[f"__poet_{name}"] = helpers.get(f"__poet_{name}") or _budgeted(helpers[name])
    for name, value in helpers.items():
        if name.startswith(G_EXACT) or name in (G_RETURNS, G_START):
            g[name] = value
    g.setdefault(G_START, budget_starter("stage code", DEFAULT_STAGE_SECONDS))
    return g


class _Never:
    """The exact type of no value: an inline helper test against it always takes the call."""


def _budgeted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The in-stage form of a helper given as a plain callable: its answer checked like `tock`."""

    @safety.trusted_code
    def helper(budget: Budget, /, *args: Any, **kwargs: Any) -> Any:
        return tock(fn(*args, **kwargs), budget)

    return helper


def _names_of(code: Any) -> Iterable[str]:
    yield from code.co_names
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            yield from _names_of(const)


_BINOP_GUARDS: dict[type, Callable[[Any, Any], Any]] = {
    py.Pow: guarded_pow,
    py.Mult: guarded_mul,
    py.LShift: guarded_lshift,
    py.Add: guarded_add,
    py.Mod: guarded_mod,
}


_DANA_BIN = {
    "+": py.Add,
    "-": py.Sub,
    "*": py.Mult,
    "/": py.Div,
    "//": py.FloorDiv,
    "%": py.Mod,
    "**": py.Pow,
}
_DANA_CMP = {
    "==": py.Eq,
    "!=": py.NotEq,
    "<": py.Lt,
    "<=": py.LtE,
    ">": py.Gt,
    ">=": py.GtE,
    "in": py.In,
    "not in": py.NotIn,
    "is": py.Is,
    "is not": py.IsNot,
}


class _DanaStageTranslator:
    """Admitted Dana stage code -> the equivalent Python AST (the stage subset only).

    The stage subset is small, so it is translated here rather than by the
    language compiler, whose output is tuned for speed and changes with it; the
    result is then admitted and guarded exactly like Python stage code. Dana's
    rules that differ from Python's (`+` of a string and a number, `d.key` for a
    dict's key) live in the guards.
    """

    def module(self, module: Any) -> py.Module:
        from dana_poet.lang import ast as A

        body: list[py.stmt] = []
        for stmt in module.body:
            if isinstance(stmt, A.FunctionDef):
                body.append(self.function(stmt))
        tree = py.Module(body=body, type_ignores=[])
        py.fix_missing_locations(tree)
        return tree

    def function(self, fn: Any) -> py.FunctionDef:
        args = py.arguments(
            posonlyargs=[],
            args=[py.arg(arg=p.name) for p in fn.params],
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=[],
        )
        body = self.block(fn.body)
        node = py.FunctionDef(
            name=fn.name, args=args, body=body, decorator_list=[], returns=None, type_comment=None
        )
        return self._at(node, fn)

    @staticmethod
    def _at(node: Any, source: Any) -> Any:
        span = getattr(source, "span", None)
        if span is not None and span.line:
            node.lineno = node.end_lineno = span.line
            node.col_offset = node.end_col_offset = max(span.column - 1, 0)
        return node

    def block(self, stmts: Iterable[Any]) -> list[py.stmt]:
        out = [self._at(self.stmt(s), s) for s in stmts]
        return out or [py.Pass()]

    def stmt(self, s: Any) -> py.stmt:
        from dana_poet.lang import ast as A

        if isinstance(s, A.ExprStmt):
            return py.Expr(value=self.expr(s.value))
        if isinstance(s, A.Assign):
            if s.value is None:
                return py.Pass()
            return py.Assign(targets=[self.target(s.target)], value=self.expr(s.value))
        if isinstance(s, A.AugAssign):
            target = self.target(s.target)
            assert isinstance(target, py.Name | py.Attribute | py.Subscript)
            return py.AugAssign(target=target, op=_DANA_BIN[s.op](), value=self.expr(s.value))
        if isinstance(s, A.Return):
            return py.Return(value=self.expr(s.value) if s.value is not None else None)
        if isinstance(s, A.If):
            return py.If(test=self.expr(s.test), body=self.block(s.body), orelse=self._else(s))
        if isinstance(s, A.While):
            return py.While(test=self.expr(s.test), body=self.block(s.body), orelse=[])
        if isinstance(s, A.For):
            return py.For(
                target=self._names(s.targets),
                iter=self.expr(s.iter),
                body=self.block(s.body),
                orelse=[],
            )
        if isinstance(s, A.Pass):
            return py.Pass()
        if isinstance(s, A.Break):
            return py.Break()
        if isinstance(s, A.Continue):
            return py.Continue()
        raise PolicyError([f"{type(s).__name__} is not allowed in stage code"])

    def _else(self, s: Any) -> list[py.stmt]:
        return [self._at(self.stmt(x), x) for x in s.orelse]

    @staticmethod
    def _names(targets: tuple[str, ...]) -> py.expr:
        if len(targets) == 1:
            return py.Name(id=targets[0], ctx=py.Store())
        return py.Tuple(elts=[py.Name(id=t, ctx=py.Store()) for t in targets], ctx=py.Store())

    def target(self, t: Any) -> py.expr:
        from dana_poet.lang import ast as A

        if isinstance(t, A.Name):
            return py.Name(id=t.id, ctx=py.Store())
        if isinstance(t, A.TupleExpr | A.ListExpr):
            return py.Tuple(elts=[self.target(e) for e in t.elts], ctx=py.Store())
        if isinstance(t, A.Subscript):
            return py.Subscript(value=self.expr(t.value), slice=self._index(t), ctx=py.Store())
        raise PolicyError(["stage code may assign only to its own variables"])

    def _index(self, e: Any) -> py.expr:
        if len(e.index) == 1:
            return self.expr(e.index[0])
        return py.Tuple(elts=[self.expr(i) for i in e.index], ctx=py.Load())

    def expr(self, e: Any) -> py.expr:
        node = self._expr(e)
        return self._at(node, e)

    def _expr(self, e: Any) -> py.expr:  # noqa: C901 - one case per node type of the subset
        from dana_poet.lang import ast as A

        if isinstance(e, A.Name):
            return py.Name(id=e.id, ctx=py.Load())
        if isinstance(e, A.Constant):
            return py.Constant(value=e.value)
        if isinstance(e, A.FString):
            return self.fstring(e)
        if isinstance(e, A.ListExpr):
            return py.List(elts=[self.expr(x) for x in e.elts], ctx=py.Load())
        if isinstance(e, A.TupleExpr):
            return py.Tuple(elts=[self.expr(x) for x in e.elts], ctx=py.Load())
        if isinstance(e, A.SetExpr):
            return py.Set(elts=[self.expr(x) for x in e.elts])
        if isinstance(e, A.DictExpr):
            return py.Dict(
                keys=[self.expr(k) for k in e.keys], values=[self.expr(v) for v in e.values]
            )
        if isinstance(e, A.Comprehension):
            return self.comprehension(e)
        if isinstance(e, A.Call):
            return py.Call(
                func=self.expr(e.func),
                args=[self.expr(a) for a in e.args],
                keywords=[py.keyword(arg=k.name, value=self.expr(k.value)) for k in e.keywords],
            )
        if isinstance(e, A.Attribute):
            return py.Attribute(value=self.expr(e.value), attr=e.attr, ctx=py.Load())
        if isinstance(e, A.Subscript):
            return py.Subscript(value=self.expr(e.value), slice=self._index(e), ctx=py.Load())
        if isinstance(e, A.Slice):
            return py.Slice(
                lower=self.expr(e.lower) if e.lower is not None else None,
                upper=self.expr(e.upper) if e.upper is not None else None,
                step=self.expr(e.step) if e.step is not None else None,
            )
        if isinstance(e, A.BinOp):
            return py.BinOp(left=self.expr(e.left), op=_DANA_BIN[e.op](), right=self.expr(e.right))
        if isinstance(e, A.UnaryOp):
            unary: py.unaryop = {"not": py.Not, "-": py.USub, "+": py.UAdd}[e.op]()
            return py.UnaryOp(op=unary, operand=self.expr(e.operand))
        if isinstance(e, A.BoolOp):
            boolean: py.boolop = py.And() if e.op == "and" else py.Or()
            return py.BoolOp(op=boolean, values=[self.expr(v) for v in e.values])
        if isinstance(e, A.Compare):
            return py.Compare(
                left=self.expr(e.left),
                ops=[_DANA_CMP[o]() for o in e.ops],
                comparators=[self.expr(c) for c in e.comparators],
            )
        if isinstance(e, A.IfExp):
            return py.IfExp(
                test=self.expr(e.test), body=self.expr(e.body), orelse=self.expr(e.orelse)
            )
        raise PolicyError([f"{type(e).__name__} is not allowed in stage code"])

    def fstring(self, e: Any) -> py.JoinedStr:
        values: list[py.expr] = []
        for part in e.parts:
            if isinstance(part, str):
                values.append(py.Constant(value=part))
                continue
            conversion = {"s": 115, "r": 114, "a": 97}.get(part.conversion or "", -1)
            spec = self.fstring(part.format_spec) if part.format_spec is not None else None
            values.append(
                py.FormattedValue(
                    value=self.expr(part.value), conversion=conversion, format_spec=spec
                )
            )
        return py.JoinedStr(values=values)

    def comprehension(self, e: Any) -> py.expr:
        generators = [
            py.comprehension(
                target=self._names(g.targets),
                iter=self.expr(g.iter),
                ifs=[self.expr(c) for c in g.conditions],
                is_async=0,
            )
            for g in e.generators
        ]
        element = self.expr(e.element)
        if e.kind == "dict":
            return py.DictComp(key=element, value=self.expr(e.value), generators=generators)
        if e.kind == "set":
            return py.SetComp(elt=element, generators=generators)
        return py.ListComp(elt=element, generators=generators)  # "gen" too: no frame to reach


def _check_length(source: str) -> None:
    if len(source) > MAX_SOURCE_CHARS:
        raise PolicyError(
            [f"stage code is {len(source):,} characters long (limit {MAX_SOURCE_CHARS:,})"]
        )


def python_tree_of_dana(source: str, filename: str) -> py.Module:
    """Parse and admit Dana stage code; its Python form, admitted again like Python stage code."""
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.parser import parse

    _check_length(source)
    try:
        module = parse(source, filename)
    except DanaSyntaxError as exc:
        raise PolicyError([f"parse error: {exc.render()}"]) from None
    problems = check_dana(module)
    if problems:
        raise PolicyError(problems)
    tree = _DanaStageTranslator().module(module)
    problems = check_python(tree)
    if problems:
        raise PolicyError([f"translated form refused: {p}" for p in problems])
    return tree


def python_tree(source: str) -> py.Module:
    _check_length(source)
    try:
        tree = py.parse(source)
    except SyntaxError as exc:
        raise PolicyError([f"line {exc.lineno}: {exc.msg}"]) from None
    problems = check_python(tree)
    if problems:
        raise PolicyError(problems)
    return tree


def admit(source: str, language: str, filename: str = "<poet-stages>") -> Any:
    """The guarded code object of admitted stage code; PolicyError when it is refused."""
    return admit_with_tree(source, language, filename)[0]


def compile_guarded(tree: py.Module) -> Any:
    """The code object of an admitted tree (changed in place): guarded, under the reserved
    file name the audit hook finds stage frames by."""
    return compile(guard_tree(tree), safety.STAGE_FILENAME, "exec", dont_inherit=True)


def admit_with_tree(
    source: str, language: str, filename: str = "<poet-stages>"
) -> tuple[Any, py.Module]:
    """`admit`, and the admitted Python form before guarding (for analysis: it is not run)."""
    try:
        if language == "dana":
            tree = python_tree_of_dana(source, filename)
        elif language == "python":
            tree = python_tree(source)
        else:
            raise PolicyError([f"unknown stage language {language!r}"])
        plain_form = copy.deepcopy(tree)
        return compile_guarded(tree), plain_form
    except (RecursionError, MemoryError):
        raise PolicyError([f"stage code is nested too deeply (limit {MAX_DEPTH} levels)"]) from None


def load(code: Any, language: str, helpers: dict[str, Any]) -> StageFunctions:
    """Run an admitted module (it only defines functions) in its own globals."""
    g = stage_globals(helpers)
    for name in _names_of(code):  # an inline test for a parameter no helper knows
        if (name.startswith(G_EXACT) or name == G_RETURNS) and name not in g:
            g[name] = _Never
    exec(code, g)  # noqa: S102 - admitted and guarded above; defines the stage functions only
    return StageFunctions(g.get("perceive"), g.get("enforce"), language, g)


__all__ = [
    "MAX_BUILT",
    "MAX_CHAIN",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_NODES",
    "MAX_SOURCE_CHARS",
    "STAGE_FUNCTIONS",
    "STAGE_HELPERS",
    "Budget",
    "budget_starter",
    "tick",
    "tock",
    "LimitExceeded",
    "PolicyError",
    "PolicyViolation",
    "StageFunctions",
    "StageTimeout",
    "admit",
    "admit_with_tree",
    "compile_guarded",
    "check_dana",
    "check_python",
    "load",
    "private_copy",
]
