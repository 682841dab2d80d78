"""Where the service keeps its state: SQLite under the serve folder, or one PostgreSQL.

`DANA_POET_DATABASE_URL=postgresql://...` makes every instance that points at the
same database share functions, versions, executions and feedback.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dana_poet.service.catalog import Catalog, postgres_catalog, sqlite_catalog


@dataclass
class Storage:
    kind: Literal["sqlite", "postgresql"]
    store: Any
    catalog: Catalog
    location: str

    def fit_lock(
        self, function_id: str, *, blocking: bool
    ) -> contextlib.AbstractContextManager[bool]:
        if self.kind == "postgresql":
            return self.store.advisory_lock(f"fit:{function_id}", blocking=blocking)  # type: ignore[no-any-return]
        return _file_lock(Path(self.location) / "locks", function_id, blocking)

    def ping(self) -> None:
        self.catalog.ping()

    def close(self) -> None:
        closer = getattr(self.store, "close", None)
        if closer is not None:
            closer()


@contextlib.contextmanager
def _file_lock(folder: Path, function_id: str, blocking: bool) -> Iterator[bool]:
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(function_id.encode()).hexdigest()[:24]
    with open(folder / f"{name}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_store(root: Path) -> Any:
    from dana_poet.poet.store.sqlite import SQLiteStore

    return SQLiteStore(root)


def open_storage(folder: Path, database_url: str | None = None) -> Storage:
    url = database_url if database_url is not None else os.environ.get("DANA_POET_DATABASE_URL", "")
    if url.startswith(("postgresql://", "postgres://")):
        from dana_poet.poet.store.postgres import PostgresStore

        store = PostgresStore(url)
        return Storage("postgresql", store, postgres_catalog(store.connection), store.location)
    if url and url not in ("sqlite", "local"):
        raise ValueError(
            f"DANA_POET_DATABASE_URL must start with postgresql:// (got {url.split(':', 1)[0]}:...)"
        )
    root = (folder / ".dana" / "poet").resolve()
    store = _sqlite_store(root)
    return Storage("sqlite", store, sqlite_catalog(root / "service.db"), str(root))
