"""dana_poet.testing: instant waits, temporary stores, deterministic ids, all put back after."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dana_poet import feedback, poet
from dana_poet.poet.errors import POETCircuitOpenError
from dana_poet.testing import TestMode, poet_test_mode

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


def test_backoff_waits_are_instant_and_do_not_use_up_the_timeout() -> None:
    calls: list[float] = []

    @poet(retries=5, backoff_base=30, backoff_max=30, jitter="none", timeout=60)
    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 6:
            raise ConnectionError("blip")
        return "ok"

    with poet_test_mode():
        assert flaky() == "ok"
    assert len(calls) == 6
    assert calls[-1] - calls[0] < 25, "five 30 s waits did not happen"


def test_ids_are_deterministic_and_stores_temporary(tmp_path: Path) -> None:
    @poet(optimize_for="accuracy")
    def flag(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    with poet_test_mode() as mode:
        first, second = flag(0.5), flag(2.0)
        feedback(second, {"expected": False})
        assert [e.execution_id for e in mode.executions(flag)] == ["xtest-1", "xtest-2"]
        assert mode.execution_ids() == ["xtest-1", "xtest-2"]
        assert flag.poet.version >= 1, "training ran inside test mode"
        assert first is False
    assert not (tmp_path / ".dana" / "poet").exists() or not any(
        (tmp_path / ".dana" / "poet").rglob("*flag*")
    ), "nothing was written to the project's store"
    assert flag.poet.version == 0, "what was learned in test mode is gone"
    with poet_test_mode() as mode:
        flag(3.0)
        assert mode.execution_ids() == ["xtest-1"], "each block starts counting again"


def test_learned_state_outside_is_put_back() -> None:
    @poet(optimize_for="accuracy")
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    for v in [0.5, 2.0, 3.0, 8.0]:
        feedback(alarm(v), {"expected": v > 5})
    learned = alarm.poet.version
    threshold = alarm.poet.params["threshold"]
    assert learned >= 1
    with poet_test_mode():
        assert alarm.poet.version == 0 and alarm.poet.params == {"threshold": 1.0}
        assert alarm(2.0) is True
    assert alarm.poet.version == learned and alarm.poet.params["threshold"] == threshold


def test_circuit_breakers_start_closed_and_are_put_back() -> None:
    @poet(retries=0, circuit_threshold=1, circuit_cooldown=600)
    def down() -> None:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        down()
    with pytest.raises(POETCircuitOpenError):
        down()
    with poet_test_mode():
        with pytest.raises(RuntimeError):
            down()
    with pytest.raises(POETCircuitOpenError):
        down()


def test_the_pytest_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from dana_poet import poet
        from dana_poet.testing import TestMode

        @poet(retries=3, backoff_base=50, backoff_max=50, jitter="none")
        def fetch(n: int) -> int:
            fetch.calls += 1
            if fetch.calls < 3:
                raise ConnectionError("blip")
            return n

        fetch.calls = 0

        def test_uses_it(poet_test_mode):
            assert isinstance(poet_test_mode, TestMode)
            assert fetch("4") == 4
            assert poet_test_mode.execution_ids() == ["xtest-1"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)


def test_test_mode_object_is_not_collected() -> None:
    assert TestMode.__test__ is False
