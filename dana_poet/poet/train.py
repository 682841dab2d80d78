"""Train: learning signals -> new parameter values -> a new, reversible version.

The cost of one feedback does not grow with the history behind it:

- Labelled feedback (the output was right or wrong, or what it should have
  been) adds one example to a bounded window: the newest `train.window`
  (default 1000) distinct labelled inputs; a newer label for the same inputs
  replaces the older one.
- Each example is *profiled* once per learnable parameter: the original
  function is replayed on a fixed grid over the parameter's bounds (plus the
  example's own numeric inputs and the floats next to them), and every change of
  correctness between two neighbouring probes is bisected down to adjacent
  floats. The result is the set of closed intervals of the parameter where the
  example comes out right.
  Profiles are stored with the example, so they are computed once, not once
  per feedback.
- The fit reads a coverage index per parameter (poet/coverage.py): the interval
  ends of the window's profiles, kept sorted with counts as examples join and
  leave (O(log W) each), so a fit is two running sums and a maximum (O(W) in C
  loops, no sorting, no replays). The best segment nearest the current value
  wins; its middle is chosen (or its inner end when it runs into a bound). A new
  version is written only when the window's accuracy strictly improves.
- Refits are debounced exactly: when the current parameters were optimal for
  the window and the new example is right under them (and nothing left the
  window), they are still optimal, so the sweep is skipped and the example is
  profiled only when a later sweep needs it.

With only directional feedback ("too many false alarms") a bounded step is
taken in the direction the signals point. A version whose feedback is worse
than its predecessor's over `rollback_window` items is rolled back.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import marshal
import math
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dana_poet.poet.aio import sync_replay
from dana_poet.poet.coverage import CoverageIndex
from dana_poet.poet.errors import POETConfigError

if TYPE_CHECKING:
    from dana_poet.poet.config import POETConfig
    from dana_poet.poet.decorator import EnhancedFunction

_UNKNOWN: Any = object()

GRID_STEPS = 80  # probes per parameter: GRID_STEPS + 1 points over the bounds
BISECT_LIMIT = 64  # halvings per change of correctness (reaches adjacent floats first)
INT_EXHAUSTIVE = 200  # integer parameters with at most this many values are probed at each
RECENT_FEEDBACK = 512  # feedback items read back (rollback, hints) when a process starts

Interval = tuple[float, float]


# ------------------------------------------------------------------ what is learnable


@dataclass
class LearnableParam:
    name: str
    default: float
    low: float
    high: float
    is_int: bool


def learnable_params(
    function: str, signature: inspect.Signature, config: POETConfig
) -> dict[str, LearnableParam]:
    """The parameters Train may change, checked against the signature (POETConfigError if not).

    With `optimize_for`, `enable_training` or `train={"params": [...]}`, the parameters
    with a numeric default (all of them, or the listed ones) are learnable; bounds come
    from `train={"bounds": ...}` or default to [0, 11 x default] ([-10x, +10x] below 0).
    """
    train = config.train
    wanted = train.params
    if not (config.optimize_for or wanted or config.enable_training):
        return {}
    where = f"@poet on {function}()"
    numeric = {
        p.name: p
        for p in signature.parameters.values()
        if p.default is not p.empty
        and not isinstance(p.default, bool)
        and isinstance(p.default, int | float)
    }
    known = ", ".join(numeric) or "none"
    for name in wanted or ():
        if name not in numeric:
            what = (
                "is not a parameter"
                if name not in signature.parameters
                else ("has no numeric default")
            )
            raise POETConfigError(
                f"{where}: train['params'] names {name!r}, which {what} of {function}(); "
                f"learnable are parameters with a numeric default: {known}",
                function=function,
                value=name,
            )
    chosen = [n for n in numeric if wanted is None or n in wanted]
    for name in train.bounds:
        if name not in chosen:
            raise POETConfigError(
                f"{where}: train['bounds'] names {name!r}, which is not a learnable parameter "
                f"of {function}() (learnable: {', '.join(chosen) or 'none'})",
                function=function,
                value=name,
            )
    out: dict[str, LearnableParam] = {}
    for name in chosen:
        default = float(numeric[name].default)
        if name in train.bounds:
            low, high = train.bounds[name]
            if not low <= default <= high:
                raise POETConfigError(
                    f"{where}: the default {name}={numeric[name].default!r} is outside "
                    f"train['bounds'][{name!r}]=[{low!r}, {high!r}]",
                    function=function,
                    value=numeric[name].default,
                )
        else:
            span = abs(default) if default else 1.0
            low, high = default - 10 * span, default + 10 * span
            if default >= 0:
                low = 0.0
        out[name] = LearnableParam(name, default, low, high, isinstance(numeric[name].default, int))
    return out


# ------------------------------------------------------------------ labels


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


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return {"$struct": type(value).__name__, **_canonical(value.to_dict())}
    return {"$repr": repr(value)}


def example_key(inputs: dict[str, Any]) -> str:
    """Identity of a labelled example: a hash of its inputs (learnable parameters excluded)."""
    blob = json.dumps(_canonical(inputs), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# ------------------------------------------------------------------ sweep


def best_segments(profiles: Iterable[list[Interval]]) -> tuple[int, list[Interval]]:
    """The largest number of examples right at one value, and the segments where it is reached.

    Each profile is a list of disjoint closed intervals where one example is right.
    Built from scratch here; Train keeps a `CoverageIndex` per parameter up to date instead.
    """
    index = CoverageIndex()
    index.add_many((str(i), list(intervals)) for i, intervals in enumerate(profiles))
    return index.best()


def count_at(profiles: Iterable[list[Interval]], value: float) -> int:
    """How many examples are right at `value`."""
    count = 0
    for intervals in profiles:
        for low, high in intervals:
            if low <= value <= high:
                count += 1
                break
    return count


def choose_in_segments(
    segments: list[Interval], current: float, low: float, high: float, steps: int = GRID_STEPS
) -> float:
    """A value in the best segment nearest the current value.

    A segment that runs into a bound is open on that side: its inner end is taken
    (the value next to the evidence). Otherwise the middle of the grid points
    (bounds / `steps`) inside the segment, so a learned value sits on a fixed lattice
    rather than on a data-dependent float; the exact middle when no two grid points fit.
    """

    def distance(seg: Interval) -> tuple[float, float]:
        a, b = seg
        gap = 0.0 if a <= current <= b else min(abs(a - current), abs(b - current))
        return gap, a

    a, b = min(segments, key=distance)
    if b >= high and a > low:
        return a
    if a <= low and b < high:
        return b

    def grid(i: int) -> float:
        return low + (high - low) * i / steps

    first = max(0, math.ceil((a - low) / (high - low) * steps) - 1)
    while first <= steps and grid(first) < a:
        first += 1
    last = min(steps, math.floor((b - low) / (high - low) * steps) + 1)
    while last >= 0 and grid(last) > b:
        last -= 1
    if last > first:
        return grid(first) + (grid(last) - grid(first)) / 2
    return a + (b - a) / 2


# ------------------------------------------------------------------ profiles


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _probe_points(spec: Any, inputs: dict[str, Any]) -> list[float]:
    low, high = spec.low, spec.high
    if spec.is_int:
        lo, hi = math.ceil(low), math.floor(high)
        if hi - lo <= INT_EXHAUSTIVE:
            return [float(v) for v in range(lo, hi + 1)]
    points = {low + (high - low) * i / GRID_STEPS for i in range(GRID_STEPS + 1)}
    points.update((low, high))
    for value in inputs.values():
        if _number(value) and math.isfinite(value) and low <= value <= high:
            points.add(float(value))
            if not spec.is_int:
                # a comparison with an input changes its answer right at the input: probing
                # the neighbouring floats finds that change without bisecting towards it
                points.add(max(low, math.nextafter(float(value), -math.inf)))
                points.add(min(high, math.nextafter(float(value), math.inf)))
    if spec.is_int:
        points = {float(round(v)) for v in points if low <= round(v) <= high}
    return sorted(points)


def _midpoint(a: float, b: float, is_int: bool) -> float | None:
    if is_int:
        m = float(math.floor((a + b) / 2))
        return m if a < m < b else None
    m = a + (b - a) / 2
    return m if a < m < b else None


def profile_example(
    evaluate: Callable[[float], tuple[bool, int]],
    spec: Any,
    inputs: dict[str, Any],
) -> list[Interval]:
    """Closed intervals of the parameter where `evaluate` says the example is right.

    `evaluate(value)` returns (right, side): side is the sign of output - expected for
    numbers (0 otherwise), so an exact numeric answer between two probes is found too.
    """
    points = [(x, *evaluate(x)) for x in _probe_points(spec, inputs)]
    refined: list[tuple[float, bool]] = [(points[0][0], points[0][1])]
    for (x0, ok0, side0), (x1, ok1, side1) in zip(points, points[1:], strict=False):
        if ok0 != ok1:
            a, b = x0, x1
            for _ in range(BISECT_LIMIT):
                m = _midpoint(a, b, spec.is_int)
                if m is None:
                    break
                if evaluate(m)[0] == ok0:
                    a = m
                else:
                    b = m
            refined.append((a, ok0))
            refined.append((b, ok1))
        elif not ok0 and side0 and side1 and side0 != side1:
            a, b = x0, x1
            for _ in range(BISECT_LIMIT):
                m = _midpoint(a, b, spec.is_int)
                if m is None:
                    break
                ok, side = evaluate(m)
                if ok:
                    refined.append((m, True))
                    break
                if side == side0:
                    a = m
                else:
                    b = m
        refined.append((x1, ok1))
    intervals: list[Interval] = []
    run_start: float | None = None
    last = refined[0][0]
    for x, ok in refined:
        if ok and run_start is None:
            run_start = x
        elif not ok and run_start is not None:
            intervals.append((run_start, last))
            run_start = None
        last = x
    if run_start is not None:
        intervals.append((run_start, last))
    return intervals


# ------------------------------------------------------------------ state


@dataclass
class Example:
    """One labelled execution in the window."""

    key: str
    execution_id: str
    expected: Any
    inputs: dict[str, Any] | None  # None until needed when loaded from the store
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # param -> {fp, intervals}


@dataclass
class TrainState:
    """What Train keeps per function between feedbacks (bounded in every part)."""

    window_size: int
    rollback_window: int
    code_fingerprint: str
    replay: Callable[..., Any]  # the original function, callable from sync code (async too)
    window: OrderedDict[str, Example] = field(default_factory=OrderedDict)
    sentiments: dict[int, deque[float]] = field(default_factory=dict)
    hints: dict[int, dict[str, Counter[str]]] = field(default_factory=dict)
    optimal_for: dict[str, Any] | None = None  # parameters known optimal for the window
    mark: tuple[float, str] | None = None  # the newest feedback item read from the store
    replays: int = 0  # replays of the original function (profiling and checks), for tests
    sweeps: int = 0
    unsaved: set[str] = field(default_factory=set)  # examples whose new profiles are not stored
    unwritten: dict[str, None] = field(default_factory=dict)  # new to the window, in order
    indexes: dict[str, CoverageIndex] = field(default_factory=dict)  # per learnable parameter
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, example: Example) -> None:
        """Put an example at the newest end of the window (the indexes profile it lazily)."""
        self.window[example.key] = example
        for index in self.indexes.values():
            index.pending.add(example.key)

    def leave(self, key: str) -> Example | None:
        """Take an example out of the window and out of every index."""
        example = self.window.pop(key, None)
        for index in self.indexes.values():
            index.discard(key)
        return example

    def add_sentiment(self, version: int, sentiment: float) -> None:
        bucket = self.sentiments.get(version)
        if bucket is None:
            bucket = self.sentiments[version] = deque(maxlen=self.rollback_window)
        bucket.append(sentiment)

    def add_hints(self, version: int, hints: dict[str, str]) -> None:
        counters = self.hints.setdefault(version, {})
        for name, direction in hints.items():
            counters.setdefault(name, Counter())[direction] += 1


def _code_fingerprint(fn: Any) -> str:
    """Changes when the function's code or its source file changes (profiles go stale)."""
    digest = hashlib.sha256()
    code = getattr(fn, "__code__", None)
    if code is not None:
        try:
            digest.update(marshal.dumps(code))
        except ValueError:
            digest.update(repr(code).encode())
        try:
            with open(code.co_filename, "rb") as handle:
                digest.update(handle.read())
        except OSError:
            pass
    else:
        digest.update(repr(fn).encode())
    return digest.hexdigest()[:16]


def _param_fingerprint(state: TrainState, spec: Any, others: dict[str, Any]) -> str:
    blob = json.dumps(
        [
            state.code_fingerprint,
            spec.name,
            spec.low,
            spec.high,
            spec.is_int,
            sorted(others.items()),
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _loaded_profiles(stored: Any) -> dict[str, dict[str, Any]]:
    """Profiles as stored (JSON lists) back to intervals; anything malformed is dropped."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(stored, dict):
        return out
    for name, entry in stored.items():
        try:
            intervals = [(float(a), float(b)) for a, b in entry["intervals"]]
            if not all(math.isfinite(a) and math.isfinite(b) and a <= b for a, b in intervals):
                continue
            out[name] = {"fp": str(entry["fp"]), "intervals": intervals}
        except (TypeError, ValueError, KeyError):
            continue
    return out


def state_of(record: EnhancedFunction, *, skip: str | None = None) -> TrainState:
    """The function's train state, loaded from the store on first use (bounded reads).

    The window comes from the stored examples (newest `window`); sentiments and hints
    from the newest RECENT_FEEDBACK feedback items. `skip` is a feedback id the caller
    is about to apply itself.
    """
    state: TrainState | None = getattr(record, "train_state", None)
    if state is not None:
        return state
    train = record.config.train
    state = TrainState(
        train.window,
        train.rollback_window,
        _code_fingerprint(record.original),
        sync_replay(record.original),
    )
    store = record.store
    for row in reversed(store.train_examples(record.key, limit=state.window_size)):
        state.window[row.key] = Example(
            row.key, row.execution_id, row.expected, None, _loaded_profiles(row.profiles)
        )
    seed = not state.window  # a store written before examples were kept: seed from feedback
    for fb, execution in store.recent_feedback(record.key, limit=RECENT_FEEDBACK):
        state.mark = (fb.created, fb.feedback_id)
        if fb.feedback_id != skip and execution is not None:
            _absorb(record, state, execution, fb.signal, examples=seed)
    record.train_state = state
    return state


# ------------------------------------------------------------------ fitting


def current_params(record: EnhancedFunction) -> dict[str, Any]:
    values = {
        name: (round(p.default) if p.is_int else p.default) for name, p in record.learnable.items()
    }
    values.update(record.params)
    return values


def _replay(
    record: EnhancedFunction, state: TrainState, inputs: dict[str, Any], params: dict[str, Any]
) -> Any:
    state.replays += 1
    return state.replay(**{**inputs, **params})


def _judge(output: Any, expected: Any) -> tuple[bool, int]:
    if _same(output, expected):
        return True, 0
    if _number(output) and _number(expected):
        try:
            return False, 1 if output > expected else -1
        except TypeError:
            return False, 0
    return False, 0


def _inputs_of(record: EnhancedFunction, example: Example) -> dict[str, Any] | None:
    if example.inputs is None:
        execution = record.store.get_execution(example.execution_id)
        if execution is None:
            return None
        example.inputs = {
            k: v for k, v in (execution.inputs or {}).items() if k not in record.learnable
        }
    return example.inputs


def _profile(
    record: EnhancedFunction,
    state: TrainState,
    example: Example,
    name: str,
    others: dict[str, Any],
    fingerprint: str,
) -> list[Interval]:
    """The example's intervals for parameter `name` with the others at `others` (cached)."""
    cached = example.profiles.get(name)
    if cached is not None and cached.get("fp") == fingerprint:
        return cached["intervals"]  # type: ignore[no-any-return]
    inputs = _inputs_of(record, example)
    if inputs is None:
        return []
    spec = record.learnable[name]
    expected = example.expected

    def evaluate(value: float) -> tuple[bool, int]:
        try:
            output = _replay(record, state, inputs, {**others, name: _cast(spec, value)})
        except Exception:  # noqa: BLE001 - a value that makes the function fail is a wrong answer
            return False, 0
        return _judge(output, expected)

    intervals = profile_example(evaluate, spec, inputs)
    example.profiles[name] = {"fp": fingerprint, "intervals": intervals}
    state.unsaved.add(example.key)
    return intervals


def _cast(spec: Any, value: float) -> Any:
    return round(value) if spec.is_int else value


def _coverage(
    record: EnhancedFunction, state: TrainState, name: str, others: dict[str, Any]
) -> CoverageIndex:
    """The parameter's index over the window, brought up to date: only the examples that
    joined since the last fit are profiled and counted in (all of them when the others'
    values, the code or the bounds changed, which makes every profile stale)."""
    fingerprint = _param_fingerprint(state, record.learnable[name], others)
    index = state.indexes.get(name)
    if index is None or index.fingerprint != fingerprint:
        index = state.indexes[name] = CoverageIndex(fingerprint)
        waiting: Iterable[str] = list(state.window)
    else:
        waiting = list(index.pending)
    index.add_many(
        (key, _profile(record, state, state.window[key], name, others, fingerprint))
        for key in waiting
        if key in state.window
    )
    index.pending.clear()
    return index


def fit_window(record: EnhancedFunction, state: TrainState) -> tuple[dict[str, Any], int, int]:
    """Coordinate sweeps over the window. Returns (params, right before, right after)."""
    state.sweeps += 1
    current = current_params(record)
    best = dict(current)
    before = after = -1
    passes = 1 if len(record.learnable) == 1 else 3
    for _ in range(passes):
        changed = False
        for name, spec in record.learnable.items():
            others = {k: v for k, v in best.items() if k != name}
            index = _coverage(record, state, name, others)
            here = index.count_at(float(best[name]))
            if before < 0:
                before = here
            top, segments = index.best()
            after = here
            if top > here and segments:
                best[name] = _cast(
                    spec, choose_in_segments(segments, float(best[name]), spec.low, spec.high)
                )
                after = top
                changed = True
        if not changed:
            break
    return best, max(before, 0), max(after, 0)


def _right_now(
    record: EnhancedFunction, state: TrainState, example: Example, execution: Any
) -> bool:
    """Is the example right under the current parameters? (its own output when it ran with them)"""
    current = current_params(record)
    used = {n: (round(p.default) if p.is_int else p.default) for n, p in record.learnable.items()}
    used.update({k: v for k, v in (execution.params or {}).items() if k in current})
    used.update({k: v for k, v in (execution.inputs or {}).items() if k in current})
    if all(_same(used.get(k), v) for k, v in current.items()):
        return _same(execution.output, example.expected)
    try:
        inputs = example.inputs or {}
        return _same(_replay(record, state, inputs, current), example.expected)
    except Exception:  # noqa: BLE001 - the function failing is a wrong answer
        return False


def _add_example(
    record: EnhancedFunction,
    state: TrainState,
    execution: Any,
    signal: dict[str, Any],
) -> tuple[Example, bool] | None:
    """Put a labelled execution into the window. Returns (example, window_changed_otherwise).

    The example is written to the store once its feedback is applied (`_save_profiles`),
    with whatever profiles the decision computed for it.
    """
    expected = expected_output(signal, execution.output)
    if expected is _UNKNOWN:
        return None
    inputs = {k: v for k, v in (execution.inputs or {}).items() if k not in record.learnable}
    key = example_key(inputs)
    old = state.leave(key)
    example = Example(key, execution.execution_id, expected, inputs)
    removed = old is not None
    if old is not None and _same(old.expected, expected):
        example.profiles = old.profiles  # same inputs, same label: the same profile
        removed = False
    state.enter(example)
    while len(state.window) > state.window_size:
        state.leave(next(iter(state.window)))
        removed = True
    state.unwritten.pop(key, None)
    state.unwritten[key] = None
    return example, removed


# ------------------------------------------------------------------ directional feedback


def _directional_step(record: EnhancedFunction, hints: dict[str, Counter[str]]) -> dict[str, Any]:
    current = current_params(record)
    out = dict(current)
    for name, directions in hints.items():
        if name not in record.learnable:
            continue
        spec = record.learnable[name]
        ups, downs = directions["increase"], directions["decrease"]
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


# ------------------------------------------------------------------ versions


def maybe_rollback(record: EnhancedFunction, state: TrainState) -> int | None:
    """Roll back to the previous version when the current one's feedback is worse over the window."""
    if record.version < 1:
        return None
    window = state.rollback_window
    mine = state.sentiments.get(record.version, ())
    previous_versions = [v for v, s in state.sentiments.items() if v < record.version and s]
    if len(mine) < window or not previous_versions:
        return None
    theirs = state.sentiments[max(previous_versions)]
    if sum(mine) / len(mine) >= sum(theirs) / len(theirs):
        return None
    target = max(previous_versions)
    record.store.set_current(record.key, target)
    info = record.store.read_version(record.key, target) if target > 0 else None
    record.version = target
    record.params = dict(info.params) if info is not None else {}
    return target


def judge_candidate(record: EnhancedFunction, state: TrainState) -> int | None:
    """A/B: once both versions have `rollback_window` feedback items, promote the candidate if
    its mean sentiment is better, otherwise drop it. Returns the version now current."""
    assert record.candidate is not None
    candidate_version, candidate_params = record.candidate
    window = state.rollback_window
    mine = state.sentiments.get(candidate_version, ())
    theirs = state.sentiments.get(record.version, ())
    if len(mine) < window or len(theirs) < window:
        return None
    record.candidate = None
    if sum(mine) / len(mine) > sum(theirs) / len(theirs):
        record.store.set_current(record.key, candidate_version)
        record.version, record.params = candidate_version, candidate_params
    return record.version


def _publish(
    record: EnhancedFunction,
    params: dict[str, Any],
    reason: str,
    evidence: dict[str, Any],
) -> int:
    current = current_params(record)
    store = record.store
    previous = store.read_version(record.key, record.version) if record.version else None
    ab_share = record.config.train.ab_share
    new_params = {k: params[k] for k in record.learnable}
    version = store.write_version(
        record.key,
        params=new_params,
        reason=reason,
        evidence={**evidence, "previous": current, "previous_version": record.version},
        enhanced_source=previous.enhanced_source if previous is not None else None,
        metadata={"cache_key": previous.metadata.get("cache_key")}
        if previous is not None
        else None,
        make_current=ab_share <= 0,
        reuse_current=True,  # processes that learned the same at once share one version
    )
    if ab_share > 0:
        record.candidate = (version, new_params)  # on trial: a share of calls uses it
        return version
    record.version = version
    record.params = new_params
    return version


def learn(
    record: EnhancedFunction,
    execution: Any,
    signal: dict[str, Any],
    feedback_id: str | None = None,
) -> int | None:
    """Apply one feedback just stored (`feedback_id`). Returns the version now in effect
    when it changed. Costs a bounded amount of work whatever the history."""
    state = state_of(record, skip=feedback_id)
    with state.lock:
        try:
            added = _absorb(record, state, execution, signal)
            return _decide(record, state, execution, added)
        finally:
            _save_profiles(record, state)


def maybe_train(record: EnhancedFunction) -> int | None:
    """Catch up with feedback stored since the last call (at most RECENT_FEEDBACK items),
    then decide once: for callers that batch feedback, such as the service."""
    state = state_of(record)
    with state.lock:
        try:
            added = last = None
            count = 0
            for fb, execution in record.store.recent_feedback(
                record.key, limit=RECENT_FEEDBACK, after=state.mark
            ):
                state.mark = (fb.created, fb.feedback_id)
                if execution is not None:
                    added, last, count = (
                        _absorb(record, state, execution, fb.signal),
                        execution,
                        count + 1,
                    )
            if last is None:
                return None
            if count > 1:
                state.optimal_for = None  # several changes at once: the debounce proof needs one
            return _decide(record, state, last, added)
        finally:
            _save_profiles(record, state)


def _save_profiles(record: EnhancedFunction, state: TrainState) -> None:
    """Write the examples that joined the window and the profiles computed since last time."""
    store = record.store
    for key in state.unwritten:
        example = state.window.get(key)
        if example is not None:
            store.put_train_example(
                record.key, key, example.execution_id, example.expected, example.profiles
            )
    state.unsaved -= state.unwritten.keys()
    state.unwritten.clear()
    if not state.unsaved:
        return
    profiles = {key: state.window[key].profiles for key in state.unsaved if key in state.window}
    state.unsaved.clear()
    store.update_train_profiles(record.key, profiles)


def _absorb(
    record: EnhancedFunction,
    state: TrainState,
    execution: Any,
    signal: dict[str, Any],
    *,
    examples: bool = True,
) -> tuple[Example, bool] | None:
    """Count one feedback into the state: its sentiment, its label or its hints."""
    state.add_sentiment(execution.version, float(signal.get("sentiment", 0.0)))
    if expected_output(signal, execution.output) is _UNKNOWN:
        state.add_hints(execution.version, signal.get("parameter_hints") or {})
        return None
    if not examples:
        return None
    return _add_example(record, state, execution, signal)


def _decide(
    record: EnhancedFunction,
    state: TrainState,
    execution: Any,
    added: tuple[Example, bool] | None,
) -> int | None:
    if record.config.train.policy == "manual":
        return None
    if record.candidate is not None:
        return judge_candidate(record, state)
    rolled = maybe_rollback(record, state)
    if rolled is not None:
        state.optimal_for = None
        return rolled
    current = current_params(record)
    if state.window:
        if added is not None:
            example, removed = added
            if (
                not removed
                and state.optimal_for == current
                and _right_now(record, state, example, execution)
            ):
                return None  # still optimal: nothing to refit
        elif state.optimal_for == current:
            return None
        params, before, after = fit_window(record, state)
        n = len(state.window)
        state.optimal_for = dict(params) if after > before else dict(current)
        if after <= before:
            return None  # nothing learned that the current parameters do not already do
        reason = (
            f"labelled feedback: accuracy {before / n:.2f} -> {after / n:.2f} on {n} executions"
        )
        evidence: dict[str, Any] = {
            "labelled": n,
            "accuracy_before": before / n,
            "accuracy_after": after / n,
        }
    else:
        hints = state.hints.get(record.version, {})
        if not any(hints.values()):
            return None
        listed = {k: list(c.elements()) for k, c in hints.items() if c}
        proposal = _llm_proposal(record, listed)
        if proposal is not None:
            params, reason = proposal
            evidence = {"hints": listed, "proposed_by": "llm"}
        else:
            params = _directional_step(record, hints)
            reason = "directional feedback: " + ", ".join(
                f"{k} {c.most_common(1)[0][0]}" for k, c in hints.items() if c
            )
            evidence = {"hints": listed}
    if all(params[k] == current[k] for k in params):
        return None
    version = _publish(record, params, reason, evidence)
    if record.candidate is None:
        state.optimal_for = dict(record.params) if state.window else None
    return version
