"""dana-poet: the Dana language with POET (Perceive, Operate, Enforce, Train) built in.

Python API::

    from dana_poet import poet, feedback

    @poet(domain="financial_services", retries=2)
    def assess(score: int, income: float) -> str: ...
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["feedback", "poet", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that `dana-poet run hello.na` does not pay for POET until it is used.
    if name in ("poet", "feedback"):
        from dana_poet.poet import decorator

        return getattr(decorator, name)
    raise AttributeError(f"module 'dana_poet' has no attribute {name!r}")
