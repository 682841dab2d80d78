"""The one place POET talks to an LLM: the `openai` client, imported only when used.

Configured by OPENAI_API_KEY, OPENAI_BASE_URL (any compatible server) and
DANA_POET_MODEL. Limits, each a clear error naming the variable when its
value is not valid:

- DANA_POET_LLM_TIMEOUT (seconds, default 30): one deadline for the whole
  model call, connecting, waiting and reading the body included, so a
  server that drips its answer cannot hold a caller longer.
- DANA_POET_LLM_MAX_REPLY (bytes, default 65536): the largest reply body
  accepted. A larger declared Content-Length is refused before reading; a
  body that grows past it while being read is cut off. Nothing is parsed
  before the size is known to be within the limit.
- DANA_POET_LLM_BACKOFF (seconds, default 0.5): the first wait before
  retrying a 429, a 5xx or a failed connection (doubling each time). A
  timeout is not retried, so a slow model costs at most one deadline.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_REPLY = 64 * 1024
DEFAULT_BACKOFF = 0.5
MAX_SECONDS = 86_400.0
"""The largest DANA_POET_LLM_TIMEOUT / _BACKOFF accepted (a day; larger waits overflow the
platform's timers)."""
MAX_REPLY_LIMIT = 100 * 1024 * 1024
"""The largest DANA_POET_LLM_MAX_REPLY accepted."""


class LLMUnavailable(RuntimeError):
    """No answer could be had from the LLM (not configured, timed out, or failing)."""


class LLMConfigError(LLMUnavailable):
    """A DANA_POET_LLM_* variable holds a value that cannot be used."""


class StageAnswer(BaseModel):
    stage_code: str
    notes: str = ""


@dataclass(frozen=True)
class LLMSettings:
    timeout: float
    max_reply: int
    backoff: float


def configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def model_name() -> str:
    return os.environ.get("DANA_POET_MODEL") or "gpt-4o-mini"


_warned: set[str] = set()


def _number(name: str, default: float, *, integer: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = -1
    highest = MAX_REPLY_LIMIT if integer else MAX_SECONDS
    if not 0 < value <= highest:
        kind = (
            f"a positive whole number of bytes up to {MAX_REPLY_LIMIT:,}"
            if integer
            else f"a positive number of seconds up to {MAX_SECONDS:,.0f}"
        )
        message = f"{name} must be {kind}, got {raw!r}"
        if message not in _warned:
            _warned.add(message)
            print(f"dana-poet: warning: {message}; the LLM is not used", file=sys.stderr)
        raise LLMConfigError(message)
    return value


def settings() -> LLMSettings:
    """The LLM limits from the environment; LLMConfigError names a bad variable."""
    return LLMSettings(
        timeout=_number("DANA_POET_LLM_TIMEOUT", DEFAULT_TIMEOUT),
        max_reply=int(_number("DANA_POET_LLM_MAX_REPLY", DEFAULT_MAX_REPLY, integer=True)),
        backoff=_number("DANA_POET_LLM_BACKOFF", DEFAULT_BACKOFF),
    )


class _Retryable(Exception):  # noqa: N818
    pass


def _read_reply(response: Any, limit: int, deadline: float, stop: threading.Event) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise LLMUnavailable(f"the LLM's reply is {int(declared):,} bytes (limit {limit:,})")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise LLMUnavailable(f"the LLM's reply is over {limit:,} bytes (limit {limit:,})")
        if stop.is_set() or time.monotonic() > deadline:
            raise LLMUnavailable("the LLM's reply did not arrive in time")
    return bytes(body)


def _content(body: bytes) -> str:
    try:
        data = json.loads(body)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        raise LLMUnavailable("the LLM's reply is not a chat completion") from None
    return content if isinstance(content, str) else ""


def _one_call(
    client: Any, kwargs: dict[str, Any], conf: LLMSettings, deadline: float, stop: threading.Event
) -> str:
    import openai

    try:
        with client.chat.completions.with_streaming_response.create(**kwargs) as response:
            return _content(_read_reply(response, conf.max_reply, deadline, stop))
    except openai.APITimeoutError:
        raise LLMUnavailable(f"the LLM did not answer within {conf.timeout:g} s") from None
    except openai.APIConnectionError as exc:
        raise _Retryable(f"connection failed: {exc}") from None
    except openai.APIStatusError as exc:
        if exc.status_code == 429 or exc.status_code >= 500:
            raise _Retryable(f"HTTP {exc.status_code}") from None
        raise LLMUnavailable(f"the LLM refused the request (HTTP {exc.status_code})") from None


def _within(deadline: float, conf: LLMSettings, work: Any) -> Any:
    """Run `work(stop)` in a helper thread; give up (and tell it to stop) at the deadline."""
    outcome: dict[str, Any] = {}
    stop = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work(stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="dana-poet-llm", daemon=True)
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0.0))
    if worker.is_alive():
        stop.set()
        raise LLMUnavailable(f"the LLM did not answer within {conf.timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def chat(
    messages: list[dict[str, str]],
    *,
    json_mode: bool = True,
    tries: int = 3,
    backoff: float | None = None,
) -> str:
    """One chat completion's text, within one deadline. Raises LLMUnavailable with the reason."""
    conf = settings()
    import openai

    if backoff is None:
        backoff = conf.backoff
    deadline = time.monotonic() + conf.timeout
    client = openai.OpenAI(
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        timeout=conf.timeout,
        max_retries=0,
    )
    kwargs: dict[str, Any] = {"model": model_name(), "messages": messages, "temperature": 0}
    if json_mode:
        kwargs["response_format"] = {"type": "json_object"}
    last = ""
    try:
        for attempt in range(tries):
            try:
                return _within(
                    deadline, conf, lambda stop: _one_call(client, kwargs, conf, deadline, stop)
                )
            except _Retryable as exc:
                last = str(exc)
            if attempt + 1 < tries:
                wait = backoff * (2**attempt)
                if time.monotonic() + wait >= deadline:
                    raise LLMUnavailable(f"the LLM did not answer within {conf.timeout:g} s")
                time.sleep(wait)
    finally:
        client.close()
    raise LLMUnavailable(f"the LLM failed {tries} times ({last})")


_FENCE = re.compile(r"```(?:json|dana|python)?\s*\n(.*?)```", re.S)


def parse_stage_answer(content: str) -> StageAnswer:
    """The structured answer; a bare fenced code block is accepted too."""
    text = content.strip()
    try:
        return StageAnswer.model_validate(json.loads(text))
    except (ValueError, ValidationError, RecursionError):  # nesting deep enough to recurse out
        pass
    match = _FENCE.search(text)
    if match:
        inner = match.group(1)
        try:
            return StageAnswer.model_validate(json.loads(inner))
        except (ValueError, ValidationError, RecursionError):
            return StageAnswer(stage_code=inner)
    if "def " in text:
        return StageAnswer(stage_code=text)
    raise LLMUnavailable("the LLM's answer holds no stage code")
