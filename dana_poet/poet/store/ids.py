"""Execution and feedback ids: unique across processes and forks, cheap enough for every call.

An id is a per-process prefix (pid and random bits) plus a counter. A forked
child gets a fresh prefix and counter, so parent and child never hand out the
same id.

A call does not build its id's text: it takes a **number** (`next(counter)`, one C call),
and the text is made only when someone asks (`text_of`: the store, `feedback()`). Each
prefix is one *epoch*; a number holds its epoch above `EPOCH_SHIFT` bits and the id's
counter below, so the text of a number is the same whenever it is made, even after a fork
or a test-mode block changed the prefix.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import threading
from collections.abc import Iterator

EPOCH_SHIFT = 48
"""Bits of an execution number that count within its epoch (2.8e14 ids per epoch)."""
_LOW = (1 << EPOCH_SHIFT) - 1


class _IdSource:
    """`counter` hands out execution numbers; `prefix` is the current epoch's prefix."""

    def __init__(self) -> None:
        self.prefixes: list[str] = []
        self._lock = threading.Lock()
        self.reset()

    def _epoch(self, prefix: str, first: int = 1) -> None:
        with self._lock:
            epoch = len(self.prefixes)
            self.prefixes.append(prefix)
            self.prefix = prefix
            self.counter = itertools.count((epoch << EPOCH_SHIFT) + first)

    def reset(self) -> None:
        self._epoch(f"{os.getpid():x}{secrets.token_hex(4)}-")

    def text_of(self, number: int, kind: str = "x") -> str:
        """The id text of execution number `number`."""
        return f"{kind}{self.prefixes[number >> EPOCH_SHIFT]}{number & _LOW}"

    def number_of(self, text: str, kind: str = "x") -> int | None:
        """The number whose id text is `text` (the newest epoch with its prefix), or None."""
        prefixes = self.prefixes
        for epoch in range(len(prefixes) - 1, -1, -1):
            head = kind + prefixes[epoch]
            if text.startswith(head):
                tail = text[len(head) :]
                if tail.isdigit() and tail.isascii() and int(tail) <= _LOW:
                    return (epoch << EPOCH_SHIFT) + int(tail)
        return None


_SOURCE = _IdSource()
os.register_at_fork(after_in_child=_SOURCE.reset)


def new_id(kind: str = "x") -> str:
    return _SOURCE.text_of(next(_SOURCE.counter), kind)


@contextlib.contextmanager
def deterministic_ids(prefix: str) -> Iterator[None]:
    """Ids `<kind><prefix>1`, `<kind><prefix>2`, ... inside the block (dana_poet.testing)."""
    saved = _SOURCE.prefix
    resume = next(_SOURCE.counter) & _LOW  # the first number the block keeps from the outside
    _SOURCE._epoch(prefix)
    try:
        yield
    finally:
        _SOURCE._epoch(saved, resume)  # outside, ids go on where they stopped


def id_source() -> _IdSource:
    """The process's id source (its `prefix` and `counter` change after fork and in test mode)."""
    return _SOURCE
