"""Test mode for your own test-suite: instant waits, a temporary store, deterministic ids.

```python
from dana_poet.testing import poet_test_mode

def test_retries_quickly():
    with poet_test_mode() as mode:
        assert fetch("x") == ...          # backoff waits take no time
        assert mode.execution_ids() == ["xtest-1"]
```

or, with pytest, ask for the `poet_test_mode` fixture (registered through
dana-poet's pytest plugin entry point):

```python
def test_learns(poet_test_mode):
    ...
```

Inside test mode, for the Python API's runtime (or the one given):

- backoff waits between attempts are instant (and so never use up a `timeout`);
  the function's own sleeps and its timeout still run in real time;
- stores are in memory, fresh for the block: nothing is read from or written
  to `.dana/poet/`, and every function starts at v0 with its defaults;
- execution and feedback ids are `x`/`f` + `test-1`, `test-2`, ... in call order;
- circuit breakers start closed.

Everything is put back when the block ends (learned versions, stores, breakers).
The `.na` pytest plugin is `dana_poet.pytest_plugin`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dana_poet.poet.runtime import POETRuntime
    from dana_poet.poet.store.base import Store

__all__ = ["TestMode", "poet_test_mode"]


class TestMode:
    """What a test can look at while test mode is on."""

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(self, runtime: POETRuntime) -> None:
        self.runtime = runtime

    def stores(self) -> list[Store]:
        """The temporary stores created so far (one per project root)."""
        return self.runtime.stores()

    def executions(self, fn: Any) -> list[Any]:
        """The executions of a @poet function recorded in test mode, oldest first."""
        from dana_poet.poet.introspect import record_of

        record = record_of(fn)
        record.flush_executions()
        record.store.flush()
        return list(record.store.executions(record.key))

    def execution_ids(self) -> list[str]:
        """Every execution id recorded in test mode, in call order."""
        out: list[Any] = []
        self.runtime.flush_executions()
        for store in self.stores():
            store.flush()
            for function in store.functions():
                out.extend(store.executions(function))
        return [e.execution_id for e in sorted(out, key=lambda e: _order(e.execution_id))]


def _order(execution_id: str) -> tuple[int, str]:
    tail = execution_id.rsplit("-", 1)[-1]
    return (int(tail), execution_id) if tail.isdigit() else (0, execution_id)


def _memory_store(root: Path) -> Store:
    """A memory store that keeps every execution, so a test can look at all of them."""
    from dana_poet.poet.store.memory import MemoryStore

    class KeepingStore(MemoryStore):
        def record_execution(self, *args: Any, persist: bool = True, **kwargs: Any) -> None:
            super().record_execution(*args, persist=True, **kwargs)

    return KeepingStore(f"test mode ({root})")


@contextlib.contextmanager
def poet_test_mode(runtime: POETRuntime | None = None) -> Iterator[TestMode]:
    """Instant waits, temporary stores and deterministic ids until the block ends."""
    from dana_poet.poet.operate import WAITS
    from dana_poet.poet.runtime import default_runtime
    from dana_poet.poet.store.ids import deterministic_ids

    runtime = runtime or default_runtime()
    instant = WAITS.instant
    previous_stores = runtime.replace_stores(_memory_store)
    saved = [_fresh_state(record) for record in runtime.functions()]
    WAITS.instant = True
    try:
        with deterministic_ids("test-"):
            yield TestMode(runtime)
    finally:
        WAITS.instant = instant
        runtime.replace_stores(*previous_stores)
        for restore in saved:
            restore()


def _fresh_state(record: Any) -> Any:
    """Put `record` at v0 with defaults, a closed circuit and no cached store; return an undo."""
    from dana_poet.poet.operate import CircuitBreaker

    fields = ("version", "params", "candidate", "published", "_store")
    state = {name: getattr(record, name) for name in fields}
    operator = getattr(record, "operator", None)
    breaker = operator.breaker if operator is not None else None
    record.version, record.params, record.candidate = 0, {}, None
    record.published, record._store = False, None
    if operator is not None and breaker is not None:
        operator.breaker = CircuitBreaker(
            breaker.function, breaker.threshold, breaker.cooldown, breaker.clock
        )

    def restore() -> None:
        for name, value in state.items():
            setattr(record, name, value)
        if operator is not None and breaker is not None:
            operator.breaker = breaker

    return restore


try:
    import pytest
except ImportError:  # test mode works without pytest; only the fixture needs it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(name="poet_test_mode")
    def _poet_test_mode_fixture() -> Iterator[TestMode]:
        """Test mode for the whole test (see dana_poet.testing)."""
        with poet_test_mode() as mode:
            yield mode
