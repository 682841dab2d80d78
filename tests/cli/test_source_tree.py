"""Keeping the source tree clean: compiled .na code follows PYTHONPYCACHEPREFIX."""

from __future__ import annotations

import sys
from pathlib import Path

from dana_poet.lang import codecache


def test_compiled_code_goes_under_the_pycache_prefix(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "src" / "prog.na"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "pycache_prefix", str(prefix))
    path = codecache.entry_path(str(source))
    assert path is not None
    assert path.is_relative_to(prefix)
    assert path.name == f"prog.na.{sys.implementation.cache_tag}.nac"
    assert str(source.parent.resolve()).lstrip("/") in str(path)
