"""The builtins a Dana program sees.

Python's safe builtins keep their Python behaviour (keyword arguments work:
`sorted(xs, key=f, reverse=true)`); `bool`, `type` and `isinstance` follow
Dana's rules; file, eval and introspection builtins are refused.
"""

from __future__ import annotations

import builtins as py_builtins
import functools
import math
import sys
import time
import typing
from typing import Any

from dana_poet.lang.errors import SandboxError
from dana_poet.lang.runtime import (
    DanaAssertionError,
    call_with_context_args,
    coerce_assignment,
    semantic_bool,
)
from dana_poet.lang.structs import NO_DEFAULT, DanaStruct, dana_type_label, fsm_type, make_struct

_PY_SAFE = (
    "abs all any chr dict enumerate filter float frozenset int len list map ord print "
    "range reversed round set sorted str sum tuple zip"
).split()

_EXCEPTIONS = (
    "BaseException Exception ArithmeticError AssertionError AttributeError IndexError KeyError "
    "LookupError NameError NotImplementedError OverflowError RecursionError RuntimeError "
    "StopIteration TimeoutError TypeError ValueError ZeroDivisionError ImportError OSError "
    "UnicodeError PermissionError FileNotFoundError ConnectionError KeyboardInterrupt"
).split()

REFUSED = {
    "open": "file access is not allowed",
    "input": "reading from the terminal is not allowed",
    "eval": "code execution is not allowed",
    "exec": "code execution is not allowed",
    "compile": "code execution is not allowed",
    "globals": "introspection is not allowed",
    "locals": "introspection is not allowed",
    "vars": "introspection is not allowed",
    "dir": "introspection is not allowed",
    "__import__": "use Dana's import statement",
    "id": "introspection is not allowed",
    "hash": "introspection is not allowed",
    "memoryview": "raw memory access is not allowed",
    "getattr": "dynamic attribute access is not allowed",
    "setattr": "dynamic attribute access is not allowed",
    "delattr": "dynamic attribute access is not allowed",
    "hasattr": "dynamic attribute access is not allowed",
    "issubclass": "introspection is not allowed",
    "iter": "not supported in Dana",
    "next": "not supported in Dana",
    "callable": "introspection is not allowed",
    "repr": "not supported in Dana",
    "ascii": "not supported in Dana",
    "pow": "use the ** operator",
    "divmod": "use // and %",
    "format": "use f-strings",
    "bin": "not supported in Dana",
    "oct": "not supported in Dana",
    "hex": "not supported in Dana",
    "object": "not supported in Dana",
    "slice": "use slice syntax x[a:b]",
    "property": "not supported in Dana",
    "classmethod": "not supported in Dana",
    "staticmethod": "not supported in Dana",
    "super": "not supported in Dana",
}


def _refused(name: str, why: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SandboxError(f"Built-in function '{name}' is not supported in Dana sandbox: {why}")

    refuse.__name__ = name
    return refuse


class _DanaBoolMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, bool)

    def __repr__(cls) -> str:
        return "<class 'bool'>"


class DanaBool(metaclass=_DanaBoolMeta):
    """Dana's `bool`: converts by meaning (§6.1) and still works as the bool type
    in `isinstance(x, bool)`, `type(x) == bool` and `cast(bool, x)`."""

    __dana_python_type__ = bool

    def __new__(cls, value: Any = False) -> bool:  # type: ignore[misc]
        return semantic_bool(value)


class DanaType:
    """What Dana's `type(x)` returns: prints as the type's name and equals that name."""

    __slots__ = ("name", "label", "python_type")

    def __init__(self, python_type: type, name: str, label: str) -> None:
        self.python_type = python_type
        self.name = name
        self.label = label

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.name, self.label)
        if isinstance(other, DanaType):
            return self.python_type is other.python_type
        if isinstance(other, type):
            return self.python_type is getattr(other, "__dana_python_type__", other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return self.label

    @property
    def __name__(self) -> str:  # noqa: PLW3201 - mirrors type.__name__
        return self.name

    @property
    def is_constructor(self) -> bool:
        """True for the type of a struct type itself (`type(Point)`): a constructor."""
        return self.name == "Constructor"

    @property
    def is_instance(self) -> bool:
        return not self.is_constructor

    @property
    def instance_type(self) -> str | None:
        """`Struct`, `Resource`, `Agent` or `Workflow` for a declared type's instance."""
        kind = getattr(self.python_type, "__dana_kind__", None) if self.is_instance else None
        return _INSTANCE_KINDS.get(kind) if isinstance(kind, str) else None

    @property
    def underlying_type_name(self) -> str | None:
        """The declared type's name for its instances (`Point`), else None."""
        return self.python_type.__name__ if self.instance_type else None


_INSTANCE_KINDS = {
    "struct": "Struct",
    "resource": "Resource",
    "agent_blueprint": "Agent",
    "workflow": "Workflow",
}

_BASE_TYPES = (bool, int, float, str, list, dict, tuple, set, frozenset, bytes)


def base_type(value: Any) -> type:
    """The builtin type a value presents as (POET result carriers present as their raw type)."""
    cls = type(value)
    if cls in _BASE_TYPES or cls.__module__ != "dana_poet.poet.result":
        return cls
    for base in _BASE_TYPES:
        if isinstance(value, base):
            return base
    return cls


def dana_type(value: Any) -> DanaType:
    cls = base_type(value)
    if isinstance(value, DanaStruct):
        return DanaType(cls, cls.__name__, dana_type_label(value))
    if isinstance(value, type) and issubclass(value, DanaStruct):
        return DanaType(cls, "Constructor", f"Constructor[{value.__name__}]")
    if callable(value) and getattr(value, "__code__", None) is not None:
        return DanaType(cls, "DanaFunction", "DanaFunction")
    return DanaType(cls, cls.__name__, cls.__name__)


def dana_isinstance(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):
        return any(dana_isinstance(value, k) for k in kind)
    if isinstance(kind, str):
        cls = base_type(value)
        if isinstance(value, DanaStruct):
            return kind in ("StructInstance", cls.__name__, dana_type_label(value))
        return cls.__name__ == kind
    if isinstance(kind, DanaType):
        return isinstance(value, kind.python_type)
    return py_builtins.isinstance(value, getattr(kind, "__dana_python_type__", kind))


# ------------------------------------------------------------------ log


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
_LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


class DanaLog:
    """`log(msg, level)` and `log.debug(msg)`, `log.info(...)`, ...: stderr from WARNING up
    (the threshold moves with `log_level`)."""

    def __init__(self) -> None:
        self.threshold = 30

    def __call__(self, message: Any, level: Any = "INFO", **kwargs: Any) -> None:
        lvl = _LEVELS.get(str(level).upper(), 20)
        if lvl < self.threshold:
            return
        name = _LEVEL_NAMES[lvl]
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} - [dana] {name} - {message}\n")

    def debug(self, message: Any) -> None:
        self(message, "DEBUG")

    def info(self, message: Any) -> None:
        self(message, "INFO")

    def warning(self, message: Any) -> None:
        self(message, "WARNING")

    warn = warning

    def error(self, message: Any) -> None:
        self(message, "ERROR")

    def critical(self, message: Any) -> None:
        self(message, "CRITICAL")

    def set_level(self, level: Any, namespace: str = "dana") -> None:
        self.threshold = _LEVELS.get(str(level).upper(), 20)

    def __repr__(self) -> str:
        return "<builtin log>"


# ------------------------------------------------------------------ framework hooks (§11.2)


class ResourceHandle:
    """What `use(kind, ...)` and `get_resource(kind, ...)` give: a named resource with its
    configuration, usable in `with use(...) as r:`. dana-poet ships no MCP/RAG backends, so
    calling a method of the resource is an error naming the resource kind."""

    def __init__(self, kind: str, name: str, args: tuple[Any, ...], options: dict[str, Any]):
        self.kind = kind
        self.name = name
        self.args = list(args)
        self.options = options
        self.state = "INITIALIZED"

    def __enter__(self) -> ResourceHandle:
        self.state = "RUNNING"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.state = "STOPPED"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise SandboxError(
            f"resource '{self.name}' of kind '{self.kind}' has no backend in dana-poet: "
            f"'{name}' is not available"
        )

    def __repr__(self) -> str:
        return f"Resource[{self.kind}](name={self.name!r})"


class Resources:
    """The program's resources by name: `use(kind, ..., _name=n)` twice gives the same one."""

    def __init__(self) -> None:
        self.by_name: dict[str, ResourceHandle] = {}

    def use(self, kind: Any, *args: Any, _name: str | None = None, **options: Any) -> Any:
        name = _name or options.pop("name", None) or f"{kind}_{len(self.by_name) + 1}"
        found = self.by_name.get(str(name))
        if found is None:
            found = self.by_name[str(name)] = ResourceHandle(str(kind), str(name), args, options)
        return found


def make_agent_function(program: Any) -> Any:
    def agent(name: Any, config: dict[str, Any] | None = None, **fields: Any) -> Any:
        """`agent("Inspector", {"domain": "x"})`: an agent instance named `name` whose
        fields are the config's keys (the function form of `agent Name`)."""
        values = {**(config or {}), **fields}
        for key in values:
            if not isinstance(key, str) or not key.isidentifier():
                raise TypeError(f"agent(): field names must be identifiers, got {key!r}")
        cls = make_struct(
            "agent_blueprint",
            str(name),
            [(k, typing.Any, NO_DEFAULT) for k in values if k != "name"],
            None,
            None,
            program,
        )
        return cls(**{"name": str(name), **values})

    agent.__qualname__ = "agent"
    return agent


# ------------------------------------------------------------------ small corelib


def case(*clauses: Any) -> Any:
    fallback: Any = None
    has_fallback = False
    for clause in clauses:
        if isinstance(clause, tuple) and len(clause) == 2:
            cond, fn = clause
            hit = call_with_context_args(cond) if callable(cond) else cond
            if hit:
                return call_with_context_args(fn, select=True) if callable(fn) else fn
        else:
            fallback, has_fallback = clause, True
    if has_fallback:
        return call_with_context_args(fallback, select=True) if callable(fallback) else fallback
    raise ValueError("case(): no condition matched and no fallback was given")


def _extreme(pick: Any) -> Any:
    """`min`/`max` as Dana has them: one collection, several values, or one plain value,
    which is its own extreme (`max(7) == 7`); `key=` and `default=` work as in Python."""

    def extreme(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not isinstance(
            args[0], list | tuple | set | frozenset | dict | range | str
        ):
            first = args[0]
            if not hasattr(first, "__iter__"):
                return first
        return pick(*args, **kwargs)

    extreme.__name__ = pick.__name__
    return extreme


def dana_exit(code: Any = 0) -> None:
    """`exit(code)` ends the program with that status (a bare `exit` line does nothing)."""
    raise SystemExit(code)


def noop(*args: Any) -> Any:
    if not args:
        return None
    return args[0] if len(args) == 1 else args


def log_calls(fn: Any) -> Any:
    name = getattr(fn, "__name__", "function")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        print(f"[log_calls] Wrapper called for {name}")
        print(f"Calling {name} with args: {args}, kwargs: {kwargs}")
        result = fn(*args, **kwargs)
        print(f"{name} returned: {result}")
        return result

    return wrapper


def _function_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", getattr(fn, "name", "<unknown>")))


def log_with_prefix(prefix: Any = "[LOG]", include_result: bool = True) -> Any:
    """`@log_with_prefix("[API]")`: prints each call and its result after the prefix (a bare
    `@log_with_prefix` uses the prefix `[LOG]`)."""

    def decorator(fn: Any) -> Any:
        name = _function_name(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            print(f"{prefix} Calling {name} with args: {args}, kwargs: {kwargs}")
            result = fn(*args, **kwargs)
            if include_result:
                print(f"{prefix} {name} returned: {result}")
            return result

        return wrapper

    if callable(prefix) and not isinstance(prefix, str):
        fn, prefix = prefix, "[LOG]"
        return decorator(fn)
    return decorator


def repeat(times: Any = 1) -> Any:
    """`@repeat(3)`: runs the function that many times, announcing each run; gives the last
    result (a bare `@repeat` runs it once)."""

    def decorator(fn: Any) -> Any:
        name = _function_name(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            print(f"[repeat] Executing {name} {times} times")
            result = None
            for i in range(times):
                print(f"[repeat] Execution {i + 1}/{times}")
                result = fn(*args, **kwargs)
            return result

        return wrapper

    if callable(times):
        fn, times = times, 1
        return decorator(fn)
    return decorator


def validate_args(*target: Any, **validators: Any) -> Any:
    """`@validate_args(age=lambda v :: v >= 0)`: checks keyword arguments with the given
    predicates before each call (`ValueError` naming the argument when one fails); a bare
    `@validate_args` checks nothing but still announces the call."""

    def decorator(fn: Any) -> Any:
        name = _function_name(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            print(f"[validate_args] Validating arguments for {name}")
            for param, check in validators.items():
                if param in kwargs and not check(kwargs[param]):
                    raise ValueError(f"Validation failed for {param}: {kwargs[param]}")
            return fn(*args, **kwargs)

        return wrapper

    if len(target) == 1 and callable(target[0]) and not validators:
        return decorator(target[0])
    if target:
        raise TypeError("validate_args() takes keyword arguments: validate_args(name=check)")
    return decorator


def lazy_builtin(module: str, attr: str) -> Any:
    """A builtin whose implementing module is imported on first call (keeps start-up fast)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__name__ = attr
    return call


def make_builtins(program: Any) -> dict[str, Any]:
    b: dict[str, Any] = {name: getattr(py_builtins, name) for name in _PY_SAFE}
    b.update({name: getattr(py_builtins, name) for name in _EXCEPTIONS})
    for name, why in REFUSED.items():
        b[name] = _refused(name, why)
    log = DanaLog()
    resources = Resources()
    b.update(
        {
            "bool": DanaBool,
            "type": dana_type,
            "isinstance": dana_isinstance,
            "sleep": time.sleep,
            "SandboxError": SandboxError,
            "DanaAssertionError": DanaAssertionError,
            "log": log,
            "log_level": log.set_level,
            "case": case,
            "noop": noop,
            "exit": dana_exit,
            "min": _extreme(py_builtins.min),
            "max": _extreme(py_builtins.max),
            "cast": lambda kind, value: coerce_assignment(value, kind, "cast"),
            "basic_sum": lambda xs: py_builtins.sum(xs),
            "basic_min": lambda xs: py_builtins.min(xs),
            "basic_max": lambda xs: py_builtins.max(xs),
            "sum_range": lambda a, b: py_builtins.sum(range(a, b + 1)),
            "is_odd": lambda n: n % 2 == 1,
            "is_even": lambda n: n % 2 == 0,
            "factorial": math.factorial,
            "capitalize_words": lambda s: " ".join(w.capitalize() for w in s.split()),
            "title_case": lambda s: s.title(),
            "add_one": lambda x: x + 1,
            "add_two": lambda x: x + 2,
            "add_three": lambda x: x + 3,
            "add_four": lambda x: x + 4,
            "log_calls": log_calls,
            "log_with_prefix": log_with_prefix,
            "repeat": repeat,
            "validate_args": validate_args,
            "reason": lazy_builtin("dana_poet.lang.llm", "reason"),
            "llm": lazy_builtin("dana_poet.lang.llm", "llm"),
            "set_model": lazy_builtin("dana_poet.lang.llm", "set_model"),
            "use": resources.use,
            "get_resource": resources.use,
            "agent": make_agent_function(program),
            "FSM": fsm_type(program),
        }
    )
    return b
