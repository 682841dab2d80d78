"""Wires the language to POET: a Program whose builtins include `poet` and `feedback`."""

from __future__ import annotations

import os
from typing import Any

from dana_poet.lang.runtime import Program


class ProgramPOET:
    """The program's own POET runtime, made on first use so plain programs never import POET."""

    def __init__(self) -> None:
        self._runtime: Any = None

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from dana_poet.poet.runtime import POETRuntime

            self._runtime = POETRuntime()
        return self._runtime

    def builtins(self) -> dict[str, Any]:
        def poet(*args: Any, **kwargs: Any) -> Any:
            return self.runtime.poet(*args, **kwargs)

        def feedback(*args: Any, **kwargs: Any) -> Any:
            return self.runtime.feedback(*args, **kwargs)

        return {"poet": poet, "feedback": feedback}


def poet_builtins(holder: ProgramPOET | None = None) -> dict[str, Any]:
    from dana_poet.poet import errors

    names = [n for n in dir(errors) if n.startswith("POET")]
    table: dict[str, Any] = {n: getattr(errors, n) for n in names}
    table.update((holder or ProgramPOET()).builtins())
    return table


def _poet_rewrite(module: Any, filename: str, source: str) -> Any:
    if not _uses_poet(source):
        return module  # plain programs never import POET
    from dana_poet.poet.rewrite import ast_transform

    return ast_transform(module, filename, source)


def _uses_poet(source: str) -> bool:
    return "@poet" in source or "@dana_poet.poet" in source


def _poet_cache_token(filename: str, source: str) -> str | None:
    """What the POET rewrite of this module depends on besides its source, for the
    compiled-code cache: POET's own code, the environment that configures stage-code
    generation, and the state of the stage-code cache directory (its
    entries are written by atomic rename, so adding or removing one changes the directory's
    mtime). A change to any of them compiles the module again."""
    if not _uses_poet(source):
        return ""  # the rewrite leaves the module as it is
    from pathlib import Path

    from dana_poet.lang import codecache

    parts = [codecache.tree_fingerprint(Path(__file__).resolve().parent / "poet")]
    parts += sorted(
        f"{k}={codecache.digest(v)}"
        for k, v in os.environ.items()
        if k.startswith(("DANA_", "OPENAI_", "AITOMATIC_")) and k != codecache.NO_CACHE_ENV
    )
    from dana_poet.poet.identity import project_root

    # the stage-code cache is the rewrite's only state (versions are published at run time)
    parts.append(codecache.file_signature(project_root(filename) / ".dana" / "poet" / "cache"))
    return codecache.digest("\n".join(parts))


def new_program(main_path: str | os.PathLike[str] | None = None) -> Program:
    """A Program with its own POET runtime (reachable as `program.poet`)."""
    holder = ProgramPOET()
    program = Program(
        main_path,
        extra_builtins=poet_builtins(holder),
        ast_transform=_poet_rewrite,
        cache_token=_poet_cache_token,
    )
    program.poet = holder  # type: ignore[attr-defined]
    return program
