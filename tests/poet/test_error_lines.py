"""POET errors point at the user's code: Perceive at the call line, Enforce at the return/def line.

Through `dana-poet run` on .na files (the exact lines printed) and through the
Python API's traceback. No line of generated code is shown as a line of the
user's file.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from dana_poet import poet
from dana_poet.poet.errors import POETInputError, POETOutputError
from tests.cli.helpers import dana_poet, write

PERCEIVE_NA = """\
@poet(domain="financial_services")
def check(score: int, income: float = 1000.0) -> str:
    return "ok"


print("before")
x = check("abc")
print(x)
"""

ENFORCE_NA = """\
@poet()
def count(items: list) -> int:

    n = len(items)
    return "many"

print(count([1, 2]))
"""

ENFORCE_MANY_RETURNS_NA = """\
@poet()
def pick(flag: bool) -> int:
    if flag:
        return "yes"
    return "no"

print(pick(true))
"""

NESTED_NA = """\
@poet()
def inner(n: int) -> int:
    return n


def outer(text: str) -> int:
    return inner(text)

print(outer("lots"))
"""


def _run(tmp_path: Path, source: str) -> tuple[int, list[str]]:
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'p'\n", "prog.na": source})
    done = dana_poet(tmp_path, "run", "prog.na")
    return done.returncode, done.stderr.splitlines()


def test_a_perceive_error_names_the_call_line_and_the_parameter(tmp_path: Path) -> None:
    code, err = _run(tmp_path, PERCEIVE_NA)
    assert code == 1
    assert err[0].startswith("prog.na:7: error: POETInputError: check(): parameter 'score'")
    assert err[1:4] == [
        "Dana call chain (most recent call last):",
        "  prog.na:7 in top level",
        '      x = check("abc")',
    ]
    assert len(err) == 4, err


def test_an_enforce_error_names_the_return_line(tmp_path: Path) -> None:
    code, err = _run(tmp_path, ENFORCE_NA)
    assert code == 1
    assert err[0] == (
        "prog.na:5: error: POETOutputError: count(): result 'many' (str) is not a valid int "
        "(rule: return type int)"
    )
    assert err[1:] == [
        "Dana call chain (most recent call last):",
        "  prog.na:7 in top level",
        "      print(count([1, 2]))",
        "  prog.na:5 in count",
        '      return "many"',
    ]


def test_an_enforce_error_of_a_function_with_several_returns_names_its_def_line(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, ENFORCE_MANY_RETURNS_NA)
    assert code == 1
    assert err[0].startswith("prog.na:2: error: POETOutputError: pick(): result 'yes' (str)")
    assert err[-2:] == ["  prog.na:2 in pick", "      def pick(flag: bool) -> int:"]


def test_a_perceive_error_inside_a_dana_function_names_that_call(tmp_path: Path) -> None:
    code, err = _run(tmp_path, NESTED_NA)
    assert code == 1
    assert err[0].startswith("prog.na:7: error: POETInputError: inner(): parameter 'n'")
    assert err[1:] == [
        "Dana call chain (most recent call last):",
        "  prog.na:9 in top level",
        '      print(outer("lots"))',
        "  prog.na:7 in outer",
        "      return inner(text)",
    ]


def test_every_line_shown_is_the_users_own(tmp_path: Path) -> None:
    """Each `prog.na:N` printed quotes line N of prog.na, and no line N is blank."""
    for source in (PERCEIVE_NA, ENFORCE_NA, ENFORCE_MANY_RETURNS_NA, NESTED_NA):
        _, err = _run(tmp_path, source)
        lines = source.splitlines()
        shown = [e for e in err if e.startswith("  prog.na:")]
        assert shown
        for entry, quoted in zip(err, err[1:], strict=False):
            if entry.startswith("  prog.na:"):
                number = int(entry.split(":")[1].split()[0])
                assert lines[number - 1].strip(), f"blank line {number} named: {err}"
                assert quoted.strip() == lines[number - 1].strip()


# --------------------------------------------------------------------------- Python API


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(exc.__traceback__))


def test_python_perceive_error_traceback_ends_at_the_call_line() -> None:
    @poet()
    def area(width: float, height: float) -> float:
        return width * height

    with pytest.raises(POETInputError) as info:
        area(2.0, "tall")  # the call line
    frames = _frames(info.value)
    ours = [f for f in frames if f.filename == __file__]
    assert ours[-1].line == 'area(2.0, "tall")  # the call line'
    assert info.value.parameter == "height"
    after_call = frames[frames.index(ours[-1]) + 1 :]
    # below the call line only the wrapper and the step that raised it again: no frame of
    # the Perceive engine, of stage code or of the store
    shown = {Path(f.filename).name for f in after_call}
    assert shown == {"<poet warm path of area>", "orchestrate.py"}, after_call


def test_python_enforce_error_names_the_return_line_in_a_note() -> None:
    @poet()
    def words(n: int) -> int:
        return "several"  # the return line

    with pytest.raises(POETOutputError) as info:
        words(3)
    line = words.__wrapped__.__code__.co_firstlineno + 2
    assert info.value.returned_at == (__file__, line, "words")  # type: ignore[attr-defined]
    rendered = "".join(traceback.format_exception(info.value))
    assert f'the result came from words(): File "{__file__}", line {line}' in rendered
    ours = [f for f in _frames(info.value) if f.filename == __file__]
    assert ours[-1].line == "words(3)"


def test_an_error_raised_by_the_users_function_keeps_its_frames() -> None:
    @poet()
    def explode(n: int) -> int:
        raise ValueError("boom")  # the user's own raise

    with pytest.raises(ValueError) as info:
        explode(1)
    assert _frames(info.value)[-1].line == 'raise ValueError("boom")  # the user\'s own raise'
