"""The one place POET talks to an LLM: the `openai` client, imported only when used.

Configured by OPENAI_API_KEY, OPENAI_BASE_URL (any compatible server) and
DANA_POET_MODEL. Every call has a timeout (DANA_POET_LLM_TIMEOUT, default
30 s). 429, 5xx and connection failures are retried with backoff; a timeout
is not retried, so a slow model costs at most one timeout.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from pydantic import BaseModel, ValidationError


class LLMUnavailable(RuntimeError):
    """No answer could be had from the LLM (not configured, timed out, or failing)."""


class StageAnswer(BaseModel):
    stage_code: str
    notes: str = ""


def configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def model_name() -> str:
    return os.environ.get("DANA_POET_MODEL", "gpt-4o-mini")


def _timeout() -> float:
    try:
        return float(os.environ.get("DANA_POET_LLM_TIMEOUT", "30"))
    except ValueError:
        return 30.0


def chat(
    messages: list[dict[str, str]],
    *,
    json_mode: bool = True,
    tries: int = 3,
    backoff: float | None = None,
) -> str:
    """One chat completion's text. Raises LLMUnavailable with the reason."""
    import openai

    if backoff is None:
        backoff = float(os.environ.get("DANA_POET_LLM_BACKOFF", "0.5"))
    client = openai.OpenAI(
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        timeout=_timeout(),
        max_retries=0,
    )
    kwargs: dict[str, Any] = {"model": model_name(), "messages": messages, "temperature": 0}
    if json_mode:
        kwargs["response_format"] = {"type": "json_object"}
    last = ""
    for attempt in range(tries):
        try:
            response = client.chat.completions.create(**kwargs)
            return response.choices[0].message.content or ""
        except openai.APITimeoutError:
            raise LLMUnavailable(f"the LLM did not answer within {_timeout():g} s") from None
        except openai.APIConnectionError as exc:
            last = f"connection failed: {exc}"
        except openai.APIStatusError as exc:
            last = f"HTTP {exc.status_code}"
            if exc.status_code != 429 and exc.status_code < 500:
                raise LLMUnavailable(f"the LLM refused the request ({last})") from None
        if attempt + 1 < tries:
            time.sleep(backoff * (2**attempt))
    raise LLMUnavailable(f"the LLM failed {tries} times ({last})")


_FENCE = re.compile(r"```(?:json|dana|python)?\s*\n(.*?)```", re.S)


def parse_stage_answer(content: str) -> StageAnswer:
    """The structured answer; a bare fenced code block is accepted too."""
    text = content.strip()
    try:
        return StageAnswer.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        pass
    match = _FENCE.search(text)
    if match:
        inner = match.group(1)
        try:
            return StageAnswer.model_validate(json.loads(inner))
        except (ValueError, ValidationError):
            return StageAnswer(stage_code=inner)
    if "def " in text:
        return StageAnswer(stage_code=text)
    raise LLMUnavailable("the LLM's answer holds no stage code")
