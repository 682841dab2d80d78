"""The bracket a syntax error is really about: one opened and never closed.

A parser that meets an unclosed `(`, `[` or `{` fails later, where the text stops
making sense (often the next line, or the end of the file); the error then names
what it found there. This scan finds the bracket left open, so the error can point
at it instead, as Python does ("'[' was never closed").
"""

from __future__ import annotations

import re
from bisect import bisect_right

# strings (with their prefixes) and comments hold brackets that do not count
_LEXEMES = re.compile(
    r"""[rRfF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"|#[^\n]*|[()\[\]{}]"
)
_PAIRS = {")": "(", "]": "[", "}": "{"}


def unclosed_bracket(text: str, before: tuple[int, int]) -> tuple[str, int, int] | None:
    """The innermost bracket of `text` opened before `before` (line, 1-based column) and
    still open at the end of the text: (the bracket, its line, its column); else None."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    stack: list[tuple[str, int]] = []
    for match in _LEXEMES.finditer(text):
        ch = match.group()
        if ch in "([{":
            stack.append((ch, match.start()))
        elif ch in _PAIRS:
            if stack and stack[-1][0] == _PAIRS[ch]:
                stack.pop()
    for ch, offset in reversed(stack):
        line = bisect_right(starts, offset)
        column = offset - starts[line - 1] + 1
        if (line, column) < before:
            return ch, line, column
    return None
