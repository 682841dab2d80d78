from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['dana-poet', 'run', sys.argv[1]]\n"
    "try:\n"
    "    runpy.run_module('dana_poet.cli', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = [m for m in ('fastapi', 'uvicorn', 'psycopg', 'httpx', 'starlette') if m in sys.modules]\n"
    "print('HEAVY', heavy)\n"
)


def test_running_a_program_imports_no_service_dependency(tmp_path: Path) -> None:
    hello = tmp_path / "hello.na"
    hello.write_text('print("hello")\n')
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(hello)], capture_output=True, text=True, timeout=60
    )
    assert "hello" in out.stdout
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
