"""Every route of `dana-poet serve`, against a real server process: good, no key, wrong key,
malformed bodies, unknown ids, another project's functions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import ServiceProcess

KEY_A = "key-of-project-a-123"
KEY_B = "key-of-project-b-456"

THRESHOLD = """@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("api")
    keys = folder / "keys.txt"
    keys.write_text(f"# project key\nalpha {KEY_A}\nbeta {KEY_B}\n")
    service = ServiceProcess(folder, {"DANA_POET_API_KEYS_FILE": str(keys)})
    yield service
    service.stop()


def _client(server: ServiceProcess, key: str | None = KEY_A) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def function_id(server: ServiceProcess) -> str:
    with _client(server) as c:
        r = c.post("/poet/transpile", json={"function_code": THRESHOLD})
    assert r.status_code == 200, r.text
    return str(r.json()["metadata"]["function_id"])


ROUTES = [
    ("POST", "/poet/transpile", {"function_code": THRESHOLD}),
    ("POST", "/poet/executions", {"function_id": "x", "executions": []}),
    ("POST", "/poet/feedback", {"execution_id": "x", "feedback_payload": 1}),
    ("GET", "/poet/functions", None),
    ("GET", "/poet/functions/x", None),
    ("POST", "/poet/functions/x/rollback", {"version": 0}),
    ("GET", "/poet/functions/x/feedback", None),
    ("GET", "/poet/functions/x/executions", None),
]


def test_health_needs_no_key(server: ServiceProcess) -> None:
    r = httpx.get(server.url + "/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["storage"] == "sqlite"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_a_key(server: ServiceProcess, method: str, path: str, body: object):
    with _client(server, None) as c:
        r = c.request(method, path, json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in r.json()["detail"]
    with _client(server, "not-a-key-at-all") as c:
        r = c.request(method, path, json=body)
    assert r.status_code == 403 and r.json()["detail"] == "unknown API key"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Basic {KEY_A}"}) as c:
        assert c.request(method, path, json=body).status_code == 401


def test_transpile_returns_stage_code_and_caches(server: ServiceProcess, function_id: str):
    with _client(server) as c:
        r = c.post("/poet/transpile", json={"function_code": THRESHOLD, "language": "dana"})
    body = r.json()
    assert body["metadata"]["function_id"] == function_id
    assert body["metadata"]["cache_hit"] is True
    assert body["metadata"]["generator"] == "template-v1"
    assert body["poet_implementation"]["language"] == "dana"
    assert "def perceive(x, threshold)" in body["poet_implementation"]["code"]


def test_transpile_python(server: ServiceProcess):
    code = "def area(w: float, h: float = 1.0) -> float:\n    return w * h\n"
    with _client(server) as c:
        r = c.post("/poet/transpile", json={"function_code": code, "language": "python"})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["function_name"] == "area"


def test_code_that_does_not_parse_is_400_naming_line_and_column(server: ServiceProcess):
    with _client(server) as c:
        r = c.post("/poet/transpile", json={"function_code": "def f(x):\n    return (x +\n"})
        assert r.status_code == 400
        assert "line 3, column" in r.json()["detail"] or "line 2, column" in r.json()["detail"]
        r = c.post(
            "/poet/transpile", json={"function_code": "def f(:\n  pass", "language": "python"}
        )
        assert r.status_code == 400 and "line 1, column 7" in r.json()["detail"]
        r = c.post("/poet/transpile", json={"function_code": "x = 1\n"})
        assert r.status_code == 400 and "exactly one function" in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"function_code": 5},
        {"function_code": "def f(): pass", "language": "cobol"},
        {"function_code": ""},
        {"function_code": "def f(): pass", "unknown": 1},
        [1, 2],
    ],
)
def test_wrong_shape_is_422(server: ServiceProcess, body: object):
    with _client(server) as c:
        r = c.post("/poet/transpile", json=body)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list) and r.json()["detail"][0]["loc"]


def test_malformed_json_is_4xx(server: ServiceProcess):
    with _client(server) as c:
        for path in ("/poet/transpile", "/poet/feedback", "/poet/executions"):
            r = c.post(
                path, content=b'{"function_code": ', headers={"content-type": "application/json"}
            )
            assert r.status_code == 422, (path, r.text)


def test_oversize_body_is_413_with_the_limit(server: ServiceProcess):
    with _client(server) as c:
        r = c.post("/poet/transpile", content=b"x" * (1024 * 1024 + 1),
                   headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 413 and "1048576 bytes" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:
            for _ in range(40):
                yield b" " * 32768

        r = c.post("/poet/feedback", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def _executions(xs: list[float]) -> list[dict[str, object]]:
    return [
        {"execution_id": f"api-{x}", "inputs": {"x": x}, "output": x > 0.5, "version": 0,
         "params": {"threshold": 0.5}}
        for x in xs
    ]  # fmt: skip


def test_executions_feedback_and_learning(server: ServiceProcess, function_id: str):
    xs = [0.3, 0.55, 0.6, 0.65, 0.8, 0.9]
    with _client(server) as c:
        r = c.post(
            "/poet/executions", json={"function_id": function_id, "executions": _executions(xs)}
        )
        assert r.status_code == 202 and r.json() == {"accepted": 6}
        versions = []
        for x in xs:
            r = c.post("/poet/feedback", json={"execution_id": f"api-{x}", "function_id": function_id,
                                               "feedback_payload": {"correct": x > 0.7 or x < 0.5}})  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "recorded" and "sentiment" in r.json()["signal"]
            versions.append(r.json()["version"])
        assert versions[-1] >= 1 and versions == sorted(versions)
        learned = r.json()["params"]["threshold"]
        assert 0.65 <= learned < 0.8
        # by name instead of id
        r = c.post("/poet/feedback", json={"execution_id": "api-0.9", "function_name": "is_high",
                                           "feedback_payload": "good"})  # fmt: skip
        assert r.status_code == 200 and r.json()["signal"]["sentiment"] > 0

        detail = c.get(f"/poet/functions/{function_id}")
        assert detail.status_code == 200
        body = detail.json()
        assert body["current_version"] == versions[-1]
        assert body["params"]["threshold"] == learned
        assert [v["version"] for v in body["versions"]] == list(range(1, versions[-1] + 1))
        etag = detail.headers["etag"]
        assert (
            c.get(f"/poet/functions/{function_id}", headers={"If-None-Match": etag}).status_code
            == 304
        )

        summary = c.get(f"/poet/functions/{function_id}/feedback").json()
        assert summary["total"] == 7 and isinstance(summary["total"], int)
        assert summary["by_sentiment"]["positive"] + summary["by_sentiment"]["negative"] == 7
        assert sum(v["total"] for v in summary["by_version"].values()) == 7

        recent = c.get(f"/poet/functions/{function_id}/executions", params={"limit": 2}).json()
        assert len(recent["executions"]) == 2
        assert all(e["execution_id"].startswith("api-") for e in recent["executions"])

        listed = c.get("/poet/functions").json()["functions"]
        assert {
            "function_id": function_id,
            "name": "is_high",
            "current_version": versions[-1],
        } in listed

        r = c.post(f"/poet/functions/{function_id}/rollback", json={"version": 1})
        assert r.status_code == 200 and r.json()["current_version"] == 1
        assert (
            c.get(f"/poet/functions/{function_id}", headers={"If-None-Match": etag}).status_code
            == 200
        )


def test_unknown_ids_are_404(server: ServiceProcess, function_id: str):
    with _client(server) as c:
        assert c.get("/poet/functions/nope-0").status_code == 404
        assert c.get("/poet/functions/nope-0/feedback").status_code == 404
        assert c.get("/poet/functions/nope-0/executions").status_code == 404
        assert c.post("/poet/functions/nope-0/rollback", json={"version": 0}).status_code == 404
        r = c.post(f"/poet/functions/{function_id}/rollback", json={"version": 999})
        assert r.status_code == 404 and "no version 999" in r.json()["detail"]
        r = c.post("/poet/executions", json={"function_id": "nope-0", "executions": []})
        assert r.status_code == 404
        r = c.post("/poet/feedback", json={"execution_id": "never", "function_id": function_id,
                                           "feedback_payload": 1})  # fmt: skip
        assert r.status_code == 404 and "never" in r.json()["detail"]
        r = c.post("/poet/feedback", json={"execution_id": "never", "feedback_payload": 1})
        assert r.status_code == 404
        r = c.post(
            "/poet/feedback",
            json={"execution_id": "x", "function_name": "nobody", "feedback_payload": 1},
        )
        assert r.status_code == 404
        assert (
            c.get(f"/poet/functions/{function_id}/executions", params={"limit": 0}).status_code
            == 422
        )


def test_a_key_sees_only_its_projects_functions(server: ServiceProcess, function_id: str):
    with _client(server, KEY_B) as c:
        assert c.get(f"/poet/functions/{function_id}").status_code == 404
        assert function_id not in str(c.get("/poet/functions").json())
        r = c.post("/poet/feedback", json={"execution_id": "api-0.9", "feedback_payload": "bad"})
        assert r.status_code == 404
        other = c.post("/poet/transpile", json={"function_code": THRESHOLD}).json()
        assert other["metadata"]["function_id"] != function_id
        assert other["metadata"]["version"] == 0


def test_inline_execution_with_feedback(server: ServiceProcess, function_id: str):
    execution = _executions([0.95])[0] | {"execution_id": "inline-1"}
    with _client(server) as c:
        r = c.post("/poet/feedback", json={"execution_id": "inline-1", "function_id": function_id,
                                           "feedback_payload": "correct", "execution": execution})  # fmt: skip
        assert r.status_code == 200, r.text
        ids = [e["execution_id"] for e in c.get(f"/poet/functions/{function_id}/executions",
                                                params={"limit": 1000}).json()["executions"]]  # fmt: skip
        assert "inline-1" in ids
