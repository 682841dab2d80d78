"""When PostgreSQL goes away, /health says 503 and requests get 503, never an acknowledgement."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.service.pg import LocalCluster, postgres_bin

KEY = "storage-down-key-1"
CODE = "def double(x: int) -> int:\n    return 2 * x\n"


def test_health_and_requests_are_503_when_the_database_is_down(tmp_path: Path, start_service):
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but PostgreSQL (initdb) is not installed")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql) and CI is not set")
    cluster = LocalCluster(bin_dir)
    try:
        url = cluster.start()
        service = start_service(AITOMATIC_API_KEY=KEY, DANA_POET_DATABASE_URL=url)
        auth = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=service.url, headers=auth, timeout=60) as c:
            assert c.post("/poet/transpile", json={"function_code": CODE}).status_code == 200
            cluster.stop()
            health = c.get("/health")
            assert health.status_code == 503
            assert (
                health.json()["status"] == "unavailable"
                and health.json()["storage"] == "postgresql"
            )
            r = c.post("/poet/transpile", json={"function_code": CODE.replace("2 *", "3 *")})
            assert r.status_code == 503 and "storage unavailable" in r.json()["detail"]
            r = c.post("/poet/feedback", json={"execution_id": "e", "feedback_payload": 1})
            assert r.status_code == 503
    finally:
        cluster.stop()
