"""Tokens and reserved words of Dana, without importing Lark.

The fast parse loop (lang/lalr.py) makes these tokens; Lark's own pipeline, used for
errors and anything the loop hands back, makes Lark's. Both are `str` subclasses with
the same position fields, which is all the AST builder reads.
"""

from __future__ import annotations

from typing import Any

# Words that are never names (spec §2.3). Where the parser does not expect a keyword,
# it is lexed as a NAME, so `and = 1` would otherwise parse.
RESERVED_WORDS = frozenset(
    """True true TRUE False false FALSE None none NONE null NULL private public local system
    if elif else while for in is not and or def sync return break continue pass deliver
    try except finally raise assert import from as export with lambda yield global nonlocal
    del""".split()
)
# Declaration words are reserved in the reference too, but real programs use them as
# field and variable names (`request.resource`); accepting them only turns reference
# syntax errors into working programs, which §0 allows.
SCOPE_WORDS = frozenset({"private", "public", "local", "system"})


class Token(str):
    """A lexeme: its text, terminal type and 1-based position (end column exclusive)."""

    __slots__ = (
        "type",
        "start_pos",
        "value",
        "line",
        "column",
        "end_line",
        "end_column",
        "end_pos",
    )

    type: str
    start_pos: int | None
    value: Any
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None

    @classmethod
    def new_borrow_pos(cls, type_: str, value: str, borrow: Any) -> Token:
        """A token of `type_` and `value` at the position of `borrow` (any token)."""
        tok = str.__new__(cls, value)
        tok.type = type_
        tok.value = value
        tok.start_pos = borrow.start_pos
        tok.line = borrow.line
        tok.column = borrow.column
        tok.end_line = borrow.end_line
        tok.end_column = borrow.end_column
        tok.end_pos = borrow.end_pos
        return tok

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"


def is_token(item: object) -> bool:
    """A token from either lexer (the builder's other strings are plain `str`)."""
    return isinstance(item, str) and type(item) is not str
