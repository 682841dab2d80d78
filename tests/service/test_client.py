"""The POET client: a program with AITOMATIC_API_URL set transpiles, trains and learns through
the service; when the service dies mid-run it finishes on the local path with one warning and
its outbox is delivered by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.conftest import DANA_POET

KEY = "client-test-key-1"

THRESHOLD = """@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""

TEACH = (
    THRESHOLD
    + """
for x in [0.3, 0.55, 0.6, 0.65, 0.8, 0.9, 0.62, 0.75]:
    r = is_high(x)
    feedback(r, {"correct": r == (x > 0.7)})
print(f"after teaching: {is_high(0.6)} {is_high(0.72)}")
"""
)

USE = (
    THRESHOLD
    + """
print(f"learned: {is_high(0.6)} {is_high(0.72)}")
"""
)


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITOMATIC_", "OPENAI_"))}
    env.pop("DANA_POET_DIR", None)
    env.update({"AITOMATIC_API_URL": url, "AITOMATIC_API_KEY": KEY, "DANA_POET_POLL_INTERVAL": "1"})
    env.update(extra)
    return env


def _run(folder: Path, source: str, url: str) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prog.na").write_text(source)
    return subprocess.run(
        [DANA_POET, "run", "prog.na"], cwd=folder, env=_env(url), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


def test_learning_across_processes_and_folders(tmp_path: Path, start_service) -> None:
    service = start_service(AITOMATIC_API_KEY=KEY)
    taught = _run(tmp_path / "team-a", TEACH, service.url)
    assert taught.returncode == 0, taught.stderr
    assert "after teaching: False True" in taught.stdout
    assert "warning" not in taught.stderr
    learner = _run(tmp_path / "team-b", USE, service.url)
    assert learner.returncode == 0, learner.stderr
    assert "learned: False True" in learner.stdout
    # nothing was learned locally: the versions are the service's
    assert not list((tmp_path / "team-b").glob(".dana/poet/functions/*/v*"))
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        (fn,) = c.get("/poet/functions").json()["functions"]
        assert fn["name"] == "is_high" and fn["current_version"] >= 1
        assert c.get(f"/poet/functions/{fn['function_id']}/feedback").json()["total"] == 8


PYTHON_PROGRAM = """
import sys, time
from pathlib import Path
from dana_poet import poet, feedback

@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold

if sys.argv[1] == "teach":
    r = is_high(0.6)
    feedback(r, {"correct": False})
    Path("phase1").write_text("done")
    while not Path("go").exists():
        time.sleep(0.05)
    for x in (0.55, 0.65, 0.9):
        r = is_high(x)
        feedback(r, {"correct": bool(r) == (x > 0.7)})
print("finished", is_high(0.6))
"""


def test_service_dying_mid_run_then_outbox_delivered(tmp_path: Path, start_service) -> None:
    serve_dir = tmp_path / "serve"
    first = start_service(serve_dir, AITOMATIC_API_KEY=KEY)
    project = tmp_path / "project"
    project.mkdir()
    (project / "prog.py").write_text(PYTHON_PROGRAM)
    proc = subprocess.Popen(
        [sys.executable, "prog.py", "teach"], cwd=project, env=_env(first.url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (project / "phase1").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.kill()
    (project / "go").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "finished" in out
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "unavailable" in warnings[0], err
    outbox = list((project / ".dana" / "poet" / "outbox").glob("*.json"))
    assert len(outbox) >= 3  # the three feedback bodies (and executions) wait there

    second = start_service(serve_dir, AITOMATIC_API_KEY=KEY)  # same storage, new port
    again = subprocess.run(
        [sys.executable, "prog.py", "use"], cwd=project, env=_env(second.url),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stderr
    assert list((project / ".dana" / "poet" / "outbox").glob("*.json")) == []
    with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        (fn,) = c.get("/poet/functions").json()["functions"]
        summary = c.get(f"/poet/functions/{fn['function_id']}/feedback").json()
        assert summary["total"] == 4


SHARED_FUNCTION = """
import sys, time
from pathlib import Path
from dana_poet import poet, feedback

@poet(optimize_for="accuracy")
def is_high(x: float, threshold: float = 0.5) -> bool:
    return x > threshold
"""

TEACHER = (
    SHARED_FUNCTION
    + """
for x in [0.3, 0.55, 0.6, 0.65, 0.8, 0.9, 0.62, 0.75]:
    r = is_high(x)
    feedback(r, {"correct": bool(r) == (x > 0.7)})
print("taught", is_high(0.6))
"""
)

WATCHER = (
    SHARED_FUNCTION
    + """
print("before", is_high(0.6), flush=True)
Path("ready").write_text("")
while not Path("go").exists():
    time.sleep(0.05)
deadline = time.monotonic() + 60
calls = 0
while time.monotonic() < deadline:
    calls += 1
    if not is_high(0.6):
        print("picked up after", calls, "calls", flush=True)
        break
    time.sleep(0.1)
print("after", is_high(0.6), is_high(0.72))
"""
)


def test_polling_alone_brings_a_version_trained_elsewhere(tmp_path: Path, start_service) -> None:
    """A client that never sends feedback (no feedback answer to learn from) picks up, by
    ETag polling, the version another program's feedback trained, and its next call uses it."""
    service = start_service(AITOMATIC_API_KEY=KEY)
    watcher_dir, teacher_dir = tmp_path / "watcher", tmp_path / "teacher"
    for folder, source in ((watcher_dir, WATCHER), (teacher_dir, TEACHER)):
        folder.mkdir()
        (folder / "prog.py").write_text(source)
    watcher = subprocess.Popen(
        [sys.executable, "prog.py"], cwd=watcher_dir, env=_env(service.url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (watcher_dir / "ready").exists():
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        teacher = subprocess.run(
            [sys.executable, "prog.py"], cwd=teacher_dir, env=_env(service.url),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert teacher.returncode == 0, teacher.stderr
        assert "taught False" in teacher.stdout
        (watcher_dir / "go").write_text("")
        out, err = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert "before True" in out
    assert "picked up after" in out, out
    assert "after False True" in out
    assert "warning" not in err
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        (fn,) = c.get("/poet/functions").json()["functions"]
        assert c.get(f"/poet/functions/{fn['function_id']}/feedback").json()["total"] == 8
    # the watcher learned nothing itself: the version it runs is the service's
    assert not list(watcher_dir.glob(".dana/poet/functions/*/v*"))
