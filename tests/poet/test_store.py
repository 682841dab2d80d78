from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
import warnings
from pathlib import Path

from dana_poet.poet.result import attach, execution_id_of
from dana_poet.poet.store import POETStore


def test_round_trip_and_batching(tmp_path: Path):
    store = POETStore(tmp_path / "poet")
    eid = store.new_execution_id()
    store.record_execution(eid, "f", 0, {"a": 1}, [1, 2], {"t": 0.5}, {"ms": 1})
    assert store.get_execution(eid).output == [1, 2]
    store.flush()
    fresh = POETStore(tmp_path / "poet")
    assert fresh.get_execution(eid).inputs == {"a": 1}
    fid = fresh.record_feedback(eid, "good", {"sentiment": 1.0})
    assert fid and [f.payload for f in fresh.feedback_for("f")] == ["good"]


def test_versions_are_files_and_reversible(tmp_path: Path):
    store = POETStore(tmp_path / "poet")
    assert store.current_version("f") == 0
    v1 = store.write_version("f", params={"t": 1}, reason="first", evidence={})
    v2 = store.write_version(
        "f", params={"t": 2}, reason="second", evidence={"n": 3}, enhanced_source="def f(): pass"
    )
    assert (v1, v2) == (1, 2)
    assert store.current_version("f") == 2
    assert (tmp_path / "poet" / "functions" / "f" / "v2" / "enhanced.na").exists()
    store.set_current("f", 1)
    assert store.read_version("f", store.current_version("f")).params == {"t": 1}
    assert [v.reason for v in store.list_versions("f")] == ["first", "second"]


def test_damaged_files_are_reported_and_treated_as_missing(tmp_path: Path):
    """The store names the damage; whoever reads the version warns, once (poet/function.py)."""
    store = POETStore(tmp_path / "poet")
    store.write_version("f", params={"t": 1}, reason="r", evidence={})
    (tmp_path / "poet" / "functions" / "f" / "v1" / "params.json").write_text("{not json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = store.read_version("f", 1)
    assert info.params == {} and info.problem is not None and "params.json" in info.problem
    assert not caught


def _writer(root: str, n: int, tag: int) -> None:
    store = POETStore(Path(root))
    for i in range(n):
        eid = store.new_execution_id()
        store.record_execution(eid, "f", 0, {"i": i, "tag": tag}, i, {}, {})
        if i % 4 == 0:
            store.record_feedback(eid, f"fb {tag} {i}", {"sentiment": 0.0})
    store.flush()
    store.write_version("f", params={"tag": tag}, reason=f"from {tag}", evidence={})


def test_several_processes_lose_nothing(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "poet"), 200, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    store = POETStore(tmp_path / "poet")
    assert len(store.executions("f")) == 800
    assert len(store.feedback_for("f")) == 4 * 50
    assert sorted(v.version for v in store.list_versions("f")) == [1, 2, 3, 4]


def _slow_writer(root: str) -> None:
    store = POETStore(Path(root))
    i = 0
    while True:
        eid = store.new_execution_id()
        store.record_execution(eid, "f", 0, {"i": i}, i, {}, {})
        store.record_feedback(eid, "x", {"sentiment": 0.0})
        i += 1


def test_a_killed_writer_leaves_a_consistent_store(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_slow_writer, args=(str(tmp_path / "poet"),))
    p.start()
    deadline = time.monotonic() + 60
    db = tmp_path / "poet" / "poet.db"
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("select count(*) from feedback").fetchone()[0] > 20:
                        break
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    store = POETStore(tmp_path / "poet")
    feedback = store.feedback_for("f")
    assert len(feedback) > 20
    for fb in feedback:  # every committed feedback row names an execution that was committed first
        assert store.get_execution(fb.execution_id) is not None


def test_results_behave_as_raw_values():
    import json

    for raw in (3, 2.5, "text", [1, 2], {"a": 1}, (1, 2)):
        r = attach(raw, "id-1")
        assert r == raw and isinstance(r, type(raw)) and repr(r) == repr(raw)
        assert json.dumps(r) == json.dumps(raw)
        assert execution_id_of(r) == "id-1"
    assert hash(attach(7, "x")) == hash(7) and f"{attach(3.14159, 'x'):.2f}" == "3.14"
    assert type(attach(3, "x") + 1) is int
    assert attach(True, "b1") is True and execution_id_of(True) == "b1"
    assert attach(None, "n1") is None and execution_id_of(None) == "n1"
    assert execution_id_of(12345) is None
