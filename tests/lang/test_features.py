"""Language features, each in a `.na` fixture with asserts inside (tests/lang/fixtures)."""

from __future__ import annotations

import pytest

from tests.lang.dana_fixtures import DANAPATH_DIR, fixture_cases, run_fixture


@pytest.fixture(autouse=True)
def _dana_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANA_MOCK_LLM", "true")
    monkeypatch.setenv("DANAPATH", str(DANAPATH_DIR))


@pytest.mark.parametrize(
    ("fixture", "function"),
    fixture_cases(),
    ids=[f"{f}::{fn}" if fn else f for f, fn in fixture_cases()],
)
def test_fixture(fixture: str, function: str | None) -> None:
    run_fixture(fixture, function)
