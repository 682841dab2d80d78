"""The one store interface POET uses, embedded (SQLite, memory) or remote (the HTTP service).

Everything is keyed by function id (`pkg/a.na:check`, see poet/identity.py).
Executions are recorded on every call, so `record_execution` must be cheap
(implementations batch); feedback is durable when `record_feedback` returns.
Values come back decoded with the stable encoding (store/encoding.py): the
same types whichever implementation answered. A store never raises for a
storage fault during a program run: it warns once and keeps going (in memory
if it must).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class ExecutionRecord:
    execution_id: str
    function: str
    version: int
    inputs: dict[str, Any]
    output: Any
    params: dict[str, Any]
    timings: dict[str, Any]
    error: str | None
    created: float


@dataclass(slots=True)
class FeedbackRecord:
    feedback_id: str
    execution_id: str
    function: str
    payload: Any
    signal: dict[str, Any]
    created: float
    version: int = 0  # the version that produced the execution the feedback is about


@dataclass(slots=True)
class TrainExampleRecord:
    """One labelled example of Train's window (see poet/train.py): newest label per input."""

    key: str
    execution_id: str
    expected: Any
    profiles: dict[str, Any]


@dataclass(slots=True)
class VersionRecord:
    version: int
    params: dict[str, Any]
    reason: str
    evidence: dict[str, Any]
    metadata: dict[str, Any]
    enhanced_source: str | None
    created: float
    problem: str | None = None  # set when the version's files are damaged: do not use it


def same_content(
    held: VersionRecord, params: dict[str, Any], metadata: dict[str, Any] | None
) -> bool:
    """Whether version `held` already holds `params` with the same stage code (`cache_key`)."""
    return (
        held.problem is None
        and held.params == params
        and held.metadata.get("cache_key") == (metadata or {}).get("cache_key")
    )


@dataclass(slots=True)
class VersionSummary:
    """Feedback filed under one version (the version that actually ran)."""

    version: int
    count: int
    mean_sentiment: float
    negative: int
    positive: int


@dataclass(slots=True)
class StoreStatus:
    location: str
    persistent: bool  # False once the store fell back to memory
    problems: list[str] = field(default_factory=list)


@runtime_checkable
class Store(Protocol):
    """Functions' versions, executions, feedback. All methods are safe to call from threads."""

    # -- executions -------------------------------------------------------------
    def new_execution_id(self) -> str:
        """An id unique across processes and forks."""
        ...

    def record_execution(
        self,
        execution_id: str,
        function: str,
        version: int,
        inputs: dict[str, Any],
        output: Any,
        params: dict[str, Any],
        timings: dict[str, Any],
        error: str | None = None,
        *,
        persist: bool = True,
    ) -> None:
        """Remember one execution (batched). With persist=False it is kept in memory only,
        and written when feedback names it."""
        ...

    def flush(self) -> None:
        """Write buffered executions now."""
        ...

    def get_execution(self, execution_id: str) -> ExecutionRecord | None: ...

    def executions(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[ExecutionRecord]:
        """Oldest first; with `limit`, the newest `limit` of them."""
        ...

    # -- feedback ---------------------------------------------------------------
    def record_feedback(self, execution_id: str, payload: Any, signal: dict[str, Any]) -> str:
        """File feedback under the execution's function and version; durable on return."""
        ...

    def feedback_for(
        self, function: str, *, version: int | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        """Oldest first; with `limit`, the newest `limit` of them."""
        ...

    def feedback_summary(self, function: str) -> list[VersionSummary]:
        """Per version that ran, ascending."""
        ...

    def recent_feedback(
        self, function: str, *, limit: int, after: tuple[float, str] | None = None
    ) -> list[tuple[FeedbackRecord, ExecutionRecord | None]]:
        """The newest `limit` feedback items (only those later than the mark
        `after` = (created, feedback_id) when given) with their executions, oldest first."""
        ...

    # -- Train's bounded window of labelled examples (poet/train.py) ------------
    def put_train_example(
        self, function: str, key: str, execution_id: str, expected: Any, profiles: dict[str, Any]
    ) -> None:
        """Insert or replace the labelled example `key` as the newest of the function's window."""
        ...

    def update_train_profiles(self, function: str, profiles: dict[str, dict[str, Any]]) -> None:
        """Store newly computed profiles of window examples (by key), in one transaction."""
        ...

    def train_examples(self, function: str, *, limit: int) -> list[TrainExampleRecord]:
        """The newest `limit` labelled examples of the function, newest first."""
        ...

    # -- versions ---------------------------------------------------------------
    def current_version(self, function: str) -> int:
        """0 when the function has no version yet (v0 is the function as written)."""
        ...

    def set_current(self, function: str, version: int) -> None: ...

    def read_version(self, function: str, version: int) -> VersionRecord: ...

    def list_versions(self, function: str) -> list[VersionRecord]: ...

    def write_version(
        self,
        function: str,
        *,
        params: dict[str, Any],
        reason: str,
        evidence: dict[str, Any],
        enhanced_source: str | None = None,
        metadata: dict[str, Any] | None = None,
        make_current: bool = True,
        reuse_current: bool = False,
    ) -> int:
        """Publish version N+1 (N the highest so far, across processes) and return N+1.
        With `reuse_current` (and `make_current`), a current version that already holds these
        params and the same metadata `cache_key` (another process learned the same) is returned
        instead; the check and the write are one atomic step across processes."""
        ...

    def publish_if_changed(
        self,
        function: str,
        *,
        cache_key: str,
        params: dict[str, Any],
        reason: str,
        enhanced_source: str | None,
        metadata: dict[str, Any],
    ) -> int:
        """Publish a version unless the current one already has `cache_key`; the check and the
        write are one atomic step across processes. Returns the version now current."""
        ...

    def functions(self) -> list[str]:
        """Ids of every function the store knows."""
        ...

    def status(self) -> StoreStatus: ...

    def close(self) -> None: ...
