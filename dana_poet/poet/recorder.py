"""The record step: executions kept by the function, handed to the store in batches.

A call appends one row (its arguments as perceived, the result, the version and
parameters used) under its execution id; no dict of inputs is built and the store is
not called. Rows reach the store:

* for a function that learns (the store keeps them): every `BATCH` calls, when any
  feedback arrives (Train reads recent executions), in test mode's `executions()`
  and when the program exits;
* for one that does not (kept in memory only, as the store would): the newest
  `RECENT` to `2*RECENT` are kept here (two generations of `RECENT`: a full log
  becomes the older one, the one before is forgotten) and one is handed over when a
  feedback names it.

So `feedback(result, ...)` right after a call always finds the execution.
An execution reaches the store with the time it was handed over as its
creation time (at most `BATCH` calls or one feedback after the call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dana_poet.poet.store.ids import id_source
from dana_poet.poet.store.memory import RECENT

if TYPE_CHECKING:
    from dana_poet.poet.function import EnhancedFunction

BATCH = 64
"""Calls of a learning function between two hand-overs to the store."""

IDS = id_source()
"""Execution ids: a per-process prefix (renewed after fork) and a counter."""

Row = tuple[tuple[Any, ...], dict[str, Any], Any, int, dict[str, Any]]


def new_execution_id() -> str:
    return f"x{IDS.prefix}{next(IDS.counter)}"


class ExecutionLog:
    """One function's executions between the call and the store."""

    __slots__ = ("record", "bind_inputs", "persist", "rows", "older", "limit")

    def __init__(
        self,
        record: EnhancedFunction,
        bind_inputs: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]],
        *,
        persist: bool,
    ) -> None:
        self.record = record
        self.bind_inputs = bind_inputs
        self.persist = persist
        self.rows: dict[str, Row] = {}
        self.older: dict[str, Row] = {}
        self.limit = BATCH if persist else RECENT

    def add(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        version: int,
        params: dict[str, Any],
    ) -> str:
        execution_id = f"x{IDS.prefix}{next(IDS.counter)}"
        rows = self.rows
        rows[execution_id] = (args, kwargs, result, version, params)
        if len(rows) >= self.limit:
            self.overflow()
        return execution_id

    def overflow(self) -> None:
        """The log is full: hand a learning function's rows over, forget a plain one's oldest."""
        if self.persist:
            self.flush()
            return
        self.older, self.rows = self.rows, {}

    def flush(self) -> None:
        older, rows = self.older, self.rows
        self.older, self.rows = {}, {}
        for execution_id, row in [*older.items(), *rows.items()]:
            self._hand_over(execution_id, row)

    def take(self, execution_id: str) -> bool:
        """Hand execution `execution_id` to the store if it is here; True when it was.
        A learning function's log hands over all its rows, in call order."""
        if self.persist:
            if execution_id not in self.rows:
                return False
            self.flush()
            return True
        row = self.rows.pop(execution_id, None)
        if row is None:
            row = self.older.pop(execution_id, None)
        if row is None:
            return False
        self._hand_over(execution_id, row)
        return True

    def _hand_over(self, execution_id: str, row: Row) -> None:
        args, kwargs, result, version, params = row
        record = self.record
        record.store.record_execution(
            execution_id,
            record.key,
            version,
            self.bind_inputs(args, kwargs),
            result,
            params,
            {},
            persist=self.persist,
        )
