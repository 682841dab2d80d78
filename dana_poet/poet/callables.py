"""What `@poet` was given: a function, a method, a classmethod, a partial, a callable object.

`describe()` looks once, at decoration time, and answers what the orchestrator
needs: the function whose code and qualified name make the identity (so a
method's identity includes its class), the signature Perceive sees (without
the bound argument: `self`, `cls`, a partial's frozen arguments), the type
hints, whether calls are awaited, and how to wrap the result back up
(`staticmethod` / `classmethod` objects given to `@poet`).

Generators and async generators are refused: POET retries and checks a whole
result, and a generator hands its values out one at a time after the call has
returned.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dana_poet.poet.errors import POETConfigError

# Names a first parameter has when the function is written to be bound (a method).
_BOUND_NAMES = frozenset({"self", "cls", "mcs", "metacls"})


@dataclass(frozen=True)
class Target:
    """One decorated callable, as POET sees it."""

    call: Callable[..., Any]  # what Operate calls (the function itself, or the partial / object)
    code_owner: Any  # the plain function with `__code__` and `__qualname__` (for identity)
    name: str
    qualname: str
    signature: inspect.Signature  # as the caller sees it, bound argument included
    hints: dict[str, Any]
    bound: int  # leading positional arguments that are passed through untouched (0 or 1)
    is_async: bool
    rewrap: Callable[[Any], Any] | None  # staticmethod / classmethod, re-applied to the wrapper

    @property
    def perceived(self) -> inspect.Signature:
        """The signature without the bound argument: what Perceive coerces and the store records."""
        if not self.bound:
            return self.signature
        params = list(self.signature.parameters.values())[self.bound :]
        return self.signature.replace(parameters=params)


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references fall back to raw annotations
        return dict(getattr(fn, "__annotations__", {}) or {})


def _in_class_body(qualname: str) -> bool:
    parent, dot, _ = qualname.rpartition(".")
    return bool(dot) and not parent.endswith("<locals>")


def _first_is_bound(fn: Any, signature: inspect.Signature) -> bool:
    """A function written in a class body whose first parameter is `self` or `cls`."""
    if not _in_class_body(getattr(fn, "__qualname__", "")):
        return False
    params = list(signature.parameters.values())
    return bool(params) and (
        params[0].name in _BOUND_NAMES
        and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)
    )


def refuse_generators(fn: Any, name: str) -> None:
    if inspect.isasyncgenfunction(fn):
        kind = "an async generator function"
    elif inspect.isgeneratorfunction(fn):
        kind = "a generator function"
    else:
        return
    raise POETConfigError(
        f"@poet on {name}(): {kind} cannot be decorated; POET retries and checks a whole "
        "result, and a generator hands out its values after the call has returned. "
        "Return a list instead, or put @poet on a function that consumes the generator",
        function=name,
        value=fn,
    )


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = type(fn).__call__  # an object with `async def __call__`
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def describe(fn: Any) -> Target:
    """Look at what `@poet` was given; raise POETConfigError for what it cannot wrap."""
    if isinstance(fn, staticmethod | classmethod):
        inner = describe(fn.__func__)
        bound = 1 if isinstance(fn, classmethod) else 0
        return Target(
            inner.call,
            inner.code_owner,
            inner.name,
            inner.qualname,
            inner.signature,
            inner.hints,
            bound,
            inner.is_async,
            type(fn),
        )
    if not callable(fn):
        raise POETConfigError(
            f"@poet(...): expects a function, got {fn!r} ({type(fn).__name__})", value=fn
        )
    if isinstance(fn, functools.partial):
        inner = describe(fn.func)
        hints = {k: v for k, v in inner.hints.items() if k in inspect.signature(fn).parameters} | (
            {"return": inner.hints["return"]} if "return" in inner.hints else {}
        )
        return Target(
            fn,
            inner.code_owner,
            inner.name,
            inner.qualname,
            inspect.signature(fn),
            hints,
            0,
            inner.is_async,
            None,
        )
    if inspect.ismethod(fn):  # already bound: the signature has no `self`
        owner = fn.__func__
        refuse_generators(owner, owner.__name__)
        return Target(
            fn,
            owner,
            owner.__name__,
            owner.__qualname__,
            inspect.signature(fn),
            _hints(owner),
            0,
            inspect.iscoroutinefunction(owner),
            None,
        )
    if inspect.isfunction(fn) or hasattr(fn, "__code__"):
        name = getattr(fn, "__name__", "function")
        refuse_generators(fn, name)
        signature = inspect.signature(fn)
        return Target(
            fn,
            fn,
            name,
            getattr(fn, "__qualname__", name),
            signature,
            _hints(fn),
            1 if _first_is_bound(fn, signature) else 0,
            inspect.iscoroutinefunction(fn),
            None,
        )
    cls = type(fn)
    method = cls.__call__
    refuse_generators(method, f"{cls.__name__}.__call__")
    owner = method if inspect.isfunction(method) else fn
    return Target(
        fn,
        owner,
        cls.__name__,
        getattr(owner, "__qualname__", cls.__qualname__),
        inspect.signature(fn),
        _hints(method) if inspect.isfunction(method) else {},
        0,
        _is_async(fn),
        None,
    )
