"""Feedback ingestion with group commit: one writer thread, one transaction per burst.

Requests hand their feedback to the writer and wait. The writer takes everything that
arrived while it was busy (up to MAX_BATCH items), checks each item (function,
execution, the payload's reading), files all of them in one transaction and only then
wakes the waiting requests: a 2xx is sent only once its feedback is committed, and a
storage fault fails every item of the burst (503), none is acknowledged. Under load the
cost of a commit (and of an fsync, where storage does one) is shared by the burst.

Training is not done here: the writer tells the trainer that functions got feedback
(fits then coalesce on a background thread), except for feedback that came alone,
whose fit the request runs itself so that its answer carries the new version.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass
from typing import Any

from dana_poet.service import models as M
from dana_poet.service.catalog import FunctionRow

MAX_BATCH = 512


@dataclass
class Filed:
    """One committed feedback item, as the route answers it."""

    row: FunctionRow
    feedback_id: str
    signal: dict[str, Any]
    version: int
    params: dict[str, Any]
    duplicate: bool
    fit_here: bool  # it came alone: the request runs the fit before answering


@dataclass
class _Item:
    project: str
    request: M.FeedbackRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Filed]
    row: FunctionRow | None = None
    signal: dict[str, Any] | None = None
    state: tuple[int, dict[str, Any]] | None = None
    error: BaseException | None = None


class FeedbackWriter:
    def __init__(self, state: Any) -> None:
        self.state = state  # the ServiceState: lookups, the store, the trainer
        self.in_flight = 0  # requests waiting for an answer (changed on the event loop only)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dana-poet-feedback", daemon=True)
        self._thread.start()

    async def file(self, project: str, request: M.FeedbackRequest) -> Filed:
        loop = asyncio.get_running_loop()
        item = _Item(project, request, loop, loop.create_future())
        self.in_flight += 1
        try:
            self._queue.put(item)
            return await item.future
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    # ------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - the writer must outlive any fault
                for item in batch:
                    with contextlib.suppress(RuntimeError):  # the loop may be closed
                        item.loop.call_soon_threadsafe(_wake, [(item, exc)])

    def _commit(self, batch: list[_Item]) -> None:
        results: list[tuple[_Item, Filed | BaseException]] = []
        try:
            good = self._check(batch)
            filed = (
                self.state.store.record_feedback_many(
                    [
                        (
                            i.request.execution_id,
                            i.request.feedback_payload,
                            i.signal,
                            i.request.idempotency_key,
                        )
                        for i in good
                    ]
                )  # fmt: skip
                if good
                else []
            )
        except BaseException as exc:  # noqa: BLE001 - storage down: nothing is acknowledged
            results = [(i, i.error or exc) for i in batch]
        else:
            alone = len(batch) == 1 and self.in_flight <= 1
            for item, (record, new) in zip(good, filed, strict=True):
                results.append((item, self._answer(item, record, new, alone)))
            results += [(i, i.error) for i in batch if i.error is not None]
            if not alone:
                for row in {id(i.row): i.row for i in good if i.row is not None}.values():
                    self._tell_trainer(row)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Item, Any]]] = {}
        for item, result in results:
            by_loop.setdefault(item.loop, []).append((item, result))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_wake, answers)

    def _check(self, batch: list[_Item]) -> list[_Item]:
        """Resolve each item's function and execution and read its payload; items that
        fail get their error (a 4xx) and are left out of the transaction."""
        from dana_poet.poet.feedback import translate_feedback
        from dana_poet.service.state import ServiceError
        from dana_poet.service.training import current_state

        state = self.state
        store = state.store
        known = store.get_executions(list({i.request.execution_id for i in batch}))
        states: dict[str, tuple[int, dict[str, Any]]] = {}
        good = []
        for item in batch:
            req = item.request
            try:
                row = state.resolve_feedback_function(item.project, req)
                execution = known.get(req.execution_id)
                if execution is None and req.execution is not None:
                    if row is None:
                        raise ServiceError(
                            400, "an inline execution needs function_id or function_name"
                        )
                    if req.execution.execution_id != req.execution_id:
                        raise ServiceError(400, "execution.execution_id differs from execution_id")
                    execution = known[req.execution_id] = state.record_inline(
                        row.function_id, req.execution
                    )
                if execution is None:
                    raise ServiceError(404, f"no execution {req.execution_id!r}")
                if row is None:
                    row = state.function(item.project, execution.function)
                elif execution.function != row.function_id:
                    raise ServiceError(
                        404, f"no execution {req.execution_id!r} of {row.function_id!r}"
                    )
                if row.function_id not in states:
                    states[row.function_id] = current_state(store, row.function_id)
                item.row, item.state = row, states[row.function_id]
                try:
                    signal = translate_feedback(
                        req.feedback_payload, output=execution.output, parameters=item.state[1]
                    )
                except Exception as exc:  # noqa: BLE001 - a payload the rules cannot read
                    raise ServiceError(400, f"feedback_payload: {exc}") from None
                item.signal = signal.model_dump(mode="json")
                good.append(item)
            except ServiceError as exc:
                item.error = exc
        return good

    def _answer(self, item: _Item, record: Any, new: bool, alone: bool) -> Filed | BaseException:
        from dana_poet.service.state import ServiceError

        assert item.row is not None and item.state is not None
        if not new and record.execution_id != item.request.execution_id:
            return ServiceError(
                409,
                f"idempotency_key {item.request.idempotency_key!r} was already used for "
                "feedback on another execution",
            )
        version, params = item.state
        return Filed(
            item.row,
            record.feedback_id,
            record.signal if not new else (item.signal or {}),
            version,
            params,
            duplicate=not new,
            fit_here=alone and new,
        )

    def _tell_trainer(self, row: FunctionRow) -> None:
        import warnings

        try:
            self.state.trainer.after_feedback(row, busy=True)
        except Exception as exc:  # noqa: BLE001 - the feedback is filed; a fit can come later
            warnings.warn(f"dana-poet serve: fit of {row.function_id}: {exc}", stacklevel=1)


def _wake(answers: list[tuple[_Item, Any]]) -> None:
    for item, result in answers:
        if item.future.done():  # the request went away (client disconnected)
            continue
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)
