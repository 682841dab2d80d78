"""Tracing one call's steps: a hook the orchestrator calls after each step, when one is installed.

A hook is any callable `hook(function_id, step, seconds, detail)`; `step` is one of
`STEPS`, `detail` a short text. It is chosen when a function is decorated: the
runtime's `trace_hook` if set, else the console hook when `trace_phases=True`,
`debug=True` or `DANA_POET_TRACE` is set. A function decorated without a hook runs
the untraced steps and pays nothing for tracing.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from dana_poet.poet.config import POETConfig

STEPS = ("perceive", "choose version", "operate", "enforce", "record")


class TraceHook(Protocol):
    def __call__(self, function: str, step: str, seconds: float, detail: str) -> None: ...


class ConsoleTrace:
    """Prints one line per step on stderr: `POET(f) operate  0.12 ms  attempts=1`."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    def __call__(self, function: str, step: str, seconds: float, detail: str) -> None:
        self.console.print(
            f"[cyan]POET({function})[/] {step:<14} {1000 * seconds:.2f} ms  {detail}",
            markup=True,
        )


def hook_for(config: POETConfig, installed: TraceHook | None) -> TraceHook | None:
    """The hook a function decorated now traces with, or None (no tracing)."""
    if installed is not None:
        return installed
    if config.trace_phases or config.debug or os.environ.get("DANA_POET_TRACE"):
        return ConsoleTrace()
    return None


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
