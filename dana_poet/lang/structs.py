"""Dana structs, resources, agent blueprints and workflows as Python classes.

A declaration becomes a subclass of `DanaStruct` with its fields in
`__dana_fields__` (name -> annotation, in declaration order). Field values are
validated, not coerced (an int is accepted and stored as a float for a float
field; None only where the type allows it). Receiver functions become real
methods on the class, so `obj.method(...)` is an ordinary attribute call.
"""

from __future__ import annotations

import types
import typing
from typing import Any, ClassVar

NO_DEFAULT: Any = object()


class StructTypeError(TypeError):
    pass


def type_name(annotation: Any) -> str:
    if annotation is typing.Any:
        return "any"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, str):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def _value_type_name(value: Any) -> str:
    if isinstance(value, DanaStruct):
        return type(value).__name__
    for base in (bool, int, float, str, list, dict, tuple, set):
        if isinstance(value, base):
            return base.__name__
    return type(value).__name__


def check_value(annotation: Any, value: Any) -> tuple[bool, Any]:
    """Is `value` acceptable for `annotation`? Returns (ok, value to store)."""
    if annotation is typing.Any or isinstance(annotation, str):
        return True, value
    if value is None:
        return annotation is type(None) or _allows_none(annotation), value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            ok, stored = check_value(option, value)
            if ok:
                return True, stored
        return False, value
    target = origin if origin is not None else annotation
    if target is float:
        if isinstance(value, float):
            return True, value
        if isinstance(value, int) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if target is int:
        return isinstance(value, int), value
    if isinstance(target, type):
        return isinstance(value, target), value
    return True, value


def _allows_none(annotation: Any) -> bool:
    if annotation is typing.Any or annotation is type(None) or annotation is None:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_allows_none(a) for a in typing.get_args(annotation))
    return False


class DanaStruct:
    """Base of every Dana-declared type."""

    __dana_fields__: ClassVar[dict[str, Any]] = {}
    __dana_defaults__: ClassVar[dict[str, Any]] = {}
    __dana_kind__: ClassVar[str] = "struct"
    __dana_implicit__: ClassVar[dict[str, Any]] = {}
    __dana_program__: ClassVar[Any] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        fields = cls.__dana_fields__
        names = list(fields)
        if len(args) > len(names):
            raise TypeError(
                f"{cls.__name__}() takes {len(names)} fields but {len(args)} positional values were given"
            )
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in fields:
                raise TypeError(
                    f"Unknown fields for {cls.__dana_kind__} '{cls.__name__}': [{key!r}]"
                )
            if key in values:
                raise TypeError(f"{cls.__name__}() got field '{key}' twice")
            values[key] = value
        missing = [n for n in names if n not in values and n not in cls.__dana_defaults__]
        if missing:
            raise TypeError(
                f"Missing required fields for {cls.__dana_kind__} '{cls.__name__}': {missing}"
            )
        store = self.__dict__
        for name in names:
            value = values[name] if name in values else cls.__dana_defaults__[name]
            store[name] = cls._validated(name, value)

    @classmethod
    def _validated(cls, name: str, value: Any) -> Any:
        annotation = cls.__dana_fields__[name]
        ok, stored = check_value(annotation, value)
        if not ok:
            raise TypeError(
                f"Type validation failed for {cls.__dana_kind__} '{cls.__name__}': Field '{name}': "
                f"expected {type_name(annotation)}, got {_value_type_name(value)} ({value!r})"
            )
        return stored

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        if name in cls.__dana_fields__:
            value = cls._validated(name, value)
        elif not name.startswith("_"):
            raise AttributeError(f"{cls.__dana_kind__} '{cls.__name__}' has no field '{name}'")
        self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: fall back to a visible function `name(obj, ...)`.
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "struct_type":  # the declared type (a field of that name wins)
            return StructType(type(self))
        program = type(self).__dana_program__
        fn = program.find_function(name) if program is not None else None
        if fn is not None:
            return types.MethodType(fn, self)
        raise AttributeError(f"'{type(self).__name__}' has no field or method '{name}'")

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={self.__dict__.get(n)!r}" for n in type(self).__dana_fields__)
        return f"{type(self).__name__}({inner})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        fields = type(self).__dana_fields__
        return all(self.__dict__.get(n) == other.__dict__.get(n) for n in fields)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {n: self.__dict__.get(n) for n in type(self).__dana_fields__}


class StructType:
    """What `obj.struct_type` gives: `.name`, `.docstring`, `.fields` (name -> type name)."""

    def __init__(self, cls: type) -> None:
        self.name = cls.__name__
        self.docstring = cls.__doc__
        self.fields = {n: type_name(t) for n, t in cls.__dana_fields__.items()}  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"StructType({self.name})"


class DanaAgentBase(DanaStruct):
    """Agent blueprints: structs with a small in-memory memory and LLM-backed helpers."""

    def remember(self, key: Any, value: Any) -> bool:
        self.__dict__.setdefault("_memory", {})[key] = value
        return True

    def recall(self, key: Any) -> Any:
        return self.__dict__.get("_memory", {}).get(key)

    def get_memory_keys(self) -> list[Any]:
        return list(self.__dict__.get("_memory", {}))

    def get_conversation_history(self) -> list[dict[str, Any]]:
        return list(self.__dict__.get("_history", []))

    def _ask(self, verb: str, text: Any) -> Any:
        """The LLM's answer; offline (mock mode or no LLM configured) a plain statement of the step."""
        from dana_poet.lang import llm

        kind = type(self).__name__
        if llm.offline():
            return f"{kind} is {verb}: {text}"
        return llm.reason(
            f"You are agent {kind} ({self.__dict__.get('name', kind)}). Task ({verb}): {text}"
        )

    def plan(self, task: Any) -> Any:
        return self._ask("planning", task)

    def solve(self, problem: Any) -> Any:
        return self._ask("solving", problem)

    def reason(self, premise: Any) -> Any:
        return self._ask("reasoning about", premise)

    def chat(self, message: Any) -> Any:
        answer = self._ask("replying to", message)
        self.__dict__.setdefault("_history", []).append({"user": message, "agent": answer})
        return answer


_EXTRA_FIELDS: dict[str, list[tuple[str, Any, Any]]] = {
    "resource": [("state", str, "INITIALIZED")],
    "agent": [],
    "agent_blueprint": [
        ("name", str, "unnamed_agent"),
        ("description", str, "A Dana agent"),
        ("state", str, "CREATED"),
    ],
    "workflow": [("name", str, "A Workflow"), ("fsm", typing.Any, None)],
}


def make_struct(
    kind: str,
    name: str,
    fields: list[tuple[str, Any, Any]],
    docstring: str | None,
    base: type | None,
    program: Any,
) -> type[DanaStruct]:
    all_fields = list(_EXTRA_FIELDS.get(kind, []))
    if base is not None and isinstance(base, type) and issubclass(base, DanaStruct):
        all_fields = [
            (n, base.__dana_fields__[n], base.__dana_defaults__.get(n, NO_DEFAULT))
            for n in base.__dana_fields__
        ]
    declared = {f[0] for f in fields}
    all_fields = [f for f in all_fields if f[0] not in declared] + list(fields)
    annotations = {n: t for n, t, _ in all_fields}
    defaults = {n: d for n, _, d in all_fields if d is not NO_DEFAULT}
    parent: type[DanaStruct] = DanaAgentBase if kind in ("agent_blueprint", "agent") else DanaStruct
    if base is not None and isinstance(base, type) and issubclass(base, DanaStruct):
        parent = base
    namespace = {
        "__dana_fields__": annotations,
        "__dana_defaults__": defaults,
        "__dana_kind__": kind,
        "__dana_program__": program,
        "__doc__": docstring,
        "__module__": "dana",
        "__qualname__": name,
    }
    return type(name, (parent,), namespace)


def dana_type_label(value: Any) -> str:
    """How Dana's `type()` prints a value's type."""
    cls = type(value)
    if isinstance(value, DanaStruct):
        kind = cls.__dana_kind__
        label = {
            "struct": "Struct",
            "resource": "Resource",
            "agent_blueprint": "Agent",
            "agent": "Agent",
            "workflow": "Workflow",
        }
        return f"{label.get(kind, 'Struct')}[{cls.__name__}]"
    return cls.__name__
