"""@poet on plain Python functions, feedback and training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dana_poet import feedback, poet
from dana_poet.poet.errors import (
    POETFeedbackError,
    POETInputError,
    POETOutputError,
    POETTimeoutError,
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


def test_stages_on_a_python_function():
    @poet(domain="financial_services", retries=1)
    def assess(score: int, income: float) -> str:
        return "approved" if score >= 700 and income >= 50000 else "declined"

    assert assess("excellent", "$50K") == "approved"
    assert assess("fair", "$40K") == "declined"
    with pytest.raises(POETInputError, match="'score'"):
        assess("superb-ish", 1)


def test_bare_and_empty_decorators_and_argument_order():
    @poet
    def sub(a: int, b: int) -> int:
        return a - b

    @poet()
    def sub3(a: int, b: int, c: int) -> int:
        return a - b - c

    assert sub(10, 3) == 7
    assert sub3("10", 3, 2) == 5


def test_enforce_coerces_or_refuses():
    @poet()
    def parse_count(text: str) -> int:
        return text

    assert parse_count("42") + 1 == 43
    with pytest.raises(POETOutputError, match=r"parse_count\(\)"):
        parse_count("many")


def test_enforce_failure_gets_one_more_attempt_when_retries_remain():
    calls = []

    @poet(retries=2)
    def flaky_output() -> int:
        calls.append(1)
        return "n/a" if len(calls) == 1 else "5"

    assert flaky_output() == 5
    assert len(calls) == 2


def test_timeout_names_the_function():
    @poet(timeout=0.2, retries=0)
    def spin() -> int:
        n = 0
        while True:
            n += 1

    with pytest.raises(POETTimeoutError, match=r"spin\(\).*0.2"):
        spin()


def test_results_carry_their_execution_for_feedback():
    @poet(domain="ml_monitoring", optimize_for="accuracy")
    def flag(value: float, threshold: float = 10.0) -> bool:
        return value > threshold

    r = flag("12.0")
    assert r is True
    signal = feedback(r, "false alarm: 12 is normal here")
    assert signal.correct is False
    assert flag(12.0) is False, "one labelled false alarm moves the threshold above 12"
    with pytest.raises(POETFeedbackError, match="12345"):
        feedback(12345, "good")


def test_training_reaches_the_right_threshold_and_versions_are_written():
    @poet(domain="ml_monitoring", optimize_for="accuracy")
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    truth = 6.0  # values above 6 are real alarms
    for v in [0.5, 2.0, 3.5, 5.0, 5.9, 6.5, 7.0, 9.0, 12.0]:
        r = alarm(v)
        feedback(r, {"expected": v > truth})
    rec = alarm.__poet__
    assert 5.9 <= rec.params["threshold"] < 6.5
    assert rec.version >= 1
    meta = json.loads(
        (rec.store.function_dir(rec.key) / f"v{rec.version}" / "metadata.json").read_text()
    )
    assert "accuracy" in meta["reason"]
    assert all(alarm(v) == (v > truth) for v in [1.0, 5.5, 6.6, 20.0])


def test_a_worse_version_is_rolled_back():
    @poet(optimize_for="accuracy", train={"rollback_window": 3})
    def score(x: float, bias: float = 0.0) -> float:
        return x + bias

    r = score(1.0)
    for _ in range(3):
        feedback(r, 5)
    rec = score.__poet__
    rec.store.write_version(rec.key, params={"bias": 2.0}, reason="manual experiment", evidence={})
    rec.version, rec.params = rec.store.current_version(rec.key), {"bias": 2.0}
    for _ in range(3):
        feedback(score(1.0), 1)
    assert rec.version == 0 or rec.params.get("bias") != 2.0
    assert score(1.0) == 1.0


def _ab_alarm():
    @poet(optimize_for="accuracy", train={"ab_share": 0.5, "rollback_window": 4})
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    feedback(alarm(0.5), {"expected": False})
    feedback(alarm(2.0), {"expected": False})  # wrong at threshold 1.0: a candidate is learned
    return alarm


def _version_of(fn, result):
    from dana_poet.poet.result import execution_id_of

    return fn.__poet__.runtime.find_execution(execution_id_of(result))[1].version


@pytest.mark.parametrize("candidate_wins", [True, False])
def test_ab_candidate_serves_a_share_of_calls_and_is_judged_by_feedback(candidate_wins):
    alarm = _ab_alarm()
    rec = alarm.__poet__
    assert rec.candidate is not None and rec.version == 0, (
        "the learned version is on trial, not current"
    )
    candidate = rec.candidate[0]
    assert {_version_of(alarm, alarm(8.0)) for _ in range(40)} == {0, candidate}
    for _ in range(200):
        r = alarm(1.5)
        on_candidate = _version_of(alarm, r) == candidate
        feedback(r, 5 if on_candidate == candidate_wins else 1)
        if rec.candidate is None:
            break
    assert rec.candidate is None
    if candidate_wins:
        assert rec.version == candidate and alarm(1.5) is False
    else:
        assert rec.version == 0 and alarm(1.5) is True
