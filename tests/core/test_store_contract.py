"""The store interface, checked on every implementation: same answers, same types."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from dana_poet.poet.store import MemoryStore, SQLiteStore, Store
from dana_poet.poet.store.ids import new_id

VALUES = {
    "tuple": (1, "a", (2.5, None)),
    "list": [1, [2, 3]],
    "set": {1, 2},
    "int_keys": {1: "one", 2: [True]},
    "nested": {"a": {"b": (1,)}},
    "inf": math.inf,
    "bytes": b"\x00\xff",
    "text": "plain",
    "flag": False,
}


@pytest.fixture(params=["memory", "sqlite", "sqlite-reopened"])
def store_kind(request, tmp_path: Path):
    return request.param, tmp_path


def _make(kind: str, tmp_path: Path) -> Store:
    return MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "poet")


@pytest.mark.parametrize("persist", [True, False])
def test_values_come_back_as_the_same_types(store_kind, persist: bool):
    kind, tmp_path = store_kind
    store = _make(kind, tmp_path)
    assert isinstance(store, Store)
    eid = store.new_execution_id()
    store.record_execution(eid, "m.na:f", 1, dict(VALUES), VALUES["tuple"], {"t": 0.5}, {})
    if kind == "sqlite-reopened":
        store.flush()
        store = SQLiteStore(tmp_path / "poet")
    if not persist:
        store.record_feedback(eid, ("good", 1), {"sentiment": 1.0})
    got = store.get_execution(eid)
    assert got is not None and got.function == "m.na:f" and got.version == 1
    assert got.inputs == VALUES
    assert {k: type(v) for k, v in got.inputs.items()} == {k: type(v) for k, v in VALUES.items()}
    assert got.output == (1, "a", (2.5, None)) and type(got.output[2]) is tuple


def test_not_persisted_executions_have_the_same_types_before_a_flush(tmp_path: Path):
    """The in-memory copy answers with the decoded form, as the database would."""
    store = SQLiteStore(tmp_path / "poet")
    eid = store.new_execution_id()
    store.record_execution(eid, "m.na:f", 0, {"x": (1, 2)}, [1], {}, {}, persist=False)
    assert store.get_execution(eid).inputs == {"x": (1, 2)}
    store.record_feedback(eid, "ok", {"sentiment": 1.0})
    again = SQLiteStore(tmp_path / "poet").get_execution(eid)
    assert again.inputs == {"x": (1, 2)} and type(again.inputs["x"]) is tuple


def test_feedback_is_filed_under_the_version_that_ran(store_kind):
    kind, tmp_path = store_kind
    store = _make(kind, tmp_path)
    for version, sentiment in ((1, 1.0), (1, -1.0), (2, 1.0)):
        eid = store.new_execution_id()
        store.record_execution(eid, "m.na:f", version, {}, 0, {}, {})
        store.record_feedback(eid, "x", {"sentiment": sentiment})
    other = store.new_execution_id()
    store.record_execution(other, "n.na:f", 7, {}, 0, {}, {})
    store.record_feedback(other, "x", {"sentiment": 1.0})
    if kind == "sqlite-reopened":
        store = SQLiteStore(tmp_path / "poet")
    rows = [(s.version, s.count, s.negative, s.positive) for s in store.feedback_summary("m.na:f")]
    assert rows == [(1, 2, 1, 1), (2, 1, 0, 1)]
    assert [f.version for f in store.feedback_for("m.na:f", version=2)] == [2]
    assert len(store.feedback_for("m.na:f", limit=2)) == 2


def test_recent_executions_by_function(store_kind):
    kind, tmp_path = store_kind
    store = _make(kind, tmp_path)
    for i in range(10):
        store.record_execution(store.new_execution_id(), "m.na:f", 0, {"i": i}, i, {}, {})
        store.record_execution(store.new_execution_id(), "m.na:g", 0, {"i": i}, i, {}, {})
    if kind == "sqlite-reopened":
        store.flush()
        store = SQLiteStore(tmp_path / "poet")
    assert [e.output for e in store.executions("m.na:f", limit=3)] == [7, 8, 9]
    assert len(store.executions("m.na:g")) == 10
    assert set(store.functions()) >= {"m.na:f", "m.na:g"}


def test_versions_of_functions_with_the_same_name_are_apart(store_kind):
    kind, tmp_path = store_kind
    store = _make(kind, tmp_path)
    store.write_version("a.na:check", params={"t": 1.0}, reason="a", evidence={})
    store.write_version("pkg/a.na:check", params={"t": 2.0}, reason="b", evidence={})
    assert store.read_version("a.na:check", 1).params == {"t": 1.0}
    assert store.read_version("pkg/a.na:check", 1).params == {"t": 2.0}
    assert store.current_version("b.na:check") == 0


def test_ids_are_unique_across_forks():
    parent = {new_id() for _ in range(100)}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its ids and leave at once
        os.close(read)
        ids = "\n".join(new_id() for _ in range(100))
        os.write(write, ids.encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    child = set(b"".join(chunks).decode().split("\n"))
    after = {new_id() for _ in range(100)}
    assert len(child) == 100 and not (child & parent) and not (child & after)
