"""`reason()` and `llm()`: the language's LLM calls.

`DANA_MOCK_LLM=true` answers deterministically offline. Otherwise the
`openai` client is imported on first use and talks to `OPENAI_BASE_URL` (any
OpenAI-compatible server) with `OPENAI_API_KEY` and `DANA_POET_MODEL`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import types
import typing
from typing import Any

_MODEL: dict[str, str] = {}

_TYPE_INSTRUCTIONS = {
    int: "Return ONLY the final integer number, nothing else.",
    float: "Return ONLY the final decimal number, nothing else.",
    bool: "Respond with a clear yes/no decision: answer only yes or no.",
    list: "Return ONLY a valid JSON array.",
    dict: "Return ONLY a valid JSON object.",
    str: "Give a clear, direct answer.",
}

_POST_PROCESS_BOOL = {
    "yes": True,
    "true": True,
    "correct": True,
    "right": True,
    "valid": True,
    "ok": True,
    "okay": True,
    "1": True,
    "no": False,
    "false": False,
    "wrong": False,
    "0": False,
}


def set_model(name: str | None = None) -> str:
    """Choose the model `reason()` uses; without a name, the model currently in use."""
    if name is not None:
        _MODEL["name"] = str(name)
    return current_model()


def current_model() -> str:
    return _MODEL.get("name") or os.environ.get("DANA_POET_MODEL", "gpt-4o-mini")


def offline() -> bool:
    """True in mock mode or when no LLM is configured."""
    mock = os.environ.get("DANA_MOCK_LLM", "").strip().lower() in {"1", "true", "yes", "on"}
    return mock or not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def _mock_enabled(options: dict[str, Any]) -> bool:
    if options.get("use_mock"):
        return True
    return os.environ.get("DANA_MOCK_LLM", "").strip().lower() in {"1", "true", "yes", "on"}


def _mentions(low: str, *words: str) -> bool:
    return all(w in low for w in words)


def _mock_number(low: str, target: Any) -> str | None:
    if target is int or "integer number" in low:
        if _mentions(low, "planet", "solar system"):
            return "8"
        if _mentions(low, "days", "week"):
            return "7"
        if _mentions(low, "days", "year"):
            return "365"
        return "42"
    if target is float or "decimal number" in low:
        if re.search(r"\bpi\b", low):
            return "3.14159"
        if "temperature" in low and ("body" in low or "human" in low):
            return "37.0"
        return "3.14"
    return None


def _mock_collection(low: str, target: Any) -> str | None:
    if target is dict or "json object" in low:
        if "moon" in low:
            return '{"diameter_km": 3474.8, "distance_from_earth_km": 384400}'
        if "mars" in low:
            return '{"diameter_km": 6779, "mass_kg": 6.42e23, "orbital_period_days": 687}'
        return '{"result": "mock", "status": "ok"}'
    if target is list or "json array" in low:
        if "planet" in low and ("first 4" in low or "4 planets" in low or "four" in low):
            return '["Mercury", "Venus", "Earth", "Mars"]'
        if "primary colors" in low or "primary colours" in low:
            return '["red", "yellow", "blue"]'
        return '["item1", "item2", "item3"]'
    return None


_MOCK_TOPICS = (
    (("capital", "france"), "Paris"),
    (
        ("machine learning",),
        "Machine learning is the part of AI in which programs improve "
        "at a task by learning patterns from data instead of following hand-written rules.",
    ),
    (
        ("sky", "blue"),
        "The sky looks blue because air molecules scatter blue sunlight more "
        "than red light (Rayleigh scattering).",
    ),
    (("weather",), "I am an offline mock and cannot see today's weather."),
    (("days", "year"), "A year has 365 days, or 366 in a leap year."),
)

_MOCK_SUMS = ((r"\b2\s*\+\s*2\b", "4"), (r"\b5\s*\*\s*3\b", "15"), (r"\b10\s*\+\s*20\b", "30"))


def mock_answer(prompt: str, target: Any = None) -> str:
    """The deterministic offline answer for a prompt (and an optional target type): typed
    prompts get a value of the type (a few well-known questions get their real answer),
    untyped prompts a short text."""
    low = prompt.lower()
    answer = _mock_number(low, target)
    if answer is not None:
        return answer
    if target is bool or "yes/no" in low:
        positive = ("invest", "renewable", "proceed", "continue", "approve")
        return "yes" if any(w in low for w in positive) else "no"
    answer = _mock_collection(low, target)
    if answer is not None:
        return answer
    for pattern, result in _MOCK_SUMS:
        if re.search(pattern, low):
            return result
    for words, text in _MOCK_TOPICS:
        if _mentions(low, *words):
            return text
    if re.search(r"\bpi\b", low):
        return "Pi is about 3.14159: a circle's circumference divided by its diameter."
    return (
        "This is a mock response. In a real scenario, I would provide a thoughtful answer to: "
        f"{prompt[:100]}..."
    )


def _complete(prompt: str, options: dict[str, Any]) -> str:
    import openai  # lazy: only programs that call an LLM pay for it

    if not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL"):
        raise RuntimeError(
            "LLM call failed: no LLM is configured (set OPENAI_API_KEY, or DANA_MOCK_LLM=true for offline answers)"
        )
    client = openai.OpenAI(
        api_key=os.environ.get("OPENAI_API_KEY", "not-needed"),
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        timeout=float(os.environ.get("DANA_LLM_TIMEOUT", "60")),
        max_retries=2,
    )
    messages: list[Any] = []
    if options.get("system_message"):
        messages.append({"role": "system", "content": str(options["system_message"])})
    messages.append({"role": "user", "content": prompt})
    response = client.chat.completions.create(
        model=str(options.get("model") or current_model()),
        messages=messages,
        temperature=float(options.get("temperature", 0.7)),
        max_tokens=options.get("max_tokens"),
    )
    return response.choices[0].message.content or ""


def _mock_field(annotation: Any) -> Any:
    """A placeholder value of the field's type, so mock answers build valid structs."""
    base = typing.get_origin(annotation) or annotation
    table = {str: "mock", int: 42, float: 3.14, bool: True, list: [], dict: {}, tuple: [], set: []}
    if base in table:
        return table[base]
    fields = getattr(base, "__dana_fields__", None)
    if fields:
        return {name: _mock_field(t) for name, t in fields.items()}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _mock_field(typing.get_args(annotation)[0])
    return None


def _post_process(answer: str) -> Any:
    text = answer.strip()
    low = text.lower()
    if low in _POST_PROCESS_BOOL:
        return _POST_PROCESS_BOOL[low]
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?\d*\.\d+([eE][-+]?\d+)?", text):
        return float(text)
    return answer


def reason(prompt: Any, options: Any = None, **kwargs: Any) -> Any:
    """Ask the LLM; typed assignments pass `_dana_type` so the answer fits the target."""
    target = kwargs.pop("_dana_type", None)
    opts = _options(options)
    opts.update(kwargs)
    text = str(prompt)
    if not text.strip():
        raise ValueError("reason(): the prompt is empty")
    base = typing.get_origin(target) or target
    if base in _TYPE_INSTRUCTIONS:
        text = f"{text}\n\n{_TYPE_INSTRUCTIONS[base]}"
    fields = getattr(base, "__dana_fields__", None)
    if fields:
        schema = {name: getattr(t, "__name__", str(t)) for name, t in fields.items()}
        text = f"{text}\n\nReturn ONLY a valid JSON object with these fields: {json.dumps(schema)}"
    if fields and _mock_enabled(opts):
        answer = json.dumps({name: _mock_field(t) for name, t in fields.items()})
    else:
        answer = mock_answer(text, base) if _mock_enabled(opts) else _complete(text, opts)
    if opts.get("format") == "json":
        return _json_or_text(answer)
    if fields:
        from dana_poet.lang.runtime import struct_from_json

        return struct_from_json(answer, base)
    if target is not None:
        return answer
    return _post_process(answer)


def _json_or_text(answer: str) -> Any:
    """`format="json"`: the parsed answer (code fences stripped), or, when the answer is not
    JSON, the text itself with a warning on stderr, as the reference does."""
    from dana_poet.lang.runtime import strip_fences

    try:
        return json.loads(strip_fences(answer))
    except ValueError:
        print(f"Warning: could not parse the LLM answer as JSON: {answer[:100]}", file=sys.stderr)
        return answer


def _options(options: Any) -> dict[str, Any]:
    """The options of a call: a dict, or a model name (`llm(prompt, "gpt-4o")`)."""
    if isinstance(options, str):
        return {"model": options}
    return dict(options or {})


def llm(prompt: Any, options: Any = None, **kwargs: Any) -> str:
    opts = _options(options)
    opts.update(kwargs)
    text = str(prompt)
    return mock_answer(text) if _mock_enabled(opts) else _complete(text, opts)
