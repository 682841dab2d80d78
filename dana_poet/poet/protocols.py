"""What a type checker sees of a `@poet` function: the signature as written, plus `.poet`.

Perceive accepts messy input at run time (`"$50K"` for a `float`), but a
checker is told the declared types: `assess(score: int)` called with the
literal `"excellent"` is reported, as it would be without POET. Values whose
static type is `Any` (parsed JSON, form data, LLM output) pass, and those are
the values Perceive exists for. See docs/python.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, overload

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


# The typed face of `dana_poet.poet` (dana_poet/__init__.py imports it for checkers only; at
# run time the same call goes to the decorator itself). Keyword names mirror POETConfig; a test
# keeps the two in step.
@overload
def poet(fn: Callable[P, R], /) -> POETFunction[P, R]: ...
@overload
def poet(
    domain: str | None = None,
    *,
    retries: int = 1,
    timeout: float | None = None,
    backoff_base: float = 0.01,
    backoff_max: float = 1.0,
    backoff_multiplier: float = 2.0,
    jitter: Literal["full", "none"] = "full",
    circuit_threshold: int = 5,
    circuit_cooldown: float = 30.0,
    retry_on: type[Exception]
    | tuple[type[Exception], ...]
    | Callable[[Exception], bool]
    | None = None,
    no_retry_on: type[Exception]
    | tuple[type[Exception], ...]
    | Callable[[Exception], bool]
    | None = None,
    optimize_for: str | None = None,
    perceive: dict[str, Any] = ...,
    operate: dict[str, Any] = ...,
    enforce: dict[str, Any] = ...,
    train: dict[str, Any] = ...,
    debug: bool = False,
    trace_phases: bool = False,
    enable_training: bool = False,
) -> Callable[[Callable[P, R]], POETFunction[P, R]]: ...
def poet(*args: Any, **kwargs: Any) -> Any:
    from dana_poet.poet.api import poet as decorate

    return decorate(*args, **kwargs)
