"""POET: Perceive, Operate, Enforce, Train.

`from dana_poet import poet` may hand back this package (Python binds a
subpackage as an attribute of its parent once it is imported), so the package
itself is callable and behaves exactly like the `poet` decorator.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from dana_poet.poet.api import poet

        return poet(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage


def __getattr__(name: str) -> Any:
    if name in ("feedback", "enhance"):
        from dana_poet.poet import api

        return getattr(api, name)
    raise AttributeError(f"module 'dana_poet.poet' has no attribute {name!r}")
