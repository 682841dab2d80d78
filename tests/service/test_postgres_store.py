"""The PostgreSQL store behaves as the embedded stores do (same interface, same values back),
and several processes writing to one database lose nothing and never share a version number."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dana_poet.poet.store import MemoryStore, SQLiteStore, Store
from dana_poet.poet.store.postgres import PostgresStore


@pytest.fixture(params=["postgres", "sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "postgres":
        made: Any = PostgresStore(request.getfixturevalue("clean_database"))
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "poet")
    else:
        made = MemoryStore()
    yield made
    made.close()


def test_is_a_store(clean_database: str) -> None:
    store = PostgresStore(clean_database)
    assert isinstance(store, Store)
    assert "dana" in store.status().location and store.status().problems == []
    store.close()


def test_executions_round_trip_with_types(store: Any) -> None:
    value = {"t": (1, 2), "s": {3}, "inf": math.inf, "nested": [1, {"a": None}]}
    eid = store.new_execution_id()
    store.record_execution(eid, "m.na:f", 2, {"a": 1, "v": value}, [1, 2], {"t": 0.5}, {"ms": 1})
    store.flush()
    got = store.get_execution(eid)
    assert (got.function, got.version, got.output, got.params) == ("m.na:f", 2, [1, 2], {"t": 0.5})
    assert got.inputs["v"] == value
    for i in range(5):
        store.record_execution(f"{eid}-{i}", "m.na:f", 2, {"i": i}, i, {}, {})
    newest = store.executions("m.na:f", limit=2)
    assert [e.inputs["i"] for e in newest] == [3, 4]
    assert len(store.executions("m.na:f")) == 6
    assert store.executions("m.na:f", version=1) == []
    assert store.get_execution("nope") is None


def test_feedback_is_filed_under_the_executions_version(store: Any) -> None:
    store.record_execution("e1", "m.na:f", 1, {"x": 1}, True, {}, {})
    store.record_execution("e2", "m.na:f", 2, {"x": 2}, False, {}, {}, persist=False)
    store.record_feedback("e1", "good", {"sentiment": 1.0})
    store.record_feedback("e2", {"correct": False}, {"sentiment": -1.0})
    store.record_feedback("e2", "meh", {"sentiment": 0.0})
    assert store.get_execution("e2") is not None  # written because feedback named it
    records = store.feedback_for("m.na:f")
    assert [(f.payload, f.version) for f in records] == [
        ("good", 1),
        ({"correct": False}, 2),
        ("meh", 2),
    ]
    assert [f.payload for f in store.feedback_for("m.na:f", version=2, limit=1)] == ["meh"]
    summary = {
        s.version: (s.count, s.negative, s.positive) for s in store.feedback_summary("m.na:f")
    }
    assert summary == {1: (1, 0, 1), 2: (2, 1, 0)}


def test_versions_publish_and_roll_back(store: Any) -> None:
    assert store.current_version("f") == 0
    v1 = store.write_version("f", params={"t": 1}, reason="first", evidence={})
    v2 = store.write_version("f", params={"t": 2}, reason="second", evidence={"n": 3},
                             enhanced_source="def f(): pass", metadata={"cache_key": "k2"})  # fmt: skip
    assert (v1, v2) == (1, 2) and store.current_version("f") == 2
    assert store.read_version("f", 2).enhanced_source == "def f(): pass"
    assert store.read_version("f", 2).evidence == {"n": 3}
    assert store.read_version("f", 7).problem
    store.set_current("f", 1)
    assert store.read_version("f", store.current_version("f")).params == {"t": 1}
    assert [v.reason for v in store.list_versions("f")] == ["first", "second"]
    store.set_current("f", 2)
    same = store.publish_if_changed("f", cache_key="k2", params={}, reason="r",
                                    enhanced_source=None, metadata={})  # fmt: skip
    assert same == 2
    new = store.publish_if_changed("f", cache_key="k3", params={}, reason="r",
                                   enhanced_source=None, metadata={})  # fmt: skip
    assert new == 3 and store.current_version("f") == 3
    store.record_execution("fx", "f", 3, {}, None, {}, {})
    store.flush()
    assert "f" in store.functions()


def _writer(url: str, tag: int, n: int) -> None:
    store = PostgresStore(url)
    for i in range(n):
        eid = f"w{tag}-{i}"
        store.record_execution(eid, "f", 0, {"i": i}, i, {}, {})
        if i % 5 == 0:
            store.record_feedback(eid, f"fb {tag} {i}", {"sentiment": 0.5})
    store.flush()
    for _ in range(3):
        store.write_version("f", params={"tag": tag}, reason=f"from {tag}", evidence={})
    store.close()


def test_several_processes_share_one_database(clean_database: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(clean_database, t, 100)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = PostgresStore(clean_database)
    assert len(store.executions("f")) == 400
    assert len(store.feedback_for("f")) == 80
    assert [v.version for v in store.list_versions("f")] == list(range(1, 13))
    store.close()


def test_advisory_lock_is_exclusive(clean_database: str) -> None:
    a, b = PostgresStore(clean_database), PostgresStore(clean_database)
    with a.advisory_lock("fit:f", blocking=False) as held:
        assert held
        with b.advisory_lock("fit:f", blocking=False) as other:
            assert not other
        with b.advisory_lock("fit:g", blocking=False) as unrelated:
            assert unrelated
    with b.advisory_lock("fit:f", blocking=False) as after:
        assert after
    a.close()
    b.close()


def test_a_version_holding_the_current_content_is_not_written_again(store: Any) -> None:
    """Processes that learned the same parameters at once share one version (reuse_current)."""
    fn, key = "m.na:f", {"cache_key": "k1"}
    first = store.write_version(fn, params={"t": 1.5}, reason="a", evidence={}, metadata=key)
    same = store.write_version(
        fn, params={"t": 1.5}, reason="b", evidence={}, metadata=key, reuse_current=True
    )
    assert same == first and [v.version for v in store.list_versions(fn)] == [first]
    moved = store.write_version(
        fn, params={"t": 2.0}, reason="c", evidence={}, metadata=key, reuse_current=True
    )
    other_code = store.write_version(
        fn, params={"t": 2.0}, reason="d", evidence={}, metadata={"cache_key": "k2"},
        reuse_current=True,
    )  # fmt: skip
    plain = store.write_version(
        fn, params={"t": 2.0}, reason="e", evidence={}, metadata={"cache_key": "k2"}
    )
    assert (moved, other_code, plain) == (first + 1, first + 2, first + 3)
    assert store.current_version(fn) == plain
