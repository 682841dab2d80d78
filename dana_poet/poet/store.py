"""`.dana/poet/`: versions as readable files, executions and feedback in SQLite (WAL).

Executions are recorded on every call, so they are buffered in memory and
written in batched transactions (when the buffer fills, before any read that
needs them, and at exit). Feedback is committed before `record_feedback`
returns. Version files are written to a temporary file and moved into place;
a version number is claimed by creating its directory, which is atomic across
processes. A damaged file is reported once and treated as missing.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import sqlite3
import threading
import time
import warnings
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from dana_poet.poet.files import write_atomic

_BATCH = 256
_RECENT = 4096
_TOKEN = f"{os.getpid():x}{int(time.time() * 1000) % 0xFFFFFF:06x}"
_COUNTER = itertools.count(1)  # process-wide: ids are unique across every store in the process


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return {"$struct": type(value).__name__, **_jsonable(value.to_dict())}
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    return {"$repr": repr(value)}


def _dumps(value: Any) -> str:
    return json.dumps(_jsonable(value))


def _safe_name(function: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", function) or "_"


@dataclass
class ExecutionRecord:
    execution_id: str
    function: str
    version: int
    inputs: dict[str, Any]
    output: Any
    params: dict[str, Any]
    timings: dict[str, Any]
    error: str | None
    created: float


@dataclass
class FeedbackRecord:
    feedback_id: str
    execution_id: str
    function: str
    payload: Any
    signal: dict[str, Any]
    created: float


@dataclass
class TrainExampleRecord:
    """One labelled example of Train's window (see poet/train.py): newest label per input."""

    key: str
    execution_id: str
    expected: Any
    profiles: dict[str, Any]


@dataclass
class VersionRecord:
    version: int
    params: dict[str, Any]
    reason: str
    evidence: dict[str, Any]
    metadata: dict[str, Any]
    enhanced_source: str | None
    created: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, version INTEGER NOT NULL,
    inputs TEXT, output TEXT, params TEXT, timings TEXT, error TEXT, created REAL);
CREATE INDEX IF NOT EXISTS executions_function ON executions(function, version);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, function TEXT NOT NULL,
    payload TEXT, signal TEXT, created REAL);
CREATE INDEX IF NOT EXISTS feedback_function ON feedback(function);
CREATE INDEX IF NOT EXISTS feedback_function_created ON feedback(function, created);
CREATE TABLE IF NOT EXISTS train_examples (
    function TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, execution_id TEXT NOT NULL,
    expected TEXT, profiles TEXT, PRIMARY KEY (function, key));
CREATE INDEX IF NOT EXISTS train_examples_seq ON train_examples(function, seq);
"""


class POETStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._buffer: list[tuple[Any, ...]] = []
        self._recent: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._warned: set[str] = set()
        atexit.register(self._close)

    # ------------------------------------------------------------ sqlite
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.root.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.root / "poet.db", timeout=30, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        try:
            self.flush()
        except sqlite3.Error:
            pass
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def new_execution_id(self) -> str:
        return f"x{_TOKEN}-{next(_COUNTER)}"

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
        """Remember one execution. On every call, so cheap: a tuple in memory; SQLite in batches.

        With persist=False the execution stays in memory only, until feedback names it.
        """
        row = (execution_id, function, version, inputs, output, params, timings, error, time.time())
        recent = self._recent
        recent[execution_id] = row
        if len(recent) > 2 * _RECENT:  # amortised: trim to the newest _RECENT now and then
            self._recent = dict(list(recent.items())[-_RECENT:])
        if persist:
            self._buffer.append(row)
            if len(self._buffer) >= _BATCH:
                self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._buffer = self._buffer, []
        self._insert_executions(pending)

    def _insert_executions(self, pending: list[tuple[Any, ...]]) -> None:
        if not pending:
            return
        rows = [
            (r[0], r[1], r[2], _dumps(r[3]), _dumps(r[4]), _dumps(r[5]), _dumps(r[6]), r[7], r[8])
            for r in pending
        ]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO executions VALUES (?,?,?,?,?,?,?,?,?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _execution_from_row(self, row: tuple[Any, ...]) -> ExecutionRecord:
        return ExecutionRecord(
            row[0],
            row[1],
            row[2],
            json.loads(row[3] or "{}"),
            json.loads(row[4] or "null"),
            json.loads(row[5] or "{}"),
            json.loads(row[6] or "{}"),
            row[7],
            row[8],
        )

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        recent = self._recent.get(execution_id)
        if recent is not None:
            return ExecutionRecord(*recent)
        if not (self.root / "poet.db").exists():
            return None
        self.flush()
        row = (
            self._db().execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
        )
        return self._execution_from_row(row) if row else None

    def executions(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[ExecutionRecord]:
        self.flush()
        if not (self.root / "poet.db").exists():
            return []
        sql = "SELECT * FROM executions WHERE function = ?"
        args: list[Any] = [function]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        sql += " ORDER BY created"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._execution_from_row(r) for r in self._db().execute(sql, args)]

    def record_feedback(self, execution_id: str, payload: Any, signal: dict[str, Any]) -> str:
        execution = self.get_execution(execution_id)
        function = execution.function if execution is not None else ""
        self.flush()  # the execution row lands before the feedback that names it
        row = self._recent.get(execution_id)
        if row is not None:
            self._insert_executions([row])
        feedback_id = f"f{_TOKEN}-{next(_COUNTER)}"
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO feedback VALUES (?,?,?,?,?,?)",
                (feedback_id, execution_id, function, _dumps(payload), _dumps(signal), time.time()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return feedback_id

    def feedback_for(self, function: str, *, version: int | None = None) -> list[FeedbackRecord]:
        if not (self.root / "poet.db").exists():
            return []
        self.flush()
        rows = (
            self._db()
            .execute(
                "SELECT id, execution_id, function, payload, signal, created FROM feedback WHERE function = ? ORDER BY created",
                (function,),
            )
            .fetchall()
        )
        out = [
            FeedbackRecord(
                r[0], r[1], r[2], json.loads(r[3] or "null"), json.loads(r[4] or "{}"), r[5]
            )
            for r in rows
        ]
        if version is not None:
            out = [
                f
                for f in out
                if (e := self.get_execution(f.execution_id)) is not None and e.version == version
            ]
        return out

    def recent_feedback(
        self, function: str, *, limit: int, after: tuple[float, str] | None = None
    ) -> list[tuple[FeedbackRecord, ExecutionRecord | None]]:
        """The newest `limit` feedback items of a function (only those later than the mark
        `after` = (created, feedback_id) when given) with their executions, oldest first."""
        if not (self.root / "poet.db").exists():
            return []
        self.flush()
        sql = (
            "SELECT f.id, f.execution_id, f.function, f.payload, f.signal, f.created,"
            " e.id, e.function, e.version, e.inputs, e.output, e.params, e.timings, e.error,"
            " e.created FROM feedback f LEFT JOIN executions e ON e.id = f.execution_id"
            " WHERE f.function = ?"
        )
        args: list[Any] = [function]
        if after is not None:
            sql += " AND (f.created > ? OR (f.created = ? AND f.id > ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY f.created DESC, f.id DESC LIMIT ?"
        rows = self._db().execute(sql, [*args, limit]).fetchall()
        out = []
        for r in reversed(rows):
            fb = FeedbackRecord(
                r[0], r[1], r[2], json.loads(r[3] or "null"), json.loads(r[4] or "{}"), r[5]
            )
            out.append((fb, self._execution_from_row(r[6:]) if r[6] else None))
        return out

    # ------------------------------------------------------------ train window
    def put_train_example(
        self,
        function: str,
        key: str,
        execution_id: str,
        expected: Any,
        profiles: dict[str, Any],
    ) -> None:
        """Insert or replace the labelled example `key` as the newest of the function's window."""
        db = self._db()
        db.execute(
            "INSERT OR REPLACE INTO train_examples VALUES (?,?,?,?,?,?)",
            (function, key, time.time_ns(), execution_id, _dumps(expected), _dumps(profiles)),
        )

    def update_train_profiles(self, function: str, profiles: dict[str, dict[str, Any]]) -> None:
        """Store newly computed profiles of window examples (by key), in one transaction."""
        if not profiles:
            return
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "UPDATE train_examples SET profiles = ? WHERE function = ? AND key = ?",
                [(_dumps(p), function, key) for key, p in profiles.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def train_examples(self, function: str, *, limit: int) -> list[TrainExampleRecord]:
        """The newest `limit` labelled examples of the function, newest first."""
        if not (self.root / "poet.db").exists():
            return []
        rows = self._db().execute(
            "SELECT key, execution_id, expected, profiles FROM train_examples"
            " WHERE function = ? ORDER BY seq DESC LIMIT ?",
            (function, limit),
        )
        return [
            TrainExampleRecord(r[0], r[1], json.loads(r[2] or "null"), json.loads(r[3] or "{}"))
            for r in rows
        ]

    # ------------------------------------------------------------ versions (files)
    def _function_dir(self, function: str) -> Path:
        return self.root / "functions" / _safe_name(function)

    def _write_atomic(self, path: Path, text: str) -> None:
        write_atomic(path, text, durable=True)

    def _read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            if str(path) not in self._warned:
                self._warned.add(str(path))
                warnings.warn(
                    f"dana-poet: ignoring damaged file {path}: {exc}", RuntimeWarning, stacklevel=3
                )
            return None

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
    ) -> int:
        base = self._function_dir(function)
        base.mkdir(parents=True, exist_ok=True)
        existing = [int(p.name[1:]) for p in base.glob("v*") if p.name[1:].isdigit()]
        version = max(existing, default=0) + 1
        while True:
            try:
                (base / f"v{version}").mkdir()
                break
            except FileExistsError:
                version += 1
        vdir = base / f"v{version}"
        self._write_atomic(vdir / "params.json", json.dumps(_jsonable(params), indent=2))
        meta = {
            "version": version,
            "reason": reason,
            "evidence": _jsonable(evidence),
            "created": time.time(),
            **_jsonable(metadata or {}),
        }
        if enhanced_source is not None:
            self._write_atomic(vdir / "enhanced.na", enhanced_source)
        self._write_atomic(vdir / "metadata.json", json.dumps(meta, indent=2))
        if make_current:
            self.set_current(function, version)
        return version

    def current_version(self, function: str) -> int:
        path = self._function_dir(function) / "current"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return 0
        except OSError:
            return 0
        if not text.isdigit():
            if str(path) not in self._warned:
                self._warned.add(str(path))
                warnings.warn(
                    f"dana-poet: ignoring damaged file {path}", RuntimeWarning, stacklevel=2
                )
            return 0
        return int(text)

    def set_current(self, function: str, version: int) -> None:
        self._write_atomic(self._function_dir(function) / "current", f"{version}\n")

    def read_version(self, function: str, version: int) -> VersionRecord:
        vdir = self._function_dir(function) / f"v{version}"
        meta = self._read_json(vdir / "metadata.json") or {}
        params = self._read_json(vdir / "params.json") or {}
        source_path = vdir / "enhanced.na"
        source = source_path.read_text(encoding="utf-8") if source_path.exists() else None
        return VersionRecord(
            version,
            params if isinstance(params, dict) else {},
            str(meta.get("reason", "")),
            meta.get("evidence", {}) if isinstance(meta, dict) else {},
            meta if isinstance(meta, dict) else {},
            source,
            float(meta.get("created", 0.0)) if isinstance(meta, dict) else 0.0,
        )

    def list_versions(self, function: str) -> list[VersionRecord]:
        base = self._function_dir(function)
        if not base.exists():
            return []
        numbers = sorted(int(p.name[1:]) for p in base.glob("v*") if p.name[1:].isdigit())
        return [self.read_version(function, n) for n in numbers]
