"""`dana-poet serve`: the subcommand (argparse only; the server is imported when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from dana_poet.service.server import serve
    except ImportError as exc:
        print(f"dana-poet serve needs the service extra: pip install 'dana-poet[service]' ({exc})")
        return 1
    if args.workers < 1:
        print("dana-poet serve: --workers must be at least 1")
        return 1
    return serve(args.host, args.port, args.workers, Path(args.folder), args.log_level)


def add_command(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the POET service (HTTP API; see docs/service.md)",
        description="Run the POET service. Storage: SQLite under FOLDER, or PostgreSQL when "
        "DANA_POET_DATABASE_URL=postgresql://... is set. Keys: AITOMATIC_API_KEY or "
        "DANA_POET_API_KEYS_FILE; without a key only 127.0.0.1 is bound.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; others only when an API key is configured)",
    )
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--folder", default=".", help="where the SQLite store lives (default .)")
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="uvicorn's log level (default warning)",
    )
    serve.set_defaults(func=cmd_serve)
