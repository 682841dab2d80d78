"""Content-addressed cache of generated stage code: one JSON file per key, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dana_poet.poet.files import write_atomic
from dana_poet.poet.warn import warn

_STATS = "stats.json"


def load_entry(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The cached entry, or None when missing or damaged (damage warns once and is regenerated)."""
    path = cache_dir / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # unusable storage: the store warns
        return None
    except (OSError, ValueError) as exc:
        warn(f"damaged cache entry {path.name} ({exc}); regenerating")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("source"), str):
        warn(f"damaged cache entry {path.name}; regenerating")
        return None
    return data


def mark_dropped(cache_dir: Path, key: str, reason: str) -> None:
    """Mark an entry whose stage code failed on real input, so the next run generates anew."""
    path = cache_dir / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        data["dropped"] = reason
        write_atomic(path, json.dumps(data, indent=2, default=str))


def store_entry(cache_dir: Path, key: str, entry: dict[str, Any]) -> None:
    write_atomic(cache_dir / f"{key}.json", json.dumps(entry, indent=2, default=str))


def count(cache_dir: Path, hit: bool) -> None:
    """Hit/miss counters (approximate under heavy concurrency, never corrupt)."""
    path = cache_dir / _STATS
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stats, dict):
            stats = {}
    except (OSError, ValueError):
        stats = {}
    name = "hits" if hit else "misses"
    stats[name] = int(stats.get(name, 0)) + 1
    try:
        write_atomic(path, json.dumps(stats))
    except OSError:
        pass


def cache_stats(cache_dir: Path) -> dict[str, Any]:
    try:
        stats = json.loads((cache_dir / _STATS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stats = {}
    hits, misses = int(stats.get("hits", 0)), int(stats.get("misses", 0))
    entries = (
        len([p for p in cache_dir.glob("*.json") if p.name != _STATS]) if cache_dir.exists() else 0
    )
    total = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "hit_rate": hits / total if total else 0.0,
        "entries": entries,
    }


def clear_cache(cache_dir: Path) -> int:
    removed = 0
    if not cache_dir.exists():
        return 0
    for p in cache_dir.glob("*.json"):
        try:
            p.unlink()
            removed += p.name != _STATS
        except OSError:
            pass
    return removed
