"""One decorated function's state: who it is, its config, its current version and parameters.

`EnhancedFunction` is what the runtime registers by id, what `fn.__poet__`
holds, what Train updates and what the per-call steps (poet/orchestrate.py)
read. Loading the current version (skipping damaged or invalid ones) and
publishing the stage code as a version on the first call live here too,
because both only change this state.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dana_poet.poet.config import POETConfig
from dana_poet.poet.identity import FunctionIdentity
from dana_poet.poet.train import LearnableParam
from dana_poet.poet.warn import warn

if TYPE_CHECKING:
    from dana_poet.poet.recorder import ExecutionLog
    from dana_poet.poet.runtime import POETRuntime
    from dana_poet.poet.store.base import Store


@dataclass
class EnhancedFunction:
    """Everything POET knows about one decorated function."""

    name: str
    identity: FunctionIdentity
    original: Any
    config: POETConfig
    signature: inspect.Signature
    runtime: POETRuntime
    learnable: dict[str, LearnableParam] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    candidate: tuple[int, dict[str, Any]] | None = None  # A/B: (version, params) on trial
    stage_meta: dict[str, Any] = field(default_factory=dict)
    train_state: Any = None  # poet/train.py's TrainState, loaded on the first feedback
    published: bool = False
    stage_code: str | None = None
    operator: Any = None  # its circuit breaker is per function (dana_poet.testing resets it)
    log: ExecutionLog | None = None  # executions not yet handed to the store (poet/recorder.py)
    skips_warned: set[tuple[tuple[int, str], ...]] = field(default_factory=set, repr=False)
    _store: Store | None = None

    @property
    def function_id(self) -> str:
        return self.identity.id

    @property
    def key(self) -> str:
        """The id everything is stored under (the function id)."""
        return self.identity.id

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self.runtime.store_for(self.identity.root)
        return self._store

    def flush_executions(self) -> None:
        """Hand every execution recorded so far to the store."""
        if self.log is not None:
            self.log.flush()


def _valid_params(record: EnhancedFunction, params: dict[str, Any]) -> str | None:
    """Why saved parameters cannot be used (type or bounds), or None when they can."""
    for name, value in params.items():
        spec = record.learnable.get(name)
        if spec is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name}={value!r} is not a number"
        if spec.is_int and float(value) != int(value):
            return f"{name}={value!r} is not an integer"
        if not (spec.low <= value <= spec.high):
            return f"{name}={value!r} is outside its bounds [{spec.low}, {spec.high}]"
    return None


def load_current_params(record: EnhancedFunction) -> None:
    """The current version's parameters; damaged or invalid versions are skipped, with one
    warning naming each and its cause, and the newest good version before them is used
    (v0: the defaults)."""
    store = record.store
    version = store.current_version(record.key)
    skipped: list[tuple[int, str]] = []
    while version > 0:
        info = store.read_version(record.key, version)
        problem = info.problem or _valid_params(record, info.params)
        if problem is None:
            record.version = version
            record.params = {k: v for k, v in info.params.items() if k in record.learnable}
            break
        skipped.append((version, problem))
        version -= 1
    else:
        record.version, record.params = 0, {}
    if skipped:
        _warn_skipped(record, skipped)


def _warn_skipped(record: EnhancedFunction, skipped: list[tuple[int, str]]) -> None:
    """One warning for the versions a load skipped (newest first); the same skip is not
    reported again for this function (a reload after the first call's publish)."""
    key = tuple(skipped)
    if key in record.skips_warned:
        return
    record.skips_warned.add(key)
    groups: list[list[Any]] = []  # [newest, oldest, problem] of runs sharing one problem
    for version, problem in skipped:
        if groups and groups[-1][2] == problem and groups[-1][1] == version + 1:
            groups[-1][1] = version
        else:
            groups.append([version, version, problem])
    described = ", ".join(
        (f"v{new}" if new == old else f"v{old}-v{new}") + f" ({problem})"
        for new, old, problem in groups
    )
    using = f"v{record.version}" if record.version else "v0 (the function as written)"
    warn(f"{record.function_id}: skipping {described}; using {using}")


def publish_stage_version(record: EnhancedFunction) -> None:
    """On the first call: publish the stage code as a version unless the current one has it."""
    record.published = True
    key = record.stage_meta.get("cache_key")
    if not key:
        return
    version = record.store.publish_if_changed(
        record.key,
        cache_key=str(key),
        params=dict(record.params),
        reason=f"stage code generated by {record.stage_meta.get('generator')}",
        enhanced_source=record.stage_code,
        metadata={k: v for k, v in record.stage_meta.items() if k not in ("cache", "cache_dir")},
    )
    if version != record.version:
        if record.learnable:
            load_current_params(record)
        else:
            record.version = version
