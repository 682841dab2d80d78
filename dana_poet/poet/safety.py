"""The second layer under the policy: an audit hook that refuses system access to stage code.

`sys.addaudithook` is installed once (hooks cannot be removed). It looks at
one thread-local slot, `FLAG.running`, which the stage runner fills only while
generated stage code runs on that thread and empties while a trusted stage
helper runs on its behalf. With the flag raised every audited event is refused except a
few harmless ones: opening files, starting processes, importing, opening
sockets, compiling or executing code, reading frames. A hole in the checker
above still reaches nothing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

_ALLOWED_EVENTS = frozenset({"object.__getattr__"})
"""Events stage code may cause (CPython audits reading some internal attributes; the
attribute guard refuses those names long before this layer)."""


class SystemAccessRefused(RuntimeError):
    """Stage code (or something it reached) tried to touch the system."""


class _Flag(threading.local):
    """`running`: [deadline, stage label, items built, values passed in] while stage code
    runs on this thread, else None.

    One slot, so entering and leaving stage code is one thread-local write each; the
    policy's checks read the deadline from it and count what the stage builds in it.
    """

    running: list[Any] | None = None


FLAG = _Flag()
_installed = False
_lock = threading.Lock()


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if FLAG.running is not None and event not in _ALLOWED_EVENTS:
        raise SystemAccessRefused(f"stage code may not cause '{event}'")


def install() -> None:
    """Install the hook (once per process)."""
    global _installed
    if _installed:
        return
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


def trusted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (a stage helper) runs with the flag lowered and raises it again afterwards."""

    def call(*args: Any, **kwargs: Any) -> Any:
        was = FLAG.running
        FLAG.running = None
        try:
            return fn(*args, **kwargs)
        finally:
            FLAG.running = was

    call.__name__ = getattr(fn, "__name__", "helper")
    return call


__all__ = ["FLAG", "SystemAccessRefused", "install", "trusted"]
