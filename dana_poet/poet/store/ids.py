"""Execution and feedback ids: unique across processes and forks, cheap enough for every call.

An id is a per-process prefix (pid and random bits) plus a counter. A forked
child gets a fresh prefix and counter, so parent and child never hand out the
same id.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterator


class _IdSource:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = f"{os.getpid():x}{secrets.token_hex(4)}-"
        self.counter = itertools.count(1)


_SOURCE = _IdSource()
os.register_at_fork(after_in_child=_SOURCE.reset)


def new_id(kind: str = "x") -> str:
    return f"{kind}{_SOURCE.prefix}{next(_SOURCE.counter)}"


@contextlib.contextmanager
def deterministic_ids(prefix: str) -> Iterator[None]:
    """Ids `<kind><prefix>1`, `<kind><prefix>2`, ... inside the block (dana_poet.testing)."""
    saved = (_SOURCE.prefix, _SOURCE.counter)
    _SOURCE.prefix, _SOURCE.counter = prefix, itertools.count(1)
    try:
        yield
    finally:
        _SOURCE.prefix, _SOURCE.counter = saved


def id_source() -> _IdSource:
    """The process's id source (its `prefix` and `counter` change after fork and in test mode)."""
    return _SOURCE
