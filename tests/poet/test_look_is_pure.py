"""Looking moves nothing: `inspect` and `transpile` publish no version, write no execution,
feedback or counter; transpiled Python says what it needs and runs like the original."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.core.helpers import cli, project

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """@poet(domain="ml_monitoring", optimize_for="accuracy")
def alarm(value: float, threshold: float = 1.0) -> bool:
    return value > threshold

struct Reading:
    name: str
    value: float

r = alarm(3.0)
print(r)
feedback(r, {"correct": false})
reading = Reading(name="cpu", value=3.0)
print(f"{reading.name}: {alarm(reading.value)}")
"""

LOOKS = [
    ("inspect", "prog.na"),
    ("inspect", "prog.na:alarm"),
    ("transpile", "prog.na"),
    ("transpile", "--emit", "python", "prog.na"),
    ("transpile", "prog.na", "-o", "out.na"),
    ("transpile", "--emit", "python", "prog.na", "-o", "out.py"),
]


def _state(root: Path) -> dict[str, bytes]:
    """Every file POET keeps for the project, with its bytes."""
    base = root / ".dana"
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DANA_MOCK_LLM": "true"}
    for name in ("DANA_POET_DIR", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env
    )


def test_inspect_and_transpile_move_nothing_in_a_project_that_has_run(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "prog.na").write_text(PROGRAM)
    first = cli(root, "run", "prog.na")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "True\ncpu: False\n", "the feedback taught it: a version was published"
    before = _state(root)
    assert any(name.startswith("poet/functions/prog.na/alarm/v") for name in before)
    assert "poet/cache/stats.json" in before and "poet/poet.db" in before
    stats = cli(root, "cache", "stats").stdout
    versions = cli(root, "versions", "prog.na:alarm").stdout
    summary = cli(root, "feedback", "summary", "prog.na:alarm").stdout
    for look in LOOKS:
        r = cli(root, *look)
        assert r.returncode == 0, (look, r.stderr)
    assert _state(root) == before, "versions, executions, feedback and cache files unchanged"
    assert cli(root, "cache", "stats").stdout == stats
    assert cli(root, "versions", "prog.na:alarm").stdout == versions
    assert cli(root, "feedback", "summary", "prog.na:alarm").stdout == summary
    assert "hits: 0  misses: 1" in stats  # the run's count, and only the run's


def test_looking_at_a_new_project_writes_only_the_content_addressed_stage_code(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    (root / "prog.na").write_text(PROGRAM)
    for look in LOOKS:
        r = cli(root, *look)
        assert r.returncode == 0, (look, r.stderr)
    names = sorted(_state(root))
    assert len(names) == 1 and names[0].startswith("poet/cache/") and names[0].endswith(".json")
    assert names[0] != "poet/cache/stats.json"
    assert "entries: 1  hits: 0  misses: 0" in cli(root, "cache", "stats").stdout
    # the run that follows uses the stage code inspect prepared, and that use is counted
    assert cli(root, "run", "prog.na").returncode == 0
    assert "entries: 1  hits: 1  misses: 0" in cli(root, "cache", "stats").stdout
    assert "v1" in cli(root, "versions", "prog.na:alarm").stdout  # published by the run


def test_transpiled_python_names_what_it_needs_and_prints_what_the_original_prints(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    (root / "prog.na").write_text(PROGRAM)
    emitted = cli(root, "transpile", "--emit", "python", "prog.na")
    assert emitted.returncode == 0, emitted.stderr
    head = emitted.stdout.split("\n@poet", 1)[0]
    assert "needs the `dana_poet` package" in head
    assert "from dana_poet.transpiled import run_transpiled" in head
    (root / "prog.py").write_text(emitted.stdout)
    original = cli(root, "run", "prog.na")
    ran = _python(root, "prog.py")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == original.stdout == "True\ncpu: False\n"
    # a copy in a new project, run from another folder: the same first-run output
    (tmp_path / "fresh").mkdir()
    fresh = project(tmp_path / "fresh")
    shutil.copy(root / "prog.py", fresh / "prog.py")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _python(elsewhere, str(fresh / "prog.py"))
    assert again.returncode == 0, again.stderr
    assert again.stdout == original.stdout
    assert (fresh / ".dana" / "poet" / "functions" / "prog.py" / "alarm").is_dir()


def test_transpiled_python_takes_main_arguments_and_reports_errors_without_a_traceback(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    (root / "greet.na").write_text(
        'def __main__(name: str = "world", times: int = 1):\n'
        "    for i in range(times):\n"
        '        print(f"hello {name}")\n'
        '    if name == "boom":\n'
        '        raise ValueError("no booms")\n'
    )
    assert cli(root, "transpile", "--emit", "python", "greet.na", "-o", "greet.py").returncode == 0
    for args in ([], ["name=dana", "times=2"]):
        ran = _python(root, "greet.py", *args)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == cli(root, "run", "greet.na", *args).stdout
    assert _python(root, "greet.py", "name=dana", "times=2").stdout == "hello dana\nhello dana\n"
    failed = _python(root, "greet.py", "name=boom")
    assert failed.returncode == 1
    assert "ValueError: no booms" in failed.stderr and "Traceback" not in failed.stderr
    assert "greet.py:" in failed.stderr
    piped = subprocess.run(
        [sys.executable, "-"],
        input=(root / "greet.py").read_text(),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 1 and "save it" in piped.stderr


def test_the_transpiled_drift_showcase_prints_its_expected_output(tmp_path: Path) -> None:
    folder = tmp_path / "ml_monitoring"
    shutil.copytree(ROOT / "examples" / "ml_monitoring", folder)
    r = cli(folder, "transpile", "--emit", "python", "drift_detection.na", "-o", "drift.py")
    assert r.returncode == 0, r.stderr
    shutil.rmtree(folder / ".dana", ignore_errors=True)
    ran = _python(folder, "drift.py")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == (folder / "drift_detection.na.expected").read_text()
