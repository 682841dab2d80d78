"""POET sub-commands of `dana-poet` (inspect, versions, rollback, feedback, cache)."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the POET sub-commands on the main parser."""
