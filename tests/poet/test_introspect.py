"""fn.poet, dana_poet.versions(fn), dana_poet.rollback(fn, n)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import dana_poet
from dana_poet import feedback, poet
from dana_poet.poet.introspect import POETIntrospectionError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


def _trained_alarm():  # noqa: ANN202
    @poet(domain="ml_monitoring", optimize_for="accuracy")
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    for v in [0.5, 2.0, 3.5, 5.0, 6.5, 9.0]:
        feedback(alarm(v), {"expected": v > 6.0})
    return alarm


def test_fn_poet_shows_config_identity_version_and_params() -> None:
    @poet(domain="financial_services", retries=3, timeout=2)
    def assess(score: int, cutoff: float = 700.0) -> bool:
        return score >= cutoff

    info = assess.poet
    assert info.name == "assess"
    assert info.config.retries == 3 and info.config.timeout == 2.0
    assert info.config.domain == "financial_services"
    assert "assess" in info.function_id
    assert info.version == 0
    assert info.params == {}
    assert "assess" in repr(info) and "v0" in repr(info)


def test_versions_and_rollback_change_what_the_next_call_uses() -> None:
    alarm = _trained_alarm()
    learned = alarm.poet.version
    assert learned >= 1
    threshold = alarm.poet.params["threshold"]
    assert 5.0 <= threshold < 6.5
    assert alarm(4.0) is False

    listed = dana_poet.versions(alarm)
    assert listed[0].version == 0 and listed[0].reason == "the function as written"
    assert [v.version for v in listed if v.current] == [learned]
    assert listed[-1].params["threshold"] == threshold

    back = dana_poet.rollback(alarm, 0)
    assert back.version == 0 and back.current
    assert alarm.poet.version == 0 and alarm.poet.params == {"threshold": 1.0}
    assert alarm(4.0) is True, "v0 uses the default threshold again"
    assert [v.version for v in dana_poet.versions(alarm) if v.current] == [0]
    assert alarm.poet.versions() == dana_poet.versions(alarm)

    dana_poet.rollback(alarm, learned)
    assert alarm(4.0) is False and alarm.poet.params["threshold"] == threshold


def test_rollback_refuses_unknown_versions_and_non_poet_functions() -> None:
    alarm = _trained_alarm()
    with pytest.raises(
        POETIntrospectionError, match=r"rollback\(alarm, 99\): no such version; known: v0, v1"
    ):
        dana_poet.rollback(alarm, 99)
    with pytest.raises(POETIntrospectionError, match="whole number"):
        dana_poet.rollback(alarm, "v1")  # type: ignore[arg-type]
    with pytest.raises(POETIntrospectionError, match="expected a @poet function"):
        dana_poet.versions(len)


def test_async_functions_have_the_same_introspection() -> None:
    @poet(retries=2)
    async def fetch(n: int) -> int:
        return n

    assert asyncio.run(fetch("3")) == 3
    assert fetch.poet.config.retries == 2
    assert [v.version for v in dana_poet.versions(fetch)] == [0]
