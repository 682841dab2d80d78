"""How many examples a property test runs: fewer when CI=true (the `ci` profile)."""

from __future__ import annotations

import os

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CI_EXAMPLES = 40


def examples(n: int) -> int:
    """`n` examples locally; at most CI_EXAMPLES on CI, where the whole suite must stay short."""
    return min(n, CI_EXAMPLES) if IN_CI else n
