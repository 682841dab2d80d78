"""POET's stores: one interface (base.Store), embedded SQLite, memory; the service adds its own."""

from __future__ import annotations

from dana_poet.poet.store.base import (
    ExecutionRecord,
    FeedbackRecord,
    Store,
    StoreStatus,
    TrainExampleRecord,
    VersionRecord,
    VersionSummary,
)
from dana_poet.poet.store.memory import MemoryStore
from dana_poet.poet.store.sqlite import POETStore, SQLiteStore

__all__ = [
    "ExecutionRecord",
    "FeedbackRecord",
    "MemoryStore",
    "POETStore",
    "SQLiteStore",
    "Store",
    "StoreStatus",
    "TrainExampleRecord",
    "VersionRecord",
    "VersionSummary",
]
