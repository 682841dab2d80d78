"""Running `dana-poet` as a user would, in a project folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def project(tmp_path: Path) -> Path:
    """A project folder: `pyproject.toml` marks its root, as in a user's project."""
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    return root


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "DANA_MOCK_LLM": "true", **(env or {})}
    full.pop("DANA_POET_DIR", None)
    full.pop("OPENAI_API_KEY", None)
    full.pop("OPENAI_BASE_URL", None)
    if env and "DANA_POET_DIR" in env:
        full["DANA_POET_DIR"] = env["DANA_POET_DIR"]
    return subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=full,
    )
