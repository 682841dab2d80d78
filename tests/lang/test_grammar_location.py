"""The grammar sits at the top level (grammar/dana.lark) and is shipped inside the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dana_poet.lang import parser

ROOT = Path(__file__).resolve().parents[2]


def test_the_checkout_parses_with_the_top_level_grammar() -> None:
    assert parser.GRAMMAR_PATH == ROOT / "grammar" / "dana.lark"
    assert not (ROOT / "dana_poet" / "grammar").exists()


def test_the_built_package_contains_the_grammar(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    shipped = tmp_path / "dana_poet" / "grammar" / "dana.lark"
    assert shipped.read_bytes() == (ROOT / "grammar" / "dana.lark").read_bytes()
    assert (tmp_path / "dana_poet" / "lang" / "parser.py").is_file()
