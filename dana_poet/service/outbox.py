"""Records the service has not acknowledged yet, spooled to `.dana/poet/outbox/`.

One JSON file per request body, written atomically; a file is deleted only after
the service acknowledged it (2xx), so a crash at any point leaves it to be sent
again by the next run that reaches the service.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from dana_poet.poet.files import write_atomic

_COUNTER = itertools.count(1)


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, route: str, body: dict[str, Any]) -> Path:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_COUNTER)}.json"
        path = self.folder / name
        write_atomic(path, json.dumps({"route": route, "body": body}), durable=True)
        return path

    def pending(self) -> list[Path]:
        try:
            return sorted(p for p in self.folder.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []

    def read(self, path: Path) -> tuple[str, dict[str, Any]] | None:
        """(route, body), or None when the file is gone (another process sent it) or damaged."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return str(data["route"]), dict(data["body"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                path.rename(path.with_suffix(".damaged"))
            return None

    def done(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def draining(folder: Path) -> Any:
    """Yields True for the one process that may send the outbox now (a lock file beside it)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
