"""Training on the server: poet/train run over the shared store, one fit per function at a time.

The fit lock is held across every instance (a PostgreSQL advisory lock, or a
file lock beside the SQLite store). Feedback that arrives while a fit runs
marks the function dirty and returns at once; the running fit goes round once
more, so fits coalesce under load and ingestion never waits for them.
"""

from __future__ import annotations

import inspect
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from dana_poet.service.catalog import FunctionRow

FIT_INTERVAL = 1.0  # seconds between background fits of one function under load


@dataclass
class TrainingSubject:
    """What poet/train reads and updates for one function, built from its catalog row."""

    name: str
    key: str
    original: Any
    config: Any
    store: Any
    learnable: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    candidate: tuple[int, dict[str, Any]] | None = None


def _config(row: FunctionRow) -> Any:
    from dana_poet.poet.config import POETConfig
    from dana_poet.poet.errors import POETConfigError

    literal = {k: v for k, v in row.config.items() if not (isinstance(v, dict) and "$source" in v)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return POETConfig.from_decorator((), literal, function=row.name)
        except POETConfigError:
            return POETConfig()


def learnable_params(name: str, signature: inspect.Signature, config: Any) -> dict[str, Any]:
    from dana_poet.poet.errors import POETConfigError
    from dana_poet.poet.train import learnable_params as learnable

    try:
        return learnable(name, signature, config)  # type: ignore[return-value]
    except POETConfigError:  # train settings that do not fit the signature: nothing to learn
        return {}


def subject_for(row: FunctionRow, store: Any) -> TrainingSubject | None:
    """None when the function has nothing to learn (no learnable parameters)."""
    from dana_poet.service.functions import load_callable

    config = _config(row)
    fn = load_callable(row.source, row.language)
    learnable = learnable_params(row.name, inspect.signature(fn), config)
    if not learnable:
        return None
    return TrainingSubject(row.name, row.function_id, fn, config, store, learnable)


def current_state(store: Any, function_id: str) -> tuple[int, dict[str, Any]]:
    version = store.current_version(function_id)
    if not version:
        return 0, {}
    return version, dict(store.read_version(function_id, version).params or {})


class Trainer:
    """Runs fits for the service; `lock_for(function_id)` is the cross-instance lock."""

    def __init__(self, store: Any, lock_for: Any) -> None:
        self.store = store
        self._lock_for = lock_for
        self._subjects: dict[str, TrainingSubject | None] = {}
        self._dirty: set[str] = set()
        self._running: set[str] = set()
        self._guard = threading.Lock()
        self.min_interval = FIT_INTERVAL

    def _subject(self, row: FunctionRow) -> TrainingSubject | None:
        if row.function_id not in self._subjects:
            self._subjects[row.function_id] = subject_for(row, self.store)
        return self._subjects[row.function_id]

    def after_feedback(self, row: FunctionRow, *, busy: bool = False) -> None:
        """Fit now, within the request, unless feedback for this function is arriving
        concurrently (`busy`) or a fit is already running here or in another instance:
        then the fit happens (once for all of them) on a background thread."""
        subject = self._subject(row)
        if subject is None:
            return
        key = row.function_id
        with self._guard:
            if key in self._running:
                self._dirty.add(key)
                return
            self._running.add(key)
        inline = not busy
        try:
            if inline:
                with self._lock_for(key, blocking=False) as held:
                    if held:
                        self._fit(subject)
                    else:
                        inline = False
        except BaseException:
            with self._guard:
                self._running.discard(key)
            raise
        if inline:
            with self._guard:
                if key not in self._dirty:
                    self._running.discard(key)
                    return
        threading.Thread(target=self._fit_in_background, args=(subject,), daemon=True).start()

    def _fit_in_background(self, subject: TrainingSubject) -> None:
        """Fit until no feedback arrived during the last fit (coalescing bursts)."""
        key = subject.key
        try:
            while True:
                with self._guard:
                    self._dirty.discard(key)
                started = time.monotonic()
                with self._lock_for(key, blocking=True):
                    self._fit(subject)
                # under sustained feedback, fits are paced so that ingestion keeps the CPU
                time.sleep(max(0.0, started + self.min_interval - time.monotonic()))
                with self._guard:
                    if key not in self._dirty:
                        self._running.discard(key)
                        return
        except Exception as exc:  # noqa: BLE001 - a failed background fit costs a warning only
            with self._guard:
                self._running.discard(key)
            warnings.warn(
                f"dana-poet serve: fit of {key} failed: {exc}", RuntimeWarning, stacklevel=1
            )

    def _fit(self, subject: TrainingSubject) -> None:
        from dana_poet.poet.train import maybe_train

        subject.version, params = current_state(self.store, subject.key)
        subject.params = {k: v for k, v in params.items() if k in subject.learnable}
        maybe_train(subject)  # type: ignore[arg-type]
