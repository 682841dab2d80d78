"""The compiled-code cache: an unchanged file is not parsed again; every input of the
compiled code is part of the key; damaged entries and concurrent writers are harmless."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dana_poet.engine import new_program
from dana_poet.lang import codecache, parser
from dana_poet.lang.runtime import Program

PROGRAM = 'def twice(x):\n    return x * 2\n\nresult = twice(21)\nprint("result", result)\n'


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The file names parsed while the test runs."""
    seen: list[str] = []
    real = parser.parse

    def counting(source: str, filename: str = "<string>"):  # type: ignore[no-untyped-def]
        seen.append(filename)
        return real(source, filename)

    monkeypatch.setattr(parser, "parse", counting)
    monkeypatch.delenv(codecache.NO_CACHE_ENV, raising=False)
    yield seen


def run_file(path: Path, program: Program | None = None) -> dict:
    return (program or new_program(path)).run_file(path)


def test_an_unchanged_file_is_not_parsed_again(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    first = run_file(path)
    second = run_file(path)
    assert first["result"] == second["result"] == 42
    assert parses == [str(path)]
    assert codecache.entry_path(str(path)) == tmp_path / "__pycache__" / (
        f"prog.na.{sys.implementation.cache_tag}.nac"
    )
    assert codecache.entry_path(str(path)).is_file()


def test_an_edited_file_is_compiled_again(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    run_file(path)
    path.write_text(PROGRAM.replace("21", "5"))
    assert run_file(path)["result"] == 10
    assert run_file(path)["result"] == 10
    assert len(parses) == 2


def test_imported_modules_are_cached_too(tmp_path: Path, parses: list[str]) -> None:
    (tmp_path / "helper.na").write_text("def inc(x):\n    return x + 1\n")
    path = tmp_path / "main.na"
    path.write_text("from helper import inc\nvalue = inc(1)\n")
    assert run_file(path)["value"] == 2
    assert run_file(path)["value"] == 2
    assert sorted(Path(p).name for p in parses) == ["helper.na", "main.na"]


def test_no_cache_reads_and_writes_nothing(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    run_file(path)
    monkeypatch.setenv(codecache.NO_CACHE_ENV, "1")
    run_file(path)
    assert len(parses) == 2
    other = tmp_path / "other.na"
    other.write_text(PROGRAM)
    run_file(other)
    assert not codecache.entry_path(str(other)).exists()


def test_other_builtins_do_not_share_code(tmp_path: Path, parses: list[str]) -> None:
    """The compiler resolves names against the program's builtins, so they are in the key."""
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    run_file(path, Program(path))
    run_file(path, Program(path, extra_builtins={"twice_builtin": len}))
    assert len(parses) == 2
    run_file(path, Program(path, extra_builtins={"twice_builtin": len}))
    assert len(parses) == 2
    run_file(path, Program(path))  # one entry per file, as with .pyc: the last key wins
    assert len(parses) == 3


def test_a_transform_without_a_cache_token_is_never_cached(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    for _ in range(2):
        Program(path, ast_transform=lambda module, filename, source: module).run_file(path)
    assert len(parses) == 2
    assert not codecache.entry_path(str(path)).exists()


@pytest.mark.parametrize(
    "damage",
    [b"", b"garbage", codecache.MAGIC + b"\0" * 32 + b"not marshal", codecache.MAGIC[:4]],
)
def test_a_damaged_entry_is_recompiled_and_replaced(
    tmp_path: Path, parses: list[str], damage: bytes
) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    run_file(path)
    entry = codecache.entry_path(str(path))
    entry.write_bytes(damage)
    assert run_file(path)["result"] == 42
    assert run_file(path)["result"] == 42
    assert len(parses) == 2
    assert entry.read_bytes().startswith(codecache.MAGIC)


def test_an_unwritable_cache_directory_only_costs_the_cache(
    tmp_path: Path, parses: list[str]
) -> None:
    (tmp_path / "__pycache__").write_text("a file where the directory would be")
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    assert run_file(path)["result"] == 42
    assert run_file(path)["result"] == 42
    assert len(parses) == 2
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_concurrent_writers_never_leave_a_torn_entry(tmp_path: Path) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    code = compile("x = 1", str(path), "exec")
    entry = codecache.entry_path(str(path))
    keys = [bytes([i]) * 32 for i in range(4)]
    problems: list[str] = []

    def write(key: bytes) -> None:
        for _ in range(50):
            if not codecache.store(entry, key, code):
                problems.append("store failed")

    def read() -> None:
        for _ in range(200):
            for key in keys:
                got = codecache.load(entry, key)
                if got is not None and got != code:
                    problems.append("wrong code")

    threads = [threading.Thread(target=write, args=(k,)) for k in keys]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert any(codecache.load(entry, k) == code for k in keys)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


def test_processes_starting_at_once_all_run(tmp_path: Path) -> None:
    path = tmp_path / "prog.na"
    path.write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if k != codecache.NO_CACHE_ENV}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dana_poet.cli", "run", "prog.na"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    assert all(out == "result 42\n" for out, _ in outputs)
    assert [p.name for p in (tmp_path / "__pycache__").iterdir()] == [
        codecache.entry_path(str(path)).name
    ]


POET_PROGRAM = """@poet()
def parse_count(text: str) -> int:
    return text

value = parse_count("42") + 1
"""


def test_a_poet_program_is_compiled_again_when_its_stage_code_changes(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DANA_POET_DIR", raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "prog.na"
    path.write_text(POET_PROGRAM)
    assert run_file(path)["value"] == 43
    assert run_file(path)["value"] == 43
    main_parses = [p for p in parses if p == str(path)]
    assert len(main_parses) == 1  # the second run used the cached, POET-enhanced code
    cache_dir = tmp_path / ".dana" / "poet" / "cache"
    for entry in cache_dir.iterdir():
        entry.unlink()  # `dana-poet cache clear`: the stage code must be generated again
    assert run_file(path)["value"] == 43
    assert len([p for p in parses if p == str(path)]) == 2
    monkeypatch.setenv("DANA_POET_MODEL", "another-model")  # generator configuration
    assert run_file(path)["value"] == 43
    assert len([p for p in parses if p == str(path)]) == 3


def test_cli_no_cache_flag(tmp_path: Path) -> None:
    (tmp_path / "prog.na").write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if k != codecache.NO_CACHE_ENV}
    cmd = [sys.executable, "-m", "dana_poet.cli", "run"]
    r = subprocess.run(
        [*cmd, "--no-cache", "prog.na"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (r.returncode, r.stdout) == (0, "result 42\n")
    assert not (tmp_path / "__pycache__").exists()
    r = subprocess.run([*cmd, "prog.na"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, "result 42\n")
    assert (tmp_path / "__pycache__").is_dir()
