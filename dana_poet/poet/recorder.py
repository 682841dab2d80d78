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

Row = tuple[Any, ...]
"""(execution id, args, kwargs, result, version, params) as the call ended; the warm
path's rows are (execution id, WARM_ROW, result, version, *args): no keywords, no
parameters, one tuple less per call."""

WARM_ROW = object()


def new_execution_id() -> str:
    return f"x{IDS.prefix}{next(IDS.counter)}"


class ExecutionLog:
    """One function's executions between the call and the store, oldest first.

    `rows` is one list for the function's life (the warm path holds its `append`);
    rows leave it by `del rows[:n]` after being copied, so a row appended meanwhile
    by another thread stays.
    """

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
        self.rows: list[Row] = []
        self.older: list[Row] = []
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
        rows.append((execution_id, args, kwargs, result, version, params))
        if len(rows) >= self.limit:
            self.overflow()
        return execution_id

    def _take_rows(self) -> list[Row]:
        rows = self.rows
        taken = rows[:]
        del rows[: len(taken)]
        return taken

    def overflow(self) -> None:
        """The log is full: hand a learning function's rows over, forget a plain one's oldest."""
        if self.persist:
            self.flush()
        else:
            self.older = self._take_rows()

    def flush(self) -> None:
        older, self.older = self.older, []
        for row in [*older, *self._take_rows()]:
            self._hand_over(row)

    def take(self, execution_id: str) -> bool:
        """Hand execution `execution_id` to the store if it is here; True when it was.
        A learning function's log hands over all its rows, in call order."""
        for rows in (self.rows, self.older):
            for index in range(len(rows) - 1, -1, -1):
                if rows[index][0] != execution_id:
                    continue
                if self.persist:
                    self.flush()
                    return True
                row = rows[index]
                try:
                    rows.remove(row)
                except ValueError:  # another thread took it meanwhile
                    return True
                self._hand_over(row)
                return True
        return False

    def _hand_over(self, row: Row) -> None:
        if row[1] is WARM_ROW:
            execution_id, _, result, version, *values = row
            args = tuple(values)
            kwargs: dict[str, Any] = {}
            params: dict[str, Any] = {}
        else:
            execution_id, args, kwargs, result, version, params = row
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
