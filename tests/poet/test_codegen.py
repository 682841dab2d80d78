"""Stage code generation: templates offline, the LLM chain against a real local HTTP server."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from dana_poet.poet.codegen import (
    FunctionSpec,
    ParamSpec,
    generate_stage_code,
    template_stage_code,
    validate_stage_code,
)
from tests.poet.fake_openai import FakeOpenAI, Reply, stage_json

SPEC = FunctionSpec(
    name="assess",
    params=(ParamSpec("score", "int"), ParamSpec("income", "float")),
    returns="str",
    docstring=None,
    source='def assess(score: int, income: float) -> str:\n    return "approved"\n',
    domain="financial_services",
    config={"domain": "financial_services"},
)

GOOD = """def perceive(score, income):
    return {"score": coerce(score, "score"), "income": coerce(income, "income")}

def enforce(result, score, income):
    result = check_output(result)
    if result not in ["approved", "declined", "text"]:
        fail("allowed_values", "unexpected decision")
    return result
"""
NOT_DANA = "def perceive(score, income)\n    return {}\n"
UNSAFE_IMPORT = (
    'import os.py\ndef perceive(score, income):\n    return {"score": score, "income": income}\n'
)
UNSAFE_OPEN = 'def perceive(score, income):\n    open("/etc/passwd")\n    return {"score": score, "income": income}\n'
UNSAFE_DUNDER = 'def perceive(score, income):\n    k = score.__class__\n    return {"score": score, "income": income}\n'
FAILS_SMOKE = 'def perceive(score, income):\n    return {"score": score}\n'
PYTHON_GOOD = 'def perceive(score, income):\n    return {"score": coerce(score, "score"), "income": coerce(income, "income")}\n'


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    fake = FakeOpenAI()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("DANA_POET_MODEL", "scripted-model")
    monkeypatch.setenv("DANA_POET_LLM_BACKOFF", "0.01")
    yield fake
    fake.close()


def test_template_is_valid_and_deterministic():
    source = template_stage_code(SPEC)
    assert source == template_stage_code(SPEC)
    assert validate_stage_code(source, SPEC) == []
    assert 'coerce(score, "score")' in source and "check_output(result)" in source


def test_offline_generation_and_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    first = generate_stage_code(SPEC, cache_dir=tmp_path)
    assert first.metadata["generator"] == "template-v1" and first.metadata["cache"] == "miss"
    second = generate_stage_code(SPEC, cache_dir=tmp_path)
    assert second.metadata["cache"] == "hit" and second.source == first.source


def test_damaged_cache_entry_is_regenerated_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    first = generate_stage_code(SPEC, cache_dir=tmp_path)
    (tmp_path / f"{first.metadata['cache_key']}.json").write_text("{broken")
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        again = generate_stage_code(SPEC, cache_dir=tmp_path)
    assert again.source == first.source


def test_llm_good_code_is_accepted(server, tmp_path):
    server.script(Reply(stage_json(GOOD)))
    code = generate_stage_code(SPEC, cache_dir=tmp_path)
    assert code.language == "dana" and code.source == GOOD
    assert code.metadata["generator"] == "llm:scripted-model"
    assert code.metadata["fallback_used"] is None and code.metadata["attempts"] == 1
    body = server.requests[0]["body"]
    assert body["model"] == "scripted-model"
    assert "def assess" in body["messages"][1]["content"]
    again = generate_stage_code(SPEC, cache_dir=tmp_path)
    assert again.metadata["cache"] == "hit" and len(server.requests) == 1


def test_code_that_does_not_parse_gets_one_repair_round(server):
    server.script(Reply(stage_json(NOT_DANA)), Reply(stage_json(GOOD)))
    code = generate_stage_code(SPEC)
    assert code.source == GOOD and code.metadata["attempts"] == 2
    repair = server.requests[1]["body"]["messages"][-1]["content"]
    assert "parse error" in repair and "expected ':'" in repair


@pytest.mark.parametrize(
    ("unsafe", "reason"),
    [(UNSAFE_IMPORT, "imports"), (UNSAFE_OPEN, "'open'"), (UNSAFE_DUNDER, "__class__")],
)
def test_unsafe_code_is_refused_and_the_chain_falls_back(server, unsafe, reason):
    server.script(
        Reply(stage_json(unsafe)), Reply(stage_json(unsafe)), Reply(stage_json("import os\n"))
    )
    code = generate_stage_code(SPEC)
    assert code.metadata["fallback_used"] == "template"
    assert code.language == "dana" and code.source == template_stage_code(SPEC)
    assert any(reason in e for e in code.metadata["errors"]), code.metadata["errors"]
    assert len(server.requests) == 3


def test_smoke_test_failure_then_python_fallback(server):
    server.script(
        Reply(stage_json(FAILS_SMOKE)),
        Reply(stage_json(FAILS_SMOKE)),
        Reply(stage_json(PYTHON_GOOD)),
    )
    code = generate_stage_code(SPEC)
    assert code.language == "python" and code.metadata["fallback_used"] == "python"
    assert any("smoke test" in e for e in code.metadata["errors"])


def test_a_slow_reply_times_out_and_falls_back(server, monkeypatch):
    monkeypatch.setenv("DANA_POET_LLM_TIMEOUT", "0.5")
    server.script(Reply(stage_json(GOOD), delay=5))
    started = time.monotonic()
    code = generate_stage_code(SPEC)
    assert time.monotonic() - started < 4
    assert code.metadata["fallback_used"] == "template"
    assert any("did not answer within 0.5 s" in e for e in code.metadata["errors"])


def test_429_is_retried(server):
    server.script(Reply(status=429), Reply(stage_json(GOOD)))
    code = generate_stage_code(SPEC)
    assert code.source == GOOD and len(server.requests) == 2


def test_500s_exhaust_the_retries_then_template(server):
    server.script(Reply(status=500), Reply(status=500), Reply(status=500))
    code = generate_stage_code(SPEC)
    assert code.metadata["fallback_used"] == "template"
    assert any("HTTP 500" in e for e in code.metadata["errors"])
    assert len(server.requests) == 3


def _generate(cache_dir: str, n: int) -> None:
    import os

    os.environ.pop("OPENAI_API_KEY", None)
    os.environ.pop("OPENAI_BASE_URL", None)
    spec = FunctionSpec(
        f"f{n % 3}",
        (ParamSpec("x", "int"),),
        "int",
        None,
        f"def f{n % 3}(x: int) -> int:\n    return x\n",
    )
    for _ in range(5):
        generate_stage_code(spec, cache_dir=Path(cache_dir))


def test_several_processes_share_one_cache(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_generate, args=(str(tmp_path), n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    entries = [p for p in tmp_path.glob("*.json") if p.name != "stats.json"]
    assert len(entries) == 3
    for entry in entries:
        assert "def perceive" in json.loads(entry.read_text())["source"]
    assert not list(tmp_path.glob("*.tmp"))


def test_feedback_text_is_read_by_the_llm_when_configured(server):
    from dana_poet.poet.feedback import translate_feedback

    server.script(
        Reply(
            json.dumps(
                {
                    "sentiment": -0.7,
                    "kind": "accuracy",
                    "confidence": 0.9,
                    "correct": False,
                    "parameter_hints": {"threshold": "increase", "bogus": "increase"},
                    "key_issues": ["false positive"],
                }
            )
        )
    )
    signal = translate_feedback(
        "meh, that one was noise", output=True, parameters={"threshold": 10.0}
    )
    assert signal.source == "llm" and signal.correct is False
    assert signal.parameter_hints == {"threshold": "increase"}
    sent = json.loads(server.requests[0]["body"]["messages"][1]["content"])
    assert sent["feedback"] == "meh, that one was noise" and sent["output"] is True


def test_invalid_llm_signal_falls_back_to_the_rules(server):
    from dana_poet.poet.feedback import translate_feedback

    server.script(Reply(json.dumps({"sentiment": 7, "kind": "vibes"})))
    signal = translate_feedback("too many false alarms", output=True, parameters={"threshold": 1.0})
    assert signal.source == "rules" and signal.correct is False


def test_llm_proposes_parameters_within_bounds(server, tmp_path, monkeypatch):
    from dana_poet import feedback, poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))

    @poet(optimize_for="accuracy")
    def alarm(value: float, threshold: float = 10.0) -> bool:
        return value > threshold

    r = alarm(12.0)
    server.script(
        Reply(
            json.dumps(
                {
                    "sentiment": -0.8,
                    "kind": "accuracy",
                    "confidence": 0.9,
                    "parameter_hints": {"threshold": "increase"},
                }
            )
        ),
        Reply(
            json.dumps({"params": {"threshold": 15.0}, "reason": "raise it above the false alarms"})
        ),
    )
    feedback(r, "these alerts are noise")
    rec = alarm.__poet__
    assert rec.params == {"threshold": 15.0}
    assert "LLM proposal" in rec.store.read_version(rec.key, rec.version).reason
    server.script(
        Reply(
            json.dumps(
                {
                    "sentiment": -0.8,
                    "kind": "accuracy",
                    "confidence": 0.9,
                    "parameter_hints": {"threshold": "increase"},
                }
            )
        ),
        Reply(json.dumps({"params": {"threshold": 1e9}})),
    )
    feedback(alarm(16.0), "still noisy")
    assert rec.params["threshold"] < 1e9, (
        "an out-of-bounds proposal is refused; a bounded step is taken instead"
    )
