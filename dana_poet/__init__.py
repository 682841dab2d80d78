"""dana-poet: the Dana language with POET (Perceive, Operate, Enforce, Train) built in.

Python API::

    from dana_poet import poet, feedback

    @poet(domain="financial_services", retries=2)
    def assess(score: int, income: float) -> str: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what checkers see; at run time the names below come from __getattr__
    from dana_poet.poet.api import feedback as feedback
    from dana_poet.poet.introspect import rollback as rollback
    from dana_poet.poet.introspect import versions as versions
    from dana_poet.poet.protocols import poet as poet

__version__ = "0.1.0"
__all__ = ["feedback", "poet", "rollback", "versions", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that `dana-poet run hello.na` does not pay for POET until it is used.
    if name in ("poet", "feedback"):
        from dana_poet.poet import api

        return getattr(api, name)
    if name in ("versions", "rollback"):
        from dana_poet.poet import introspect

        return getattr(introspect, name)
    raise AttributeError(f"module 'dana_poet' has no attribute {name!r}")
