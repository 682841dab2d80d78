"""The POET runtime: one per program, owning its stores and its enhanced functions.

A Dana program gets its own runtime (engine.py); Python code using
`from dana_poet import poet` shares the default one (`default_runtime()`).
Functions are registered by id (poet/identity.py), never by bare name, and
`feedback()` finds the function through the execution the store recorded.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dana_poet.poet.errors import POETFeedbackError
from dana_poet.poet.store.base import ExecutionRecord, Store

if TYPE_CHECKING:
    from dana_poet.poet.function import EnhancedFunction
    from dana_poet.poet.trace import TraceHook

StoreFactory = Callable[[Path], Store]


def sqlite_store_for(project_root: Path) -> Store:
    from dana_poet.poet.store.sqlite import SQLiteStore

    store: Store = SQLiteStore(project_root / ".dana" / "poet")
    if os.environ.get("AITOMATIC_API_URL", "").startswith(("http://", "https://")):
        from dana_poet.service.remote import remote_store

        store = remote_store(store, project_root)  # the POET service behind the local store
    return store


class POETRuntime:
    """Stores (one per project root) and enhanced functions (by function id) of one program."""

    def __init__(self, store_factory: StoreFactory = sqlite_store_for) -> None:
        self._store_factory = store_factory
        self._stores: dict[Path, Store] = {}
        self._functions: dict[str, EnhancedFunction] = {}
        self._lock = threading.Lock()
        self._flushes_at_exit = False
        self.trace_hook: TraceHook | None = None
        """Traces every function decorated from now on (poet/trace.py)."""

    # ------------------------------------------------------------ stores
    def store_for(self, project_root: Path) -> Store:
        root = Path(project_root).resolve()
        store = self._stores.get(root)
        if store is None:
            with self._lock:
                store = self._stores.get(root)
                if store is None:
                    store = self._stores[root] = self._store_factory(root)
        return store

    def stores(self) -> list[Store]:
        return list(self._stores.values())

    def replace_stores(
        self, factory: StoreFactory, stores: dict[Path, Store] | None = None
    ) -> tuple[StoreFactory, dict[Path, Store]]:
        """Make stores with `factory` from now on (dana_poet.testing); returns the old pair,
        which passed back in restores them. Functions drop the store they had cached."""
        self.flush_executions()  # what ran so far belongs to the stores it ran with
        with self._lock:
            previous = (self._store_factory, self._stores)
            self._store_factory, self._stores = factory, dict(stores or {})
        for record in self._functions.values():
            record._store = None
        return previous

    # ------------------------------------------------------------ functions
    def register(self, record: EnhancedFunction) -> None:
        """A function defined again under the same id (a re-run module) replaces the old one."""
        previous = self._functions.get(record.function_id)
        if previous is not None and previous is not record:
            previous.flush_executions()
        self._functions[record.function_id] = record
        if not self._flushes_at_exit:
            # registered after the function's store (made at decoration), so it runs first
            self._flushes_at_exit = True
            atexit.register(self._flush_at_exit)

    def function(self, function_id: str) -> EnhancedFunction | None:
        return self._functions.get(function_id)

    def functions(self) -> list[EnhancedFunction]:
        return list(self._functions.values())

    def flush_executions(self) -> None:
        """Hand every function's recorded executions to its store."""
        for record in list(self._functions.values()):
            record.flush_executions()

    def _flush_at_exit(self) -> None:
        for record in list(self._functions.values()):
            if record.learnable:  # the others' executions are kept in memory only anyway
                record.flush_executions()
        for store in self.stores():
            try:
                store.flush()
            except Exception:  # noqa: BLE001 - a store that cannot write has warned already
                pass

    # ------------------------------------------------------------ decorator and feedback
    def poet(self, *args: Any, **kwargs: Any) -> Any:
        """`@poet` bound to this runtime."""
        from dana_poet.poet.api import poet_decorator

        return poet_decorator(self, args, kwargs)

    def find_execution(self, execution_id: str) -> tuple[Store, ExecutionRecord] | None:
        from dana_poet.poet.recorder import IDS

        number = IDS.number_of(execution_id)
        for record in list(self._functions.values()):
            if number is not None and record.log is not None and record.log.take(number):
                break
        for store in self.stores():
            execution = store.get_execution(execution_id)
            if execution is not None:
                return store, execution
        return None

    def feedback(self, result: Any, payload: Any = None, **kwargs: Any) -> Any:
        """Attach feedback in any form to the execution that produced `result`."""
        from dana_poet.poet.feedback import translate_feedback
        from dana_poet.poet.result import execution_id_of, is_result

        execution_id = execution_id_of(result)
        if execution_id is None and isinstance(result, str) and not is_result(result):
            execution_id = result
        if payload is None and kwargs:
            payload = kwargs
        found = self.find_execution(execution_id) if execution_id else None
        runtime: POETRuntime = self
        if found is None and self is not default_runtime() and execution_id:
            runtime = default_runtime()  # a Python @poet function called from a Dana program
            found = runtime.find_execution(execution_id)
        if found is None:
            if execution_id is None and is_result(result):
                raise POETFeedbackError(
                    f"feedback(): the execution that returned {result!r} is no longer known "
                    "(a function that does not learn keeps only its most recent calls)",
                    value=result,
                )
            if execution_id_of(result) is None:
                raise POETFeedbackError(
                    "feedback() needs a result returned by a @poet function (or its execution "
                    f"id); got {result!r} ({type(result).__name__})",
                    value=result,
                )
            raise POETFeedbackError(
                f"feedback(): execution {execution_id} is not known to this program", value=result
            )
        store, execution = found
        record = runtime.function(execution.function)
        if record is not None and record.learnable:
            record.flush_executions()  # Train reads the function's recent executions
        parameters: dict[str, Any] = {}
        if record is not None:
            from dana_poet.poet.train import current_params

            parameters = current_params(record)
        signal = translate_feedback(payload, output=execution.output, parameters=parameters)
        signal_data = signal.model_dump(mode="json")
        feedback_id = store.record_feedback(execution.execution_id, payload, signal_data)
        if record is not None and record.learnable and getattr(store, "trains_locally", True):
            # with a POET service that answers, the service trains (service/remote.py)
            from dana_poet.poet.train import learn

            learn(record, execution, signal_data, feedback_id)
        return signal


_DEFAULT: list[POETRuntime] = []


def default_runtime() -> POETRuntime:
    """The runtime of the Python API (`from dana_poet import poet, feedback`)."""
    if not _DEFAULT:
        _DEFAULT.append(POETRuntime())
    return _DEFAULT[0]
