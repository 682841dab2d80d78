"""The printer: Dana AST -> Dana source that parses back to the same AST."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from dana_poet.lang import ast as A
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.parser import parse, parse_expression
from dana_poet.lang.printer import dump_ast, to_source
from tests.hypothesis_profile import examples
from tests.lang.ast_strategies import expressions, modules, statements
from tests.lang.dana_fixtures import FIXTURES, ROOT
from tests.lang.test_parser_fuzz import mutated_programs

PROGRAMS = sorted(
    {*FIXTURES.rglob("*.na"), *(ROOT / "tests").rglob("*.na"), *(ROOT / "examples").rglob("*.na")}
)

# Sources the printer reproduces exactly: canonical spacing, parentheses only where needed.
CANONICAL_EXPRESSIONS = [
    "a + b * c",
    "(a + b) * c",
    "a - (b - c)",
    "a - b - c",
    "a / (b * c)",
    "-3 ** 2",
    "(-3) ** 2",
    "2 ** 3 ** 2",
    "(2 ** 3) ** 2",
    "2 ** -1",
    "--x",
    "-(a + b)",
    "not a == b",
    "(not a) == b",
    "not not a",
    "a and b or c",
    "a and (b or c)",
    "(a or b) or c",
    "a or (b or c)",
    "not (a and b)",
    "a < b < c",
    "(a < b) < c",
    "a not in b",
    "a is not null",
    "x if c else y",
    "(x if c else y) if d else z",
    "x if c else y if d else z",
    "(lambda :: 1)()",
    "lambda x :: x * 2",
    "lambda a: int, b: int = 0 :: a + b",
    "lambda (p: Point) dx :: p.x + dx",
    "lambda x = (a if b else c) :: x",
    "f(lambda x :: x, k=lambda :: 0)",
    "[lambda :: 1, 2]",
    "(lambda :: 1) + 1",
    "f(a, b=1)(c).d[e]",
    "(a + b).c",
    "(1).real",
    "1.5.real",
    '"s".upper()',
    "x[1:2]",
    "x[::2]",
    "x[1::2]",
    "x[:]",
    "x[a, b:c]",
    "x[(a, b)]",
    "(1,)",
    "()",
    "(1, 2)",
    "[1, (2, 3)]",
    "{1, 2}",
    "{}",
    '{"a": 1, 2: [3]}',
    "[x for x in xs if x > 0]",
    "[(x if c else y) for x, y in pairs]",
    "{x for x in xs}",
    "(x for x in xs)",
    "{(k: v) for k, v in d.items()}",
    "[a * b for a in xs for b in ys if b]",
    "sum(x for x in xs)",
    "private:x + public:y + system:z + local:w",
    "private:cfg['k'].x",
    "$$",
    "(x += 1)",
    "true and false or null",
]


@pytest.mark.parametrize("source", CANONICAL_EXPRESSIONS)
def test_canonical_expressions_print_unchanged(source: str) -> None:
    assert to_source(parse_expression(source)) == source.replace("'k'", '"k"')


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ("((a))", "a"),
        ("(a * b) + c", "a * b + c"),
        ("a + (b * c)", "a + b * c"),
        ("(a.b)(c)", "a.b(c)"),
        ("-(3) ** 2", "-3 ** 2"),
        ("(f(x))[0]", "f(x)[0]"),
        ("not (a)", "not a"),
        ("(lambda x :: x)", "lambda x :: x"),
        ("[1,2,]", "[1, 2]"),
        ("TRUE", "true"),
        ("None", "null"),
        ("007", "7"),
        (".5", "0.5"),
        ("1e3", "1000.0"),
    ],
)
def test_redundant_parentheses_and_spellings_are_normalised(source: str, printed: str) -> None:
    assert to_source(parse_expression(source)) == printed


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("plain", '"plain"'),
        ('say "hi"', "'say \"hi\"'"),
        ('it\'s "x"', '"it\'s \\"x\\""'),
        ("a\nb\tc\\", '"a\\nb\\tc\\\\"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("\u2028", '"\\u2028"'),
        ("é😀", '"é😀"'),
    ],
)
def test_strings_are_quoted_with_escapes(value: str, printed: str) -> None:
    assert to_source(A.Constant(value)) == printed
    assert parse_expression(printed) == A.Constant(value)


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ('f"hi {name}"', 'f"hi {name}"'),
        ("f'{v:.2f}'", 'f"{v:.2f}"'),
        ('f"{x!r:>{width}}"', 'f"{x!r:>{width}}"'),
        ('f"{{literal}} {x}"', 'f"{{literal}} {x}"'),
        ("f\"{d['k']}\"", "f\"{d['k']}\""),
        ('f"{ {1: 2}[1]}"', 'f"{ {1: 2}[1]}"'),
        ('f"{(lambda :: 1)()}"', 'f"{(lambda :: 1)()}"'),
        ("f\"{'a' if ok else 'b'}\"", "f\"{'a' if ok else 'b'}\""),
        ('f"{private:total}"', 'f"{private:total}"'),
        ("f\"{f'{x}'}\"", 'f"""{f"{x}"}"""'),
        ('f"a\\nb"', 'f"a\\nb"'),
    ],
)
def test_fstrings_are_rebuilt(source: str, printed: str) -> None:
    tree = parse_expression(source)
    assert to_source(tree) == printed
    assert parse_expression(printed) == tree


def test_quotes_inside_fstring_fields_never_clash() -> None:
    tree = parse_expression("f\"{d['it\\'s']} {g('a\\\"b')}\"")
    printed = to_source(tree)
    assert parse_expression(printed) == tree


CANONICAL_PROGRAMS = [
    "x = 1\nprivate:y: int = 2\nz: list[str]\nn += 1\nd['k'] -= 2\n",
    "if a:\n    pass\nelif b:\n    x = 1\nelse:\n    if c:\n        y = 2\n",
    "for k, v in d.items():\n    continue\nwhile true:\n    break\n",
    "try:\n    f()\nexcept (KeyError, IndexError) as e:\n    raise\n"
    "except ValueError:\n    raise e from x\nexcept as e:\n    pass\nexcept:\n    pass\n"
    "finally:\n    g()\n",
    "try:\n    pass\nfinally:\n    pass\n",
    "with open_thing(1) as f, other:\n    pass\n",
    "def f(a, b: int = 1) -> str:\n    return a, b\n",
    "sync def g():\n    return\n",
    "def (p: Point | Line) area(scale: float = 1.0) -> float:\n    return p.w * scale\n",
    "@poet(domain='x', retries=2)\n@log_calls\ndef f(x):\n    return x\n",
    "@tenfold()\ndef f(x) = a | b(1) as c | [d, e($$) as g] as h | m.n\n",
    "def f(x, y: int) -> int = g\n",
    "struct Point:\n    'A point.'\n    x: int\n    y: int = 0\n    tags: list[str] | None = null\n",
    "resource Store:\n    pass\n",
    "workflow W:\n    steps: list = []\n",
    "agent_blueprint Helper(Base):\n    domain: str = 'math'\n",
    "agent Solo\nagent Tutor(Helper)\nagent Coach(Helper):\n    domain = 'sports'\n",
    "interface Shape:\n    'Doc.'\n    area() -> float\n    describe(prefix: str) -> str\n    Printable\n",
    "import a.b.c as d\nimport math.py\nfrom m import x as y, z\nfrom m import *\n"
    "from . import s\nfrom ..pkg.mod import t\nfrom json.py import dumps\n",
    "assert x > 0, 'positive'\nraise 'text'\nprint(f'{x}')\n",
    "def outer():\n    def inner():\n        return 1\n    return inner\n",
]


@pytest.mark.parametrize("source", CANONICAL_PROGRAMS)
def test_canonical_programs_print_unchanged(source: str) -> None:
    expected = source.replace("'", '"')
    assert to_source(parse(source)) == expected


def test_agent_block_without_overrides_still_parses() -> None:
    tree = A.Module((A.AgentDecl("Solo", "Helper", (), True),))
    assert parse(to_source(tree)) == tree


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_program_round_trips(path: Path) -> None:
    tree = parse(path.read_text(encoding="utf-8"), str(path))
    printed = to_source(tree)
    again = parse(printed, str(path))
    assert again == tree
    assert to_source(again) == printed


@pytest.mark.parametrize(
    "node",
    [A.SetExpr(()), A.Constant(float("nan")), A.Constant(float("inf")), A.If(A.Name("x"), ())],
    ids=["empty set", "nan", "inf", "empty block"],
)
def test_nodes_without_dana_spelling_are_refused(node: A.Node) -> None:
    with pytest.raises(ValueError):
        to_source(node)


def test_types_print() -> None:
    assert to_source(
        A.TypeUnion((A.TypeRef("dict", (A.TypeRef("str"), A.TypeRef("int"))), A.TypeRef("None")))
    ) == ("dict[str, int] | None")


ROUND_TRIP = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@ROUND_TRIP
@given(expressions)
def test_random_expressions_round_trip(tree: A.Expr) -> None:
    assert parse_expression(to_source(tree)) == tree


@ROUND_TRIP
@given(statements)
def test_random_statements_round_trip(tree: A.Stmt) -> None:
    assert parse(to_source(tree)).body == (tree,)


@ROUND_TRIP
@given(modules)
def test_random_statement_lists_round_trip(tree: A.Module) -> None:
    assert parse(to_source(tree)) == tree


def test_dump_ast_shows_nodes_fields_and_positions() -> None:
    text = dump_ast(parse("x = f(1)\nif x:\n    pass\n"))
    lines = text.splitlines()
    assert lines[0] == "Assign  @1:1"
    assert "  target: Name id='x'  @1:1" in lines
    assert any(line.strip().startswith("Constant value=1") for line in lines)
    assert any(line.startswith("If  @2:") for line in lines)
    assert "Pass" in text


def test_cli_parse_ast_prints_the_tree(tmp_path: Path) -> None:
    (tmp_path / "p.na").write_text("def f(x) = a | b\n")
    result = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "parse", "--ast", "p.na"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DeclarativeDef name='f'")
    assert "StageCall func='a'" in result.stdout


@ROUND_TRIP
@given(mutated_programs())
def test_damaged_real_programs_that_still_parse_round_trip(text: str) -> None:
    try:
        tree = parse(text)
    except DanaSyntaxError:
        return
    assert parse(to_source(tree)) == tree
