"""Whatever text `parse` is given, it either returns a Module or raises DanaSyntaxError."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dana_poet.lang import ast as A
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.parser import parse, parse_expression
from tests.hypothesis_profile import examples
from tests.lang.dana_fixtures import FIXTURES

PROGRAMS = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.rglob("*.na"))]

KEYWORDS = """if elif else while for in is not and or def sync return break continue pass try
except finally raise assert import from as with struct resource workflow interface agent
agent_blueprint lambda true false null None private: public: system: local: deliver yield
global del export""".split()
PUNCTUATION = """( ) [ ] { } : :: , . .. ... = == != < > <= >= + - * / // % ** += -= *= /= //= | @
-> $$ ! ; \\ # ' \" \"\"\" ''' f\" f' r\" { { } } {{ }}""".split()
ATOMS = [
    "x",
    "y",
    "f",
    "Point",
    "0",
    "007",
    "1.5",
    ".5",
    "1e3",
    '"s"',
    "'t'",
    'f"{x}"',
    'f"{x:>{w}}"',
    'f"{x!r}"',
    'r"\\d"',
    '"""doc"""',
    "private:x",
    "$$",
    "lambda x :: x",
]
LAYOUT = ["\n", "\n    ", "\n        ", "\n  ", "\t", " ", "  ", "\r\n", "\n\n"]

dana_tokens = st.sampled_from(KEYWORDS + PUNCTUATION + ATOMS + LAYOUT)
token_soup = st.lists(dana_tokens, max_size=40).map(" ".join)
tight_soup = st.lists(dana_tokens, max_size=40).map("".join)
line_based = st.lists(
    st.tuples(st.sampled_from(["", "    ", "        ", "\t"]), st.lists(dana_tokens, max_size=8)),
    max_size=8,
).map(lambda lines: "\n".join(indent + " ".join(toks) for indent, toks in lines))


@st.composite
def mutated_programs(draw: st.DrawFn) -> str:
    """A real program with a few random edits: deletions, insertions, swapped lines."""
    text = draw(st.sampled_from(PROGRAMS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "token", "swap_lines", "indent"]))
        if edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif edit == "insert":
            text = text[:at] + draw(st.text(max_size=3)) + text[at:]
        elif edit == "token":
            text = text[:at] + draw(dana_tokens) + text[at:]
        elif edit == "indent":
            start = text.rfind("\n", 0, at) + 1
            text = text[:start] + draw(st.sampled_from(["  ", "\t", "    "])) + text[start:]
        else:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def _parses_or_reports(text: str) -> None:
    try:
        module = parse(text, "fuzz.na")
    except DanaSyntaxError as err:
        assert err.filename == "fuzz.na"
        rendered = err.render()
        assert rendered.startswith("fuzz.na")
        assert err.line >= 0 and err.column >= 0
    else:
        assert isinstance(module, A.Module)


FUZZ = settings(
    max_examples=examples(int(os.environ.get("FUZZ_EXAMPLES", "400"))),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.text(max_size=60))
@example(")")
@example("]")
@example("  x = 1")
@example("if x:\n        y\n    z\n")
@example("x = 1\n  y = 2\n")
@example('f"{"')
@example('f"}"')
@example('f"{}"')
@example('f"{x!z}"')
@example('f"{x:{y:{z}}}"')
@example("x[1::2]")
@example("def f(a=1, b):\n    pass\n")
@example("f(a=1, 2)")
@example("f(a=1, a=2)")
@example("try:\n    pass\n")
@example("struct A(B):\n    x: int\n")
@example("(a, b) = 1")
@example("\\")
@example("\x00")
@example("\ufeffx = 1")
@example("x = '\\N{NOT A NAME}'")
@example("'''")
def test_any_text_parses_or_raises_a_syntax_error(text: str) -> None:
    _parses_or_reports(text)


@FUZZ
@given(st.one_of(token_soup, tight_soup, line_based))
def test_dana_token_soup_parses_or_raises_a_syntax_error(text: str) -> None:
    _parses_or_reports(text)


@FUZZ
@given(mutated_programs())
def test_damaged_real_programs_parse_or_raise_a_syntax_error(text: str) -> None:
    _parses_or_reports(text)


@FUZZ
@given(st.one_of(st.text(max_size=30), token_soup))
def test_expressions_parse_or_raise_a_syntax_error(text: str) -> None:
    try:
        parse_expression(text)
    except DanaSyntaxError:
        pass


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(DanaSyntaxError):
        parse("x = " + "(" * 5000 + "1" + ")" * 4999)
