"""The rewrite is pure: inspect and transpile publish nothing; transpiled Dana runs."""

from __future__ import annotations

from pathlib import Path

from tests.core.helpers import cli, project

PROGRAM = """@poet(domain="financial_services")
def assess(score: int) -> str:
    if score >= 700:
        return "approved"
    return "declined"

print(assess("excellent"))
print(assess("fair"))
"""


def test_inspect_and_transpile_publish_nothing(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(PROGRAM)
    assert cli(root, "inspect", "prog.na").returncode == 0
    assert cli(root, "transpile", "prog.na").returncode == 0
    state = root / ".dana" / "poet"
    assert sorted(p.name for p in state.iterdir()) == ["cache"]
    r = cli(root, "run", "prog.na")
    assert r.returncode == 0 and r.stdout == "approved\ndeclined\n"
    assert (state / "functions" / "prog.na" / "assess" / "v1" / "metadata.json").exists()


def test_transpiled_dana_runs_and_prints_what_the_original_prints(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(PROGRAM)
    assert cli(root, "transpile", "prog.na", "-o", "out.na").returncode == 0
    assert "_stage_code" in (root / "out.na").read_text()
    r = cli(root, "run", "out.na")
    assert r.returncode == 0, r.stderr
    assert r.stdout == cli(root, "run", "prog.na").stdout == "approved\ndeclined\n"
