"""Who a POET function is: its project-relative module path plus its qualified name.

`pkg/a.na:check` and `b.na:check` are two functions with two learned states,
even though both are called `check`. A Python method is `mod.py:Class.method`.

The project root is, in order:

1. `DANA_POET_DIR`, when set;
2. the nearest folder, from the file's folder upward, holding `.dana/`,
   `pyproject.toml` or `.git`;
3. the file's own folder.

Code that has no file (`<stdin>`, `<string>`, the REPL) belongs to
`DANA_POET_DIR` or the current folder and keeps its pseudo name as module path.
The store of a project lives in `<root>/.dana/poet/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT_MARKERS = (".dana", "pyproject.toml", ".git")


@dataclass(frozen=True, slots=True)
class FunctionIdentity:
    """A function's id and the project it belongs to."""

    root: Path
    module: str  # project-relative, '/'-separated (or a pseudo name such as '<stdin>')
    qualname: str

    @property
    def id(self) -> str:
        return f"{self.module}:{self.qualname}"


def is_pseudo_file(filename: str) -> bool:
    return not filename or filename.startswith("<")


@lru_cache(maxsize=256)
def _root_above(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return folder


def project_root(filename: str | os.PathLike[str] | None = None) -> Path:
    """The project root for code in `filename` (see the module docstring)."""
    override = os.environ.get("DANA_POET_DIR")
    if override:
        return Path(override).resolve()
    name = os.fspath(filename) if filename is not None else ""
    if is_pseudo_file(name):
        return Path.cwd().resolve()
    return _root_above(Path(name).resolve().parent)


def module_path(filename: str, root: Path) -> str:
    """`filename` relative to `root`, '/'-separated; absolute when it lies outside the root."""
    if is_pseudo_file(filename):
        return filename or "<unknown>"
    path = Path(filename).resolve()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def clean_qualname(qualname: str) -> str:
    """`outer.<locals>.inner` -> `outer.inner`."""
    return qualname.replace(".<locals>.", ".").replace("<locals>.", "")


def identify(filename: str, qualname: str) -> FunctionIdentity:
    root = project_root(filename)
    return FunctionIdentity(root, module_path(filename, root), clean_qualname(qualname))


def identify_function(fn: Any) -> FunctionIdentity:
    """The identity of a Python or compiled Dana function object."""
    code = getattr(fn, "__code__", None)
    filename = code.co_filename if code is not None else ""
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "function")
    return identify(filename, str(qualname))


def split_function_id(function_id: str) -> tuple[str, str]:
    """`pkg/a.na:check` -> (`pkg/a.na`, `check`)."""
    module, sep, qualname = function_id.rpartition(":")
    if not sep:
        return "", function_id
    return module, qualname
