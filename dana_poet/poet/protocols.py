"""What a type checker sees of a `@poet` function: the signature as written, plus `.poet`.

Perceive accepts messy input at run time (`"$50K"` for a `float`), but a
checker is told the declared types: `assess(score: int)` called with the
literal `"excellent"` is reported, as it would be without POET. Values whose
static type is `Any` (parsed JSON, form data, LLM output) pass, and those are
the values Perceive exists for. See docs/python.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from typing import Self

    from dana_poet.poet.introspect import POETInfo

P = ParamSpec("P")
Q = ParamSpec("Q")
R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")
S = TypeVar("S")


class POETFunction(Protocol[P, R_co]):
    """A decorated function: called like the original, with its POET facts on `.poet`."""

    @property
    def poet(self) -> POETInfo: ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    # Looked up on an instance, a decorated method binds its first argument like a function.
    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(
        self: POETFunction[Concatenate[S, Q], R], obj: S, owner: type | None = None
    ) -> POETFunction[Q, R]: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any: ...


Decorator = Callable[[Callable[P, R]], POETFunction[P, R]]
