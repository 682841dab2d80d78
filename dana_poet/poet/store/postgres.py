"""The Store interface (store/base.py) over PostgreSQL, for service instances that share state.

Every `dana-poet serve` instance pointed at one database sees the same functions,
versions, executions and feedback. Executions are buffered and written in batches
(`flush` writes them; the service flushes before it acknowledges a batch);
feedback is committed before `record_feedback` returns. Version numbers are
claimed under a transaction-scoped advisory lock per function, so two instances
never publish the same N. `advisory_lock` gives the service its one-fit-at-a-time
lock across instances. Values are stored with the stable encoding (store/encoding.py)
as text, so what comes back has the same types as from SQLite.

Unlike the embedded stores, a database fault is raised: the service answers 503
rather than acknowledge what it did not store.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from dana_poet.poet.store.base import (
    ExecutionRecord,
    FeedbackRecord,
    StoreStatus,
    VersionRecord,
    VersionSummary,
)
from dana_poet.poet.store.encoding import dumps, loads
from dana_poet.poet.store.ids import new_id

BATCH = 256
RECENT = 4096
POOL_SIZE = 16
_SCHEMA_LOCK = 0x0DA9A9
_SCHEMA = """
CREATE TABLE IF NOT EXISTS poet_executions (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, version INTEGER NOT NULL,
    inputs TEXT, output TEXT, params TEXT, timings TEXT, error TEXT,
    created DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS poet_executions_function ON poet_executions (function, created);
CREATE TABLE IF NOT EXISTS poet_feedback (
    seq BIGSERIAL PRIMARY KEY, id TEXT UNIQUE NOT NULL, execution_id TEXT NOT NULL,
    function TEXT NOT NULL, version INTEGER NOT NULL, payload TEXT, signal TEXT,
    sentiment DOUBLE PRECISION NOT NULL, created DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS poet_feedback_function ON poet_feedback (function, seq);
CREATE TABLE IF NOT EXISTS poet_versions (
    function TEXT NOT NULL, version INTEGER NOT NULL, params TEXT, reason TEXT,
    evidence TEXT, metadata TEXT, enhanced_source TEXT, created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (function, version));
CREATE TABLE IF NOT EXISTS poet_current (function TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS poet_train_examples (
    function TEXT NOT NULL, key TEXT NOT NULL, seq BIGINT NOT NULL, execution_id TEXT NOT NULL,
    expected TEXT, profiles TEXT, PRIMARY KEY (function, key));
CREATE INDEX IF NOT EXISTS poet_train_examples_seq ON poet_train_examples (function, seq);
"""

_EXEC_COLUMNS = "id, function, version, inputs, output, params, timings, error, created"


@dataclass(slots=True)
class _TrainExample:
    key: str
    execution_id: str
    expected: Any
    profiles: dict[str, Any]


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _sentiment(signal: dict[str, Any]) -> float:
    try:
        return float(signal.get("sentiment", 0.0))
    except (TypeError, ValueError, AttributeError):
        return 0.0


def _execution(row: tuple[Any, ...]) -> ExecutionRecord:
    return ExecutionRecord(
        row[0],
        row[1],
        int(row[2]),
        loads(row[3], {}),
        loads(row[4]),
        loads(row[5], {}),
        loads(row[6], {}),
        row[7],
        float(row[8]),
    )


def _version(row: tuple[Any, ...]) -> VersionRecord:
    return VersionRecord(
        int(row[0]),
        loads(row[1], {}),
        row[2] or "",
        loads(row[3], {}),
        loads(row[4], {}),
        row[5],
        float(row[6]),
    )


class PostgresStore:
    """The Store interface over one PostgreSQL database (a small pool of connections)."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.location = _redacted(url)
        self._pool: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._buffer: list[tuple[Any, ...]] = []
        self._recent: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    # ------------------------------------------------------------ connections
    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection; a broken one is dropped, not returned."""
        self._slots.acquire()
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            try:
                yield conn
            except BaseException:
                if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                else:
                    self._pool.put(conn)
                raise
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.close()
            else:
                self._pool.put(conn)
        finally:
            self._slots.release()

    @contextlib.contextmanager
    def advisory_lock(self, name: str, *, blocking: bool) -> Iterator[bool]:
        """A session advisory lock across every instance; yields whether it is held."""
        with self.connection() as conn:
            fn = "pg_advisory_lock" if blocking else "pg_try_advisory_lock"
            row = conn.execute(f"SELECT {fn}(hashtextextended(%s, 0))", (name,)).fetchone()
            held = True if blocking else bool(row and row[0])
            try:
                yield held
            finally:
                if held:
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))

    # ------------------------------------------------------------ executions
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
        if not persist:
            recent = self._recent
            recent[execution_id] = row
            if len(recent) > 2 * RECENT:
                with self._lock:
                    self._recent = dict(list(self._recent.items())[-RECENT:])
            return
        with self._lock:
            self._buffer.append(row)
            full = len(self._buffer) >= BATCH
        if full:
            self.flush()

    @staticmethod
    def _encoded(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return (
            row[0], row[1], row[2], dumps(row[3]), dumps(row[4]), dumps(row[5]), dumps(row[6]),
            row[7], row[8],
        )  # fmt: skip

    def _insert(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO poet_executions ({_EXEC_COLUMNS}) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (id) DO NOTHING",
                    [self._encoded(r) for r in rows],
                )

    def flush(self) -> None:
        with self._flushing:  # a reader that misses a row in the buffer waits for its write
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return
            try:
                with self.connection() as conn, conn.transaction():
                    self._insert(conn, pending)
            except BaseException:
                with self._lock:
                    self._buffer[:0] = pending  # kept for the next flush
                raise

    def _pending(self, execution_id: str) -> tuple[Any, ...] | None:
        row = self._recent.get(execution_id)
        if row is not None:
            return row
        with self._lock:
            for r in self._buffer:
                if r[0] == execution_id:
                    return r
        return None

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        pending = self._pending(execution_id)
        if pending is not None:
            return _execution(self._encoded(pending))
        with self._flushing:
            pending = self._pending(execution_id)
        if pending is not None:
            return _execution(self._encoded(pending))
        with self.connection() as conn:
            row = conn.execute(
                f"SELECT {_EXEC_COLUMNS} FROM poet_executions WHERE id = %s", (execution_id,)
            ).fetchone()
        return _execution(row) if row else None

    def get_executions(self, execution_ids: list[str]) -> dict[str, ExecutionRecord]:
        """The known executions among `execution_ids`, in one query."""
        found: dict[str, ExecutionRecord] = {}
        missing = []
        for execution_id in execution_ids:
            pending = self._pending(execution_id)
            if pending is not None:
                found[execution_id] = _execution(self._encoded(pending))
            else:
                missing.append(execution_id)
        if missing:
            with self._flushing, self.connection() as conn:
                rows = conn.execute(
                    f"SELECT {_EXEC_COLUMNS} FROM poet_executions WHERE id = ANY(%s)", (missing,)
                ).fetchall()
            found.update((r[0], _execution(r)) for r in rows)
        return found

    def executions(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[ExecutionRecord]:
        self.flush()
        sql = f"SELECT {_EXEC_COLUMNS} FROM poet_executions WHERE function = %s"
        args: list[Any] = [function]
        if version is not None:
            sql += " AND version = %s"
            args.append(version)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY created DESC, id DESC LIMIT %s) AS newest"
            args.append(max(limit, 0))
        sql += " ORDER BY created, id"
        with self.connection() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_execution(r) for r in rows]

    # ------------------------------------------------------------ feedback
    def record_feedback(self, execution_id: str, payload: Any, signal: dict[str, Any]) -> str:
        feedback_id = new_id("f")
        pending = self._pending(execution_id)
        if pending is None:
            with self._flushing:
                pending = self._pending(execution_id)  # not in the buffer: written, or written now
        with self.connection() as conn, conn.transaction():
            if pending is not None:
                self._insert(conn, [pending])  # the execution lands with the feedback naming it
            row = conn.execute(
                "SELECT function, version FROM poet_executions WHERE id = %s", (execution_id,)
            ).fetchone()
            function, version = (row[0], int(row[1])) if row else ("", 0)
            conn.execute(
                "INSERT INTO poet_feedback (id, execution_id, function, version, payload, signal, "
                "sentiment, created) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    feedback_id, execution_id, function, version, dumps(payload), dumps(signal),
                    _sentiment(signal), time.time(),
                ),
            )  # fmt: skip
        return feedback_id

    def record_feedback_many(
        self, items: list[tuple[str, Any, dict[str, Any], str | None]]
    ) -> list[tuple[FeedbackRecord, bool]]:
        """File several (execution_id, payload, signal, feedback_id or None) in one
        transaction with the buffered executions (the service's group commit). A given
        feedback_id already stored is not filed again: per item (the stored record, new?)."""
        now = time.time()
        with self._flushing:
            with self._lock:
                pending, self._buffer = self._buffer, []
            pending += [r for r in (self._recent.get(i[0]) for i in items) if r is not None]
            try:
                with self.connection() as conn, conn.transaction():
                    self._insert(conn, pending)
                    return self._file_feedback(conn, items, now)
            except BaseException:
                with self._lock:
                    self._buffer[:0] = [r for r in pending if r[0] not in self._recent]
                raise

    def _file_feedback(
        self,
        conn: psycopg.Connection[Any],
        items: list[tuple[str, Any, dict[str, Any], str | None]],
        now: float,
    ) -> list[tuple[FeedbackRecord, bool]]:
        execution_ids = list({i[0] for i in items})
        owners = {
            r[0]: (r[1], int(r[2]))
            for r in conn.execute(
                "SELECT id, function, version FROM poet_executions WHERE id = ANY(%s)",
                (execution_ids,),
            ).fetchall()
        }
        records = []
        for execution_id, payload, signal, feedback_id in items:
            function, version = owners.get(execution_id, ("", 0))
            records.append(
                FeedbackRecord(
                    feedback_id or new_id("f"), execution_id, function, payload, signal, now,
                    version,
                )
            )  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO poet_feedback (id, execution_id, function, version, payload, signal, "
                "sentiment, created) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                [
                    (
                        r.feedback_id, r.execution_id, r.function, r.version, dumps(r.payload),
                        dumps(r.signal), _sentiment(r.signal), r.created,
                    )
                    for r in records
                ],
                returning=True,
            )  # fmt: skip
            filed: set[str] = set()
            while True:
                filed.update(row[0] for row in cur.fetchall())
                if not cur.nextset():
                    break
        again = [r.feedback_id for r in records if r.feedback_id not in filed]
        stored: dict[str, FeedbackRecord] = {}
        if again:
            for row in conn.execute(
                "SELECT id, execution_id, function, payload, signal, created, version "
                "FROM poet_feedback WHERE id = ANY(%s)",
                (again,),
            ).fetchall():
                stored[row[0]] = FeedbackRecord(
                    row[0], row[1], row[2], loads(row[3]), loads(row[4], {}), float(row[5]),
                    int(row[6]),
                )  # fmt: skip
        out: list[tuple[FeedbackRecord, bool]] = []
        first: dict[str, FeedbackRecord] = {}
        for r in records:
            if r.feedback_id in filed and r.feedback_id not in first:
                first[r.feedback_id] = r
                out.append((r, True))
            else:  # stored before, or twice in this batch
                out.append((stored.get(r.feedback_id) or first.get(r.feedback_id, r), False))
        return out

    def feedback_for(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        sql = (
            "SELECT seq, id, execution_id, function, payload, signal, created, version "
            "FROM poet_feedback WHERE function = %s"
        )
        args: list[Any] = [function]
        if version is not None:
            sql += " AND version = %s"
            args.append(version)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT %s) AS newest"
            args.append(max(limit, 0))
        with self.connection() as conn:
            rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [
            FeedbackRecord(r[1], r[2], r[3], loads(r[4]), loads(r[5], {}), float(r[6]), int(r[7]))
            for r in rows
        ]

    def feedback_summary(self, function: str) -> list[VersionSummary]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT version, count(*), avg(sentiment), "
                "count(*) FILTER (WHERE sentiment < 0), count(*) FILTER (WHERE sentiment > 0) "
                "FROM poet_feedback WHERE function = %s GROUP BY version ORDER BY version",
                (function,),
            ).fetchall()
        return [
            VersionSummary(int(r[0]), int(r[1]), float(r[2]), int(r[3]), int(r[4])) for r in rows
        ]

    def recent_feedback(
        self, function: str, *, limit: int, after: tuple[float, str] | None = None
    ) -> list[tuple[FeedbackRecord, ExecutionRecord | None]]:
        """The newest `limit` feedback items (later than the mark `after` = (created,
        feedback_id) when given) with their executions, oldest first."""
        self.flush()
        sql = (
            "SELECT f.id, f.execution_id, f.function, f.payload, f.signal, f.created, f.version, "
            "e.id, e.function, e.version, e.inputs, e.output, e.params, e.timings, e.error, "
            "e.created FROM poet_feedback f LEFT JOIN poet_executions e ON e.id = f.execution_id "
            "WHERE f.function = %s"
        )
        args: list[Any] = [function]
        if after is not None:
            sql += " AND (f.created > %s OR (f.created = %s AND f.id > %s))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY f.created DESC, f.id DESC LIMIT %s"
        with self.connection() as conn:
            rows = conn.execute(sql, [*args, max(limit, 0)]).fetchall()
        out: list[tuple[FeedbackRecord, ExecutionRecord | None]] = []
        for r in reversed(rows):
            fb = FeedbackRecord(
                r[0], r[1], r[2], loads(r[3]), loads(r[4], {}), float(r[5]), int(r[6])
            )
            out.append((fb, _execution(r[7:]) if r[7] else None))
        return out

    # ------------------------------------------------------------ train window
    def put_train_example(
        self, function: str, key: str, execution_id: str, expected: Any, profiles: dict[str, Any]
    ) -> None:
        """Insert or replace the labelled example `key` as the newest of the function's window."""
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO poet_train_examples VALUES (%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (function, key) DO UPDATE SET seq = EXCLUDED.seq, "
                "execution_id = EXCLUDED.execution_id, expected = EXCLUDED.expected, "
                "profiles = EXCLUDED.profiles",
                (function, key, time.time_ns(), execution_id, dumps(expected), dumps(profiles)),
            )

    def update_train_profiles(self, function: str, profiles: dict[str, dict[str, Any]]) -> None:
        if not profiles:
            return
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "UPDATE poet_train_examples SET profiles = %s WHERE function = %s AND key = %s",
                [(dumps(p), function, key) for key, p in profiles.items()],
            )

    def train_examples(self, function: str, *, limit: int) -> list[Any]:
        """The newest `limit` labelled examples of the function, newest first."""
        from dana_poet.poet.store import base

        record = getattr(base, "TrainExampleRecord", None) or _TrainExample
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT key, execution_id, expected, profiles FROM poet_train_examples "
                "WHERE function = %s ORDER BY seq DESC LIMIT %s",
                (function, max(limit, 0)),
            ).fetchall()
        return [record(r[0], r[1], loads(r[2]), loads(r[3], {})) for r in rows]

    # ------------------------------------------------------------ versions
    def current_version(self, function: str) -> int:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT version FROM poet_current WHERE function = %s", (function,)
            ).fetchone()
        return int(row[0]) if row else 0

    def set_current(self, function: str, version: int) -> None:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO poet_current (function, version) VALUES (%s, %s) "
                "ON CONFLICT (function) DO UPDATE SET version = EXCLUDED.version",
                (function, version),
            )

    _VERSION_COLUMNS = "version, params, reason, evidence, metadata, enhanced_source, created"

    def read_version(self, function: str, version: int) -> VersionRecord:
        with self.connection() as conn:
            row = conn.execute(
                f"SELECT {self._VERSION_COLUMNS} FROM poet_versions "
                "WHERE function = %s AND version = %s",
                (function, version),
            ).fetchone()
        if row is None:
            return VersionRecord(version, {}, "", {}, {}, None, 0.0, problem="no such version")
        return _version(row)

    def has_version(self, function: str, version: int) -> bool:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM poet_versions WHERE function = %s AND version = %s",
                (function, version),
            ).fetchone()
        return row is not None

    def list_versions(self, function: str) -> list[VersionRecord]:
        with self.connection() as conn:
            rows = conn.execute(
                f"SELECT {self._VERSION_COLUMNS} FROM poet_versions WHERE function = %s "
                "ORDER BY version",
                (function,),
            ).fetchall()
        return [_version(r) for r in rows]

    def highest_version(self, function: str) -> int:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT max(version) FROM poet_versions WHERE function = %s", (function,)
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _publish(
        self,
        conn: psycopg.Connection[Any],
        function: str,
        *,
        params: dict[str, Any],
        reason: str,
        evidence: dict[str, Any],
        enhanced_source: str | None,
        metadata: dict[str, Any] | None,
        make_current: bool,
        at_least: int,
    ) -> int:
        row = conn.execute(
            "SELECT max(version) FROM poet_versions WHERE function = %s", (function,)
        ).fetchone()
        version = max((int(row[0]) if row and row[0] is not None else 0) + 1, at_least)
        created = time.time()
        meta = {
            "version": version,
            "reason": reason,
            "evidence": evidence,
            "created": created,
            **(metadata or {}),
        }
        conn.execute(
            f"INSERT INTO poet_versions (function, {self._VERSION_COLUMNS}) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                function, version, dumps(params), reason, dumps(evidence), dumps(meta),
                enhanced_source, created,
            ),
        )  # fmt: skip
        if make_current:
            conn.execute(
                "INSERT INTO poet_current (function, version) VALUES (%s, %s) "
                "ON CONFLICT (function) DO UPDATE SET version = EXCLUDED.version",
                (function, version),
            )
        return version

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
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (function,))
            if reuse_current and make_current:
                row = conn.execute(
                    "SELECT v.version, v.params, v.metadata FROM poet_current c JOIN poet_versions v"
                    " ON v.function = c.function AND v.version = c.version WHERE c.function = %s",
                    (function,),
                ).fetchone()
                if (
                    row
                    and loads(row[1], {}) == params
                    and loads(row[2], {}).get("cache_key") == (metadata or {}).get("cache_key")
                ):
                    return int(row[0])
            return self._publish(
                conn,
                function,
                params=params,
                reason=reason,
                evidence=evidence,
                enhanced_source=enhanced_source,
                metadata=metadata,
                make_current=make_current,
                at_least=at_least,
            )

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
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (function,))
            row = conn.execute(
                "SELECT v.version, v.metadata FROM poet_current c JOIN poet_versions v "
                "ON v.function = c.function AND v.version = c.version WHERE c.function = %s",
                (function,),
            ).fetchone()
            if row and loads(row[1], {}).get("cache_key") == cache_key:
                return int(row[0])
            return self._publish(
                conn,
                function,
                params=params,
                reason=reason,
                evidence={},
                enhanced_source=enhanced_source,
                metadata={**metadata, "cache_key": cache_key},
                make_current=True,
                at_least=1,
            )

    def functions(self) -> list[str]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT function FROM poet_versions UNION SELECT function FROM poet_executions "
                "ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    def status(self) -> StoreStatus:
        try:
            with self.connection() as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            return StoreStatus(self.location, True, [f"{type(exc).__name__}: {exc}"])
        return StoreStatus(self.location, True, [])

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.flush()
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(psycopg.Error):
                conn.close()
