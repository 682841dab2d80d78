"""A feedback resent with the same idempotency key is recorded once and answered like the first
time: against real server processes over SQLite and PostgreSQL, and end to end through a client
whose first answer was lost on the way back (the body waits in its outbox, the next run sends it
again)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ServiceProcess

KEY = "idempotency-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
THRESHOLD = """@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""


def _body(eid: str, key: str | None, payload: object = {"correct": False}) -> dict[str, object]:
    body: dict[str, object] = {
        "execution_id": eid,
        "feedback_payload": payload,
        "execution": {"execution_id": eid, "inputs": {"x": 0.6}, "output": True, "version": 0},
    }
    if key is not None:
        body["idempotency_key"] = key
    return body


def _function(c: httpx.Client) -> str:
    r = c.post("/poet/transpile", json={"function_code": THRESHOLD})
    assert r.status_code == 200, r.text
    return str(r.json()["metadata"]["function_id"])


def _total(c: httpx.Client, function_id: str) -> int:
    return int(c.get(f"/poet/functions/{function_id}/feedback").json()["total"])


def _check_resends(first: httpx.Client, second: httpx.Client) -> None:
    function_id = _function(first)
    body = _body("e-1", "fk-0123456789abcdef") | {"function_id": function_id}
    r1 = first.post("/poet/feedback", json=body)
    assert r1.status_code == 200, r1.text
    assert r1.json()["duplicate"] is False
    r2 = second.post("/poet/feedback", json=body)  # the answer to r1 was "lost": sent again
    assert r2.status_code == 200, r2.text
    a, b = r1.json(), r2.json()
    assert b["duplicate"] is True
    assert (b["feedback_id"], b["signal"], b["function_id"]) == (
        a["feedback_id"],
        a["signal"],
        a["function_id"],
    )
    assert b["status"] == "recorded"
    # a resend whose payload changed on the way is still the first record
    changed = body | {"feedback_payload": {"correct": True}}
    r3 = first.post("/poet/feedback", json=changed)
    assert r3.status_code == 200 and r3.json()["signal"] == a["signal"]
    assert _total(first, function_id) == 1

    # many resends at once, to both instances: still one record
    burst = _body("e-2", "fk-burst-0000000001") | {"function_id": function_id}
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda i: (first, second)[i % 2].post("/poet/feedback", json=burst), range(32))
        )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert len({r.json()["feedback_id"] for r in answers}) == 1
    assert sum(not r.json()["duplicate"] for r in answers) == 1
    assert _total(first, function_id) == 2

    # without a key, every POST is a new record (as before)
    plain = _body("e-3", None) | {"function_id": function_id}
    assert first.post("/poet/feedback", json=plain).status_code == 200
    assert first.post("/poet/feedback", json=plain).status_code == 200
    assert _total(first, function_id) == 4

    # a key already used for feedback on another execution is refused, nothing recorded
    reused = _body("e-4", "fk-0123456789abcdef") | {"function_id": function_id}
    r = first.post("/poet/feedback", json=reused)
    assert r.status_code == 409 and "idempotency_key" in r.json()["detail"]
    assert _total(first, function_id) == 4
    bad = _body("e-5", "no spaces allowed") | {"function_id": function_id}
    assert first.post("/poet/feedback", json=bad).status_code == 422


def test_resent_feedback_is_recorded_once_sqlite(start_service) -> None:
    service = start_service(AITOMATIC_API_KEY=KEY)
    with httpx.Client(base_url=service.url, headers=AUTH, timeout=30) as c:
        _check_resends(c, c)


def test_resent_feedback_is_recorded_once_postgres(
    tmp_path: Path, start_service, clean_database: str
) -> None:
    env = {"AITOMATIC_API_KEY": KEY, "DANA_POET_DATABASE_URL": clean_database}
    a = start_service(tmp_path / "a", workers=2, **env)
    b = start_service(tmp_path / "b", **env)
    with (
        httpx.Client(base_url=a.url, headers=AUTH, timeout=30) as ca,
        httpx.Client(base_url=b.url, headers=AUTH, timeout=30) as cb,
    ):
        _check_resends(ca, cb)


class _LosingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the service; the answer to POST /poet/feedback never comes
    back (the connection is closed after the service has handled the request)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.lost = 0
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _LosingProxy

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization",
                                                                           "content-type",
                                                                           "if-none-match")}  # fmt: skip
        answer = httpx.request(
            self.command, self.server.target + self.path, content=body, headers=headers, timeout=30
        )
        if self.command == "POST" and self.path == "/poet/feedback":
            self.server.lost += 1
            self.close_connection = True
            return
        self.send_response(answer.status_code)
        for name in ("content-type", "etag"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def losing_proxy(start_service) -> Iterator[tuple[ServiceProcess, _LosingProxy]]:
    service = start_service(AITOMATIC_API_KEY=KEY)
    proxy = _LosingProxy(service.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield service, proxy
    proxy.shutdown()
    proxy.server_close()


PROGRAM = """
import sys
from dana_poet import poet, feedback

@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold

if sys.argv[1] == "teach":
    for x in (0.6, 0.55, 0.65):
        r = is_high(x)
        feedback(r, {"correct": False})
print("done")
"""


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITOMATIC_", "OPENAI_"))}
    env.pop("DANA_POET_DIR", None)
    env.update({"AITOMATIC_API_URL": url, "AITOMATIC_API_KEY": KEY})
    return env


def test_feedback_whose_answer_was_lost_is_recorded_once(
    tmp_path: Path, losing_proxy: tuple[ServiceProcess, _LosingProxy]
) -> None:
    service, proxy = losing_proxy
    (tmp_path / "prog.py").write_text(PROGRAM)
    first = subprocess.run(
        [sys.executable, "prog.py", "teach"], cwd=tmp_path, env=_env(proxy.url),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert proxy.lost >= 1  # the service got feedback, the program never heard back
    outbox = list((tmp_path / ".dana" / "poet" / "outbox").glob("*.json"))
    assert outbox, first.stderr
    with httpx.Client(base_url=service.url, headers=AUTH, timeout=30) as c:
        (fn,) = c.get("/poet/functions").json()["functions"]
        recorded_before = _total(c, fn["function_id"])
        assert recorded_before >= 1  # what reached the service before the answers were lost

    again = subprocess.run(
        [sys.executable, "prog.py", "use"], cwd=tmp_path, env=_env(service.url),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert list((tmp_path / ".dana" / "poet" / "outbox").glob("*.json")) == []
    with httpx.Client(base_url=service.url, headers=AUTH, timeout=30) as c:
        assert _total(c, fn["function_id"]) == 3  # three feedback calls, each recorded once
