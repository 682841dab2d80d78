"""Looking at a decorated function from Python: `fn.poet`, `versions(fn)`, `rollback(fn, n)`.

`fn.poet` is a live, read-only view: its version and parameters are the ones
the next call will use. Changing them goes through `rollback()` (or training),
which records the change in the store, so every process that shares the store
sees the same current version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dana_poet.poet.errors import POETError

if TYPE_CHECKING:
    from dana_poet.poet.config import POETConfig


class POETIntrospectionError(POETError, ValueError):
    """versions()/rollback() were given something that is not a @poet function, or a bad version."""

    stage = "train"


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One published version of a function (v0 is the function as written)."""

    version: int
    current: bool
    params: dict[str, Any]
    reason: str
    created: float | None
    problem: str | None = None  # the version's files are damaged; rollback refuses it


class POETInfo:
    """`fn.poet`: what POET knows about one decorated function."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    @property
    def name(self) -> str:
        return str(self._record.name)

    @property
    def function_id(self) -> str:
        """The id the store, versions and the service know the function by."""
        return str(self._record.key)

    @property
    def identity(self) -> Any:
        """Project root, module path and qualified name (poet/identity.py)."""
        return getattr(self._record, "identity", None)

    @property
    def config(self) -> POETConfig:
        return self._record.config  # type: ignore[no-any-return]

    @property
    def version(self) -> int:
        return int(self._record.version)

    @property
    def params(self) -> dict[str, Any]:
        """The learnable parameters' values the next call uses (defaults where none was learned)."""
        from dana_poet.poet.train import current_params

        return current_params(self._record)

    @property
    def learnable(self) -> dict[str, tuple[float, float]]:
        """Learnable parameter names and their (low, high) bounds."""
        return {name: (p.low, p.high) for name, p in self._record.learnable.items()}

    def versions(self) -> list[VersionInfo]:
        return versions_of(self._record)

    def rollback(self, version: int) -> VersionInfo:
        return rollback_record(self._record, version)

    def __repr__(self) -> str:
        return (
            f"<POET {self.function_id} v{self.version} params={self.params!r} "
            f"domain={self.config.domain!r}>"
        )


def record_of(fn: Any) -> Any:
    record = getattr(fn, "__poet__", None)
    if record is None:
        func = getattr(fn, "__func__", None)  # a bound method or staticmethod/classmethod object
        record = getattr(func, "__poet__", None)
    if record is None:
        raise POETIntrospectionError(
            f"expected a @poet function, got {fn!r} ({type(fn).__name__})", value=fn
        )
    return record


def versions_of(record: Any) -> list[VersionInfo]:
    store = record.store
    current = store.current_version(record.key)
    out = [VersionInfo(0, current == 0, {}, "the function as written", None)]
    for v in store.list_versions(record.key):
        out.append(
            VersionInfo(
                v.version,
                v.version == current,
                dict(v.params or {}),
                v.reason,
                getattr(v, "created", None),
                getattr(v, "problem", None),
            )
        )
    return out


def rollback_record(record: Any, version: int) -> VersionInfo:
    if isinstance(version, bool) or not isinstance(version, int):
        raise POETIntrospectionError(
            f"rollback({record.name}, {version!r}): the version is a whole number such as 2",
            function=record.name,
            value=version,
        )
    known = {v.version: v for v in versions_of(record)}
    target = known.get(version)
    if target is None:
        raise POETIntrospectionError(
            f"rollback({record.name}, {version}): no such version; known: "
            f"{', '.join(f'v{n}' for n in sorted(known))}",
            function=record.name,
            value=version,
        )
    if target.problem:
        raise POETIntrospectionError(
            f"rollback({record.name}, {version}): v{version} is damaged ({target.problem})",
            function=record.name,
            value=version,
        )
    record.store.set_current(record.key, version)
    record.version = version
    record.params = {k: v for k, v in target.params.items() if k in record.learnable}
    record.candidate = None  # a trial against the old current version no longer applies
    return VersionInfo(version, True, target.params, target.reason, target.created, target.problem)


def versions(fn: Any) -> list[VersionInfo]:
    """Every version of a @poet function, v0 (as written) first; `current` marks the one in use."""
    return versions_of(record_of(fn))


def rollback(fn: Any, version: int) -> VersionInfo:
    """Make `version` the current version of a @poet function (0: the function as written)."""
    return rollback_record(record_of(fn), version)
