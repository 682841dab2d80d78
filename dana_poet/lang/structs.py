"""Dana structs, resources, agent blueprints and workflows as Python classes.

A declaration becomes a slotted subclass of `DanaStruct` with its fields in
`__dana_fields__` (name -> annotation, in declaration order) and a constructor
generated for its fields, so that creating an instance costs what a dataclass
costs and reading a field is a plain attribute load. Field values are validated,
not coerced (an int is accepted and stored as a float for a float field; None
only where the type allows it): the constructor checks every field, and
compiled Dana code checks every field write (`runtime.set_field`; the class has
no `__setattr__`, so a write whose value has the field's exact type is a plain
store). Receiver functions become real methods on the class.

A receiver function whose field writes test the receiver's type is also compiled
without that test, and the copy is installed as the struct's method (`exact_method`):
called as a method of that struct, its receiver is an instance of exactly that struct
(Dana structs have no subclasses; an agent declared on a struct gets the plain function).

Delegation: a field whose name starts with `_` lends its own fields and methods
to the struct that holds it (`car.horsepower` reads `car._engine.horsepower`
when `Car` has no such field); the first such field in declaration order wins.
"""

from __future__ import annotations

import keyword
import types
import typing
from typing import Any, ClassVar

from dana_poet.lang.helpers import EXACT_METHOD, MAKE

NO_DEFAULT: Any = object()


class StructTypeError(TypeError):
    pass


class DefaultFactory:
    """A field default made fresh for every instance (a workflow's `fsm`)."""

    __slots__ = ("make",)

    def __init__(self, make: Any) -> None:
        self.make = make


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
        if issubclass(type(value), base):
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
    kind = type(value)  # its real type: isinstance() would believe a lying `__class__`
    if target is float:
        if issubclass(kind, float):
            return True, value
        if issubclass(kind, int) and not issubclass(kind, bool):
            return True, float(value)
        return False, value
    if isinstance(target, type):
        return issubclass(kind, target), value
    return True, value


def _allows_none(annotation: Any) -> bool:
    if annotation is typing.Any or annotation is type(None) or annotation is None:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_allows_none(a) for a in typing.get_args(annotation))
    return False


def _exact_types(annotation: Any) -> tuple[type, ...] | None:
    """Types whose instances a field accepts unchanged (the constructor's fast path);
    None when the field accepts anything."""
    if annotation is typing.Any or isinstance(annotation, str):
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: list[type] = []
        for option in typing.get_args(annotation):
            exact = _exact_types(option)
            if exact is None:
                return None
            out.extend(exact)
        return tuple(out)
    target = origin if origin is not None else annotation
    return (target,) if isinstance(target, type) else None


def validated(cls: type, name: str, value: Any) -> Any:
    """The value to store in field `name` of `cls`, or a TypeError naming the field."""
    annotation = cls.__dana_fields__[name]  # type: ignore[attr-defined]
    ok, stored = check_value(annotation, value)
    if not ok:
        raise TypeError(
            f"Type validation failed for {cls.__dana_kind__} '{cls.__name__}': "  # type: ignore[attr-defined]
            f"Field '{name}': expected {type_name(annotation)}, got "
            f"{_value_type_name(value)} ({value!r})"
        )
    return stored


class DanaStruct:
    """Base of every Dana-declared type."""

    __slots__ = ()
    __dana_fields__: ClassVar[dict[str, Any]] = {}
    __dana_defaults__: ClassVar[dict[str, Any]] = {}
    __dana_kind__: ClassVar[str] = "struct"
    __dana_program__: ClassVar[Any] = None
    __dana_delegates__: ClassVar[tuple[str, ...]] = ()
    __dana_exact__: ClassVar[dict[str, type]] = {}
    __dana_holders__: ClassVar[list[tuple[type, str]]] = []

    @property
    def struct_type(self) -> StructType:
        """The declared type (a field named `struct_type` takes precedence)."""
        return StructType(type(self))

    @property
    def _type(self) -> StructType:
        """The declared type, as the reference spells it (`obj._type.name`)."""
        return StructType(type(self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n, None)!r}" for n in type(self).__dana_fields__)
        return f"{type(self).__name__}({inner})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            getattr(self, n, None) == getattr(other, n, None) for n in type(self).__dana_fields__
        )

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {n: getattr(self, n, None) for n in type(self).__dana_fields__}

    def __getstate__(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in type(self).__dana_fields__ if hasattr(self, n)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for n, v in state.items():
            object.__setattr__(self, n, v)


def set_field(obj: Any, name: str, value: Any) -> None:
    """`obj.name = value` as Dana does it: struct fields are validated (a delegated field
    is written, validated, on the struct that holds it), dicts refuse attributes, anything
    else is an ordinary attribute."""
    if not isinstance(obj, DanaStruct):
        if type(obj) is dict:
            raise AttributeError(f"cannot set attribute '{name}' on a dict (use d['{name}'])")
        setattr(obj, name, value)
        return
    cls = type(obj)
    if name in cls.__dana_fields__:
        object.__setattr__(obj, name, validated(cls, name, value))
        return
    try:
        object.__setattr__(obj, name, value)
    except AttributeError:
        raise AttributeError(
            f"{cls.__dana_kind__} '{cls.__name__}' has no field '{name}'"
        ) from None


def exact_method(fn: Any) -> Any:
    """The method to install for receiver function `fn` on the one struct its receiver
    names: the copy compiled for a receiver of exactly that struct when there is one
    (field writes on the receiver then skip its type test), else `fn` itself."""
    exact = getattr(fn, EXACT_METHOD, None) if type(fn) is types.FunctionType else None
    if exact is None:
        return fn
    exact.__name__, exact.__qualname__ = fn.__name__, fn.__qualname__
    exact.__defaults__ = fn.__defaults__  # one set of defaults, evaluated once
    exact.__dana_plain__ = fn
    return exact


def plain_methods_for(cls: type) -> None:
    """Give `cls` (a subclass) the plain functions of the exact-receiver methods it would
    inherit: their receiver is not exactly the struct they were compiled for."""
    for klass in cls.__mro__[1:]:
        for name, value in list(klass.__dict__.items()):
            plain = getattr(value, "__dana_plain__", None)
            if plain is not None and name not in cls.__dict__ and getattr(cls, name) is value:
                setattr(cls, name, plain)


def inherited_plain(cls: type, name: str, value: Any) -> bool:
    """Is `value` (in `cls`'s own namespace) a plain function `plain_methods_for` put there?"""
    return any(
        getattr(klass.__dict__.get(name), "__dana_plain__", None) is value
        for klass in cls.__mro__[1:]
    )


class StructType:
    """What `obj.struct_type` gives: `.name`, `.docstring`, `.fields` (name -> type name)."""

    def __init__(self, cls: type) -> None:
        self.name = cls.__name__
        self.docstring = cls.__doc__
        self.fields = {n: type_name(t) for n, t in cls.__dana_fields__.items()}  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"StructType({self.name})"


class DanaAgentBase(DanaStruct):
    """Agent blueprints: structs with a small in-memory memory and LLM-backed helpers
    (instances keep a `__dict__` for that memory)."""

    def remember(self, key: Any, value: Any) -> bool:
        self.__dict__.setdefault("_memory", {})[key] = value
        return True

    def recall(self, key: Any) -> Any:
        return self.__dict__.get("_memory", {}).get(key)

    def get_memory_keys(self) -> list[Any]:
        return list(self.__dict__.get("_memory", {}))

    def get_conversation_history(self) -> list[dict[str, Any]]:
        return list(self.__dict__.get("_history", []))

    def _ask(self, verb: str, text: Any, context: Any = None) -> Any:
        """The LLM's answer; offline (mock mode or no LLM configured) a plain statement of the step."""
        from dana_poet.lang import llm

        kind = type(self).__name__
        if llm.offline():
            return f"{kind} is {verb}: {text}"
        extra = f" Context: {context}" if context else ""
        return llm.reason(
            f"You are agent {kind} ({getattr(self, 'name', kind)}). Task ({verb}): {text}{extra}"
        )

    def plan(self, task: Any, context: Any = None) -> Any:
        return self._ask("planning", task, context)

    def solve(
        self, problem: Any, context: Any = None, resources: Any = None, workflows: Any = None
    ) -> Any:
        return self._ask("solving", problem, context)

    def reason(self, premise: Any, context: Any = None, resources: Any = None) -> Any:
        return self._ask("reasoning about", premise, context)

    def chat(self, message: Any, context: Any = None, max_context_turns: int = 5) -> Any:
        answer = self._ask("replying to", message, context)
        self.__dict__.setdefault("_history", []).append({"user": message, "agent": answer})
        return answer


class DanaResourceBase(DanaStruct):
    """Resources: structs with a lifecycle (`state` moves INITIALIZED -> RUNNING ->
    TERMINATED) and a default `query`; receivers of the same names replace them."""

    def initialize(self) -> bool:
        self.state = "INITIALIZED"
        return True

    def start(self) -> bool:
        self.state = "RUNNING"
        return True

    def stop(self) -> bool:
        self.state = "TERMINATED"
        return True

    cleanup = stop

    def is_running(self) -> bool:
        return bool(self.state == "RUNNING")

    def get_metadata(self) -> dict[str, Any]:
        cls = type(self)
        return {
            "name": getattr(self, "name", ""),
            "kind": getattr(self, "kind", ""),
            "state": self.state,
            "type": cls.__name__,
            "fields": self.to_dict(),
        }

    def query(self, request: Any = None) -> Any:
        return {
            "success": True,
            "state": self.state,
            "metadata": self.get_metadata(),
            "request": request,
        }

    def __enter__(self) -> Any:
        """`with resource as r:` initializes it (a receiver `initialize` runs) and gives it."""
        self.initialize()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# ------------------------------------------------------------------ FSM (§10.5)

FSM_FIELDS: list[tuple[str, Any, Any]] = [
    ("states", list, ["START", "COMPLETE"]),
    ("initial_state", str, "START"),
    ("current_state", str, "START"),
    ("transitions", dict, {"START:next": "COMPLETE"}),
]


def workflow_fsm(program: Any) -> Any:
    """A workflow's default state machine: START -> PROCESSING -> COMPLETE on `next`."""
    fsm: Any = fsm_type(program)
    return fsm(
        states=["START", "PROCESSING", "COMPLETE"],
        initial_state="START",
        current_state="START",
        transitions={"START:next": "PROCESSING", "PROCESSING:next": "COMPLETE"},
    )


def fsm_type(program: Any) -> type[DanaStruct]:
    """The builtin `FSM` struct of a program (one class per program)."""
    cls = getattr(program, "fsm_class", None) if program is not None else None
    if cls is None:
        cls = make_struct("struct", "FSM", FSM_FIELDS, "Finite state machine", None, program)
        if program is not None:
            program.fsm_class = cls
    return cls


def _extra_fields(kind: str, program: Any) -> list[tuple[str, Any, Any]]:
    if kind == "resource":
        return [("state", str, "INITIALIZED")]
    if kind == "agent_blueprint":
        return [
            ("name", str, "unnamed_agent"),
            ("description", str, "A Dana agent"),
            ("state", str, "CREATED"),
        ]
    if kind == "workflow":
        return [
            ("name", str, "A Workflow"),
            ("fsm", typing.Any, DefaultFactory(lambda: workflow_fsm(program))),
        ]
    return []


# ------------------------------------------------------------------ the class of a declaration


def _constructor(cls: type, names: list[str]) -> tuple[Any, Any]:
    """`__init__(self, f1=..., f2=..., ...)` for `cls`'s fields, checked field by field, and
    MAKE, the same checks in a function that creates the instance itself (the compiler
    calls it for a struct it knows with arguments it has checked: no `*args`/`**kwargs`
    to collect and no `type.__call__`, so it costs less than a dataclass's `__init__`)."""
    if any(keyword.iskeyword(n) or not n.isidentifier() for n in names):
        return _generic_init, _generic_make(cls)
    fields = cls.__dana_fields__  # type: ignore[attr-defined]
    defaults = cls.__dana_defaults__  # type: ignore[attr-defined]
    env: dict[str, Any] = {
        "__dana_NO": NO_DEFAULT,
        "__dana_cls": cls,
        "__dana_new": object.__new__,
        "__dana_type": type,  # a field may be named `type`
        "__dana_check": validated,
        "__dana_check_given": _validated_given,
        "__dana_missing": _missing_fields,
        "__dana_extra": _extra_arguments,
    }
    params = [f"{n}=__dana_NO" for n in names]
    body: list[str] = []
    required = [n for n in names if n not in defaults]
    exact_types = {n: _exact_types(fields[n]) for n in names}
    # a required field with exact types needs no test of its own for "missing": the
    # missing marker fails the type test, and its slow path reports every missing field
    # before validating anything
    untested = [n for n in required if exact_types[n] is None]
    if untested:
        body.append(f"    if {' or '.join(f'{n} is __dana_NO' for n in required)}:")
        body.append(
            f"        __dana_missing(__dana_cls, ({', '.join(required)},), {tuple(required)!r})"
        )
    given = f"({', '.join(required)},), {tuple(required)!r}"
    for i, n in enumerate(names):
        if n in defaults:
            default = defaults[n]
            env[f"__dana_d{i}"] = default.make if isinstance(default, DefaultFactory) else default
            call = "()" if isinstance(default, DefaultFactory) else ""
            body.append(f"    if {n} is __dana_NO:")
            body.append(f"        {n} = __dana_d{i}{call}")
        exact = exact_types[n]
        if exact is not None:
            if len(exact) == 1:
                env[f"__dana_t{i}"] = exact[0]
                body.append(f"    if __dana_type({n}) is not __dana_t{i}:")
            else:
                env[f"__dana_t{i}"] = frozenset(exact)
                body.append(f"    if __dana_type({n}) not in __dana_t{i}:")
            if required and not untested:
                body.append(f"        {n} = __dana_check_given(__dana_cls, {n!r}, {n}, {given})")
            else:
                body.append(f"        {n} = __dana_check(__dana_cls, {n!r}, {n})")
        body.append(f"    __dana_self.{n} = {n}")
    init_head = f"def __init__({', '.join(['__dana_self', *params])}, *__dana_a, **__dana_k):"
    init = [
        init_head,
        "    if __dana_a or __dana_k:",
        "        __dana_extra(__dana_cls, __dana_a, __dana_k)",
        *body,
    ]
    make = [
        f"def {MAKE}({', '.join(params)}):",
        "    __dana_self = __dana_new(__dana_cls)",
        *body,
        "    return __dana_self",
    ]
    source = "\n".join([*init, *make])
    code = compile(source, f"<struct {cls.__name__}>", "exec")
    exec(code, env)  # noqa: S102 - the source is built above from field names only
    return env["__init__"], env[MAKE]


def _generic_make(cls: type) -> Any:
    def make(*args: Any, **kwargs: Any) -> Any:
        return cls(*args, **kwargs)

    return make


def _validated_given(
    cls: type, name: str, value: Any, values: tuple[Any, ...], names: tuple[str, ...]
) -> Any:
    """`validated`, after reporting the required fields that were not given, if any."""
    if any(v is NO_DEFAULT for v in values):
        _missing_fields(cls, values, names)
    return validated(cls, name, value)


def _generic_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The constructor for field names that cannot be Python parameters (`class: str`)."""
    cls = type(self)
    names = list(cls.__dana_fields__)
    if len(args) > len(names):
        _extra_arguments(cls, args[len(names) :], {})
    values = dict(zip(names, args, strict=False))
    unknown = {k: v for k, v in kwargs.items() if k not in cls.__dana_fields__}
    if unknown:
        _extra_arguments(cls, (), unknown)
    for key, value in kwargs.items():
        if key in values:
            raise TypeError(f"{cls.__name__}() got field '{key}' twice")
        values[key] = value
    defaults = cls.__dana_defaults__
    missing = tuple(n for n in names if n not in values and n not in defaults)
    if missing:
        _missing_fields(cls, tuple(NO_DEFAULT for _ in missing), missing)
    for n in names:
        if n in values:
            value = values[n]
        else:
            value = defaults[n]
            value = value.make() if isinstance(value, DefaultFactory) else value
        object.__setattr__(self, n, validated(cls, n, value))


def _missing_fields(cls: type, values: tuple[Any, ...], names: tuple[str, ...]) -> None:
    missing = [n for n, v in zip(names, values, strict=True) if v is NO_DEFAULT]
    raise TypeError(
        f"Missing required fields for {cls.__dana_kind__} '{cls.__name__}': {missing}"  # type: ignore[attr-defined]
    )


def _extra_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(
            f"Unknown fields for {cls.__dana_kind__} '{cls.__name__}': {sorted(kwargs)}"  # type: ignore[attr-defined]
        )
    count = len(cls.__dana_fields__)  # type: ignore[attr-defined]
    raise TypeError(
        f"{cls.__name__}() takes {count} fields but {count + len(args)} positional values were given"
    )


def _members(cls: type) -> list[str]:
    """What a struct lends through delegation: its fields (its own delegated ones too) and
    its methods."""
    names = list(cls.__dana_fields__)  # type: ignore[attr-defined]
    for klass in cls.__mro__:
        if klass in (DanaStruct, object):
            break
        for name, value in klass.__dict__.items():
            if not name.startswith("_") and name not in names:
                if callable(value) or isinstance(value, property):
                    names.append(name)
    return names


def _delegated_field(field: str, name: str) -> property:
    def get(self: Any) -> Any:
        return getattr(getattr(self, field), name)

    def put(self: Any, value: Any) -> None:
        set_field(getattr(self, field), name, value)

    return property(get, put, doc=f"{name} of {field}")


def _delegated_method(field: str, name: str) -> Any:
    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self, field), name)(*args, **kwargs)

    forward.__name__ = name
    forward.__qualname__ = f"{field}.{name}"
    forward.__dana_delegated__ = True  # type: ignore[attr-defined]
    return forward


def lend(holder: type, field: str, name: str) -> None:
    """Make `holder.name` reach `holder.field.name`, unless the holder has its own `name`
    or an earlier delegatable field already lends one; then lend it onwards."""
    if name in holder.__dana_fields__ or name in holder.__dict__:  # type: ignore[attr-defined]
        return
    for klass in holder.__mro__[1:]:
        if klass is DanaStruct:
            break
        if name in klass.__dict__:
            return
    inner_cls = holder.__dana_fields__[field]  # type: ignore[attr-defined]
    value = getattr(inner_cls, name, None)
    if name in inner_cls.__dana_fields__ or isinstance(value, property):
        setattr(holder, name, _delegated_field(field, name))
    else:
        setattr(holder, name, _delegated_method(field, name))
    for outer, outer_field in holder.__dana_holders__:  # type: ignore[attr-defined]
        lend(outer, outer_field, name)


def _delegate(cls: type) -> None:
    for field in cls.__dana_delegates__:  # type: ignore[attr-defined]
        inner = cls.__dana_fields__[field]  # type: ignore[attr-defined]
        if isinstance(inner, type) and issubclass(inner, DanaStruct):
            inner.__dana_holders__.append((cls, field))
            for name in _members(inner):
                lend(cls, field, name)


_KIND_BASES: dict[str, type[DanaStruct]] = {
    "agent_blueprint": DanaAgentBase,
    "agent": DanaAgentBase,
    "resource": DanaResourceBase,
}


def make_struct(
    kind: str,
    name: str,
    fields: list[tuple[str, Any, Any]],
    docstring: str | None,
    base: type | None,
    program: Any,
) -> type[DanaStruct]:
    all_fields = _extra_fields(kind, program)
    parent: type[DanaStruct] = _KIND_BASES.get(kind, DanaStruct)
    if base is not None and isinstance(base, type) and issubclass(base, DanaStruct):
        all_fields = [
            (n, base.__dana_fields__[n], base.__dana_defaults__.get(n, NO_DEFAULT))
            for n in base.__dana_fields__
        ]
        parent = base
    declared = {f[0] for f in fields}
    all_fields = [f for f in all_fields if f[0] not in declared] + list(fields)
    annotations = {n: t for n, t, _ in all_fields}
    defaults = {n: d for n, _, d in all_fields if d is not NO_DEFAULT}
    inherited = set(getattr(parent, "__dana_fields__", {}))
    exact: dict[str, type] = {}
    for n, t in annotations.items():
        types_ = _exact_types(t)
        if types_ is not None and len(types_) == 1:
            exact[n] = types_[0]
    namespace = {
        "__slots__": tuple(n for n in annotations if n not in inherited),
        "__dana_fields__": annotations,
        "__dana_defaults__": defaults,
        "__dana_kind__": kind,
        "__dana_program__": program,
        "__dana_delegates__": tuple(n for n in annotations if n.startswith("_")),
        "__dana_exact__": exact,
        "__dana_holders__": [],
        **{f"__dana_ft_{n}": t for n, t in exact.items()},
        "__doc__": docstring,
        "__module__": "dana",
        "__qualname__": name,
    }
    cls = type(name, (parent,), namespace)
    init, make = _constructor(cls, list(annotations))
    cls.__init__ = init  # type: ignore[misc]
    setattr(cls, MAKE, make)
    if parent not in (DanaStruct, DanaAgentBase):
        plain_methods_for(cls)
    _delegate(cls)
    return cls


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
