"""`dana-poet serve` as a user meets it: what it says, what it refuses."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.service.conftest import DANA_POET
from tests.service.pg import free_port


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AITOMATIC_", "DANA_POET_DATABASE_URL", "DANA_POET_API_KEYS_FILE"))
    }
    env.update(extra)
    return env


def test_without_a_key_it_binds_localhost_only_and_says_so(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [DANA_POET, "serve", "--host", "0.0.0.0", "--port", str(port), "--folder", str(tmp_path)],
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "no API key configured" in err and "binding 127.0.0.1 only, not 0.0.0.0" in err
    assert f"http://127.0.0.1:{port}" in err and "storage=sqlite" in err


def test_a_bad_key_file_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("alpha good-key-123\nbeta\n")
    r = subprocess.run(
        [DANA_POET, "serve", "--port", str(free_port()), "--folder", str(tmp_path)],
        env=_env(DANA_POET_API_KEYS_FILE=str(keys)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert f"{keys}:2: expected '<project> <key>'" in r.stderr
    assert "Traceback" not in r.stderr


def test_an_unusable_database_url_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [DANA_POET, "serve", "--port", str(free_port()), "--folder", str(tmp_path)],
        env=_env(DANA_POET_DATABASE_URL="mysql://x@y/z"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "must start with postgresql://" in r.stderr
    assert "Traceback" not in r.stderr
