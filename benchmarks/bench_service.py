"""POET service speed: feedback ingestion under 64 concurrent connections, transpile cache hits.

Run: .venv/bin/python benchmarks/bench_service.py [--seconds 10] [--postgres URL]
Goals (issue 10): >= 1,000 feedback requests/s with p99 < 100 ms on one worker, zero
lost; the same with 2 workers over PostgreSQL; a transpile cache hit p50 < 5 ms.
The load generator runs on the same 2-core machine (2 processes x 32 connections).
Baseline in the same run: GET /health through the same generator and HTTP stack.
Without --postgres, a throwaway cluster is started when PostgreSQL is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.service.conftest import ServiceProcess  # noqa: E402
from tests.service.pg import LocalCluster, postgres_bin  # noqa: E402

CONNECTIONS = 64
PROCESSES = 2
FUNCTION = """@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""


async def _one(client: httpx.AsyncClient, kind: str, function_id: str, eid: str, i: int):
    if kind == "health":
        return await client.get("/health")
    body = {
        "execution_id": eid,
        "function_id": function_id,
        "feedback_payload": "good" if i % 2 else "wrong",
        "execution": {"execution_id": eid, "inputs": {"x": (i % 100) / 100},
                      "output": True, "version": 0, "params": {}},
    }  # fmt: skip
    return await client.post("/poet/feedback", json=body)


async def _load(url: str, kind: str, function_id: str, tag: str, conns: int, seconds: float):
    latencies: list[float] = []
    failures: dict[str, int] = {}
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            i = 0
            while time.perf_counter() < stop:
                i += 1
                started = time.perf_counter()
                try:
                    r = await _one(client, kind, function_id, f"{tag}-{w}-{i}", i)
                except httpx.HTTPError as exc:
                    key = f"exception {type(exc).__name__}"
                    failures[key] = failures.get(key, 0) + 1
                    continue
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    key = f"{r.status_code} {r.text[:80]}"
                    failures[key] = failures.get(key, 0) + 1

        await asyncio.gather(*(worker(w) for w in range(conns)))
    return latencies, failures


def _proc(args: tuple[str, str, str, str, int, float], out: multiprocessing.Queue) -> None:
    out.put(asyncio.run(_load(*args)))


def run_load(url: str, kind: str, function_id: str, seconds: float) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    tag = f"{kind}{time.time_ns()}"
    per = CONNECTIONS // PROCESSES
    procs = [
        ctx.Process(target=_proc, args=((url, kind, function_id, f"{tag}p{p}", per, seconds), out))
        for p in range(PROCESSES)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    failures: dict[str, int] = {}
    for _, f in results:
        for k, v in f.items():
            failures[k] = failures.get(k, 0) + v
    n = len(latencies)
    return {
        "ok": n,
        "failed": sum(failures.values()),
        "errors": failures,  # type: ignore[dict-item]
        "rps": n / seconds,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
        "elapsed": elapsed,
    }


def _transpile(url: str) -> str:
    r = httpx.post(url + "/poet/transpile", json={"function_code": FUNCTION}, timeout=30)
    r.raise_for_status()
    return str(r.json()["metadata"]["function_id"])


def transpile_hits(url: str, n: int = 300) -> tuple[float, float]:
    """(p50 ms of a transpile cache hit, p50 ms of GET /health), sequential, one connection."""
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/poet/transpile", json={"function_code": FUNCTION})
        hits, health = [], []
        for _ in range(n):
            t = time.perf_counter()
            r = client.post("/poet/transpile", json={"function_code": FUNCTION})
            hits.append(time.perf_counter() - t)
            assert r.json()["metadata"]["cache_hit"]
            t = time.perf_counter()
            client.get("/health")
            health.append(time.perf_counter() - t)
    return 1000 * statistics.median(hits), 1000 * statistics.median(health)


def stored_feedback(url: str, function_id: str) -> int:
    r = httpx.get(f"{url}/poet/functions/{function_id}/feedback", timeout=60)
    return int(r.json()["total"])


def scenario(name: str, service: ServiceProcess, seconds: float) -> None:
    url = service.url
    function_id = _transpile(url)
    run_load(url, "feedback", function_id, 1.0)  # warm-up
    before = stored_feedback(url, function_id)
    health = run_load(url, "health", function_id, seconds)
    feedback = run_load(url, "feedback", function_id, seconds)
    lost = feedback["ok"] - (stored_feedback(url, function_id) - before)
    print(f"\n== {name}")
    print(
        f"GET /health (baseline)   {health['rps']:8.0f} req/s  p50 {health['p50_ms']:6.1f} ms  "
        f"p99 {health['p99_ms']:6.1f} ms"
    )
    print(
        f"POST /poet/feedback      {feedback['rps']:8.0f} req/s  p50 {feedback['p50_ms']:6.1f} ms  "
        f"p99 {feedback['p99_ms']:6.1f} ms  (acknowledged {feedback['ok']}, errors "
        f"{feedback['failed']}, lost {lost})"
    )
    if feedback["errors"]:
        print(f"   errors: {feedback['errors']}")
    print(f"feedback / health throughput: {feedback['rps'] / health['rps']:.2f}")
    hit, floor = transpile_hits(url)
    print(
        f"transpile cache hit p50 {hit:.2f} ms (GET /health p50 {floor:.2f} ms, ratio {hit / floor:.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres", default=os.environ.get("DANA_POET_TEST_DATABASE_URL"))
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service = ServiceProcess(Path(tmp) / "sqlite", {"DANA_POET_POLL_INTERVAL": "3"})
        try:
            scenario("1 worker, SQLite", service, args.seconds)
        finally:
            service.stop()
        if args.skip_postgres:
            return 0
        cluster = None
        url = args.postgres
        if not url and postgres_bin() is not None:
            cluster = LocalCluster(postgres_bin())  # type: ignore[arg-type]
            url = cluster.start()
        if not url:
            print("\n(PostgreSQL not installed: the 2-worker scenario was not run)")
            return 0
        try:
            service = ServiceProcess(Path(tmp) / "pg", {"DANA_POET_DATABASE_URL": url}, workers=2)
            try:
                scenario("2 workers, PostgreSQL", service, args.seconds)
            finally:
                service.stop()
        finally:
            if cluster is not None:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
