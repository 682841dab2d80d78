"""Struct field writes: what the compiler stores without a check, and the errors of the
writes it refuses (the user's Dana line, the field and the value)."""

from __future__ import annotations

import dis
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from dana_poet.engine import new_program
from dana_poet.errors_report import format_runtime_error

PROGRAM = """\
struct Point:
    x: int
    y: int = 0

def (p: Point) bump(dx):
    p.x += dx

def loop_store(n):
    p = Point(x=0)
    for i in range(n):
        p.x = i
        p.y = i * 3 - 1
    return p

def copy_fields():
    p = Point(x=1)
    q = Point(x=2)
    q.y = p.x
    return q

def store_value(v):
    p = Point(x=0)
    p.x = v
    return p

def halves(n):
    p = Point(x=0)
    for i in range(n):
        p.x = i / 2
    return p

def add_to(v):
    p = Point(x=1)
    p.x += v
    return p
"""


def _run(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "writes.na"
    path.write_text(PROGRAM)
    return new_program(path).run_file(path)


def _names_used(fn: Any) -> set[str]:
    return {i.argval for i in dis.get_instructions(fn) if isinstance(i.argval, str)}


def test_stores_of_known_types_on_a_known_struct_have_no_check(tmp_path: Path) -> None:
    g = _run(tmp_path)
    for name in ("loop_store", "copy_fields"):
        used = _names_used(g[name])
        assert "__dana_pytype" not in used and "__dana_set_field" not in used, name
    assert "__dana_make" in _names_used(g["loop_store"])  # construction without type.__call__
    assert str(g["loop_store"](3)) == "Point(x=2, y=5)"
    assert str(g["copy_fields"]()) == "Point(x=2, y=1)"


def test_stores_of_unknown_types_keep_their_check(tmp_path: Path) -> None:
    g = _run(tmp_path)
    for name in ("store_value", "halves", "add_to", "bump"):
        assert "__dana_set_field" in _names_used(g[name]), name


@pytest.mark.parametrize(
    ("call", "statement", "fragments"),
    [
        (lambda g: g["store_value"]("7"), "p.x = v", ["expected int, got str ('7')"]),
        (lambda g: g["halves"](2), "p.x = i / 2", ["expected int, got float (0.0)"]),
        (lambda g: g["add_to"](0.5), "p.x += v", ["expected int, got float (1.5)"]),
        (lambda g: g["add_to"]("s"), "p.x += v", ["expected int, got str ('1s')"]),
        (lambda g: g["Point"](x=1).bump(0.25), "p.x += dx", ["got float (1.25)"]),
        (lambda g: g["bump"](g["Point"](x=1), 0.25), "p.x += dx", ["got float (1.25)"]),
    ],
)
def test_a_refused_write_names_the_dana_line_the_field_and_the_value(
    tmp_path: Path, call: Any, statement: str, fragments: list[str]
) -> None:
    line = [text.strip() for text in PROGRAM.splitlines()].index(statement) + 1
    g = _run(tmp_path)
    with pytest.raises(TypeError) as caught:
        call(g)
    report = format_runtime_error(caught.value)
    assert f"writes.na:{line}" in report, report
    assert "Type validation failed for struct 'Point': Field 'x'" in report
    for fragment in fragments:
        assert fragment in report, report


def test_the_method_on_the_struct_skips_only_the_receiver_test(tmp_path: Path) -> None:
    g = _run(tmp_path)
    method, function = g["Point"].__dict__["bump"], g["bump"]
    assert method is not function and method.__name__ == function.__name__ == "bump"
    assert "Point" in _names_used(function) and "Point" not in _names_used(method)
    assert "__dana_set_field" in _names_used(method)
    p = g["Point"](x=1)
    p.bump(2)
    function(p, 3)
    assert p.x == 6


def test_a_value_lying_about_its_class_is_refused_in_every_form(tmp_path: Path) -> None:
    g = _run(tmp_path)
    liar = MagicMock(spec=int)
    assert liar.__class__ is int
    point = g["Point"]
    calls = [
        lambda: g["store_value"](liar),
        lambda: g["add_to"](liar),  # 1 + liar is the mock's own answer
        lambda: point(x=liar),
        lambda: point(liar),
        lambda: point(x=1).bump(liar),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="Field 'x': expected int, got MagicMock"):
            call()
