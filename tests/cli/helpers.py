"""Running `dana-poet` as a user does: a subprocess in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DANA_MOCK_LLM": "true", **extra}
    env.pop("DANA_POET_DIR", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def dana_poet(
    cwd: Path, *args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env=env or cli_env(),
    )


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
