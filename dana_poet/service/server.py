"""Running the app: uvicorn with one or more worker processes, configured from the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

LOCAL_HOST = "127.0.0.1"


def app_from_env() -> Any:
    """The app factory uvicorn imports in each worker process."""
    from dana_poet.service.app import create_app

    return create_app(Path(os.environ.get("DANA_POET_SERVE_DIR") or os.getcwd()))


def choose_host(requested: str, has_keys: bool) -> tuple[str, str | None]:
    """(host to bind, a line to tell the user or None). Without keys only this machine may call."""
    if has_keys or requested == LOCAL_HOST:
        return requested, None
    return LOCAL_HOST, (
        f"no API key configured (AITOMATIC_API_KEY or DANA_POET_API_KEYS_FILE): "
        f"binding {LOCAL_HOST} only, not {requested}"
    )


def serve(host: str, port: int, workers: int, folder: Path, log_level: str = "warning") -> int:
    import uvicorn

    from dana_poet.service.auth import KeyFileError, load_keys
    from dana_poet.service.storage import open_storage

    try:
        keys = load_keys()
    except KeyFileError as exc:
        print(f"dana-poet serve: {exc}", file=sys.stderr)
        return 1
    host, note = choose_host(host, not keys.open)
    if note:
        print(f"dana-poet serve: {note}", file=sys.stderr)
    os.environ["DANA_POET_SERVE_DIR"] = str(folder.resolve())
    try:
        storage = open_storage(folder)  # fail here, with one line, not in every worker
        kind, location = storage.kind, storage.location
        storage.close()
    except Exception as exc:  # noqa: BLE001 - any storage problem is reported as one line
        print(f"dana-poet serve: storage unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    auth = "no key (this machine only)" if keys.open else f"{len(keys.keys)} key(s)"
    print(
        f"dana-poet serve: http://{host}:{port}  storage={kind} ({location})  "
        f"workers={workers}  auth={auth}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        "dana_poet.service.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0
