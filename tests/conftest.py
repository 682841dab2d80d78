"""Suite-wide settings: a shorter hypothesis profile when CI=true (see .ci/run)."""

from __future__ import annotations

from hypothesis import settings

from tests.hypothesis_profile import IN_CI

settings.register_profile("ci", max_examples=40, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if IN_CI else "dev")
