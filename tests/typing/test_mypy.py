"""mypy on tests/typing/sample.py: decorated functions keep their signatures for checkers."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).with_name("sample.py")
ROOT = Path(__file__).resolve().parents[2]
_LINE = re.compile(r"^[^:]+:(\d+):\d+: (error|note): (.*)$")


def _mypy_output(tmp_path: Path) -> dict[int, list[str]]:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--follow-imports=silent",
            "--show-column-numbers",
            "--hide-error-context",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(SAMPLE.relative_to(ROOT)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stdout + run.stderr
    by_line: dict[int, list[str]] = {}
    for line in run.stdout.splitlines():
        match = _LINE.match(line)
        if match and not match.group(3).startswith(("Possible overload", "    def", '"__call__"')):
            by_line.setdefault(int(match.group(1)), []).append(match.group(3))
    return by_line


def test_mypy_sees_the_declared_signatures(tmp_path: Path) -> None:
    expected = {
        number: line.split("# expect:", 1)[1].strip()
        for number, line in enumerate(SAMPLE.read_text().splitlines(), start=1)
        if "# expect:" in line
    }
    assert len(expected) >= 12
    seen = _mypy_output(tmp_path)
    for number, text in expected.items():
        messages = seen.get(number, [])
        assert any(text in m for m in messages), f"line {number}: wanted {text!r}, got {messages}"
    unexpected = {n: m for n, m in seen.items() if n not in expected}
    assert not unexpected, f"mypy reported lines that expect nothing: {unexpected}"


def test_typed_keywords_match_the_config_fields() -> None:
    from dana_poet.poet import protocols
    from dana_poet.poet.config import POETConfig

    source = inspect.getsource(protocols)
    typed = set(re.findall(r"^    (\w+): ", source.split("def poet(\n", 1)[1], re.M))
    assert typed == set(POETConfig.model_fields) - {"extra"}
