"""Any feedback -> a typed LearningSignal.

Offline, rules read the payload: free text (with negation: "not good" is
negative, "no false alarms today" is positive), numbers on the scale they are
written in, bools, dicts such as `{"correct": false, "expected": ...}` and
lists of any of these. With an LLM configured the same model is filled by the
LLM instead (poet/llm.py), validated the same way.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from dana_poet.poet.errors import POETFeedbackError

Kind = Literal["accuracy", "performance", "usability", "error", "suggestion", "label"]


class LearningSignal(BaseModel):
    sentiment: float = Field(ge=-1.0, le=1.0)
    kind: Kind
    confidence: float = Field(ge=0.0, le=1.0)
    correct: bool | None = None
    expected: Any = None
    parameter_hints: dict[str, Literal["increase", "decrease"]] = {}
    key_issues: list[str] = []
    suggestions: list[str] = []
    source: Literal["rules", "llm"] = "rules"
    raw: Any = None


_POSITIVE = {
    "good",
    "great",
    "excellent",
    "correct",
    "right",
    "accurate",
    "perfect",
    "helpful",
    "useful",
    "nice",
    "fine",
    "ok",
    "okay",
    "love",
    "works",
    "working",
    "spot",
    "thanks",
    "awesome",
    "fast",
}
_NEGATIVE = {
    "bad",
    "wrong",
    "incorrect",
    "inaccurate",
    "terrible",
    "awful",
    "useless",
    "broken",
    "poor",
    "missed",
    "miss",
    "slow",
    "confusing",
    "crash",
    "crashed",
    "error",
    "fails",
    "failed",
    "annoying",
    "noisy",
    "worse",
    "hate",
    "false",
}
_NEGATORS = {
    "not",
    "no",
    "never",
    "n't",
    "hardly",
    "without",
    "isn't",
    "wasn't",
    "don't",
    "didn't",
    "aren't",
    "zero",
}

_FALSE_POSITIVE = re.compile(
    r"false (alarm|positive)s?|too (many|sensitive)|over[- ]?flag|spurious|noisy alerts?|cry(ing)? wolf|should(n't| not) (have )?(flag|alert|trigger)",
    re.I,
)
_FALSE_NEGATIVE = re.compile(
    r"false negatives?|missed|miss(es|ing)?\b|didn't (catch|flag|detect)|not sensitive enough|too (few|lenient)|should have (flagged|caught|alerted)",
    re.I,
)
_PERFORMANCE = re.compile(r"slow|latency|took too long|timeout|timed out|fast", re.I)
_USABILITY = re.compile(r"confus|unclear|hard to (read|use|understand)|format", re.I)
_ERROR = re.compile(r"crash|exception|error|broke|fails?\b|failed", re.I)
_SUGGEST = re.compile(r"\b(should|try|consider|maybe|suggest|could|would be better)\b", re.I)
_PARAM_HINT = re.compile(
    r"(\w+)\s+(?:is\s+|was\s+|seems\s+)?(too\s+(high|low|big|small|large|strict|loose))", re.I
)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?|n't", text.lower())


def _text_sentiment(text: str) -> float:
    words = _tokens(text)
    score = 0.0
    for i, w in enumerate(words):
        polarity = 1.0 if w in _POSITIVE else -1.0 if w in _NEGATIVE else 0.0
        if not polarity:
            continue
        window = words[max(0, i - 3) : i]
        if any(n in _NEGATORS or n.endswith("n't") for n in window):
            polarity = -polarity
        score += polarity
    return max(-1.0, min(1.0, score / 2.0))


def _threshold_names(parameters: dict[str, float] | None) -> list[str]:
    names = list(parameters or {})
    preferred = [
        n for n in names if re.search(r"thresh|cutoff|limit|min|max|level|sensitiv", n, re.I)
    ]
    return preferred or names


def _from_text(text: str, output: Any, parameters: dict[str, float] | None) -> LearningSignal:
    stripped = text.strip()
    if not stripped:
        raise POETFeedbackError("feedback(): the feedback text is empty", value=text)
    lowered = stripped.lower()
    sentiment = _text_sentiment(stripped)
    kind: Kind = "accuracy"
    correct: bool | None = None
    hints: dict[str, Literal["increase", "decrease"]] = {}
    issues: list[str] = []
    suggestions: list[str] = []
    negated_fp = re.search(r"\b(no|zero|without)\s+false (alarm|positive)s?", lowered)
    if _FALSE_POSITIVE.search(lowered) and not negated_fp:
        issues.append("false positive")
        sentiment = min(sentiment, -0.6)
        if isinstance(output, bool) and output:
            correct = False
        for name in _threshold_names(parameters)[:1]:
            hints[name] = "increase"
    elif negated_fp:
        sentiment = max(sentiment, 0.6)
        correct = True if isinstance(output, bool) else None
    elif _FALSE_NEGATIVE.search(lowered):
        issues.append("false negative")
        sentiment = min(sentiment, -0.6)
        if isinstance(output, bool) and not output:
            correct = False
        for name in _threshold_names(parameters)[:1]:
            hints[name] = "decrease"
    elif _ERROR.search(lowered) and sentiment <= 0:
        kind = "error"
        issues.append("error")
        sentiment = min(sentiment, -0.5)
    elif _PERFORMANCE.search(lowered):
        kind = "performance"
        if re.search(r"slow|too long|timeout|timed out", lowered):
            issues.append("slow")
            sentiment = min(sentiment, -0.4)
    elif _USABILITY.search(lowered):
        kind = "usability"
        issues.append("hard to use")
        sentiment = min(sentiment, -0.3)
    for m in _PARAM_HINT.finditer(stripped):
        name, word = m.group(1), m.group(3).lower()
        target = name if parameters and name in parameters else None
        if target is None and parameters:
            target = next((p for p in parameters if name.lower() in p.lower()), None)
        if target:
            hints[target] = "decrease" if word in ("high", "big", "large", "strict") else "increase"
    if _SUGGEST.search(lowered):
        suggestions.append(stripped)
        if kind == "accuracy" and not issues and sentiment == 0:
            kind = "suggestion"
    if correct is None and kind == "accuracy" and abs(sentiment) >= 0.5 and not issues:
        correct = sentiment > 0
    confidence = 0.8 if issues or hints else min(0.9, 0.3 + abs(sentiment) * 0.6)
    return LearningSignal(
        sentiment=sentiment,
        kind=kind,
        confidence=confidence,
        correct=correct,
        parameter_hints=hints,
        key_issues=issues,
        suggestions=suggestions,
        raw=text,
    )


def _from_number(value: float) -> LearningSignal:
    """Ratings on the scale they are written in: -1..1, 0..1, 1..5 stars, 0..10."""
    if -1.0 <= value < 0.0:
        sentiment = value
    elif isinstance(value, float) and 0.0 <= value <= 1.0:
        sentiment = value * 2 - 1
    elif 1 <= value <= 5 and float(value).is_integer():
        sentiment = (value - 3) / 2
    elif 0 <= value <= 10:
        sentiment = (value - 5) / 5
    elif 0 <= value <= 100:
        sentiment = (value - 50) / 50
    else:
        raise POETFeedbackError(
            f"feedback(): cannot read the rating {value!r} (use -1..1, 0..1, 1-5, 0-10 or 0-100)",
            value=value,
        )
    return LearningSignal(
        sentiment=max(-1.0, min(1.0, sentiment)), kind="accuracy", confidence=0.6, raw=value
    )


def _from_dict(
    payload: dict[str, Any], output: Any, parameters: dict[str, float] | None
) -> LearningSignal:
    keys = {str(k).lower(): v for k, v in payload.items()}
    parts: list[LearningSignal] = []
    correct = keys.get("correct", keys.get("is_correct", keys.get("accurate")))
    expected = keys.get("expected", keys.get("label", keys.get("should_be")))
    if isinstance(correct, bool):
        parts.append(
            LearningSignal(
                sentiment=0.8 if correct else -0.8,
                kind="label" if expected is not None else "accuracy",
                confidence=0.95,
                correct=correct,
            )
        )
    for key in ("rating", "score", "stars"):
        if isinstance(keys.get(key), int | float) and not isinstance(keys.get(key), bool):
            parts.append(_from_number(keys[key]))
    for key in ("comment", "text", "feedback", "note", "message"):
        if isinstance(keys.get(key), str) and keys[key].strip():
            parts.append(_from_text(keys[key], output, parameters))
    if expected is not None and not parts:
        right = expected == output
        parts.append(
            LearningSignal(
                sentiment=0.8 if right else -0.8, kind="label", confidence=0.95, correct=right
            )
        )
    if not parts:
        raise POETFeedbackError(
            f"feedback(): the dict has none of the keys dana-poet reads (correct, expected, label, rating, score, comment): {sorted(keys)}",
            value=payload,
        )
    merged = _combine(parts)
    merged.expected = expected
    if isinstance(correct, bool):
        merged.correct = correct
    elif expected is not None:
        merged.correct = expected == output
    if expected is not None:
        merged.kind = "label"
    merged.raw = payload
    return merged


def _combine(parts: list[LearningSignal]) -> LearningSignal:
    weight = sum(p.confidence for p in parts) or 1.0
    sentiment = sum(p.sentiment * p.confidence for p in parts) / weight
    strongest = max(parts, key=lambda p: p.confidence)
    hints: dict[str, Literal["increase", "decrease"]] = {}
    for p in parts:
        hints.update(p.parameter_hints)
    corrects = [p.correct for p in parts if p.correct is not None]
    return LearningSignal(
        sentiment=max(-1.0, min(1.0, sentiment)),
        kind=strongest.kind,
        confidence=max(p.confidence for p in parts),
        correct=corrects[-1] if corrects else None,
        expected=next((p.expected for p in parts if p.expected is not None), None),
        parameter_hints=hints,
        key_issues=[i for p in parts for i in p.key_issues],
        suggestions=[s for p in parts for s in p.suggestions],
    )


_LLM_INSTRUCTIONS = """You turn user feedback about one output of a function into a learning signal.
Answer with JSON only, with these keys: sentiment (-1..1), kind (one of accuracy, performance,
usability, error, suggestion, label), confidence (0..1), correct (true, false or null: was the
output right?), expected (the right output when the feedback says it, else null),
parameter_hints (object: parameter name -> "increase" or "decrease"), key_issues (list of
short strings), suggestions (list of strings)."""


def translate_with_llm(
    payload: Any, *, output: Any = None, parameters: dict[str, float] | None = None
) -> LearningSignal:
    """The LLM fills the LearningSignal (validated); raises LLMUnavailable when it cannot."""
    import json

    from pydantic import ValidationError

    from dana_poet.poet import llm

    request = {"feedback": payload, "output": output, "learnable_parameters": parameters or {}}
    messages = [
        {"role": "system", "content": _LLM_INSTRUCTIONS},
        {"role": "user", "content": json.dumps(request, default=str)},
    ]
    content = llm.chat(messages)
    try:
        data = json.loads(content)
        data = {
            k: v
            for k, v in data.items()
            if k in LearningSignal.model_fields and k not in ("source", "raw")
        }
        hints = data.get("parameter_hints") or {}
        data["parameter_hints"] = {
            k: v for k, v in hints.items() if not parameters or k in parameters
        }
        return LearningSignal(**data, source="llm", raw=payload)
    except (ValueError, TypeError, ValidationError) as exc:
        raise llm.LLMUnavailable(f"the LLM's learning signal was not valid: {exc}") from None


def translate_feedback(
    payload: Any, *, output: Any = None, parameters: dict[str, float] | None = None
) -> LearningSignal:
    """Read feedback in any form. Raises POETFeedbackError for payloads that say nothing.

    Free text goes to the LLM when one is configured (the rules take over if it
    fails); numbers, bools and labelled dicts are read by rules, which are exact for them.
    """
    if isinstance(payload, LearningSignal):
        return payload
    if isinstance(payload, str) and payload.strip():
        from dana_poet.poet import llm

        if llm.configured():
            try:
                return translate_with_llm(payload, output=output, parameters=parameters)
            except llm.LLMUnavailable:
                pass
    if isinstance(payload, bool):
        return LearningSignal(
            sentiment=0.8 if payload else -0.8,
            kind="accuracy",
            confidence=0.9,
            correct=payload,
            raw=payload,
        )
    if isinstance(payload, int | float):
        return _from_number(payload)
    if isinstance(payload, str):
        return _from_text(payload, output, parameters)
    if isinstance(payload, dict):
        return _from_dict(payload, output, parameters)
    if isinstance(payload, list | tuple):
        if not payload:
            raise POETFeedbackError("feedback(): the feedback list is empty", value=payload)
        signal = _combine(
            [translate_feedback(p, output=output, parameters=parameters) for p in payload]
        )
        signal.raw = list(payload)
        return signal
    if payload is None:
        raise POETFeedbackError("feedback(): no feedback was given", value=payload)
    raise POETFeedbackError(
        f"feedback(): cannot read feedback of type {type(payload).__name__}", value=payload
    )
