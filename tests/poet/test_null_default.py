"""`null` for a @poet parameter with a default gives the default, in Dana as in Python."""

from __future__ import annotations

from pathlib import Path

from dana_poet import poet
from tests.cli.helpers import dana_poet, write

NULL_NA = """\
@poet()
def quote(amount: float, rate: float = 0.05, label: str = "std") -> str:
    return f"{label}:{amount * rate}"

print(quote(100.0, null))
print(quote(100.0, null, null))
print(quote(100.0, rate=null, label="vip"))
print(quote(100.0, 0.1))
"""


def test_dana_null_gives_the_default_with_no_warning(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'p'\n", "prog.na": NULL_NA})
    for _ in range(2):  # the first run generates the stage code, the second reads it back
        done = dana_poet(tmp_path, "run", "prog.na")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["std:5.0", "std:5.0", "vip:5.0", "std:10.0"]
        assert done.stderr == ""  # the generated Perceive stage saw the default: nothing dropped


def test_dana_null_for_a_parameter_without_default_is_still_refused(tmp_path: Path) -> None:
    source = "@poet()\ndef half(x: float) -> float:\n    return x / 2\n\nprint(half(null))\n"
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'p'\n", "prog.na": source})
    done = dana_poet(tmp_path, "run", "prog.na")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "prog.na:5: error: POETInputError: half(): parameter 'x' expects float, got None"
    )


def test_python_none_gives_the_default_and_optional_parameters_keep_none() -> None:
    @poet()
    def quote(amount: float, rate: float = 0.05, note: str | None = "n") -> str:
        return f"{amount * rate}:{note}"

    assert quote(100.0, None) == "5.0:n"
    assert quote(100.0, rate=None) == "5.0:n"
    assert quote(100.0, 0.1, None) == "10.0:None"  # None is a value `str | None` allows
    assert quote(100.0, None, note=None) == "5.0:None"
