"""A store that lives in memory: for tests, and where storage is unusable (read-only, full)."""

from __future__ import annotations

import threading
import time
from itertools import islice
from typing import Any

from dana_poet.poet.store.base import (
    ExecutionRecord,
    FeedbackRecord,
    StoreStatus,
    TrainExampleRecord,
    VersionRecord,
    VersionSummary,
    same_content,
)
from dana_poet.poet.store.encoding import round_trip
from dana_poet.poet.store.ids import new_id

RECENT = 4096  # executions kept that no feedback has named yet (persist=False)


def summarise(feedback: list[FeedbackRecord]) -> list[VersionSummary]:
    rows: dict[int, list[float]] = {}
    for fb in feedback:
        try:
            sentiment = float(fb.signal.get("sentiment", 0.0))
        except (TypeError, ValueError, AttributeError):
            sentiment = 0.0
        rows.setdefault(fb.version, []).append(sentiment)
    return [
        VersionSummary(
            v,
            len(vals),
            sum(vals) / len(vals),
            sum(1 for x in vals if x < 0),
            sum(1 for x in vals if x > 0),
        )
        for v, vals in sorted(rows.items())
    ]


def decoded_execution(row: tuple[Any, ...]) -> ExecutionRecord:
    """An execution as a reader sees it: the values after the stable encoding's round trip."""
    eid, function, version, inputs, output, params, timings, error, created = row
    return ExecutionRecord(
        eid,
        function,
        version,
        round_trip(inputs),
        round_trip(output),
        round_trip(params),
        round_trip(timings),
        error,
        created,
    )


class MemoryStore:
    """The Store interface (store/base.py) in memory."""

    def __init__(self, location: str = "memory") -> None:
        self._location = location
        self._lock = threading.RLock()
        self._executions: dict[str, tuple[Any, ...]] = {}
        self._kept: set[str] = set()
        self._transient: dict[str, tuple[Any, ...]] = {}
        self._feedback: dict[str, list[FeedbackRecord]] = {}  # per function, in arrival order
        self._versions: dict[str, dict[int, VersionRecord]] = {}
        self._current: dict[str, int] = {}
        self._examples: dict[str, dict[str, tuple[int, TrainExampleRecord]]] = {}
        self._seq = 0
        self.problems: list[str] = []

    def new_execution_id(self) -> str:
        return new_id("x")

    def record_execution(
        self,
        execution_id: str,
        function: str,
        version: int,
        inputs: dict[str, Any],
        output: Any,
        params: dict[str, Any],
        timings: dict[str, Any],
        error: str | None = None,
        *,
        persist: bool = True,
    ) -> None:
        row = (execution_id, function, version, inputs, output, params, timings, error, time.time())
        if persist:
            self._executions[execution_id] = row
            return
        transient = self._transient
        transient[execution_id] = row
        if len(transient) > 2 * RECENT:
            with self._lock:
                self._transient = dict(list(self._transient.items())[-RECENT:])

    def flush(self) -> None:
        return None

    def _row(self, execution_id: str) -> tuple[Any, ...] | None:
        return self._executions.get(execution_id) or self._transient.get(execution_id)

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        row = self._row(execution_id)
        return decoded_execution(row) if row is not None else None

    def executions(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[ExecutionRecord]:
        rows = [
            r
            for r in list(self._executions.values())
            if r[1] == function and (version is None or r[2] == version)
        ]
        rows.sort(key=lambda r: r[8])
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [decoded_execution(r) for r in rows]

    def record_feedback(self, execution_id: str, payload: Any, signal: dict[str, Any]) -> str:
        row = self._row(execution_id)
        if row is not None and execution_id not in self._executions:
            self._executions[execution_id] = row
        function, version = (row[1], row[2]) if row is not None else ("", 0)
        feedback_id = new_id("f")
        record = FeedbackRecord(
            feedback_id,
            execution_id,
            function,
            round_trip(payload),
            round_trip(signal),
            time.time(),
            version,
        )
        with self._lock:
            self._feedback.setdefault(function, []).append(record)
        return feedback_id

    def feedback_for(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        out = [
            f
            for f in list(self._feedback.get(function, ()))
            if version is None or f.version == version
        ]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def feedback_summary(self, function: str) -> list[VersionSummary]:
        return summarise(self.feedback_for(function))

    def recent_feedback(
        self, function: str, *, limit: int, after: tuple[float, str] | None = None
    ) -> list[tuple[FeedbackRecord, ExecutionRecord | None]]:
        items: list[FeedbackRecord] = []
        # newest first, stopping at the mark or the limit: bounded whatever the history
        for f in reversed(self._feedback.get(function, [])):
            if len(items) >= limit or (after is not None and (f.created, f.feedback_id) <= after):
                break
            items.append(f)
        items.sort(key=lambda f: (f.created, f.feedback_id))
        return [(f, self.get_execution(f.execution_id)) for f in items]

    def put_train_example(
        self, function: str, key: str, execution_id: str, expected: Any, profiles: dict[str, Any]
    ) -> None:
        with self._lock:
            self._seq += 1
            record = TrainExampleRecord(
                key, execution_id, round_trip(expected), round_trip(profiles)
            )
            examples = self._examples.setdefault(function, {})
            examples.pop(key, None)  # the dict stays in the order examples were put
            examples[key] = (self._seq, record)

    def update_train_profiles(self, function: str, profiles: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            window = self._examples.get(function, {})
            for key, p in profiles.items():
                if key in window:
                    window[key][1].profiles = round_trip(p)

    def train_examples(self, function: str, *, limit: int) -> list[TrainExampleRecord]:
        with self._lock:
            newest = reversed(self._examples.get(function, {}).values())
            return [record for _, record in islice(newest, max(limit, 0))]

    def current_version(self, function: str) -> int:
        return self._current.get(function, 0)

    def set_current(self, function: str, version: int) -> None:
        self._current[function] = version

    def read_version(self, function: str, version: int) -> VersionRecord:
        found = self._versions.get(function, {}).get(version)
        if found is None:
            return VersionRecord(version, {}, "", {}, {}, None, 0.0, problem="no such version")
        return found

    def has_version(self, function: str, version: int) -> bool:
        return version in self._versions.get(function, {})

    def list_versions(self, function: str) -> list[VersionRecord]:
        found = self._versions.get(function, {})
        return [found[v] for v in sorted(found)]

    def highest_version(self, function: str) -> int:
        return max(self._versions.get(function, {}), default=0)

    def write_version(
        self,
        function: str,
        *,
        params: dict[str, Any],
        reason: str,
        evidence: dict[str, Any],
        enhanced_source: str | None = None,
        metadata: dict[str, Any] | None = None,
        make_current: bool = True,
        at_least: int = 1,
        reuse_current: bool = False,
    ) -> int:
        with self._lock:
            current = self._current.get(function, 0)
            if reuse_current and make_current and current:
                held = self._versions.get(function, {}).get(current)
                if held is not None and same_content(held, params, metadata):
                    return current
            version = max(self.highest_version(function) + 1, at_least)
            created = time.time()
            meta = {
                "version": version,
                "reason": reason,
                "evidence": round_trip(evidence),
                "created": created,
                **round_trip(metadata or {}),
            }
            self._versions.setdefault(function, {})[version] = VersionRecord(
                version,
                round_trip(params),
                reason,
                meta["evidence"],
                meta,
                enhanced_source,
                created,
            )
            if make_current:
                self._current[function] = version
            return version

    def publish_if_changed(
        self,
        function: str,
        *,
        cache_key: str,
        params: dict[str, Any],
        reason: str,
        enhanced_source: str | None,
        metadata: dict[str, Any],
    ) -> int:
        with self._lock:
            current = self.current_version(function)
            if current and self.read_version(function, current).metadata.get("cache_key") == (
                cache_key
            ):
                return current
            return self.write_version(
                function,
                params=params,
                reason=reason,
                evidence={},
                enhanced_source=enhanced_source,
                metadata={**metadata, "cache_key": cache_key},
            )

    def functions(self) -> list[str]:
        names = {r[1] for r in list(self._executions.values())} | set(self._versions)
        return sorted(names)

    def status(self) -> StoreStatus:
        return StoreStatus(self._location, False, list(self.problems))

    def close(self) -> None:
        return None
