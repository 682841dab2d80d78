"""Running a program where deep recursion and deep nesting fit.

CPython's default recursion limit (1,000) and the main thread's C stack (8 MiB
by default) are far below what recursive Dana programs and deeply nested
source need. `run_deep` runs a callable in a thread whose stack is
`STACK_SIZE` with the recursion limit raised to `RECURSION_LIMIT`; the stack
is reserved, not used: only the pages a program touches cost memory.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from dana_poet.lang.errors import DanaSyntaxError

STACK_SIZE = 512 * 1024 * 1024
RECURSION_LIMIT = 50_000

T = TypeVar("T")


def run_deep(fn: Callable[[], T]) -> T:
    """`fn()` in a thread with a large stack and a raised recursion limit.

    Exceptions (SystemExit included) are raised again in the calling thread. The
    thread is a daemon, so an interrupted caller can exit without waiting for it."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
            outcome["error"] = exc

    try:
        previous_size = threading.stack_size(STACK_SIZE)
    except (ValueError, RuntimeError):  # the platform does not allow choosing a stack size
        return fn()
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, RECURSION_LIMIT))
    try:
        thread = threading.Thread(target=target, name="dana-program", daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous_size)
    try:
        thread.join()
    finally:
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def too_deep(
    exc: BaseException, filename: str, source: str, statements: Sequence[Any], fails: Any
) -> DanaSyntaxError:
    """A located syntax error for a module whose compilation ran out of depth.

    `fails(stmt)` compiles one top-level statement alone and says whether it fails the same
    way; the first that does is the one reported (only this error path pays for it)."""
    from dana_poet.lang.errors import DanaSyntaxError

    line = 0
    for stmt in statements:
        if fails(stmt):
            line = stmt.span.line
            break
    if isinstance(exc, SyntaxError) and exc.lineno and not line:
        line = exc.lineno
    if not line:
        line = deepest_line(source)
    if isinstance(exc, RecursionError):
        message = "the program nests too deeply to compile"
        hint = f"split the expression or block; nesting deeper than {RECURSION_LIMIT} levels is refused"
    else:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        message = f"the program nests too deeply to compile ({detail})"
        hint = "Python allows 20 nested loops, try blocks and with blocks in one function"
        if isinstance(exc, SyntaxError) and exc.lineno:
            line = exc.lineno
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    column = len(text) - len(text.lstrip(" \t")) + 1
    return DanaSyntaxError(
        message, filename=filename, line=line, column=column, source=source, hint=hint
    )


def deepest_line(source: str) -> int:
    """The line where brackets plus indentation nest deepest (strings are not skipped:
    a rough guide used only when nothing better is known)."""
    best_line, best_depth, depth = 1, -1, 0
    for number, text in enumerate(source.splitlines(), 1):
        stripped = text.lstrip(" \t")
        level = depth + (len(text) - len(stripped))
        for ch in stripped:
            if ch in "([{":
                depth += 1
                level = max(level, depth + len(text) - len(stripped))
            elif ch in ")]}":
                depth = max(depth - 1, 0)
        if level > best_depth:
            best_line, best_depth = number, level
    return best_line
