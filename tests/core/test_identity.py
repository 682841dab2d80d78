"""Every function its own identity: module path + qualified name, stores keyed by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dana_poet.poet.identity import identify, project_root
from tests.core.helpers import cli, project

CHECK = """@poet(optimize_for="accuracy")
def check(value: float, threshold: float = 10.0) -> bool:
    return value > threshold
"""


def test_project_root_is_the_nearest_marked_folder(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("DANA_POET_DIR", raising=False)
    root = project(tmp_path)
    (root / "pkg" / "sub").mkdir(parents=True)
    assert project_root(root / "pkg" / "sub" / "a.na") == root.resolve()
    assert identify(str(root / "pkg" / "sub" / "a.na"), "check").id == "pkg/sub/a.na:check"
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / ".git").mkdir()
    assert identify(str(bare / "x.na"), "C.<locals>.m").id == "x.na:C.m"
    monkeypatch.setenv("DANA_POET_DIR", str(root / "pkg"))
    assert identify(str(root / "pkg" / "sub" / "a.na"), "check").id == "sub/a.na:check"


def test_same_name_in_two_files_learns_separately(tmp_path: Path):
    root = project(tmp_path)
    (root / "a.na").write_text(
        CHECK + "r = check(12.0)\n"
        'feedback(r, {"correct": false, "expected": false})\n'
        "print(check(12.0))\n"
    )
    (root / "b.na").write_text(CHECK + "print(check(12.0))\n")
    ra = cli(root, "run", "a.na")
    assert ra.returncode == 0, ra.stderr
    assert ra.stdout == "False\n"  # a.na learned a higher threshold
    rb = cli(root, "run", "b.na")
    assert rb.returncode == 0, rb.stderr
    assert rb.stdout == "True\n"  # b.na's check still has its own default
    va = cli(root, "versions", "a.na:check")
    vb = cli(root, "versions", "b.na:check")
    assert "a.na:check" in va.stdout and "labelled feedback" in va.stdout
    assert "b.na:check" in vb.stdout and "labelled feedback" not in vb.stdout


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nope.na:f", "no such file: nope.na"),
        ("a.na:nope", "defines no function 'nope'"),
        ("a.na", "needs FILE.na:function"),
    ],
)
def test_a_target_naming_no_function_exits_1(tmp_path: Path, target: str, message: str):
    root = project(tmp_path)
    (root / "a.na").write_text(CHECK)
    for command in (["versions"], ["feedback", "summary"], ["rollback"]):
        extra = ["1"] if command == ["rollback"] else []
        r = cli(root, *command, target, *extra)
        assert r.returncode == 1, (command, r.stdout)
        assert message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        ("def plain(x):\n    return x\n", 1, "a.na:plain is not a @poet function"),
        ("def plain(:\n    pass\n", 2, "a.na:4:11: syntax error"),
    ],
)
def test_a_target_that_is_no_poet_function_says_why(
    tmp_path: Path, source: str, code: int, message: str
):
    root = project(tmp_path)
    (root / "a.na").write_text(CHECK + source)
    for command in (["versions"], ["feedback", "summary"], ["rollback"]):
        extra = ["0"] if command == ["rollback"] else []
        r = cli(root, *command, "a.na:plain", *extra)
        assert r.returncode == code, (command, r.stdout, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
        assert not (root / ".dana" / "poet" / "functions" / "a.na" / "plain").exists()


def test_feedback_reaches_the_function_that_ran(tmp_path: Path):
    """Several @poet functions; feedback after others ran trains the one that produced it."""
    root = project(tmp_path)
    defs = "".join(
        f'@poet(optimize_for="accuracy")\n'
        f"def f{i}(value: float, threshold: float = 10.0) -> bool:\n"
        f"    return value > threshold\n"
        for i in range(6)
    )
    body = "".join(
        f"r{i} = f{i}(12.0)\nf0(1.0)\nf5(1.0)\n"
        f'feedback(r{i}, {{"correct": false, "expected": false}})\n'
        for i in (2, 3)
    )
    (root / "many.na").write_text(defs + body + "print([f2(12.0), f3(12.0), f4(12.0)])\n")
    r = cli(root, "run", "many.na")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[False, False, True]\n"
    for name, learned in (("f2", True), ("f3", True), ("f0", False), ("f5", False)):
        out = cli(root, "versions", f"many.na:{name}").stdout
        assert ("labelled feedback" in out) is learned, (name, out)
