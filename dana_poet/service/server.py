"""Running the app: uvicorn with one or more worker processes, configured from the environment."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
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
    config = uvicorn.Config(
        "dana_poet.service.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return 0
    return _run_workers(config, host, port, workers)


def _listening_socket(host: str, port: int) -> socket.socket:
    """The socket every worker accepts on. TCP_NODELAY is set here so that accepted
    connections inherit it (uvicorn's own multi-worker mode loses it: ~40 ms per request)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(config: Any, sock: socket.socket) -> None:
    import uvicorn

    uvicorn.Server(config).run(sockets=[sock])


def _run_workers(config: Any, host: str, port: int, workers: int) -> int:
    """N worker processes on one socket; a worker that dies is replaced; SIGTERM/SIGINT stop all."""
    import multiprocessing

    sock = _listening_socket(host, port)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(config, sock)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.2)
        for i, proc in enumerate(procs):
            if not proc.is_alive() and not stopping:
                print(
                    f"dana-poet serve: worker {proc.pid} exited ({proc.exitcode}); starting another",
                    file=sys.stderr,
                    flush=True,
                )
                procs[i] = ctx.Process(target=_worker, args=(config, sock))
                procs[i].start()
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(10)
    return 0
