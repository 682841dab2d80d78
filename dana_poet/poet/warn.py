"""POET's warnings, attributed to the first frame of the user's code (the line that decorated
or called the function), not to the line inside dana_poet that noticed the problem."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _ours(filename: str) -> bool:
    """dana_poet's own modules and the code it generates (`<poet warm path of f>`,
    `<poet stage code>`)."""
    return filename.startswith((_PACKAGE, "<poet "))


def warn(message: str) -> None:
    """A RuntimeWarning `dana-poet: message`, shown at the first frame outside dana_poet
    (what Python 3.12's skip_file_prefixes does, on 3.11 too)."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is warn()'s caller
    while frame is not None and _ours(frame.f_code.co_filename):
        level += 1
        frame = frame.f_back  # type: ignore[assignment]
    warnings.warn(f"dana-poet: {message}", RuntimeWarning, stacklevel=level)
