"""Bad programs: where the syntax error points and what it says.

Each row is (program, line, column, fragment). `column` None means only the line is
checked. The fragment is looked for in the rendered error (message and hint).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.parser import parse
from tests.lang.dana_fixtures import run_cli

BAD_PROGRAMS = [
    ("if x print(x)\n", 1, 6, "ends with ':'"),
    ("if x: print(x)\n", 1, 7, "body goes on the next lines"),
    ("def f()\n    pass\n", 1, 8, "expected ':'"),
    ("x = (1, 2\n", 1, 5, "'(' was never closed"),
    ("x = (1, 2\n", 1, 5, "stopped at line 1, column 10: unexpected end of the file"),
    ("x = [1, 2\ny = 3\n", 1, 5, "'[' was never closed"),
    ("x = [1, 2\ny = 3\n", 1, 5, "stopped at line 2, column 1: unexpected 'y'"),
    ('d = {"a": [1,\n  2]\n', 1, 5, "'{' was never closed"),
    ("def f():\n    y = g(1, (2,\n    return 3\n", 2, 14, "'(' was never closed"),
    ('s = "(["  # ( [\nx = g("a(",\n  2\n', 2, 6, "'(' was never closed"),
    ("x = f(a b)\n", 1, 9, "unexpected 'b'"),
    ("x = (1 +\n  * 2)\n", 2, 3, "unexpected '*'"),
    ("print('ok')\nx = )\n", 2, 5, "unexpected ')'"),
    ("x = 1 +\n", 1, 8, "unexpected end of line"),
    ("x = 1 if y\n", 1, 11, "expected 'else'"),
    ("y = x | f\n", 1, 7, "only allowed in declarative definitions"),
    ("a, b = 1, 2\n", 1, 2, "no tuple unpacking"),
    ("t = 1, 2\n", 1, 6, "bare tuples"),
    ("f = lambda x: x * 2\n", 1, 17, "lambdas use '::'"),
    ('x = "abc\n', 1, 5, "unterminated string"),
    ("x = 'ok'\ny = \"unterminated\n", 2, 5, "unterminated string"),
    ('print("a" "b")\n', 1, 11, "unexpected '\"b\"'"),
    ("if x:\n    y = 1\n  z = 2\n", 3, 3, "indentation"),
    ("x = 1\n    y = 2\n", 2, 5, "indented more than the block"),
    ("def f(x):\nreturn x\n", 2, 1, "expected an indented block"),
    ("while x:\n", 1, 9, "expected an indented block"),
    ("else:\n    pass\n", 1, 1, "'else'"),
    ("def f(a=1, b):\n    pass\n", 1, 12, "'b' without a default"),
    ("def f(a, a):\n    pass\n", 1, 10, "duplicate parameter 'a'"),
    ("def f(*args):\n    pass\n", 1, 7, "unexpected '*'"),
    ("f(a=1, 2)\n", 1, 8, "positional argument follows keyword argument"),
    ("f(a=1, a=2)\n", 1, 8, "keyword argument 'a' repeated"),
    ("try:\n    pass\nx = 1\n", 1, 1, "needs at least one 'except'"),
    ("struct A(B):\n    x: int\n", 1, None, "cannot inherit"),
    ('x = f"{a"\n', 1, 7, "never closed"),
    ('x = f"}"\n', 1, 7, "single '}'"),
    ('x = f"{x!z}"\n', 1, 9, "unknown conversion '!z'"),
    ('y = 1\nx = f"a {)y} b"\n', 2, 10, "unexpected ')'"),
    ('y = 1\nx = f"a {  )y}"\n', 2, 12, "unexpected ')'"),
    ('y = 1\nx = f"{y} {y + }"\n', 2, 15, "unexpected end of the f-string field"),
    ('y = 1\nx = f"""a\n  {y} {]y}"""\n', 3, 8, "unexpected ']'"),
    ('y = 1\nx = rf"{y:>{)}}"\n', 2, 12, "never closed"),
    ('y = 1\nx = f"{y:{y!q}}"\n', 2, 12, "unknown conversion '!q'"),
    ('x = f"{d["k"]}"\n', 1, None, "unexpected"),
    ("d = {k: v for k in}\n", 1, 19, "unexpected '}'"),
    ("x = {(k: v) for k in}\n", 1, 21, "unexpected '}'"),
    ("for i, (a, b) in xs:\n    pass\n", 1, 8, "unexpected '('"),
    ("agent = 5\n", 1, 7, "unexpected '='"),
    ("private.count = 0\n", 1, 1, "'private' is a reserved word"),
    ("and = 1\n", 1, 1, "'and' is a reserved word"),
    ("def f(if):\n    pass\n", 1, 7, "'if' is a reserved word"),
    ("deliver x\n", 1, 1, "'deliver' is a reserved word"),
    ("x //= 2\n", 1, 5, "unexpected '='"),
    ("x = 0x1F\n", 1, 6, "unexpected 'x1F'"),
    ("class A:\n    pass\n", 1, 7, "unexpected 'A'"),
    ("x = 1; y = 2\n", 1, 6, "unexpected character ';'"),
    ("x = 1 + \\\n    2\n", 1, 9, "unexpected character '\\\\'"),
    ("x == 1 = 2\n", 1, 1, "cannot assign to this expression"),
    ("f() = 1\n", 1, 1, "cannot assign to this expression"),
    ("import\n", 1, 7, "expected a name"),
]


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"), BAD_PROGRAMS, ids=[r[0] for r in BAD_PROGRAMS]
)
def test_syntax_error_location_and_message(
    source: str, line: int, column: int | None, fragment: str
) -> None:
    with pytest.raises(DanaSyntaxError) as info:
        parse(source, "prog.na")
    err = info.value
    assert err.filename == "prog.na"
    assert err.line == line, err.render()
    if column is not None:
        assert err.column == column, err.render()
    assert fragment in err.render()


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"), BAD_PROGRAMS, ids=[r[0] for r in BAD_PROGRAMS]
)
def test_rendered_error_shows_the_line_and_a_caret(
    source: str, line: int, column: int | None, fragment: str
) -> None:
    with pytest.raises(DanaSyntaxError) as info:
        parse(source, "prog.na")
    rendered = info.value.render().splitlines()
    where = f"prog.na:{line}:" + (f"{column}:" if column is not None else "")
    assert rendered[0].startswith(where), rendered[0]
    source_line = source.splitlines()[line - 1]
    assert rendered[1] == "    " + source_line
    if column is not None:
        caret = rendered[2]
        assert caret.strip() == "^"
        assert len(caret) - 4 == column  # "    " + padding + "^"


# Errors found when compiling, before anything runs.
COMPILE_ERRORS = [
    ("print('no')\nbreak\n", 2, 1, "'break' outside a loop"),
    ("def f():\n    continue\n", 2, 5, "'continue' outside a loop"),
    ("print('no')\nreturn 1\n", 2, 1, "'return' outside a function"),
    ("x = $$\n", 1, 5, "'$$' can only be used inside a pipeline"),
]


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"),
    BAD_PROGRAMS[:6] + COMPILE_ERRORS,
    ids=[r[0] for r in BAD_PROGRAMS[:6] + COMPILE_ERRORS],
)
def test_cli_reports_syntax_errors_with_exit_code_2(
    tmp_path: Path, source: str, line: int, column: int | None, fragment: str
) -> None:
    result = run_cli(tmp_path, source)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # nothing ran
    assert result.stderr.startswith(f"prog.na:{line}:{column}: syntax error:")
    assert fragment in result.stderr
    assert "^" in result.stderr
    assert "Traceback" not in result.stderr and "dana_poet" not in result.stderr


def test_cli_parse_reports_syntax_errors_with_exit_code_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "x = (1,\n", command="parse")
    assert result.returncode == 2
    assert result.stderr.startswith("prog.na:1:")
    assert "Traceback" not in result.stderr


def test_fstring_field_expressions_carry_their_place_in_the_file() -> None:
    from dana_poet.lang import ast as A
    from dana_poet.lang.analysis import walk

    module = parse('x = 1\ny = f"ab {x + 1} {  x!r:>{x}}"\nz = f"""\n  {x}"""\n', "prog.na")
    names = [n for n in walk(module, into_scopes=True) if isinstance(n, A.Name) and n.id == "x"]
    starts = sorted((n.span.line, n.span.column) for n in names)
    assert starts == [(1, 1), (2, 11), (2, 21), (2, 27), (4, 4)]
