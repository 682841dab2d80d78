"""Interactive Dana: `dana-poet repl`.

Each entry is compiled like a module chunk into one long-lived namespace, so
definitions accumulate. A lone expression's value is printed. A line ending in
`:` (or an open bracket) continues until a blank line. prompt_toolkit gives
history and editing when it is installed and the input is a terminal; plain
`input()` is used otherwise (pipes, tests).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

BANNER = "Dana REPL (dana-poet). Blank line ends a block; Ctrl-D or exit() leaves."


def _needs_more(chunk: str) -> bool:
    """More lines are wanted: an open bracket, or a block (ended by a blank line)."""
    depth = sum(chunk.count(c) for c in "([{") - sum(chunk.count(c) for c in ")]}")
    if depth > 0:
        return True
    lines = chunk.split("\n")
    opens_block = any(line.rstrip().endswith(":") for line in lines)
    return opens_block and bool(lines[-1].strip())


def _reader() -> Callable[[str], str]:
    if sys.stdin.isatty():
        try:
            from prompt_toolkit import PromptSession

            session: Any = PromptSession()
            return lambda prompt: session.prompt(prompt)
        except ImportError:
            pass
    return input


def run_repl(
    read: Callable[[str], str] | None = None,
    write: Callable[[str], None] | None = None,
    debug: bool = False,
) -> int:
    from dana_poet.engine import new_program
    from dana_poet.errors_report import format_runtime_error
    from dana_poet.lang import ast as A
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.parser import parse

    read = read or _reader()
    out = write or (lambda text: print(text))
    program = new_program(None)
    namespace = program.new_globals("<dana-repl>", "__main__")
    out(BANNER)
    count = 0
    while True:
        try:
            chunk = read(">>> ")
            while _needs_more(chunk):
                chunk += "\n" + read("... ")
        except (EOFError, KeyboardInterrupt):
            out("")
            return 0
        if not chunk.strip():
            continue
        if chunk.strip() in ("exit()", "quit()"):
            return 0
        count += 1
        filename = f"<dana-repl-{count}>"
        try:
            module = parse(chunk + "\n", filename)
            source = chunk + "\n"
            single = len(module.body) == 1 and isinstance(module.body[0], A.ExprStmt)
            if single:
                source = f"__dana_repl_value = ({chunk.strip()})\n"
            program.run_source(source, filename, namespace)
            if single:
                value = namespace.pop("__dana_repl_value", None)
                if value is not None:
                    out(repr(value) if not isinstance(value, str) else repr(value))
        except DanaSyntaxError as exc:
            out(exc.render())
        except Exception as exc:  # noqa: BLE001 - every program error is shown, the session goes on
            from dana_poet.lang.runtime import remember_source

            remember_source(filename, chunk + "\n")  # show the line as typed
            out(format_runtime_error(exc, debug=debug))
