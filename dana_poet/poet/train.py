"""Train: learning signals -> new parameter values -> a new, reversible version.

With labelled feedback (the output was right or wrong, or what was expected)
the learnable parameters are chosen to maximise accuracy over the labelled
executions, by replaying their recorded inputs through the original function
with candidate values. For a threshold this search is exact: the candidates
include every recorded input value and the midpoints between them. With only
directional feedback ("too many false alarms") a bounded step is taken in the
direction the signals point. Each change is written as version N+1 with the
reason and the evidence; a version whose feedback is worse than its
predecessor's over a window is rolled back automatically.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dana_poet.poet.aio import sync_replay

if TYPE_CHECKING:
    from dana_poet.poet.decorator import EnhancedFunction

_UNKNOWN: Any = object()


def expected_output(signal: dict[str, Any], output: Any) -> Any:
    """What the output should have been, or _UNKNOWN when the feedback does not say."""
    if signal.get("expected") is not None:
        return signal["expected"]
    correct = signal.get("correct")
    if correct is True:
        return output
    if correct is False and isinstance(output, bool):
        return not output
    return _UNKNOWN


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b


def _accuracy(
    record: EnhancedFunction, examples: list[tuple[dict[str, Any], Any]], params: dict[str, Any]
) -> float:
    if not examples:
        return 0.0
    hits = 0
    fn = sync_replay(record.original)
    for inputs, expected in examples:
        call = dict(inputs)
        call.update(params)
        try:
            hits += _same(fn(**call), expected)
        except Exception:  # noqa: BLE001 - a candidate that makes the function fail scores a miss
            pass
    return hits / len(examples)


def _candidates(
    record: EnhancedFunction, name: str, examples: list[tuple[dict[str, Any], Any]], current: float
) -> list[float]:
    spec = record.learnable[name]
    values = {current, spec.low, spec.high}
    steps = 80
    for i in range(steps + 1):
        values.add(spec.low + (spec.high - spec.low) * i / steps)
    seen: set[float] = set()
    for inputs, _ in examples:
        for key, v in inputs.items():
            if key in record.learnable or isinstance(v, bool):
                continue
            if isinstance(v, int | float) and math.isfinite(v):
                seen.add(float(v))
    ordered = sorted(seen)
    values.update(ordered)
    values.update((a + b) / 2 for a, b in zip(ordered, ordered[1:], strict=False))
    out = sorted(v for v in values if spec.low <= v <= spec.high)
    if spec.is_int:
        out = sorted({round(v) for v in out})
    return out


def fit_parameters(
    record: EnhancedFunction, examples: list[tuple[dict[str, Any], Any]]
) -> tuple[dict[str, Any], float, float]:
    """Coordinate search for the parameter values that maximise accuracy. Returns (params, before, after)."""
    current = current_params(record)
    before = _accuracy(record, examples, current)
    best = dict(current)
    best_score = before
    for _ in range(2):
        for name in record.learnable:
            for value in _candidates(record, name, examples, float(best[name])):
                trial = dict(best)
                trial[name] = value
                score = _accuracy(record, examples, trial)
                closer = abs(value - current[name]) < abs(best[name] - current[name])
                if score > best_score + 1e-12 or (
                    abs(score - best_score) <= 1e-12 and score > before and closer
                ):
                    best, best_score = trial, score
    best = _centre_thresholds(record, examples, best, best_score)
    return best, before, best_score


def _centre_thresholds(
    record: EnhancedFunction,
    examples: list[tuple[dict[str, Any], Any]],
    params: dict[str, Any],
    score: float,
) -> dict[str, Any]:
    """Move each parameter to the middle of the interval of values that keep the best score."""
    out = dict(params)
    for name in record.learnable:
        values = _candidates(record, name, examples, float(out[name]))
        good = [
            v for v in values if abs(_accuracy(record, examples, {**out, name: v}) - score) <= 1e-12
        ]
        if not good:
            continue
        # keep the contiguous run containing the chosen value
        idx = min(range(len(good)), key=lambda i: abs(good[i] - out[name]))
        lo = hi = idx
        all_vals = values
        pos = {v: i for i, v in enumerate(all_vals)}
        while lo > 0 and pos.get(good[lo - 1], -2) == pos[good[lo]] - 1:
            lo -= 1
        while hi < len(good) - 1 and pos.get(good[hi + 1], -2) == pos[good[hi]] + 1:
            hi += 1
        spec = record.learnable[name]
        # a run that touches a bound is open on that side: stay near the evidence instead
        low_v, high_v = good[lo], good[hi]
        if high_v >= spec.high and low_v > spec.low:
            target = low_v
        elif low_v <= spec.low and high_v < spec.high:
            target = high_v
        else:
            target = (low_v + high_v) / 2
        out[name] = round(target) if spec.is_int else target
    return out


def current_params(record: EnhancedFunction) -> dict[str, Any]:
    values = {
        name: (round(p.default) if p.is_int else p.default) for name, p in record.learnable.items()
    }
    values.update(record.params)
    return values


def _directional_step(record: EnhancedFunction, hints: dict[str, list[str]]) -> dict[str, Any]:
    current = current_params(record)
    out = dict(current)
    for name, directions in hints.items():
        if name not in record.learnable or not directions:
            continue
        spec = record.learnable[name]
        ups = directions.count("increase")
        downs = directions.count("decrease")
        if ups == downs:
            continue
        step = 0.05 * (spec.high - spec.low) * (1 if ups > downs else -1)
        value = min(spec.high, max(spec.low, current[name] + step))
        out[name] = round(value) if spec.is_int else value
    return out


def _llm_proposal(
    record: EnhancedFunction, hints: dict[str, list[str]]
) -> tuple[dict[str, Any], str] | None:
    """With an LLM configured, let it propose parameter values from the feedback; admitted
    only when every value is a number inside the parameter's bounds."""
    import json

    from dana_poet.poet import llm

    if not llm.configured():
        return None
    current = current_params(record)
    bounds = {n: [p.low, p.high] for n, p in record.learnable.items()}
    messages = [
        {
            "role": "system",
            "content": "You tune the numeric parameters of a function from user feedback. "
            'Answer with JSON only: {"params": {name: number}, "reason": "<one line>"}.',
        },
        {
            "role": "user",
            "content": json.dumps(
                {
                    "function": record.name,
                    "objective": record.config.optimize_for,
                    "current": current,
                    "bounds": bounds,
                    "feedback_directions": hints,
                }
            ),
        },
    ]
    try:
        answer = json.loads(llm.chat(messages))
        proposed = answer["params"]
        reason = str(answer.get("reason", ""))[:200]
    except (llm.LLMUnavailable, ValueError, KeyError, TypeError):
        return None
    if not isinstance(proposed, dict) or not proposed:
        return None
    out = dict(current)
    for name, value in proposed.items():
        spec = record.learnable.get(name)
        if spec is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not (spec.low <= value <= spec.high) or not math.isfinite(value):
            return None
        out[name] = round(value) if spec.is_int else float(value)
    return out, f"LLM proposal from directional feedback: {reason}"


def _sentiment_by_version(record: EnhancedFunction) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for fb in record.store.feedback_for(record.key):
        execution = record.store.get_execution(fb.execution_id)
        version = execution.version if execution is not None else 0
        out.setdefault(version, []).append(float(fb.signal.get("sentiment", 0.0)))
    return out


def maybe_rollback(record: EnhancedFunction, window: int) -> int | None:
    """Roll back to the previous version when the current one's feedback is worse over `window` items."""
    if record.version < 1:
        return None
    scores = _sentiment_by_version(record)
    mine = scores.get(record.version, [])[-window:]
    previous_versions = [v for v in scores if v < record.version]
    if len(mine) < window or not previous_versions:
        return None
    prev = max(previous_versions)
    theirs = scores[prev][-window:]
    if not theirs or sum(mine) / len(mine) >= sum(theirs) / len(theirs):
        return None
    target = prev
    record.store.set_current(record.key, target)
    info = record.store.read_version(record.key, target) if target > 0 else None
    record.version = target
    record.params = dict(info.params) if info is not None else {}
    return target


def maybe_train(record: EnhancedFunction) -> int | None:
    """Run after feedback arrives. Returns the new version number when parameters changed."""
    train = record.config.train or {}
    if train.get("policy", "on_feedback") == "manual":
        return None
    window = int(train.get("rollback_window", 5))
    if record.candidate is not None:
        return judge_candidate(record, window)
    rolled = maybe_rollback(record, window)
    if rolled is not None:
        return rolled
    store = record.store
    examples: list[tuple[dict[str, Any], Any]] = []
    hints: dict[str, list[str]] = {}
    for fb in store.feedback_for(record.key):
        execution = store.get_execution(fb.execution_id)
        if execution is None:
            continue
        expected = expected_output(fb.signal, execution.output)
        inputs = {k: v for k, v in (execution.inputs or {}).items() if k not in record.learnable}
        if expected is not _UNKNOWN:
            examples.append((inputs, expected))
        elif execution.version == record.version:
            for name, direction in (fb.signal.get("parameter_hints") or {}).items():
                hints.setdefault(name, []).append(direction)
    current = current_params(record)
    if examples:
        params, before, after = fit_parameters(record, examples)
        if after <= before + 1e-12:
            return None  # nothing learned that the current parameters do not already do
        reason = (
            f"labelled feedback: accuracy {before:.2f} -> {after:.2f} on {len(examples)} executions"
        )
        evidence = {"labelled": len(examples), "accuracy_before": before, "accuracy_after": after}
    elif hints:
        proposal = _llm_proposal(record, hints)
        if proposal is not None:
            params, reason = proposal
            evidence = {"hints": hints, "proposed_by": "llm"}
        else:
            params = _directional_step(record, hints)
            reason = "directional feedback: " + ", ".join(
                f"{k} {max(set(v), key=v.count)}" for k, v in hints.items()
            )
            evidence = {"hints": hints}
    else:
        return None
    if all(_same(params[k], current[k]) for k in params):
        return None
    previous = store.read_version(record.key, record.version) if record.version else None
    ab_share = float(train.get("ab_share", 0.0))
    version = store.write_version(
        record.key,
        params={k: params[k] for k in record.learnable},
        reason=reason,
        evidence={**evidence, "previous": current, "previous_version": record.version},
        enhanced_source=previous.enhanced_source if previous is not None else None,
        metadata={"cache_key": previous.metadata.get("cache_key")}
        if previous is not None
        else None,
        make_current=ab_share <= 0,
    )
    new_params = {k: params[k] for k in record.learnable}
    if ab_share > 0:
        record.candidate = (version, new_params)  # on trial: a share of calls uses it
        return version
    record.version = version
    record.params = new_params
    return version


def judge_candidate(record: EnhancedFunction, window: int) -> int | None:
    """A/B: once both versions have `window` feedback items, promote the candidate if its
    mean sentiment is better, otherwise drop it. Returns the version now current."""
    assert record.candidate is not None
    candidate_version, candidate_params = record.candidate
    scores = _sentiment_by_version(record)
    mine = scores.get(candidate_version, [])[-window:]
    theirs = scores.get(record.version, [])[-window:]
    if len(mine) < window or len(theirs) < window:
        return None
    record.candidate = None
    if sum(mine) / len(mine) > sum(theirs) / len(theirs):
        record.store.set_current(record.key, candidate_version)
        record.version, record.params = candidate_version, candidate_params
    return record.version
