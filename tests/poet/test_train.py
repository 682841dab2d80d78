"""Train: exact sorted-sweep fitting, bounded cost per feedback, learning visible at the next call."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dana_poet import feedback, poet
from dana_poet.poet.coverage import CoverageIndex
from dana_poet.poet.errors import POETConfigError
from dana_poet.poet.result import execution_id_of
from dana_poet.poet.train import (
    BISECT_LIMIT,
    GRID_STEPS,
    LearnableParam,
    best_segments,
    choose_in_segments,
    count_at,
    profile_example,
)
from tests.hypothesis_profile import examples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


# ------------------------------------------------------------------ the sweep is exact

intervals_strategy = st.lists(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 8)).map(
            lambda t: (t[0] / 4, (t[0] + t[1]) / 4)
        ),
        max_size=3,
    ),
    max_size=25,
)


def _disjoint(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge overlapping intervals: an example is right or not at each value."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


@settings(max_examples=examples(300), deadline=None)
@given(intervals_strategy)
def test_sweep_matches_brute_force(raw: list[list[tuple[float, float]]]) -> None:
    profiles = [_disjoint(ivs) for ivs in raw]
    top, segments = best_segments(profiles)
    ends = sorted({x for ivs in profiles for iv in ivs for x in iv})
    probes = ends + [(a + b) / 2 for a, b in zip(ends, ends[1:], strict=False)]
    brute = max((count_at(profiles, x) for x in probes), default=0)
    assert top == brute
    if top == 0:
        assert segments == []
        return
    for a, b in segments:
        assert a <= b
        assert count_at(profiles, a) == count_at(profiles, b) == top
        assert count_at(profiles, (a + b) / 2) == top
    for x in probes:  # every best value lies in a reported segment
        if count_at(profiles, x) == top:
            assert any(a <= x <= b for a, b in segments)
    probes.sort()
    for a, b in segments:  # and the segments are maximal: just outside them the count drops
        outside = [x for x in probes if x < a][-1:] + [x for x in probes if x > b][:1]
        assert all(count_at(profiles, x) < top for x in outside)


index_operations = st.lists(
    st.tuples(
        st.integers(0, 12), st.booleans(), intervals_strategy.map(lambda p: p[0] if p else [])
    ),
    max_size=60,
)


@settings(max_examples=examples(300), deadline=None)
@given(index_operations)
def test_the_index_kept_per_example_matches_a_sweep_from_scratch(
    operations: list[tuple[int, bool, list[tuple[float, float]]]],
) -> None:
    """Examples joining and leaving one at a time leave the index where a sweep over the
    examples present would be, and its counts agree with counting by brute force."""
    index = CoverageIndex()
    present: dict[str, list[tuple[float, float]]] = {}
    for number, joins, raw in operations:
        key = f"e{number}"
        if joins:
            intervals = _disjoint(raw)
            index.add(key, intervals)
            present[key] = intervals
        else:
            index.discard(key)
            present.pop(key, None)
        assert len(index) == len(present)
    profiles = list(present.values())
    assert index.best() == best_segments(profiles)
    top, segments = index.best()
    ends = sorted({x for ivs in profiles for iv in ivs for x in iv})
    probes = ends + [(a + b) / 2 for a, b in zip(ends, ends[1:], strict=False)] + [-1.0, 99.0]
    for x in probes:
        assert index.count_at(x) == count_at(profiles, x)
    assert top == max((count_at(profiles, x) for x in probes), default=0)
    rebuilt = CoverageIndex()
    rebuilt.add_many(present.items())
    assert rebuilt.best() == (top, segments)


def test_the_index_removes_positions_nothing_uses_any_more() -> None:
    index = CoverageIndex()
    index.add("a", [(1.0, 2.0), (3.0, 3.0)])
    index.add("b", [(2.0, 4.0)])
    assert index.best() == (2, [(2.0, 2.0), (3.0, 3.0)])
    index.add("a", [(5.0, 6.0)])  # a new profile for the same example replaces the old one
    assert index.best() == (1, [(2.0, 4.0), (5.0, 6.0)])
    index.discard("a")
    index.discard("b")
    index.discard("b")
    assert index.best() == (0, [])
    assert index._pos == [] and index._starts == [] and index._ends == []


threshold_data = st.lists(
    st.tuples(st.integers(0, 60).map(lambda v: v / 6), st.booleans()), min_size=1, max_size=30
)


@settings(max_examples=examples(150), deadline=None)
@given(threshold_data)
def test_threshold_fit_is_as_good_as_replaying_every_candidate(
    data: list[tuple[float, bool]],
) -> None:
    """Profiles + sweep reach the accuracy of the old exhaustive search (every value and
    midpoint a candidate, every example replayed per candidate)."""
    spec = LearnableParam("threshold", 1.0, 0.0, 11.0, False)

    def fn(value: float, threshold: float) -> bool:
        return value > threshold

    profiles = []
    for value, label in data:

        def evaluate(t: float, value: float = value, label: bool = label) -> tuple[bool, int]:
            return fn(value, t) == label, 0

        profiles.append(profile_example(evaluate, spec, {"value": value}))
    top, segments = best_segments(profiles)
    values = sorted({v for v, _ in data})
    candidates = {spec.low, spec.high, *values}
    candidates.update((a + b) / 2 for a, b in zip(values, values[1:], strict=False))
    candidates.update(
        spec.low + (spec.high - spec.low) * i / GRID_STEPS for i in range(GRID_STEPS + 1)
    )
    brute = max(sum(fn(v, t) == label for v, label in data) for t in candidates)
    assert top == brute
    if not segments:
        assert brute == 0
        return
    chosen = choose_in_segments(segments, spec.default, spec.low, spec.high)
    assert sum(fn(v, chosen) == label for v, label in data) == brute


def test_profile_finds_an_exact_numeric_answer_between_probes() -> None:
    spec = LearnableParam("bias", 0.0, 0.0, 10.0, False)

    def evaluate(b: float) -> tuple[bool, int]:
        out = 1.3 + b
        if math.isclose(out, 4.0, rel_tol=1e-9, abs_tol=1e-12):
            return True, 0
        return False, 1 if out > 4.0 else -1

    (interval,) = profile_example(evaluate, spec, {})
    assert interval[0] == pytest.approx(2.7) and interval[1] == pytest.approx(2.7)


@pytest.mark.parametrize("value", [0.1, 3.7, 6.0, 9.999])
def test_a_comparison_with_an_input_is_profiled_without_bisecting(value: float) -> None:
    """`value > threshold` changes its answer right at the input: the probes next to the
    input find the exact change, where bisecting to it used to cost ~50 more replays."""
    spec = LearnableParam("threshold", 1.0, 0.0, 11.0, False)
    calls: list[float] = []

    def evaluate(t: float) -> tuple[bool, int]:
        calls.append(t)
        return (value > t) is True, 0

    (interval,) = profile_example(evaluate, spec, {"value": value})
    assert interval == (0.0, math.nextafter(value, -math.inf))  # right below the input only
    assert len(calls) <= GRID_STEPS + 1 + 3


def test_choose_prefers_the_grid_and_the_evidence_at_bounds() -> None:
    assert choose_in_segments([(0.2, 0.3)], 0.05, 0.0, 0.8, steps=80) == pytest.approx(0.25)
    assert choose_in_segments([(12.0, 110.0)], 10.0, 0.0, 110.0) == 12.0
    assert choose_in_segments([(0.0, 3.0)], 10.0, 0.0, 110.0) == 3.0
    # two segments: the one nearest the current value wins
    assert 5.0 <= choose_in_segments([(1.0, 2.0), (5.0, 6.0)], 5.5, 0.0, 10.0) <= 6.0


# ------------------------------------------------------------------ cost does not grow


def _alarm(window: int = 1000) -> Any:
    @poet(optimize_for="accuracy", train={"window": window})
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    return alarm


# probes + the input and its two neighbours + bisections + one check
PER_EXAMPLE = (GRID_STEPS + 4) + 2 * BISECT_LIMIT + 1


def test_replays_per_feedback_are_bounded_whatever_the_history() -> None:
    alarm = _alarm(window=40)
    rng = random.Random(5)
    per_feedback: list[int] = []
    for _ in range(300):
        v = rng.uniform(0, 10)
        noisy = (v > 6.0) != (rng.random() < 0.1)
        r = alarm(v)
        state = alarm.__poet__.train_state
        before = state.replays if state is not None else 0
        feedback(r, {"expected": noisy})
        per_feedback.append(alarm.__poet__.train_state.replays - before)
    state = alarm.__poet__.train_state
    assert len(state.window) == 40
    # each example is profiled at most once per parameter value of the others: the total
    # is bounded by the number of feedbacks, not by feedbacks x history
    assert sum(per_feedback) <= 300 * PER_EXAMPLE
    # the late feedbacks (history 200-300) cost no more than the early ones allow
    assert max(per_feedback[200:]) <= state.window_size * PER_EXAMPLE
    assert sum(per_feedback[200:]) <= 100 * PER_EXAMPLE
    assert 5.0 <= alarm.__poet__.params["threshold"] <= 7.0


def test_what_feedback_asks_of_sqlite_is_answered_from_indexes() -> None:
    """Every query Train runs, per feedback and when a new process loads the window, is an
    index search: none scans a table or sorts what it read, so none grows with history."""
    from dana_poet.poet.store.sqlite import SQLiteStore
    from dana_poet.poet.train import maybe_train

    alarm = _alarm(window=30)
    store = alarm.__poet__.store
    assert isinstance(store, SQLiteStore)
    statements: list[str] = []
    store._db().set_trace_callback(statements.append)
    rng = random.Random(11)
    for _ in range(80):
        v = rng.uniform(0, 10)
        feedback(alarm(v), {"expected": v > 6.0})
    again = _alarm(window=30)  # a new run: the window and recent feedback are read back
    feedback(again(7.5), {"expected": True})
    feedback(again(2.5), "too many false alarms")
    maybe_train(again.__poet__)
    reads = {
        q
        for q in statements
        if q.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT OR REPLACE"))
    }
    assert any("train_examples" in q for q in reads) and any("feedback f" in q for q in reads)
    db = store._db()
    for query in sorted(reads):
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + query)]
        assert not any(p.startswith("SCAN") or "TEMP B-TREE" in p for p in plan), (query, plan)


def test_consistent_feedback_skips_the_refit() -> None:
    alarm = _alarm()
    for v in [1.0, 3.0, 7.0, 9.0]:
        feedback(alarm(v), {"expected": v > 5.0})
    state = alarm.__poet__.train_state
    learned = alarm.__poet__.params["threshold"]
    assert 3.0 <= learned < 7.0
    sweeps, replays = state.sweeps, state.replays
    for v in [0.5, 2.0, 8.0, 9.5, 2.5, 8.5]:
        feedback(alarm(v), {"expected": v > 5.0})
    assert state.sweeps == sweeps, "the current threshold stays optimal: no sweep"
    assert state.replays == replays, "and the example's own output says so: no replay"
    assert alarm.__poet__.params["threshold"] == learned


def test_a_new_process_reads_a_bounded_window_with_stored_profiles() -> None:
    alarm = _alarm(window=25)
    rng = random.Random(3)
    for _ in range(60):
        v = rng.uniform(0, 10)
        feedback(alarm(v), {"expected": v > 4.0})
    learned = alarm.__poet__.params["threshold"]
    again = _alarm(window=25)  # the same function defined again, as a new run would
    assert again.__poet__.params["threshold"] == learned
    r = again(4.5)
    assert r is (4.5 > learned)
    feedback(r, {"expected": True})
    state = again.__poet__.train_state
    assert len(state.window) == 25
    assert state.replays <= PER_EXAMPLE, "stored profiles are reused, not recomputed"


def test_repeating_the_same_labelled_inputs_adds_nothing() -> None:
    alarm = _alarm()
    data = [(1.0, False), (4.0, False), (6.0, True), (8.0, True)]
    for v, label in data:
        feedback(alarm(v), {"expected": label})
    rec = alarm.__poet__
    version, learned = rec.version, rec.params["threshold"]
    for _ in range(3):
        for v, label in data:
            feedback(alarm(v), {"expected": label})
    assert (rec.version, rec.params["threshold"]) == (version, learned)
    assert len(rec.train_state.window) == 4


def test_a_newer_label_for_the_same_inputs_replaces_the_older_one() -> None:
    alarm = _alarm()
    feedback(alarm(5.0), {"expected": False})
    assert alarm(5.0) is False
    feedback(alarm(5.0), {"expected": True})
    assert alarm(5.0) is True
    assert len(alarm.__poet__.train_state.window) == 1


# ------------------------------------------------------------------ learning is visible at once


def test_the_next_call_uses_the_new_version() -> None:
    alarm = _alarm()
    r = alarm(3.0)
    assert r is True
    feedback(r, {"correct": False})
    rec = alarm.__poet__
    assert rec.version >= 1
    nxt = alarm(3.0)
    assert nxt is False
    assert rec.runtime.find_execution(execution_id_of(nxt))[1].version == rec.version


def test_two_parameters_are_fitted_together() -> None:
    @poet(optimize_for="accuracy", train={"bounds": {"low": [0, 10], "high": [0, 10]}})
    def inside(x: float, low: float = 0.0, high: float = 10.0) -> bool:
        return low <= x <= high

    for x in [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]:
        feedback(inside(x), {"expected": 3.0 <= x <= 6.0})
    rec = inside.__poet__
    assert 2.5 < rec.params["low"] <= 3.5
    assert 5.5 <= rec.params["high"] < 6.5
    assert [inside(x) for x in (2.0, 4.0, 7.0)] == [False, True, False]


def test_integer_parameters_stay_integers() -> None:
    @poet(optimize_for="accuracy")
    def enough(count: int, minimum: int = 2) -> bool:
        return count >= minimum

    for c in range(10):
        feedback(enough(c), {"expected": c >= 6})
    assert enough.__poet__.params["minimum"] == 6
    assert type(enough.__poet__.params["minimum"]) is int


def test_manual_policy_records_but_does_not_learn() -> None:
    @poet(optimize_for="accuracy", train={"policy": "manual"})
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    feedback(alarm(3.0), {"correct": False})
    assert alarm.__poet__.version == 0 and alarm(3.0) is True


# ------------------------------------------------------------------ train={...} is validated


@pytest.mark.parametrize(
    ("train", "names", "explains"),
    [
        ({"params": ["nope"]}, "train['params'] names 'nope'", "not a parameter of f()"),
        ({"params": ["label"]}, "train['params'] names 'label'", "has no numeric default"),
        ({"bounds": {"other": [0, 1]}}, "train['bounds'] names 'other'", "learnable: threshold"),
        ({"bounds": {"threshold": [2, 5]}}, "threshold=1.0 is outside", "[2.0, 5.0]"),
    ],
)
def test_train_settings_are_checked_against_the_signature(
    train: dict[str, Any], names: str, explains: str
) -> None:
    with pytest.raises(POETConfigError) as info:

        @poet(optimize_for="accuracy", train=train)
        def f(value: float, label: str = "x", threshold: float = 1.0) -> bool:
            return value > threshold

    message = str(info.value)
    assert message.startswith("@poet on f(): ")
    assert names in message and explains in message
    assert info.value.function == "f"


@pytest.mark.parametrize(
    ("train", "shown"),
    [
        ('{"ab_share": "lots"}', "train['ab_share']='lots' is not valid"),
        ('{"params": 5}', "train['params']=5 is not valid"),
        ('{"bounds": {"threshold": [1.0, 0.0]}}', "low 1.0 is not below high 0.0"),
        ('{"policy": "sometimes"}', "train['policy']='sometimes' is not valid"),
    ],
)
def test_a_dana_program_with_bad_train_settings_gets_a_clear_error(
    tmp_path: Path, train: str, shown: str
) -> None:
    (tmp_path / "prog.na").write_text(
        f'@poet(optimize_for="accuracy", train={train})\n'
        "def flag(value: float, threshold: float = 0.5) -> bool:\n"
        "    return value > threshold\n\n"
        "print(flag(1.0))\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "prog.na"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert shown in r.stderr and "flag()" in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ the showcase


def test_the_drift_showcase_prints_its_expected_output_on_every_run(tmp_path: Path) -> None:
    folder = tmp_path / "ml_monitoring"
    shutil.copytree(ROOT / "examples" / "ml_monitoring", folder)
    expected = (folder / "drift_detection.na.expected").read_text()
    env = {k: v for k, v in os.environ.items() if k != "DANA_POET_DIR"}
    outputs = []
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-m", "dana_poet.cli", "run", "drift_detection.na"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout)
    assert outputs == [expected, expected], "the second run prints what the first printed"
    assert (folder / ".dana").is_dir() and not (
        ROOT / "examples" / "ml_monitoring" / ".dana"
    ).exists()
