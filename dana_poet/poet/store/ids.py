"""Execution and feedback ids: unique across processes and forks, cheap enough for every call.

An id is a per-process prefix (pid and random bits) plus a counter. A forked
child gets a fresh prefix and counter, so parent and child never hand out the
same id.
"""

from __future__ import annotations

import itertools
import os
import secrets


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
