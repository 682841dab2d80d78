"""Storage faults never stop the program's own answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from dana_poet import feedback, poet
from tests.core.helpers import cli, project

LEARNER = """@poet(optimize_for="accuracy")
def check(value: float, threshold: float = 10.0) -> bool:
    return value > threshold

r = check(12.0)
feedback(r, {"correct": false, "expected": false})
print(check(12.0))
"""


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "dana-poet:" in line]


def test_a_damaged_database_is_kept_aside_and_replaced(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(LEARNER)
    state = root / ".dana" / "poet"
    state.mkdir(parents=True)
    (state / "poet.db").write_bytes(b"this is not a database" * 100)
    r = cli(root, "run", "prog.na")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "False\n"
    found = _warnings(r.stderr)
    assert len(found) == 1 and "damaged" in found[0] and "started a new one" in found[0]
    kept = list(state.glob("poet.db.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    again = cli(root, "run", "prog.na")
    assert again.returncode == 0 and again.stdout == "False\n" and not _warnings(again.stderr)


def test_unusable_storage_goes_on_in_memory_naming_the_cause(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(LEARNER)
    (root / ".dana").mkdir()
    (root / ".dana" / "poet").write_text("a file where the store's folder should be")
    r = cli(root, "run", "prog.na")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "False\n"  # learning still worked, in memory
    found = _warnings(r.stderr)
    assert len(found) == 1, r.stderr
    assert "in memory" in found[0] and ("Not a directory" in found[0] or "exists" in found[0])


def test_a_full_disk_goes_on_in_memory_naming_the_cause(tmp_path: Path):
    """The file-size limit makes every write past it fail, as a full disk does."""
    root = project(tmp_path)
    calls = "".join(
        f'feedback(check({i}.5), {{"expected": {"true" if i > 20 else "false"}}})\n'
        for i in range(60)
    )
    (root / "prog.na").write_text(LEARNER.split("r = ")[0] + calls + "print(check(12.0))\n")
    limit = 48 * 1024
    code = (
        "import resource, signal, sys, runpy\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "sys.argv = ['dana-poet', 'run', 'prog.na']\n"
        "runpy.run_module('dana_poet.cli', run_name='__main__')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DANA_POET_DIR"}
    env["DANA_MOCK_LLM"] = "true"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env=env, timeout=180
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "False\n"
    found = _warnings(r.stderr)
    assert len(found) == 1, r.stderr
    assert "in memory" in found[0] and "cannot rollback" not in found[0]
    assert "full" in found[0] or "File too large" in found[0] or "I/O" in found[0]


@pytest.fixture
def python_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    return tmp_path


def _alarm():
    @poet(optimize_for="accuracy")
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    return alarm


@pytest.mark.parametrize(
    ("damage", "expected_warning"),
    [
        (("metadata.json", "[1]"), "metadata.json holds list"),
        (("params.json", '{"threshold": "abc"}'), "is not a number"),
        (("params.json", '{"threshold": 1e9}'), "outside its bounds"),
        (("params.json", "{broken"), "params.json"),
    ],
)
def test_a_damaged_version_is_skipped_for_the_last_good_one(
    python_project: Path, damage: tuple[str, str], expected_warning: str
):
    alarm = _alarm()
    rec = alarm.__poet__
    store = rec.store
    good = store.write_version(rec.key, params={"threshold": 5.0}, reason="good", evidence={})
    bad = store.write_version(rec.key, params={"threshold": 7.0}, reason="bad", evidence={})
    name, text = damage
    (store.function_dir(rec.key) / f"v{bad}" / name).write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _alarm()
    messages = [str(w.message) for w in caught]
    assert any(expected_warning in m and f"v{bad}" in m for m in messages), messages
    assert again.__poet__.version == good and again.__poet__.params == {"threshold": 5.0}
    assert again(6.0) is True and again(4.0) is False
    feedback(again(4.0), {"expected": False})  # the program goes on learning


def _first_run(root: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", "run", "prog.na"],
        cwd=root,
        check=True,
        capture_output=True,
        env={**{k: v for k, v in os.environ.items() if k != "DANA_POET_DIR"}},
    )


def _eight_runs_at_once(root: Path) -> list[str]:
    """`dana-poet run prog.na` in `root` by 8 processes started together: their outputs."""
    env = {k: v for k, v in os.environ.items() if k != "DANA_POET_DIR"}
    env["DANA_MOCK_LLM"] = "true"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dana_poet.cli", "run", "prog.na"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outputs.append(out)
    return outputs


def test_concurrent_first_runs_publish_one_version(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(
        "@poet()\ndef area(w: float, h: float) -> float:\n    return w * h\nprint(area(2, 3))\n"
    )
    for out in _eight_runs_at_once(root):
        assert out == "6.0\n"
    versions = root / ".dana" / "poet" / "functions" / "prog.na" / "area"
    assert sorted(p.name for p in versions.glob("v*")) == ["v1"]
    meta = json.loads((versions / "v1" / "metadata.json").read_text())
    assert meta["function"] == "prog.na:area" and meta["cache_key"]


@pytest.mark.parametrize(
    ("where", "text", "expected"),
    [
        ("v2/metadata.json", "[1]", "skipping v2 (metadata.json holds list, not dict); using v1"),
        ("v2/params.json", '{"threshold": "abc"}', "skipping v2 (threshold='abc' is not a number)"),
        ("current", "7", "skipping v3-v7 (no such version); using v2"),
    ],
)
def test_a_damaged_version_costs_one_warning_in_a_run(
    tmp_path: Path, where: str, text: str, expected: str
):
    root = project(tmp_path)
    (root / "prog.na").write_text(LEARNER)
    assert cli(root, "run", "prog.na").stdout == "False\n"  # v1 the stage code, v2 learned
    (root / ".dana" / "poet" / "functions" / "prog.na" / "check" / where).write_text(text)
    r = cli(root, "run", "prog.na")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "False\n"
    found = _warnings(r.stderr)
    assert len(found) == 1, r.stderr
    assert found[0].startswith("dana-poet: warning: prog.na:check: "), found[0]
    assert expected in found[0]


def test_versions_shows_a_damaged_version_as_damaged(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(LEARNER)
    cli(root, "run", "prog.na")
    (root / ".dana/poet/functions/prog.na/check/v2/metadata.json").write_text("[1]")
    r = cli(root, "versions", "prog.na:check")
    assert r.returncode == 0, r.stderr
    assert "[damaged: metadata.json holds list, not dict]" in r.stdout


def test_a_rollback_that_cannot_be_saved_fails_naming_the_cause(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(LEARNER)
    cli(root, "run", "prog.na")
    current = root / ".dana/poet/functions/prog.na/check/current"
    current.unlink()
    current.mkdir()  # the pointer cannot be written (as in a read-only folder, even as root)
    r = cli(root, "rollback", "prog.na:check", "1")
    assert r.returncode == 1, r.stdout
    assert "current version is now" not in r.stdout
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("dana-poet: prog.na:check: rollback to v1 not saved: cannot use ")
    assert "directory" in lines[0]


def test_concurrent_first_runs_that_learn_the_same_publish_it_once(tmp_path: Path):
    root = project(tmp_path)
    (root / "prog.na").write_text(LEARNER)
    for out in _eight_runs_at_once(root):
        assert out == "False\n"
    versions = root / ".dana" / "poet" / "functions" / "prog.na" / "check"
    assert sorted(p.name for p in versions.glob("v*")) == ["v1", "v2"]  # stage code, learned
    assert json.loads((versions / "v2" / "params.json").read_text()) == {"threshold": 12.0}


def test_python_storage_warnings_name_the_users_line(python_project: Path):
    """Warnings point at the program's own line (decorator, call or feedback), not into dana_poet."""
    state = python_project / ".dana" / "poet"
    state.mkdir(parents=True)
    (state / "poet.db").write_bytes(b"not a database" * 50)
    rec = _alarm().__poet__
    version = rec.store.write_version(rec.key, params={"threshold": 5.0}, reason="r", evidence={})
    (rec.store.function_dir(rec.key) / f"v{version}" / "metadata.json").write_text("[1]")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alarm = _alarm()
        feedback(alarm(4.0), {"expected": False})
    found = [w for w in caught if "dana-poet:" in str(w.message)]
    assert any(f"skipping v{version}" in str(w.message) for w in found), [
        str(w.message) for w in found
    ]
    assert any("was damaged" in str(w.message) for w in found), [str(w.message) for w in found]
    assert {w.filename for w in found} == {__file__}, [(w.filename, w.lineno) for w in found]
