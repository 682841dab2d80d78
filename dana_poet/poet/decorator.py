"""Where `poet`, `feedback` and `EnhancedFunction` used to live; kept so existing imports work.

The public surface is poet/api.py, a function's state poet/function.py and the
per-call steps poet/orchestrate.py.
"""

from __future__ import annotations

from dana_poet.poet.api import enhance, feedback, poet, poet_decorator
from dana_poet.poet.errors import POETError
from dana_poet.poet.function import EnhancedFunction, load_current_params, publish_stage_version

__all__ = [
    "EnhancedFunction",
    "POETError",
    "enhance",
    "feedback",
    "load_current_params",
    "poet",
    "poet_decorator",
    "publish_stage_version",
]
