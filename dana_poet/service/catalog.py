"""The functions the service knows: their source, the project they belong to, their stage code.

A function's id is its name plus a hash of (project, language, source, config), so
two programs in two folders that send the same function with keys of the same
project share one id, one learned state and one cached stage code; another project
gets its own. Rows are written once and never change, so any instance can cache them.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FunctionRow:
    function_id: str
    project: str
    name: str
    language: str
    source: str
    config: dict[str, Any]
    stage_code: str
    stage_language: str
    metadata: dict[str, Any]
    created: float


def normalise_source(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def function_id_for(
    project: str, name: str, language: str, source: str, config: dict[str, Any]
) -> str:
    blob = json.dumps(
        [project, language, normalise_source(source), config], sort_keys=True, default=str
    )
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)[:60] or "function"
    return f"{safe}-{digest}"


_COLUMNS = (
    "function_id, project, name, language, source, config, stage_code, stage_language, "
    "metadata, created"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS poet_functions (
    function_id TEXT PRIMARY KEY, project TEXT NOT NULL, name TEXT NOT NULL,
    language TEXT NOT NULL, source TEXT NOT NULL, config TEXT NOT NULL,
    stage_code TEXT NOT NULL, stage_language TEXT NOT NULL, metadata TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS poet_functions_project ON poet_functions (project, name);
"""


def _row(values: tuple[Any, ...]) -> FunctionRow:
    return FunctionRow(
        values[0],
        values[1],
        values[2],
        values[3],
        values[4],
        json.loads(values[5]),
        values[6],
        values[7],
        json.loads(values[8]),
        float(values[9]),
    )


class Catalog:
    """Function rows over any DB-API connection source (`?` placeholders are translated)."""

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Any]],
        placeholder: str,
        insert_ignore: str,
    ) -> None:
        self._connect = connect
        self._ph = placeholder
        self._insert = insert_ignore
        self._cache: dict[str, FunctionRow] = {}
        with self._connect() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._ph)

    def cached(self, function_id: str) -> FunctionRow | None:
        """The row when this instance has read it before (rows never change)."""
        return self._cache.get(function_id)

    def get(self, function_id: str) -> FunctionRow | None:
        row = self._cache.get(function_id)
        if row is not None:
            return row
        with self._connect() as conn:
            found = conn.execute(
                self._sql(f"SELECT {_COLUMNS} FROM poet_functions WHERE function_id = ?"),
                (function_id,),
            ).fetchone()
        if found is None:
            return None
        row = self._cache[function_id] = _row(tuple(found))
        return row

    def put(self, row: FunctionRow) -> FunctionRow:
        """Insert unless present; returns the row now stored (the first writer wins)."""
        values = (
            row.function_id,
            row.project,
            row.name,
            row.language,
            row.source,
            json.dumps(row.config, sort_keys=True, default=str),
            row.stage_code,
            row.stage_language,
            json.dumps(row.metadata, sort_keys=True, default=str),
            row.created or time.time(),
        )
        marks = ", ".join("?" * len(values))
        with self._connect() as conn:
            conn.execute(self._sql(self._insert.format(columns=_COLUMNS, marks=marks)), values)
        self._cache.pop(row.function_id, None)
        stored = self.get(row.function_id)
        assert stored is not None
        return stored

    def in_project(self, project: str, name: str | None = None) -> list[FunctionRow]:
        sql = f"SELECT {_COLUMNS} FROM poet_functions WHERE project = ?"
        args: tuple[Any, ...] = (project,)
        if name is not None:
            sql += " AND name = ?"
            args = (project, name)
        with self._connect() as conn:
            rows = conn.execute(self._sql(sql + " ORDER BY created, function_id"), args).fetchall()
        return [_row(tuple(r)) for r in rows]

    def ping(self) -> None:
        with self._connect() as conn:
            conn.execute("SELECT 1").fetchone()


class _SQLiteConnections:
    """One connection per thread (sqlite3 connections are not shared between threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def __call__(self) -> AbstractContextManager[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return _Borrowed(conn)


class _Borrowed(AbstractContextManager[Any]):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def sqlite_catalog(path: Path) -> Catalog:
    return Catalog(
        _SQLiteConnections(path),
        "?",
        "INSERT OR IGNORE INTO poet_functions ({columns}) VALUES ({marks})",
    )


def postgres_catalog(connect: Callable[[], AbstractContextManager[Any]]) -> Catalog:
    return Catalog(
        connect,
        "%s",
        "INSERT INTO poet_functions ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING",
    )
