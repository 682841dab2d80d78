"""The record step: executions kept by the function, handed to the store in batches.

A call appends one row (its arguments as perceived, the result, the version and
parameters used) under its execution id; no dict of inputs is built and the store is
not called. Rows reach the store:

* for a function that learns (the store keeps them): every `BATCH` calls, when any
  feedback arrives (Train reads recent executions), in test mode's `executions()`
  and when the program exits;
* for one that does not (kept in memory only, as the store would): the newest
  `2*RECENT` are kept here, and one is handed over when a feedback names it.

So `feedback(result, ...)` right after a call always finds the execution.
An execution reaches the store with the time it was handed over as its
creation time (at most `BATCH` calls or one feedback after the call).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dana_poet.poet.result import plain
from dana_poet.poet.store.ids import id_source
from dana_poet.poet.store.memory import RECENT

if TYPE_CHECKING:
    from dana_poet.poet.function import EnhancedFunction

BATCH = 64
"""Calls of a learning function between two hand-overs to the store."""

IDS = id_source()
"""Execution ids: a per-process prefix (renewed after fork) and a counter."""

Row = tuple[Any, ...]
"""(execution number, args, kwargs, result, version, params) as the call ended; the warm
path's rows are (execution number, WARM_ROW, result, version, *args): no keywords, no
parameters, one tuple less per call; its result may be a keyed carrier
(poet/result.py), found by identity. The number becomes the execution's id text
(`IDS.text_of`) only when the row reaches the store."""

WARM_ROW = object()


def new_execution_id() -> str:
    return IDS.text_of(next(IDS.counter))


class ExecutionLog:
    """One function's executions between the call and the store, oldest first.

    A learning function's `rows` is one list for the function's life; rows leave it by
    `del rows[:n]` after being copied, so a row appended meanwhile by another thread
    stays. A plain function's `rows` is a deque of the newest `2 * RECENT` (appending
    forgets the oldest, with no check on the call path). The warm path holds `rows.append`.
    """

    __slots__ = ("record", "bind_inputs", "persist", "rows", "limit")

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
        self.rows: list[Row] | deque[Row] = [] if persist else deque(maxlen=2 * RECENT)
        self.limit = BATCH if persist else 0  # 0: the deque bounds itself

    def add(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        version: int,
        params: dict[str, Any],
    ) -> int:
        """Log one call; its execution number (what the result carries)."""
        number = next(IDS.counter)
        rows = self.rows
        rows.append((number, args, kwargs, result, version, params))
        if self.persist and len(rows) >= BATCH:
            self.flush()
        return number

    def _take_rows(self) -> list[Row]:
        rows = self.rows
        taken = list(rows)
        if isinstance(rows, deque):
            for _ in taken:  # from the old end: rows appended meanwhile stay
                rows.popleft()
        else:
            del rows[: len(taken)]
        return taken

    def flush(self) -> None:
        """Hand every row to the store, in call order."""
        for row in self._take_rows():
            self._hand_over(row)

    def number_of_result(self, result: Any) -> int | None:
        """The execution number of the warm-path row holding carrier `result` itself."""
        for row in reversed(list(self.rows)):
            if row[1] is WARM_ROW and row[2] is result:
                return row[0]  # type: ignore[no-any-return]
        return None

    def take(self, number: int) -> bool:
        """Hand execution number `number` to the store if it is here; True when it was.
        A learning function's log hands over all its rows, in call order."""
        rows = self.rows
        for row in reversed(list(rows)):
            if row[0] != number:
                continue
            if self.persist:
                self.flush()
                return True
            try:
                rows.remove(row)
            except ValueError:  # another thread took it (or the deque forgot it) meanwhile
                return True
            self._hand_over(row)
            return True
        return False

    def _hand_over(self, row: Row) -> None:
        if row[1] is WARM_ROW:
            number, _, result, version, *values = row
            result = plain(result)
            args = tuple(values)
            kwargs: dict[str, Any] = {}
            params: dict[str, Any] = {}
        else:
            number, args, kwargs, result, version, params = row
        record = self.record
        record.store.record_execution(
            IDS.text_of(number),
            record.key,
            version,
            self.bind_inputs(args, kwargs),
            result,
            params,
            {},
            persist=self.persist,
        )
