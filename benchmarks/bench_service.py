"""POET service speed: feedback ingestion under 64 concurrent connections, transpile cache hits.

Run: .venv/bin/python benchmarks/bench_service.py [--seconds 10] [--postgres URL]
Goals (issue 10): >= 1,000 feedback requests/s with p99 < 100 ms on one worker, zero
lost; the same with 2 workers over PostgreSQL; a transpile cache hit p50 < 5 ms.

The load generator runs on the same 2-core machine: 2 processes x 32 keep-alive
HTTP/1.1 connections, each sending its next request when the answer to the previous
one is in (written here on asyncio streams: an httpx client costs more CPU per request
than the server does, and was what limited earlier measurements). Baselines in the
same run: the generator alone against a trivial HTTP server (what the generator and
the machine can do at all), and GET /health through the same generator. Besides
requests/s it prints the server's CPU time per request (all its processes), which
depends much less on what else the machine is running than requests/s does.
Without --postgres, a throwaway cluster is started when PostgreSQL is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.service.conftest import ServiceProcess  # noqa: E402
from tests.service.pg import LocalCluster, free_port, postgres_bin  # noqa: E402

CONNECTIONS = 64
PROCESSES = 2
FUNCTION = """@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""
_TRIVIAL_SERVER = r"""
import asyncio, sys
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n" \
         b'{"status":"ok"}'
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    await reader.readexactly(int(line[15:]))
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


# ------------------------------------------------------------------ the load generator
def _request(method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    if body is None:
        return f"{method} {path} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise RuntimeError("the bench reads only content-length answers")
    return status, await reader.readexactly(length) if length else b""


def _make_request(kind: str, function_id: str, tag: str) -> Callable[[int], bytes]:
    if kind == "health":
        fixed = _request("GET", "/health")
        return lambda i: fixed

    def feedback(i: int) -> bytes:
        eid = f"{tag}-{i}"
        return _request(
            "POST",
            "/poet/feedback",
            {
                "execution_id": eid,
                "function_id": function_id,
                "feedback_payload": "good" if i % 2 else "wrong",
                "execution": {"execution_id": eid, "inputs": {"x": (i % 100) / 100},
                              "output": True, "version": 0, "params": {}},
            },
        )  # fmt: skip

    return feedback


async def _connection(
    port: int, make: Callable[[int], bytes], stop: float, latencies: list[float],
    failures: dict[str, int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = 0
    try:
        while time.perf_counter() < stop:
            i += 1
            data = make(i)
            started = time.perf_counter()
            writer.write(data)
            status, body = await asyncio.wait_for(_answer(reader), 60)
            if status == 200:
                latencies.append(time.perf_counter() - started)
            else:
                key = f"{status} {body[:80].decode(errors='replace')}"
                failures[key] = failures.get(key, 0) + 1
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
        key = f"connection {type(exc).__name__}"
        failures[key] = failures.get(key, 0) + 1
    finally:
        writer.close()


async def _load(port: int, kind: str, function_id: str, tag: str, conns: int, seconds: float):
    latencies: list[float] = []
    failures: dict[str, int] = {}
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        *(
            _connection(port, _make_request(kind, function_id, f"{tag}c{c}"), stop, latencies,
                        failures)
            for c in range(conns)
        )
    )  # fmt: skip
    return latencies, failures


def _proc(args: tuple[Any, ...], out: Any) -> None:
    out.put(asyncio.run(_load(*args)))


def _session_cpu(sid: int) -> float:
    """CPU seconds used so far by every process of session `sid` (the server and its workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def run_load(
    port: int, kind: str, function_id: str, seconds: float, server_sid: int | None = None
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    tag = f"{kind}{time.time_ns()}"
    per = CONNECTIONS // PROCESSES
    procs = [
        ctx.Process(target=_proc, args=((port, kind, function_id, f"{tag}p{p}", per, seconds), out))
        for p in range(PROCESSES)
    ]
    cpu_before = _session_cpu(server_sid) if server_sid else 0.0
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    cpu = _session_cpu(server_sid) - cpu_before if server_sid else float("nan")
    latencies = sorted(x for lat, _ in results for x in lat)
    failures: dict[str, int] = {}
    for _, f in results:
        for k, v in f.items():
            failures[k] = failures.get(k, 0) + v
    n = len(latencies)
    return {
        "ok": n,
        "failed": sum(failures.values()),
        "errors": failures,
        "rps": n / seconds,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
        "cpu_ms": 1000 * cpu / n if n else float("nan"),
    }


# ------------------------------------------------------------------ single requests
class Connection:
    """One keep-alive connection for sequential requests (setup, checks, latency of one call)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        self.sock.sendall(_request(method, path, body))
        status = int(self.file.readline()[9:12])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = json.loads(self.file.read(length)) if length else None
        if status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {status} {data}")
        return data

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def transpile_hits(port: int, n: int = 300) -> tuple[float, float]:
    """(p50 ms of a transpile cache hit, p50 ms of GET /health), sequential, one connection."""
    c = Connection(port)
    try:
        c.call("POST", "/poet/transpile", {"function_code": FUNCTION})
        hits, health = [], []
        for _ in range(n):
            t = time.perf_counter()
            r = c.call("POST", "/poet/transpile", {"function_code": FUNCTION})
            hits.append(time.perf_counter() - t)
            assert r["metadata"]["cache_hit"]
            t = time.perf_counter()
            c.call("GET", "/health")
            health.append(time.perf_counter() - t)
    finally:
        c.close()
    return 1000 * statistics.median(hits), 1000 * statistics.median(health)


def trivial_baseline(seconds: float) -> dict[str, Any]:
    """The generator alone: against a trivial asyncio HTTP server in another process."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _TRIVIAL_SERVER, str(port)], stdout=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        return run_load(port, "feedback", "f", seconds, server.pid)
    finally:
        server.kill()
        server.wait()


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:26s}{r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
        f"server CPU {r['cpu_ms']:.3f} ms/req"
    )


def scenario(name: str, service: ServiceProcess, seconds: float) -> dict[str, Any]:
    port = service.port
    c = Connection(port)
    function_id = c.call("POST", "/poet/transpile", {"function_code": FUNCTION})["metadata"][
        "function_id"
    ]
    run_load(port, "feedback", function_id, 1.0)  # warm-up
    before = c.call("GET", f"/poet/functions/{function_id}/feedback")["total"]
    sid = service.proc.pid
    health = run_load(port, "health", function_id, seconds, sid)
    feedback = run_load(port, "feedback", function_id, seconds, sid)
    c.close()
    c = Connection(port)  # the first one idled out during the load
    stored = c.call("GET", f"/poet/functions/{function_id}/feedback")["total"] - before
    c.close()
    lost = feedback["ok"] - stored
    print(f"\n== {name}")
    print(_line("GET /health (baseline)", health))
    print(
        _line("POST /poet/feedback", feedback)
        + f"\n{'':26s}acknowledged {feedback['ok']}, errors {feedback['failed']}, "
        f"stored {stored}, lost {max(lost, 0)}"
    )
    if feedback["errors"]:
        print(f"   errors: {feedback['errors']}")
    print(f"feedback / health throughput: {feedback['rps'] / health['rps']:.2f}")
    hit, floor = transpile_hits(port)
    print(
        f"transpile cache hit p50 {hit:.2f} ms (GET /health p50 {floor:.2f} ms, "
        f"ratio {hit / floor:.2f})"
    )
    return feedback


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres", default=os.environ.get("DANA_POET_TEST_DATABASE_URL"))
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    print(f"load: {CONNECTIONS} connections from {PROCESSES} generator processes, "
          f"{args.seconds:g} s per measurement; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(_line("generator alone (trivial server)", trivial_baseline(args.seconds / 2)))
    with tempfile.TemporaryDirectory() as tmp:
        service = ServiceProcess(Path(tmp) / "sqlite", {})
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
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
