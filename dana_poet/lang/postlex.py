"""Lark post-lexer for Dana: indentation, reserved words, and `::` inside subscripts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.indenter import DedentError, Indenter

from dana_poet.lang import tokens
from dana_poet.lang.errors import DanaSyntaxError


class DanaIndenter(Indenter):
    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def _process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return super()._process(_split_slice_colons(_refuse_reserved_names(stream)))

    def handle_NL(self, token: Token) -> Iterator[Token]:  # noqa: N802 - Lark's name
        try:
            yield from super().handle_NL(token)
        except DedentError:
            indent = token.rsplit("\n", 1)[1]
            raise DanaSyntaxError(
                "this line's indentation matches no enclosing block",
                line=token.end_line or 0,
                column=len(indent) + 1,
            ) from None


RESERVED_WORDS = tokens.RESERVED_WORDS
_SCOPE_WORDS = tokens.SCOPE_WORDS


def _refuse_reserved_names(stream: Iterator[Token]) -> Iterator[Token]:
    for token in stream:
        if token.type == "NAME" and token in RESERVED_WORDS:
            hint = f"scope prefixes use a colon: {token}:name" if token in _SCOPE_WORDS else ""
            raise DanaSyntaxError(
                f"'{token}' is a reserved word and cannot be used as a name",
                line=token.line or 0,
                column=token.column or 0,
                hint=hint,
            )
        yield token


def _split_slice_colons(stream: Iterator[Token]) -> Iterator[Token]:
    """`x[a::2]`: the lexer reads `::` (the lambda separator); inside `[...]` with no
    `lambda` waiting for its `::`, it is two slice colons."""
    brackets: list[list[Any]] = [["", 0]]  # [opening bracket, lambdas awaiting `::`]
    for token in stream:
        kind = token.type
        if kind in ("LPAR", "LSQB", "LBRACE"):
            brackets.append([kind, 0])
        elif kind in ("RPAR", "RSQB", "RBRACE"):
            if len(brackets) > 1:
                brackets.pop()
        elif kind == "LAMBDA":
            brackets[-1][1] += 1
        elif token in ("::", "->") and brackets[-1][1] > 0:
            brackets[-1][1] -= 1
        elif token == "::" and brackets[-1][0] == "LSQB":
            yield Token.new_borrow_pos("COLON", ":", token)
            yield Token(
                "COLON",
                ":",
                (token.start_pos or 0) + 1,
                token.line,
                (token.column or 0) + 1,
                token.end_line,
                token.end_column,
                token.end_pos,
            )
            continue
        yield token
