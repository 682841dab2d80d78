"""Several `dana-poet serve` instances over one PostgreSQL share one state; a kill -9 under load
loses no feedback that was acknowledged."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import psycopg

KEY = "scale-out-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
THRESHOLD = """@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""


def _feedback(
    c: httpx.Client, function_id: str, eid: str, x: float, correct: bool
) -> httpx.Response:
    body = {
        "execution_id": eid,
        "function_id": function_id,
        "feedback_payload": {"correct": correct},
        "execution": {"execution_id": eid, "inputs": {"x": x}, "output": x > 0.5, "version": 0},
    }
    return c.post("/poet/feedback", json=body)


def test_two_instances_see_the_same_versions(tmp_path: Path, start_service, clean_database: str):
    env = {"AITOMATIC_API_KEY": KEY, "DANA_POET_DATABASE_URL": clean_database}
    a = start_service(tmp_path / "a", **env)
    b = start_service(tmp_path / "b", workers=2, **env)
    with (
        httpx.Client(base_url=a.url, headers=AUTH, timeout=30) as ca,
        httpx.Client(base_url=b.url, headers=AUTH, timeout=30) as cb,
    ):
        assert ca.get("/health").json()["storage"] == "postgresql"
        fid = ca.post("/poet/transpile", json={"function_code": THRESHOLD}).json()["metadata"]
        again = cb.post("/poet/transpile", json={"function_code": THRESHOLD}).json()["metadata"]
        assert again["function_id"] == fid["function_id"] and again["cache_hit"] is True
        function_id = fid["function_id"]
        last = None
        for i, x in enumerate([0.3, 0.55, 0.6, 0.65, 0.8, 0.9]):
            client = ca if i % 2 else cb  # feedback arrives at both instances
            last = _feedback(client, function_id, f"s-{i}", x, (x > 0.5) == (x > 0.7))
            assert last.status_code == 200, last.text
        assert last is not None
        version = last.json()["version"]
        assert version >= 1
        seen_a = ca.get(f"/poet/functions/{function_id}").json()
        seen_b = cb.get(f"/poet/functions/{function_id}").json()
        assert seen_a == seen_b
        assert seen_a["current_version"] == version
        assert [v["version"] for v in seen_a["versions"]] == list(range(1, version + 1))
        assert cb.get(f"/poet/functions/{function_id}/feedback").json()["total"] == 6
        assert (
            ca.post(f"/poet/functions/{function_id}/rollback", json={"version": 1}).status_code
            == 200
        )
        assert cb.get(f"/poet/functions/{function_id}").json()["current_version"] == 1


def test_kill_9_under_load_loses_no_acknowledged_feedback(
    tmp_path: Path, start_service, clean_database: str
):
    env = {"AITOMATIC_API_KEY": KEY, "DANA_POET_DATABASE_URL": clean_database}
    victim = start_service(tmp_path / "victim", workers=2, **env)
    with httpx.Client(base_url=victim.url, headers=AUTH, timeout=30) as c:
        function_id = c.post("/poet/transpile", json={"function_code": THRESHOLD}).json()[
            "metadata"
        ]["function_id"]
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=victim.url, headers=AUTH, timeout=10) as c:
            i = 0
            while not stop.is_set():
                i += 1
                eid = f"k-{worker}-{i}"
                try:
                    r = _feedback(c, function_id, eid, (i % 100) / 100, i % 3 == 0)
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    with lock:
                        acknowledged.append(eid)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    while True:
        with lock:
            if len(acknowledged) >= 200:
                break
        stop.wait(0.05)
    victim.kill()
    stop.set()
    for t in threads:
        t.join(30)
    with psycopg.connect(clean_database) as conn:
        stored = {r[0] for r in conn.execute("SELECT execution_id FROM poet_feedback").fetchall()}
    missing = [eid for eid in acknowledged if eid not in stored]
    assert len(acknowledged) >= 200 and missing == []
    survivor = start_service(tmp_path / "survivor", **env)
    with httpx.Client(base_url=survivor.url, headers=AUTH, timeout=30) as c:
        total = c.get(f"/poet/functions/{function_id}/feedback").json()["total"]
    assert total >= len(acknowledged)
