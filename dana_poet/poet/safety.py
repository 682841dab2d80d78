"""The second layer under the policy: an audit hook that refuses system access to stage code.

`sys.addaudithook` is installed once (hooks cannot be removed). It costs stage code
nothing per call: nothing is written when a stage starts or ends. Only when an
audited event happens (opening a file, starting a process, importing, a socket,
compiling or executing code, reading frames, ...) does the hook look at the
current thread's stack, from the frame that caused the event outwards:

- a frame of **stage code** (every admitted stage module is compiled with the
  reserved file name `STAGE_FILENAME`, comprehensions included) -> refused;
- a frame of a **trusted helper** (`coerce`, `check_output`, `fail`, registered
  with `trusted_code`) first -> allowed: the helper acts for the stage and may
  import or read what it needs, and anything it calls (the caller's own objects
  included) runs as program code, as it would in the built-in engines;
- neither -> allowed, unless the thread is inside `contain()` (a caller that runs
  some other callable as if it were stage code, e.g. a test simulating a hole).

Stage code cannot define functions, lambdas or classes and a generator expression
runs as a list comprehension, so no frame of stage code outlives its call or is
resumed elsewhere; a frame that stage code resumes (a caller's generator) has the
stage frame behind it and is refused. Other threads have stacks of their own and
are not affected. A hole in the checker above still reaches nothing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any, TypeVar

STAGE_FILENAME = "<poet stage code>"
"""The file name every admitted stage module is compiled with (and nothing else of ours)."""

_ALLOWED_EVENTS = frozenset({"object.__getattr__"})
"""Events stage code may cause (CPython audits reading some internal attributes; the
attribute guard refuses those names long before this layer)."""

_TRUSTED: set[CodeType] = set()
_CONTAINED: dict[int, Any] = {}
"""thread id -> what `contain()` was given, while a thread runs contained code."""
_installed = False
_lock = threading.Lock()
_getframe = sys._getframe
_get_ident = threading.get_ident


class SystemAccessRefused(RuntimeError):
    """Stage code (or something it reached) tried to touch the system."""


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event in _ALLOWED_EVENTS:
        return
    if event == "sys._getframe" and args and getattr(args[0], "f_code", None) is _HOOK_CODE:
        return  # the walk below, reading its own frame
    frame = _getframe(0).f_back
    while frame is not None:
        code = frame.f_code
        if code.co_filename == STAGE_FILENAME:
            raise SystemAccessRefused(f"stage code may not cause '{event}'")
        if code in _TRUSTED:
            return
        frame = frame.f_back
    if _CONTAINED and _get_ident() in _CONTAINED:
        raise SystemAccessRefused(f"stage code may not cause '{event}'")


_HOOK_CODE = _hook.__code__


def install() -> None:
    """Install the hook (once per process)."""
    global _installed
    if _installed:
        return
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


F = TypeVar("F", bound=Callable[..., Any])


def trusted_code(fn: F) -> F:
    """Mark `fn`'s code as a trusted stage helper: what it does for a stage is allowed.

    Every function made from the same `def` shares its code object, so a helper made per
    function is registered by marking the `def` once."""
    _TRUSTED.add(fn.__code__)
    return fn


def contained_state() -> Any:
    """What `contain()` was given on this thread, or None outside."""
    return _CONTAINED.get(_get_ident()) if _CONTAINED else None


@contextmanager
def contain(state: Any) -> Iterator[None]:
    """Run the block as stage code is run: every audited event it causes outside a trusted
    helper is refused, even from code that was not compiled as stage code. `state` is what
    `contained_state()` answers meanwhile (the stage runner keeps a budget there)."""
    ident = _get_ident()
    saved = _CONTAINED.get(ident)
    _CONTAINED[ident] = state
    try:
        yield
    finally:
        if saved is None:
            del _CONTAINED[ident]
        else:
            _CONTAINED[ident] = saved


def stage_code_running() -> bool:
    """Whether stage code is on this thread's stack (for tests and diagnostics)."""
    frame: FrameType | None = _getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == STAGE_FILENAME:
            return True
        frame = frame.f_back
    return False


__all__ = [
    "STAGE_FILENAME",
    "SystemAccessRefused",
    "contain",
    "contained_state",
    "install",
    "stage_code_running",
    "trusted_code",
]
