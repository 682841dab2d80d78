"""`reason()` and `llm()` against a real OpenAI-protocol server on 127.0.0.1 (no mock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.lang.dana_fixtures import dana_env
from tests.poet.fake_openai import FakeOpenAI, Reply


def _run(directory: Path, source: str, fake: FakeOpenAI) -> subprocess.CompletedProcess[str]:
    (directory / "prog.na").write_text(source, encoding="utf-8")
    env = dana_env(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="test-key")
    env.pop("DANA_MOCK_LLM")
    env.pop("DANA_POET_MODEL", None)
    return subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "prog.na"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_model_name_as_the_second_argument_picks_the_model(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        fake.script(Reply("a haiku"), Reply("7"), Reply("plain"))
        result = _run(
            tmp_path,
            'print(llm("Write a haiku", "model-a"))\n'
            'print(reason("How many?", "model-b") + 1)\n'
            'print(reason("Once more", {"temperature": 0.2}))\n',
            fake,
        )
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a haiku\n8\nplain\n"
    models = [r["body"]["model"] for r in fake.requests]
    assert models == ["model-a", "model-b", "gpt-4o-mini"]
    assert fake.requests[2]["body"]["temperature"] == 0.2
