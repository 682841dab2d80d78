"""A tight LALR loop over Lark's own parse tables, with the lexer and post-lexers fused in.

Lark stays the parser: the grammar, the LALR tables and the rule callbacks (the AST
builder behind Lark's child filters) are Lark's, built from `grammar/dana.lark`. What
this module replaces is Lark's per-token machinery: its contextual lexer, the three
post-lexer generators (reserved words, `::` in subscripts, the indenter) and the
parse loop's per-token method calls, which were most of the front end's time.

The lexer reproduces Lark's contextual lexer: a word is a keyword only where the
parser state accepts that keyword, a lexeme several terminals can match takes the
first the state accepts, in Lark's terminal order. Anything this loop does not
handle exactly as Lark would (a lexing ambiguity it does not model, a syntax error,
an error raised by the builder) raises `Fallback`, and the caller re-parses the text
with Lark's own pipeline, which produces the canonical result or error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from lark import Token

if TYPE_CHECKING:
    from lark import Lark


class Fallback(Exception):
    """This text needs Lark's own pipeline (an error or a case the fast loop leaves to Lark)."""


# Terminals of grammar/dana.lark that the lexer below knows how to produce. A grammar
# with any other terminal disables the fast loop (every parse goes through Lark).
_WORDLIKE = ("TRUE", "FALSE", "NONE")
_REGEX_TERMINALS = frozenset(
    {
        "AUGOP",
        "DOTS",
        "_LAMBDA_ARROW",
        *_WORDLIKE,
        "SCOPED_NAME",
        "NAME",
        "DEC_NUMBER",
        "FLOAT_NUMBER",
        "LONG_STRING",
        "LONG_FSTRING",
        "STRING",
        "FSTRING",
        "COMMENT",
        "_NEWLINE",
        "__IGNORE_0",
    }
)
_REGEX_LITERALS = {"AUGOP": ("+=", "-=", "*=", "/="), "_LAMBDA_ARROW": ("::", "->")}
_OPEN = {"LPAR": "(", "LSQB": "[", "LBRACE": "{"}
_CLOSE = frozenset({"RPAR", "RSQB", "RBRACE"})
_TAB_LEN = 8

Reducer = Callable[[list[Any]], Any]


def _reducer(rule: Any, builder: Any) -> Reducer | None:
    """What reducing `rule` computes from its children, as Lark's parse-tree builder would
    with `builder` as the transformer: tokens the grammar filters out are dropped, `[x]`
    left out is None (maybe_placeholders), the children of `_rule`s are spliced into their
    parent, a `?rule` with one child is that child. A `_rule` gives the list to splice
    (Lark builds a Tree only to splice its children). None: the value stays as it is."""
    from lark import Tree

    options = rule.options
    expansion = rule.expansion
    empty = options.empty_indices
    if empty:
        bits = "".join("1" if b else "0" for b in empty)
        nones_at = [len(run) for run in bits.split("0")]
    else:
        nones_at = [0] * (len(expansion) + 1)
    parts: list[str] = []
    for i, symbol in enumerate(expansion):
        parts.extend(["None"] * nones_at[i])
        if options.keep_all_tokens or not (symbol.is_term and symbol.filter_out):
            spliced = not symbol.is_term and symbol.name.startswith("_")
            parts.append(f"*c[{i}]" if spliced else f"c[{i}]")
    parts.extend(["None"] * nones_at[len(expansion)])
    name = rule.alias or options.template_source or rule.origin.name
    children = f"[{', '.join(parts)}]"
    if name.startswith("_") and not hasattr(builder, name):
        return _compiled(f"return {children}", None)
    method = getattr(builder, name, None)
    if method is None:
        method = partial(Tree, name)
    expand1 = options.expand1 and not rule.alias
    if expand1 and len(expansion) == 1 and parts == ["c[0]"]:
        return None
    if parts == [f"c[{i}]" for i in range(len(expansion))] and not expand1:
        return method  # type: ignore[no-any-return]
    if expand1:
        return _compiled(f"v = {children}\n    return v[0] if len(v) == 1 else f(v)", method)
    return _compiled(f"return f({children})", method)


def _compiled(body: str, method: Any) -> Reducer:
    namespace: dict[str, Any] = {"f": method}
    exec(f"def reduce(c):\n    {body}\n", namespace)  # noqa: S102 - built from the grammar
    return namespace["reduce"]  # type: ignore[no-any-return]


class FastParser:
    """Lark's LALR tables and callbacks, driven by one loop per parse."""

    def __init__(self, lark: Lark, builder: Any, reserved: frozenset[str]) -> None:
        table = lark.parser.parser.parser.parse_table
        terminals = {t.name: t for t in lark.terminals}
        unknown = {
            name
            for name, t in terminals.items()
            if t.pattern.type == "re" and name not in _REGEX_TERMINALS
        }
        if unknown:
            raise ValueError(f"the fast parse loop does not know the terminals {sorted(unknown)}")
        self.reserved = reserved
        self.start_states: dict[str, int] = dict(table.start_states)
        self.end_states: dict[str, int] = dict(table.end_states)
        rules: list[tuple[int, str, Reducer | None]] = []
        rule_index: dict[Any, int] = {}
        self.actions: list[dict[str, int]] = [{} for _ in range(max(table.states) + 1)]
        for state, entries in table.states.items():
            row = self.actions[state]
            for symbol, (action, arg) in entries.items():
                if action.name == "Shift":
                    row[symbol] = arg
                    continue
                index = rule_index.get(arg)
                if index is None:
                    index = rule_index[arg] = len(rules)
                    rules.append((len(arg.expansion), arg.origin.name, _reducer(arg, builder)))
                row[symbol] = ~index
        self.rules = rules

        # Terminals a callback may see (named ones, and keywords of `!` rules); the others
        # are dropped by Lark's child filters, so the loop pushes None for them.
        kept: set[str] = set()
        for rule in rule_index:
            for symbol in rule.expansion:
                if symbol.is_term and (rule.options.keep_all_tokens or not symbol.filter_out):
                    kept.add(symbol.name)
        self.kept = frozenset(kept)

        name_re = re.compile(terminals["NAME"].pattern.to_regexp())
        self.keywords: dict[str, str] = {}
        literals: dict[str, list[str]] = {}
        order = sorted(
            terminals.values(),
            key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name),
        )
        for t in order:
            if t.pattern.type == "str":
                value = t.pattern.value
                if name_re.fullmatch(value):
                    self.keywords[value] = t.name
                else:
                    literals.setdefault(value, []).append(t.name)
            for value in _REGEX_LITERALS.get(t.name, ()):
                literals.setdefault(value, []).append(t.name)
        for name in _WORDLIKE:
            pattern = re.compile(terminals[name].pattern.to_regexp())
            for word in re.findall(r"[A-Za-z]+", terminals[name].pattern.value):
                if pattern.fullmatch(word):
                    self.keywords[word] = name
        self.literals = {value: tuple(names) for value, names in literals.items()}
        ops = "|".join(re.escape(v) for v in sorted(self.literals, key=len, reverse=True))

        def rx(name: str) -> str:
            return terminals[name].pattern.to_regexp()

        self.scanner = re.compile(
            "|".join(
                (
                    f"(?P<SCOPED>{rx('SCOPED_NAME')})",
                    f"(?P<LONG_STRING>{rx('LONG_STRING')})",
                    f"(?P<LONG_FSTRING>{rx('LONG_FSTRING')})",
                    f"(?P<STRING>{rx('STRING')})",
                    f"(?P<FSTRING>{rx('FSTRING')})",
                    f"(?P<FLOAT>{rx('FLOAT_NUMBER')})",
                    f"(?P<WORD>{rx('NAME')})",
                    f"(?P<DEC>{rx('DEC_NUMBER')})",
                    f"(?P<NL>{rx('_NEWLINE')})",
                    f"(?P<WS>{rx('__IGNORE_0')})",
                    f"(?P<DOTS>{rx('DOTS')})",
                    f"(?P<OP>{ops})",
                )
            )
        )

    def parse(self, text: str, start: str) -> Any:
        """The value the start rule's callback returns; `Fallback` when Lark must decide."""
        actions = self.actions
        rules = self.rules
        kept = self.kept
        keywords = self.keywords
        literals = self.literals
        reserved = self.reserved
        scan = self.scanner.match
        new_token = str.__new__

        states = [self.start_states[start]]
        values: list[Any] = []
        end_state = self.end_states[start]

        def feed(kind: str, value: Any) -> None:
            while True:
                action = actions[states[-1]].get(kind)
                if action is None:
                    raise Fallback
                if action >= 0:
                    states.append(action)
                    values.append(value)
                    return
                size, origin, callback = rules[~action]
                if callback is None:  # a `?rule` with its one child: the value stays
                    del states[-1]
                elif size:
                    children = values[-size:]
                    del values[-size:]
                    del states[-size:]
                    values.append(callback(children))
                else:
                    values.append(callback([]))
                states.append(actions[states[-1]][origin])

        def make(kind: str, value: str, pos: int, line: int, column: int) -> Token:
            tok: Token = new_token(Token, value)
            tok.type = kind
            tok.value = value
            tok.start_pos = pos
            tok.line = line
            tok.column = column
            newlines = value.count("\n")
            if newlines:
                tok.end_line = line + newlines
                tok.end_column = len(value) - value.rindex("\n")
            else:
                tok.end_line = line
                tok.end_column = column + len(value)
            tok.end_pos = pos + len(value)
            return tok

        pos = 0
        end = len(text)
        line = 1
        line_start = 0
        paren_level = 0
        indents = [0]
        # [opening bracket, lambdas awaiting their `::`] (postlex._split_slice_colons)
        brackets: list[list[Any]] = [["", 0]]
        while pos < end:
            match = scan(text, pos)
            if match is None:
                raise Fallback
            group: str = match.lastgroup or ""
            value = match.group()
            column = pos - line_start + 1
            if group == "WS":
                pos = match.end()
                continue
            if group == "NL":
                if paren_level == 0:
                    feed("_NEWLINE", None)
                    indent_str = value.rsplit("\n", 1)[1]
                    indent = indent_str.count(" ") + indent_str.count("\t") * _TAB_LEN
                    if indent > indents[-1]:
                        indents.append(indent)
                        feed("_INDENT", None)
                    else:
                        while indent < indents[-1]:
                            indents.pop()
                            feed("_DEDENT", None)
                        if indent != indents[-1]:
                            raise Fallback
                newlines = value.count("\n")
                pos = match.end()
                if newlines:
                    line += newlines
                    line_start = match.start() + value.rindex("\n") + 1
                continue
            row = actions[states[-1]]
            if group == "WORD":
                # a keyword is a keyword only where the parser state accepts it
                kind = keywords.get(value, "NAME")
                if kind not in row:
                    kind = "NAME"
                if kind == "NAME" and value in reserved:
                    raise Fallback
                if kind == "LAMBDA":
                    brackets[-1][1] += 1
            elif group == "OP":
                candidates = literals[value]
                kind = ""
                for candidate in candidates:
                    if candidate in row:
                        kind = candidate
                        break
                if value == "::":
                    if not kind:
                        # Lark lexes one ':' here and the next lexeme from the second
                        if "COLON" not in row:
                            raise Fallback
                        feed("COLON", None)
                        pos += 1
                        continue
                    if brackets[-1][1] > 0:
                        brackets[-1][1] -= 1
                    elif brackets[-1][0] == "LSQB":  # `x[a::2]`: two slice colons
                        feed("COLON", None)
                        feed("COLON", None)
                        pos = match.end()
                        continue
                elif value == "->" and brackets[-1][1] > 0:
                    brackets[-1][1] -= 1
                if not kind:
                    raise Fallback
                if kind in _OPEN:
                    brackets.append([kind, 0])
                    paren_level += 1
                elif kind in _CLOSE:
                    if len(brackets) > 1:
                        brackets.pop()
                    paren_level -= 1
                    if paren_level < 0:
                        raise Fallback
            elif group == "DOTS":
                kind = "DOTS" if "DOTS" in row or value != "." else "DOT"
            elif group == "SCOPED":
                kind = "SCOPED_NAME"
            elif group == "DEC":
                kind = "DEC_NUMBER"
            elif group == "FLOAT":
                kind = "FLOAT_NUMBER"
            else:
                kind = group  # the four string terminals
            if kind in kept:
                tok = make(kind, value, pos, line, column)
                if "\n" in value:
                    line += value.count("\n")
                    line_start = pos + value.rindex("\n") + 1
                feed(kind, tok)
            else:
                feed(kind, None)
            pos = match.end()
        while len(indents) > 1:
            indents.pop()
            feed("_DEDENT", None)
        # $END: reduce until the start rule is complete
        while True:
            action = actions[states[-1]].get("$END")
            if action is None or action >= 0:
                raise Fallback
            size, origin, callback = rules[~action]
            if callback is None:
                del states[-1]
            elif size:
                children = values[-size:]
                del values[-size:]
                del states[-size:]
                values.append(callback(children))
            else:
                values.append(callback([]))
            states.append(actions[states[-1]][origin])
            if states[-1] == end_state:
                return values[-1]
