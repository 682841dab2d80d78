"""Test-mode API for users' own tests (see issue 11; filled in by the Python API work).

The `.na` pytest plugin lives in `dana_poet.pytest_plugin`.
"""

from __future__ import annotations
