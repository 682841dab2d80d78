"""Fixtures for the service tests: a real PostgreSQL and real `dana-poet serve` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.pg import LocalCluster, free_port, postgres_bin

DANA_POET = str(Path(sys.executable).with_name("dana-poet"))
_SERVICE_VARS = ("AITOMATIC_", "DANA_POET_DATABASE_URL", "DANA_POET_API_KEYS_FILE", "OPENAI_")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The test PostgreSQL: CI's (DANA_POET_TEST_DATABASE_URL), else a throwaway local cluster."""
    url = os.environ.get("DANA_POET_TEST_DATABASE_URL")
    if url:
        yield url
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(
                "CI is set but DANA_POET_TEST_DATABASE_URL is not and no initdb is installed"
            )
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql) and CI is not set")
    cluster = LocalCluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def clean_database(database_url: str) -> str:
    """The test database with the service's tables emptied."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
    return database_url


class ServiceProcess:
    """`dana-poet serve` as a real subprocess on 127.0.0.1 and a free port."""

    def __init__(self, folder: Path, env: dict[str, str], workers: int = 1) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        folder.mkdir(parents=True, exist_ok=True)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_VARS)}
        full_env.update(env)
        self.proc = subprocess.Popen(
            [DANA_POET, "serve", "--port", str(self.port), "--workers", str(workers),
             "--folder", str(folder)],
            env=full_env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dana-poet serve exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"dana-poet serve did not start: {self.log.read_text()}")

    def kill(self) -> None:
        """kill -9 of the whole process group (every worker)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[object]:
    started: list[ServiceProcess] = []

    def start(folder: Path | None = None, workers: int = 1, **env: str) -> ServiceProcess:
        service = ServiceProcess(folder or tmp_path / "serve", env, workers)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
