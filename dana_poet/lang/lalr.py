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

import marshal
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dana_poet.lang.tokens import Token

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
_STRINGS = ("STRING", "LONG_STRING", "FSTRING", "LONG_FSTRING")
# Lexemes that can span lines (strings: a newline escaped in a short one)
_MULTILINE = frozenset({*_STRINGS, "_NEWLINE"})

Reducer = Callable[[list[Any]], Any]
Maker = Callable[[str, str, int, int], Any]


def _reducer_source(index: int, rule: Any, builder_type: type) -> str:
    """Python source that appends rule `index`'s reducer to `R`: what reducing the rule
    computes from its children, as Lark's parse-tree builder would with the AST builder as
    its transformer. Tokens the grammar filters out are dropped, `[x]` left out is None
    (maybe_placeholders), the children of `_rule`s are spliced into their parent, a
    `?rule` with one child is that child. A `_rule` gives the list to splice (Lark builds
    a Tree only to splice its children). None: the value stays as it is."""
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
    name = str(rule.alias or options.template_source or rule.origin.name)
    children = f"[{', '.join(parts)}]"
    if name.startswith("_") and not hasattr(builder_type, name):
        if parts and parts[0] == "*c[0]" and not hasattr(builder_type, expansion[0].name):
            # `_items: _items item`: grow the list the left part built (it is on the value
            # stack only); a copy per item made long files quadratic
            if len(parts) == 1 and len(expansion) == 1:
                return "R.append(None)\n"  # `_items: _item`: the list the child is
            rest = parts[1:]
            if len(rest) == 1 and rest[0].startswith("*"):
                grow = f"\n    v += {rest[0][1:]}"
            else:
                grow = f"\n    v += [{', '.join(rest)}]" if rest else ""
            return f"def r{index}(c):\n    v = c[0]{grow}\n    return v\nR.append(r{index})\n"
        return f"def r{index}(c):\n    return {children}\nR.append(r{index})\n"
    method = f"B.{name}" if hasattr(builder_type, name) else f"tree({name!r})"
    expand1 = options.expand1 and not rule.alias
    if expand1 and len(expansion) == 1 and parts == ["c[0]"]:
        return "R.append(None)\n"
    if parts == [f"c[{i}]" for i in range(len(expansion))] and not expand1:
        return f"R.append({method})\n"
    if expand1:
        body = f"v = {children}\n    return v[0] if len(v) == 1 else f(v)"
    else:
        body = f"return f({children})"
    return f"def r{index}(c, f={method}):\n    {body}\nR.append(r{index})\n"


def _tree(name: str) -> Reducer:
    """Lark's default for a rule the builder has no method for: a Tree."""

    def build(children: list[Any]) -> Any:
        from lark import Tree

        return Tree(name, children)

    return build


def _skip_reduce_only_states(
    table: Any,
    actions: list[dict[str, int]],
    rule_index: dict[Any, int],
    sources: list[str],
    shapes: list[tuple[int, str]],
) -> None:
    """Default reductions, done without looking at the next token. A state whose every
    action reduces one rule of one symbol (`atom_expr: NAME`, `?argument: test`) is
    skipped: a terminal that leads into it is shifted and reduced at once (an action of
    `len(actions) + rule`), and a goto that leads into it while the value stays (a `?rule`
    of one child) goes where that reduction's goto goes. For a valid text the parse is
    the same; an invalid one still fails (on the next token) and goes to Lark."""
    n_states = len(actions)
    only: dict[int, int] = {}
    for state, entries in table.states.items():
        rules = {arg for action, arg in entries.values() if action.name == "Reduce"}
        if len(rules) != 1 or any(action.name != "Reduce" for action, _ in entries.values()):
            continue
        (rule,) = rules
        index = rule_index[rule]
        if shapes[index][0] == 1 and not shapes[index][1].startswith("$"):
            only[state] = index
    end_states = set(table.end_states.values())
    nonterminals = {origin for _, origin in shapes}
    for row in actions:
        for symbol, action in row.items():
            if action < 0 or action not in only or action in end_states:
                continue
            index = only[action]
            if symbol not in nonterminals:
                row[symbol] = n_states + index
                continue
            target = action
            while target in only and sources[only[target]] == "R.append(None)\n":
                target = row[shapes[only[target]][1]]
                if target < 0 or target >= n_states or target in end_states:
                    break
            else:
                row[symbol] = target


def tables_from_lark(lark: Lark, builder_type: type) -> dict[str, Any]:
    """Everything the loop needs, taken from a built Lark parser (marshal-able, so that a
    later process can load it without importing Lark)."""
    table = lark.parser.parser.parser.parse_table
    terminals = {t.name: t for t in lark.terminals}
    unknown = {
        name
        for name, t in terminals.items()
        if t.pattern.type == "re" and name not in _REGEX_TERMINALS
    }
    if unknown:
        raise ValueError(f"the fast parse loop does not know the terminals {sorted(unknown)}")
    shapes: list[tuple[int, str]] = []
    sources: list[str] = []
    rule_index: dict[Any, int] = {}
    actions: list[dict[str, int]] = [{} for _ in range(max(table.states) + 1)]
    for state, entries in table.states.items():
        row = actions[state]
        for symbol, (action, arg) in entries.items():
            if action.name == "Shift":
                row[str(symbol)] = arg
                continue
            index = rule_index.get(arg)
            if index is None:
                index = rule_index[arg] = len(shapes)
                shapes.append((len(arg.expansion), str(arg.origin.name)))
                sources.append(_reducer_source(index, arg, builder_type))
            row[str(symbol)] = ~index
    _skip_reduce_only_states(table, actions, rule_index, sources, shapes)

    # Terminals a callback may see (named ones, and keywords of `!` rules); the others
    # are dropped by Lark's child filters, so the loop pushes None for them.
    kept: set[str] = set()
    for rule in rule_index:
        for symbol in rule.expansion:
            if symbol.is_term and (rule.options.keep_all_tokens or not symbol.filter_out):
                kept.add(str(symbol.name))

    name_re = re.compile(terminals["NAME"].pattern.to_regexp())
    keywords: dict[str, str] = {}
    literals: dict[str, list[str]] = {}
    order = sorted(
        terminals.values(),
        key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name),
    )
    for t in order:
        if t.pattern.type == "str":
            value = t.pattern.value
            if name_re.fullmatch(value):
                keywords[str(value)] = str(t.name)
            else:
                literals.setdefault(str(value), []).append(str(t.name))
        for value in _REGEX_LITERALS.get(t.name, ()):
            literals.setdefault(value, []).append(str(t.name))
    for name in _WORDLIKE:
        pattern = re.compile(terminals[name].pattern.to_regexp())
        for word in re.findall(r"[A-Za-z]+", terminals[name].pattern.value):
            if pattern.fullmatch(word):
                keywords[str(word)] = name
    ops = "|".join(re.escape(v) for v in sorted(literals, key=len, reverse=True))

    def rx(name: str) -> str:
        return str(terminals[name].pattern.to_regexp())

    # Blanks before a lexeme are matched with it (one match per lexeme, not two); blanks
    # before nothing else (the end of the text) are a lexeme of their own.
    lexemes = "|".join(
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
            f"(?P<DOTS>{rx('DOTS')})",
            f"(?P<OP>{ops})",
        )
    )
    blank = rx("__IGNORE_0")
    scanner = f"(?:{blank})?(?:{lexemes})|(?P<WS>{blank})|(?P<ERR>[\\s\\S])"
    return {
        "actions": actions,
        "shapes": shapes,
        "reducers": compile("".join(sources), "<dana reducers>", "exec"),
        "kept": sorted(kept),
        "keywords": keywords,
        "literals": {value: tuple(names) for value, names in literals.items()},
        "scanner": scanner,
        "start_states": {str(k): int(v) for k, v in table.start_states.items()},
        "end_states": {str(k): int(v) for k, v in table.end_states.items()},
    }


def load_tables(path: str, key: str) -> dict[str, Any] | None:
    """Tables saved by `save_tables` under the same key, else None."""
    try:
        with open(path, "rb") as f:
            saved = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != key:
        return None
    return saved


def save_tables(path: str, key: str, tables: dict[str, Any]) -> None:
    """Write atomically (concurrent first runs each write a whole file)."""
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temp, "wb") as f:
            marshal.dump({**tables, "key": key}, f)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass


class FastParser:
    """Lark's LALR tables and rule shapes, driven by one loop per parse."""

    def __init__(self, tables: dict[str, Any], builder: Any, reserved: frozenset[str]) -> None:
        self.reserved = reserved
        self.actions: list[dict[str, int]] = tables["actions"]
        self.start_states: dict[str, int] = tables["start_states"]
        self.end_states: dict[str, int] = tables["end_states"]
        self.kept = frozenset(tables["kept"])
        # every word that is not simply a NAME: keywords, and reserved words as "" (a
        # terminal no state accepts)
        self.keywords: dict[str, str] = {**dict.fromkeys(reserved, ""), **tables["keywords"]}
        self.literals: dict[str, tuple[str, ...]] = tables["literals"]
        # operators of one terminal that the loop does nothing more with than shift
        self.plain_ops = {
            value: names[0]
            for value, names in self.literals.items()
            if len(names) == 1
            and value not in ("::", "->")
            and names[0] not in _OPEN
            and names[0] not in _CLOSE
        }
        # brackets of one terminal: the loop tracks their nesting
        self.open_ops = {v: n[0] for v, n in self.literals.items() if len(n) == 1 and n[0] in _OPEN}
        self.close_ops = {
            v: n[0] for v, n in self.literals.items() if len(n) == 1 and n[0] in _CLOSE
        }
        self.scanner = re.compile(tables["scanner"])
        # the scanner's group numbers, which the loop dispatches on
        groups = self.scanner.groupindex
        self.groups = tuple(
            groups[name]
            for name in ("WORD", "OP", "NL", "DEC", "DOTS", "SCOPED", "FLOAT", "WS", "ERR")
        )
        self.strings = {groups[kind]: kind for kind in _STRINGS}
        namespace: dict[str, Any] = {"B": builder, "tree": _tree, "R": []}
        exec(tables["reducers"], namespace)  # noqa: S102 - generated from the grammar's rules
        reducers: list[Reducer | None] = namespace["R"]
        # (minus the rule's length, the symbol it makes, its reducer): the loop slices the
        # stacks at the first; no reducer: the value stays (a `?rule` with its one child)
        self.rules: list[tuple[int, str, Reducer | None]] = [
            (-size, origin, reducer)
            for (size, origin), reducer in zip(tables["shapes"], reducers, strict=True)
        ]
        self.by_action = self.rules[::-1]  # by_action[~rule] is rules[rule]
        self.fused = len(self.actions)
        # by the action `fused + rule`, what shifting a token and reducing it at once
        # does: (the symbol made, the reducer, the builder's `<rule>_at` that makes a
        # literal's node from the lexeme, with no token)
        self.fusions: list[tuple[str, Reducer | None, Maker | None] | None] = [None] * self.fused
        for reducer, (_, origin, _) in zip(reducers, self.rules, strict=True):
            maker = None
            if getattr(reducer, "__self__", None) is builder:
                maker = getattr(builder, f"{getattr(reducer, '__name__', '')}_at", None)
            self.fusions.append((origin, reducer, maker))

    def parse(self, text: str, start: str, line: int = 1, column: int = 1) -> Any:
        """The value the start rule's callback returns; `Fallback` when Lark must decide.
        `line` and `column` are where `text` starts (the tokens' positions count from there)."""
        actions = self.actions
        rules = self.rules
        by_action = self.by_action
        fusions = self.fusions
        fused = self.fused
        kept = self.kept
        keywords = self.keywords
        literals = self.literals
        plain_ops = self.plain_ops
        open_ops = self.open_ops
        close_ops = self.close_ops
        reserved = self.reserved
        new_token = str.__new__

        states = [self.start_states[start]]
        values: list[Any] = []
        end_state = self.end_states[start]

        def reduce(action: int) -> None:
            cut, origin, callback = by_action[action]
            if callback is None:
                states[-1] = actions[states[-2]][origin]
            elif cut == -1:
                values[-1] = callback([values[-1]])
                states[-1] = actions[states[-2]][origin]
            elif cut:
                children = values[cut:]
                del values[cut:]
                del states[cut:]
                values.append(callback(children))
                states.append(actions[states[-1]][origin])
            else:
                values.append(callback([]))
                states.append(actions[states[-1]][origin])

        def feed(kind: str) -> None:
            """Shift a token the builder never sees (after the reductions it causes)."""
            while True:
                row = actions[states[-1]]
                action = row.get(kind)
                if action is None:
                    raise Fallback
                if action >= 0:
                    if action < fused:
                        states.append(action)
                        values.append(None)
                    else:  # the state shifted to only reduces the token: do it now
                        _, origin, callback = rules[action - fused]
                        states.append(row[origin])
                        values.append(None if callback is None else callback([None]))
                    return
                reduce(action)

        def token(kind: str, value: str, start_pos: int, line: int, column: int) -> Token:
            tok = new_token(Token, value)
            tok.type = kind
            tok.value = value
            tok.start_pos = start_pos
            tok.line = line
            tok.column = column
            if "\n" in value:
                tok.end_line = line + value.count("\n")
                tok.end_column = len(value) - value.rindex("\n")
            else:
                tok.end_line = line
                tok.end_column = column + len(value)
            tok.end_pos = start_pos + len(value)
            return tok

        line_base = -column  # a lexeme's column is its offset minus this
        paren_level = 0
        indents = [0]
        # [opening bracket, lambdas awaiting their `::`] (postlex._split_slice_colons)
        brackets: list[list[Any]] = [["", 0]]
        pos = 0
        finditer = self.scanner.finditer
        g_word, g_op, g_nl, g_dec, g_dots, g_scoped, g_float, g_ws, g_err = self.groups
        strings = self.strings
        while True:
            for match in finditer(text, pos):
                # the lexeme's group, the last one to close (every alternative is a group)
                group: int = match.lastindex  # type: ignore[assignment]
                value = match.group(group)
                # where it starts (`match.start(group)`) is read only by the lexemes that need it
                row = actions[states[-1]]
                if group == g_word:
                    kind = keywords.get(value)
                    if kind is None:
                        kind = "NAME"
                    elif kind not in row:
                        # a keyword is a keyword only where the parser state accepts it
                        if value in reserved:
                            raise Fallback
                        kind = "NAME"
                    elif kind == "LAMBDA":
                        brackets[-1][1] += 1
                elif group == g_op:
                    kind = plain_ops.get(value)
                    if kind is not None:
                        pass  # not in `row`: the shift below falls back
                    elif value in open_ops:
                        kind = open_ops[value]
                        brackets.append([kind, 0])
                        paren_level += 1
                    elif value in close_ops:
                        kind = close_ops[value]
                        if len(brackets) > 1:
                            brackets.pop()
                        paren_level -= 1
                        if paren_level < 0:
                            raise Fallback
                    else:
                        kind = ""
                        for candidate in literals[value]:
                            if candidate in row:
                                kind = candidate
                                break
                        if value == "::":
                            if not kind:
                                # Lark lexes one ':' here and the next lexeme from the second
                                if "COLON" not in row:
                                    raise Fallback
                                feed("COLON")
                                pos = match.start(group) + 1
                                break
                            if brackets[-1][1] > 0:
                                brackets[-1][1] -= 1
                            elif brackets[-1][0] == "LSQB":  # `x[a::2]`: two slice colons
                                feed("COLON")
                                feed("COLON")
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
                elif group == g_nl:
                    if paren_level:
                        if "\n" in value:
                            line += value.count("\n")
                            line_base = match.start(group) + value.rindex("\n")
                        continue
                    kind = "_NEWLINE"  # shifted below; the indentation after it
                elif group == g_dec:
                    kind = "DEC_NUMBER"
                elif group == g_dots:
                    kind = "DOTS" if "DOTS" in row or value != "." else "DOT"
                elif group == g_scoped:
                    kind = "SCOPED_NAME"
                elif group == g_float:
                    kind = "FLOAT_NUMBER"
                elif group == g_ws:
                    continue
                elif group == g_err:
                    raise Fallback
                else:
                    kind = strings[group]  # the four string terminals
                # shift the token, after the reductions it causes (`feed`, inlined: most of
                # the parse runs here); a KeyError is an action the table does not have
                try:
                    action = row[kind]
                    while action < 0:
                        cut, origin, callback = by_action[action]
                        if callback is None:
                            states[-1] = actions[states[-2]][origin]
                        elif cut == -1:
                            values[-1] = callback([values[-1]])
                            states[-1] = actions[states[-2]][origin]
                        elif cut:
                            values[cut:] = [callback(values[cut:])]
                            states[cut:] = [actions[states[cut - 1]][origin]]
                        else:
                            values.append(callback([]))
                            states.append(actions[states[-1]][origin])
                        row = actions[states[-1]]
                        action = row[kind]
                except KeyError:
                    raise Fallback from None
                if action < fused:
                    states.append(action)
                    if kind in kept:
                        start_pos = match.start(group)
                        values.append(token(kind, value, start_pos, line, start_pos - line_base))
                    else:
                        values.append(None)
                else:
                    # the state shifted to only reduces the token (`atom_expr: NAME`, ...):
                    # reduce it now, with no token for the literals' builders
                    # (the padding below `fused` is never an action here)
                    origin, callback, maker = fusions[action]  # type: ignore[misc]
                    states.append(row[origin])
                    column = match.start(group) - line_base
                    if maker is not None:
                        values.append(maker(value, kind, line, column))
                    else:
                        tok = (
                            token(kind, value, column + line_base, line, column)
                            if kind in kept
                            else None
                        )
                        values.append(tok if callback is None else callback([tok]))
                if kind in _MULTILINE:
                    if kind == "_NEWLINE":
                        indent_str = value.rsplit("\n", 1)[1]
                        indent = indent_str.count(" ") + indent_str.count("\t") * _TAB_LEN
                        if indent > indents[-1]:
                            indents.append(indent)
                            feed("_INDENT")
                        else:
                            while indent < indents[-1]:
                                indents.pop()
                                feed("_DEDENT")
                            if indent != indents[-1]:
                                raise Fallback
                    if "\n" in value:
                        line += value.count("\n")
                        line_base = match.start(group) + value.rindex("\n")
            else:
                break
        while len(indents) > 1:
            indents.pop()
            feed("_DEDENT")
        # $END: reduce until the start rule is complete
        while True:
            end_action = actions[states[-1]].get("$END")
            if end_action is None or end_action >= 0:
                raise Fallback
            reduce(end_action)
            if states[-1] == end_state:
                return values[-1]
