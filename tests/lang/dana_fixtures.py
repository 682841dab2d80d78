"""Running the `.na` feature fixtures: one pytest case per `def test_*()` in a fixture.

Each case runs the whole file in a fresh Program (`new_program(path).run_file(path)`)
and then calls its test function, so one broken feature never hides another.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from dana_poet.engine import new_program
from dana_poet.errors_report import format_runtime_error

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DANAPATH_DIR = FIXTURES / "danapath"
ROOT = Path(__file__).resolve().parents[2]
_TEST_DEF = re.compile(r"^def (test_\w*)\s*\(", re.M)


def fixture_cases() -> list[tuple[str, str | None]]:
    """(fixture file name, test function or None for a file without test functions)."""
    cases: list[tuple[str, str | None]] = []
    for path in sorted(FIXTURES.glob("*.na")):
        names = list(dict.fromkeys(_TEST_DEF.findall(path.read_text(encoding="utf-8"))))
        cases.extend((path.name, n) for n in names) if names else cases.append((path.name, None))
    return cases


class DanaFixtureFailure(AssertionError):
    """A fixture failed; the message is the Dana error report (file:line, call chain)."""


def run_fixture(name: str, function: str | None) -> dict[str, Any]:
    path = FIXTURES / name
    program = new_program(path)
    try:
        g = program.run_file(path)
        if function is not None:
            g[function]()
    except BaseException as exc:  # noqa: BLE001 - any failure is reported as Dana sees it
        raise DanaFixtureFailure(format_runtime_error(exc)) from exc
    return g


def dana_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DANA_MOCK_LLM": "true", "DANAPATH": str(DANAPATH_DIR), **extra}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DANA_POET_DIR", None)
    return env


def run_cli(
    directory: Path, source: str, *args: str, name: str = "prog.na", command: str = "run"
) -> subprocess.CompletedProcess[str]:
    """Write `source` to `directory/name` and run `dana-poet COMMAND name ARGS` there."""
    (directory / name).write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", command, name, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env=dana_env(),
    )
