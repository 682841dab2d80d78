"""The embedded store: `<project>/.dana/poet/`, executions and feedback in SQLite (WAL),
versions as readable files.

Executions are recorded on every call, so they are buffered in memory and
written in batched transactions (when the buffer fills, before any read that
needs them, and at exit). Feedback is committed before `record_feedback`
returns. Version files are written to a temporary file and moved into place;
a version number is claimed by creating its directory, which is atomic across
processes; publishing stage code takes a file lock so concurrent first runs
publish one version.

Faults never stop the program: a damaged `poet.db` is moved aside (kept as
`poet.db.damaged-<time>`) and a new one made; storage that cannot be written
(read-only, full, not a folder) switches the store to memory with one warning
naming the cause; a damaged version file marks that version as unusable.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from dana_poet.poet.files import write_atomic
from dana_poet.poet.store.base import (
    ExecutionRecord,
    FeedbackRecord,
    StoreStatus,
    TrainExampleRecord,
    VersionRecord,
    VersionSummary,
    same_content,
)
from dana_poet.poet.store.encoding import dumps, loads, round_trip, to_jsonable
from dana_poet.poet.store.ids import new_id
from dana_poet.poet.store.memory import RECENT, MemoryStore, decoded_execution, summarise
from dana_poet.poet.warn import warn

T = TypeVar("T")
BATCH = 256
_DAMAGE = ("file is not a database", "malformed", "not a database")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, version INTEGER NOT NULL,
    inputs TEXT, output TEXT, params TEXT, timings TEXT, error TEXT, created REAL);
DROP INDEX IF EXISTS executions_function;
CREATE INDEX IF NOT EXISTS executions_function_created ON executions(function, created);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, function TEXT NOT NULL,
    payload TEXT, signal TEXT, created REAL, version INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS feedback_function ON feedback(function, version);
DROP INDEX IF EXISTS feedback_function_created;
CREATE INDEX IF NOT EXISTS feedback_recent ON feedback(function, created, id);
CREATE TABLE IF NOT EXISTS train_examples (
    function TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, execution_id TEXT NOT NULL,
    expected TEXT, profiles TEXT, PRIMARY KEY (function, key));
CREATE INDEX IF NOT EXISTS train_examples_seq ON train_examples(function, seq);
"""

_OPEN_STORES: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_OPEN_STORES):
        store._forget_connection()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _segment(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "_"
    return "_" + cleaned if cleaned in (".", "..") else cleaned


def function_dir_parts(function: str) -> list[str]:
    """`pkg/a.na:check` -> ['pkg', 'a.na', 'check']; absolute module paths go under '_abs'."""
    module, sep, qualname = function.rpartition(":")
    if not sep:
        return [_segment(function)]
    parts = [_segment(p) for p in module.split("/") if p]
    if module.startswith("/"):
        parts.insert(0, "_abs")
    return [*parts, _segment(qualname)]


def _is_busy(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _patiently(action: Callable[[], T]) -> T:
    """Run `action`, waiting out another process's lock (SQLite gives up on some lock
    upgrades without calling its busy handler)."""
    delay = 0.005
    deadline = time.monotonic() + 60
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _is_damage(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and any(d in str(exc) for d in _DAMAGE)


class SQLiteStore:
    """The Store interface (store/base.py) on SQLite and version files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._buffer: list[tuple[Any, ...]] = []
        self._transient: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._warned: set[str] = set()
        self._memory: MemoryStore | None = None  # set once storage failed: the store goes on here
        self.problems: list[str] = []
        _OPEN_STORES.add(self)
        atexit.register(self.close)

    # ------------------------------------------------------------ faults
    def _warn_once(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        self.problems.append(message)
        warn(message)

    def _fall_back(self, exc: BaseException, doing: str) -> MemoryStore:
        """Storage is unusable: keep going in memory, with one warning naming the cause."""
        if self._memory is None:
            cause = (
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else _os_cause(exc)
            )
            self._warn_once(
                "memory",
                f"cannot use {self.root} ({cause}) while {doing}; "
                "POET goes on in memory and nothing more is saved in this run",
            )
            memory = MemoryStore(f"memory (instead of {self.root})")
            with self._lock:
                pending, self._buffer = self._buffer, []
                transient, self._transient = self._transient, {}
                self._forget_connection(close=True)
            for row in pending:
                memory.record_execution(*row[:8], persist=True)
            for row in transient.values():
                memory.record_execution(*row[:8], persist=False)
            self._memory = memory
        return self._memory

    @property
    def degraded(self) -> bool:
        return self._memory is not None

    # ------------------------------------------------------------ sqlite
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.root / "poet.db", timeout=30, check_same_thread=False, isolation_level=None
        )
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}
            if "version" not in columns:  # a store written before feedback kept its version
                conn.execute("ALTER TABLE feedback ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
                conn.execute(
                    "UPDATE feedback SET version = COALESCE((SELECT e.version FROM executions e "
                    "WHERE e.id = feedback.execution_id), 0)"
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = _patiently(self._connect)
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise
                self._move_damaged_aside(exc)
                self._conn = _patiently(self._connect)
        return self._conn

    def _move_damaged_aside(self, exc: BaseException) -> None:
        db = self.root / "poet.db"
        with self._file_lock(self.root / ".poet.db.lock"):
            try:  # another process may have replaced it already
                probe = _patiently(self._connect)
                probe.close()
                return
            except sqlite3.DatabaseError as again:
                if not _is_damage(again):
                    raise
            kept = self.root / f"poet.db.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            os.replace(db, kept)
            for suffix in ("-wal", "-shm"):
                side = self.root / f"poet.db{suffix}"
                if side.exists():
                    os.replace(side, self.root / f"{kept.name}{suffix}")
        self._warn_once(
            "damaged-db",
            f"{db} was damaged ({exc}); kept it as {kept.name} and started a new one",
        )

    def _forget_connection(self, close: bool = False) -> None:
        """After fork the child must not use the parent's connection."""
        conn, self._conn = self._conn, None
        if close and conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, OSError):
            self.flush()
        self._forget_connection(close=True)

    def _write(self, statements: list[tuple[str, Any]], doing: str) -> bool:
        """Run write statements in one transaction. False when storage failed (now in memory)."""
        with self._lock:
            try:
                db = self._db()

                def transaction() -> None:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        for sql, args in statements:
                            if isinstance(args, list):
                                db.executemany(sql, args)
                            else:
                                db.execute(sql, args)
                        db.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(sqlite3.Error):  # the real error is the first
                            db.execute("ROLLBACK")
                        raise

                _patiently(transaction)
                return True
            except (sqlite3.Error, OSError) as exc:
                self._fall_back(exc, doing)
                return False

    def _read(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[tuple[Any, ...]]:
        if not (self.root / "poet.db").exists():
            return []
        with self._lock:
            try:
                db = self._db()
                return _patiently(lambda: db.execute(sql, args).fetchall())
            except (sqlite3.Error, OSError) as exc:
                self._fall_back(exc, "reading")
                return []

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
        memory = self._memory
        if memory is not None:
            memory.record_execution(
                execution_id,
                function,
                version,
                inputs,
                output,
                params,
                timings,
                error,
                persist=persist,
            )
            return
        row = (execution_id, function, version, inputs, output, params, timings, error, time.time())
        if persist:
            self._buffer.append(row)
            if len(self._buffer) >= BATCH:
                self.flush()
            return
        transient = self._transient
        transient[execution_id] = row
        if len(transient) > 2 * RECENT:  # amortised: trim to the newest RECENT now and then
            with self._lock:
                self._transient = dict(list(self._transient.items())[-RECENT:])

    def flush(self) -> None:
        if self._memory is not None:
            return
        with self._lock:
            pending, self._buffer = self._buffer, []
            self._insert_executions(pending)

    @staticmethod
    def _encode_row(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (r[0], r[1], r[2], dumps(r[3]), dumps(r[4]), dumps(r[5]), dumps(r[6]), r[7], r[8])

    def _insert_executions(self, pending: list[tuple[Any, ...]]) -> None:
        if not pending:
            return
        rows = [self._encode_row(r) for r in pending]
        sql = "INSERT OR REPLACE INTO executions VALUES (?,?,?,?,?,?,?,?,?)"
        if not self._write([(sql, rows)], "saving executions"):
            memory = self._memory
            assert memory is not None
            for row in pending:
                memory.record_execution(*row[:8], persist=True)

    @staticmethod
    def _execution_from_row(row: tuple[Any, ...]) -> ExecutionRecord:
        return ExecutionRecord(
            row[0],
            row[1],
            row[2],
            loads(row[3], {}),
            loads(row[4]),
            loads(row[5], {}),
            loads(row[6], {}),
            row[7],
            row[8],
        )

    def _pending_row(self, execution_id: str) -> tuple[Any, ...] | None:
        row = self._transient.get(execution_id)
        if row is not None:
            return row
        for row in reversed(self._buffer):
            if row[0] == execution_id:
                return row
        return None

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        if self._memory is not None:
            return self._memory.get_execution(execution_id)
        row = self._pending_row(execution_id)
        if row is not None:
            return decoded_execution(row)
        rows = self._read("SELECT * FROM executions WHERE id = ?", (execution_id,))
        if self._memory is not None:
            return self._memory.get_execution(execution_id)
        return self._execution_from_row(rows[0]) if rows else None

    def get_executions(self, execution_ids: list[str]) -> dict[str, ExecutionRecord]:
        """The known executions among `execution_ids`."""
        found = ((i, self.get_execution(i)) for i in execution_ids)
        return {i: e for i, e in found if e is not None}

    def executions(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[ExecutionRecord]:
        self.flush()
        if self._memory is not None:
            return self._memory.executions(function, version=version, limit=limit)
        sql = "SELECT * FROM executions WHERE function = ?"
        args: list[Any] = [function]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        sql += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._execution_from_row(r) for r in reversed(self._read(sql, args))]

    # ------------------------------------------------------------ feedback
    def record_feedback(self, execution_id: str, payload: Any, signal: dict[str, Any]) -> str:
        if self._memory is not None:
            return self._memory.record_feedback(execution_id, payload, signal)
        execution = self.get_execution(execution_id)
        function, version = (execution.function, execution.version) if execution else ("", 0)
        feedback_id = new_id("f")
        with self._lock:
            pending, self._buffer = self._buffer, []
            row = self._transient.get(execution_id)
            if row is not None:
                pending.append(row)
            statements: list[tuple[str, Any]] = []
            if pending:  # the execution row lands with (before) the feedback that names it
                statements.append(
                    (
                        "INSERT OR REPLACE INTO executions VALUES (?,?,?,?,?,?,?,?,?)",
                        [self._encode_row(r) for r in pending],
                    )
                )
            statements.append(
                (
                    "INSERT INTO feedback VALUES (?,?,?,?,?,?,?)",
                    (
                        feedback_id,
                        execution_id,
                        function,
                        dumps(payload),
                        dumps(signal),
                        time.time(),
                        version,
                    ),
                )
            )
            if self._write(statements, "saving feedback"):
                return feedback_id
        memory = self._memory
        assert memory is not None
        for r in pending:
            memory.record_execution(*r[:8], persist=True)
        return memory.record_feedback(execution_id, payload, signal)

    def record_feedback_many(
        self, items: list[tuple[str, Any, dict[str, Any], str | None]]
    ) -> list[tuple[FeedbackRecord, bool]]:
        """File several (execution_id, payload, signal, feedback_id or None) in one
        transaction with the buffered executions (the service's group commit). A given
        feedback_id already stored is not filed again: per item (the stored record, new?)."""
        if self._memory is not None:
            return [(self._memory_feedback(*item), True) for item in items]
        now = time.time()
        with self._lock:
            records = []
            for execution_id, payload, signal, feedback_id in items:
                function, version = self._owner(execution_id)
                records.append(
                    FeedbackRecord(
                        feedback_id or new_id("f"), execution_id, function, payload, signal, now,
                        version,
                    )
                )  # fmt: skip
            pending, self._buffer = self._buffer, []
            pending += [r for r in (self._transient.get(i[0]) for i in items) if r is not None]
            try:
                db = self._db()
                out = _patiently(lambda: self._file_feedback(db, pending, records))
            except (sqlite3.Error, OSError) as exc:
                self._fall_back(exc, "saving feedback")
                out = None
        if out is not None:
            return out
        memory = self._memory
        assert memory is not None
        for r in pending:
            memory.record_execution(*r[:8], persist=True)
        return [(self._memory_feedback(*item), True) for item in items]

    def _owner(self, execution_id: str) -> tuple[str, int]:
        """(function, version) of an execution, ("", 0) when unknown."""
        row = self._pending_row(execution_id)
        if row is not None:
            return row[1], row[2]
        rows = self._read("SELECT function, version FROM executions WHERE id = ?", (execution_id,))
        return (rows[0][0], rows[0][1]) if rows else ("", 0)

    def _memory_feedback(
        self, execution_id: str, payload: Any, signal: dict[str, Any], _key: str | None
    ) -> FeedbackRecord:
        assert self._memory is not None
        feedback_id = self._memory.record_feedback(execution_id, payload, signal)
        return FeedbackRecord(feedback_id, execution_id, "", payload, signal, time.time())

    def _file_feedback(
        self, db: sqlite3.Connection, pending: list[tuple[Any, ...]], records: list[FeedbackRecord]
    ) -> list[tuple[FeedbackRecord, bool]]:
        db.execute("BEGIN IMMEDIATE")
        try:
            if pending:
                db.executemany(
                    "INSERT OR REPLACE INTO executions VALUES (?,?,?,?,?,?,?,?,?)",
                    [self._encode_row(r) for r in pending],
                )
            out: list[tuple[FeedbackRecord, bool]] = []
            for r in records:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO feedback VALUES (?,?,?,?,?,?,?)",
                    (
                        r.feedback_id, r.execution_id, r.function, dumps(r.payload),
                        dumps(r.signal), r.created, r.version,
                    ),
                )  # fmt: skip
                if cursor.rowcount == 1:
                    out.append((r, True))
                    continue
                s = db.execute(
                    "SELECT id, execution_id, function, payload, signal, created, version "
                    "FROM feedback WHERE id = ?",
                    (r.feedback_id,),
                ).fetchone()
                stored = FeedbackRecord(s[0], s[1], s[2], loads(s[3]), loads(s[4], {}), s[5], s[6])
                out.append((stored, False))
            db.execute("COMMIT")
            return out
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def feedback_for(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        if self._memory is not None:
            return self._memory.feedback_for(function, version=version, limit=limit)
        sql = (
            "SELECT id, execution_id, function, payload, signal, created, version "
            "FROM feedback WHERE function = ?"
        )
        args: list[Any] = [function]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        sql += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [
            FeedbackRecord(r[0], r[1], r[2], loads(r[3]), loads(r[4], {}), r[5], r[6] or 0)
            for r in reversed(self._read(sql, args))
        ]

    def feedback_summary(self, function: str) -> list[VersionSummary]:
        return summarise(self.feedback_for(function))

    def recent_feedback(
        self, function: str, *, limit: int, after: tuple[float, str] | None = None
    ) -> list[tuple[FeedbackRecord, ExecutionRecord | None]]:
        self.flush()
        if self._memory is not None:
            return self._memory.recent_feedback(function, limit=limit, after=after)
        sql = (
            "SELECT f.id, f.execution_id, f.function, f.payload, f.signal, f.created, f.version,"
            " e.id, e.function, e.version, e.inputs, e.output, e.params, e.timings, e.error,"
            " e.created FROM feedback f LEFT JOIN executions e ON e.id = f.execution_id"
            " WHERE f.function = ?"
        )
        args: list[Any] = [function]
        if after is not None:
            # `created >= ?` bounds the index range: only rows from the mark on are read
            sql += " AND f.created >= ? AND (f.created > ? OR f.id > ?)"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY f.created DESC, f.id DESC LIMIT ?"
        out: list[tuple[FeedbackRecord, ExecutionRecord | None]] = []
        for r in reversed(self._read(sql, [*args, limit])):
            fb = FeedbackRecord(r[0], r[1], r[2], loads(r[3]), loads(r[4], {}), r[5], r[6] or 0)
            out.append((fb, self._execution_from_row(r[7:]) if r[7] else None))
        return out

    # ------------------------------------------------------------ Train's window
    def put_train_example(
        self, function: str, key: str, execution_id: str, expected: Any, profiles: dict[str, Any]
    ) -> None:
        if self._memory is None:
            row = (function, key, time.time_ns(), execution_id, dumps(expected), dumps(profiles))
            sql = "INSERT OR REPLACE INTO train_examples VALUES (?,?,?,?,?,?)"
            if self._write([(sql, row)], "saving a training example"):
                return
        assert self._memory is not None
        self._memory.put_train_example(function, key, execution_id, expected, profiles)

    def update_train_profiles(self, function: str, profiles: dict[str, dict[str, Any]]) -> None:
        if not profiles:
            return
        if self._memory is None:
            rows = [(dumps(p), function, key) for key, p in profiles.items()]
            sql = "UPDATE train_examples SET profiles = ? WHERE function = ? AND key = ?"
            if self._write([(sql, rows)], "saving training profiles"):
                return
        assert self._memory is not None
        self._memory.update_train_profiles(function, profiles)

    def train_examples(self, function: str, *, limit: int) -> list[TrainExampleRecord]:
        if self._memory is not None:
            return self._memory.train_examples(function, limit=limit)
        rows = self._read(
            "SELECT key, execution_id, expected, profiles FROM train_examples"
            " WHERE function = ? ORDER BY seq DESC LIMIT ?",
            (function, limit),
        )
        return [TrainExampleRecord(r[0], r[1], loads(r[2]), loads(r[3], {})) for r in rows]

    # ------------------------------------------------------------ versions (files)
    def function_dir(self, function: str) -> Path:
        return self.root.joinpath("functions", *function_dir_parts(function))

    @contextlib.contextmanager
    def _file_lock(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read_json(self, path: Path, kind: type) -> tuple[Any, str | None]:
        """(value, problem): a missing file is (None, None). A damaged one is reported by
        whoever reads the version (VersionRecord.problem), once, with what it used instead."""
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as exc:
            problem = f"{path.name}: {exc}"
        else:
            if isinstance(value, kind):
                return value, None
            problem = f"{path.name} holds {type(value).__name__}, not {kind.__name__}"
        return None, problem

    def _disk_versions(self, function: str) -> list[int]:
        base = self.function_dir(function)
        try:
            names = [p.name for p in base.iterdir()]
        except OSError:
            return []
        return sorted(int(n[1:]) for n in names if n.startswith("v") and n[1:].isdigit())

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
        reuse_current: bool = False,
    ) -> int:
        if self._memory is None:
            try:
                if not (reuse_current and make_current):
                    return self._write_version_files(
                        function, params, reason, evidence, enhanced_source, metadata, make_current
                    )
                with self._file_lock(self.function_dir(function) / ".publish.lock"):
                    current = self.current_version(function)
                    if current and same_content(
                        self.read_version(function, current), params, metadata
                    ):
                        return current
                    return self._write_version_files(
                        function, params, reason, evidence, enhanced_source, metadata, True
                    )
            except OSError as exc:
                self._fall_back(exc, "saving a version")
        assert self._memory is not None
        return self._memory.write_version(
            function,
            params=params,
            reason=reason,
            evidence=evidence,
            enhanced_source=enhanced_source,
            metadata=metadata,
            make_current=make_current,
            at_least=max(self._disk_versions(function), default=0) + 1,
            reuse_current=reuse_current,
        )

    def _write_version_files(
        self,
        function: str,
        params: dict[str, Any],
        reason: str,
        evidence: dict[str, Any],
        enhanced_source: str | None,
        metadata: dict[str, Any] | None,
        make_current: bool,
    ) -> int:
        base = self.function_dir(function)
        base.mkdir(parents=True, exist_ok=True)
        version = max(self._disk_versions(function), default=0) + 1
        while True:
            try:
                (base / f"v{version}").mkdir()
                break
            except FileExistsError:
                version += 1
        vdir = base / f"v{version}"
        write_atomic(vdir / "params.json", json.dumps(to_jsonable(params), indent=2), durable=True)
        meta = {
            "version": version,
            "function": function,
            "reason": reason,
            "evidence": to_jsonable(evidence),
            "created": time.time(),
            **to_jsonable(metadata or {}),
        }
        if enhanced_source is not None:
            write_atomic(vdir / "enhanced.na", enhanced_source, durable=True)
        write_atomic(vdir / "metadata.json", json.dumps(meta, indent=2), durable=True)
        if make_current:
            self._set_current_file(function, version)
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
        if self._memory is None:
            try:
                with self._file_lock(self.function_dir(function) / ".publish.lock"):
                    current = self.current_version(function)
                    if current:
                        info = self.read_version(function, current)
                        if info.problem is None and info.metadata.get("cache_key") == cache_key:
                            return current
                    return self._write_version_files(
                        function,
                        params,
                        reason,
                        {},
                        enhanced_source,
                        {**metadata, "cache_key": cache_key},
                        True,
                    )
            except OSError as exc:
                self._fall_back(exc, "publishing a version")
        assert self._memory is not None
        current = self.current_version(function)
        if current and self.read_version(function, current).metadata.get("cache_key") == cache_key:
            return current
        return self.write_version(
            function,
            params=params,
            reason=reason,
            evidence={},
            enhanced_source=enhanced_source,
            metadata={**metadata, "cache_key": cache_key},
        )

    def current_version(self, function: str) -> int:
        memory = self._memory
        if memory is not None and function in memory._current:
            return memory.current_version(function)
        path = self.function_dir(function) / "current"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            return 0
        if text.isdigit():
            return int(text)
        newest = max(self._disk_versions(function), default=0)
        self._warn_once(str(path), f"ignoring damaged file {path} ({text[:40]!r}); using v{newest}")
        return newest

    def _set_current_file(self, function: str, version: int) -> None:
        write_atomic(self.function_dir(function) / "current", f"{version}\n", durable=True)

    def set_current(self, function: str, version: int) -> None:
        if self._memory is None:
            try:
                self._set_current_file(function, version)
                return
            except OSError as exc:
                self._fall_back(exc, "saving the current version")
        assert self._memory is not None
        self._memory.set_current(function, version)

    def read_version(self, function: str, version: int) -> VersionRecord:
        memory = self._memory
        if memory is not None and memory.has_version(function, version):
            return memory.read_version(function, version)
        vdir = self.function_dir(function) / f"v{version}"
        meta, meta_problem = self._read_json(vdir / "metadata.json", dict)
        params, params_problem = self._read_json(vdir / "params.json", dict)
        problem = meta_problem or params_problem
        if problem is None and meta is None and not vdir.is_dir():
            problem = "no such version"
        meta = meta or {}
        source_path = vdir / "enhanced.na"
        try:
            source: str | None = source_path.read_text(encoding="utf-8")
        except OSError:
            source = None
        evidence = meta.get("evidence", {})
        created = meta.get("created", 0.0)
        return VersionRecord(
            version,
            {str(k): v for k, v in round_trip(params or {}).items()},
            str(meta.get("reason", "")),
            evidence if isinstance(evidence, dict) else {},
            meta,
            source,
            float(created) if isinstance(created, int | float) else 0.0,
            problem,
        )

    def list_versions(self, function: str) -> list[VersionRecord]:
        numbers = set(self._disk_versions(function))
        memory = self._memory
        if memory is not None:
            numbers |= {v.version for v in memory.list_versions(function)}
        return [self.read_version(function, n) for n in sorted(numbers)]

    def functions(self) -> list[str]:
        found = {r[0] for r in self._read("SELECT DISTINCT function FROM executions", ())}
        if self._memory is not None:
            found |= set(self._memory.functions())
        return sorted(found)

    def status(self) -> StoreStatus:
        location = str(self.root) if self._memory is None else self._memory.status().location
        return StoreStatus(location, self._memory is None, list(self.problems))


def _os_cause(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"{text}: {exc.filename}" if exc.filename else text


POETStore = SQLiteStore  # the name older code and tests use
