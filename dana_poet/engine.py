"""Wires the language to POET: a Program whose builtins include `poet` and `feedback`."""

from __future__ import annotations

import os
from typing import Any

from dana_poet.lang.builtins import lazy_builtin
from dana_poet.lang.runtime import Program


def poet_builtins() -> dict[str, Any]:
    from dana_poet.poet import errors

    names = [n for n in dir(errors) if n.startswith("POET")]
    table: dict[str, Any] = {n: getattr(errors, n) for n in names}
    table["poet"] = lazy_builtin("dana_poet.poet.decorator", "poet")
    table["feedback"] = lazy_builtin("dana_poet.poet.decorator", "feedback")
    return table


def _poet_rewrite(module: Any, filename: str, source: str) -> Any:
    if "@poet" not in source and "@dana_poet.poet" not in source:
        return module  # plain programs never import POET
    from dana_poet.poet.rewrite import ast_transform

    return ast_transform(module, filename, source)


def new_program(main_path: str | os.PathLike[str] | None = None) -> Program:
    return Program(main_path, extra_builtins=poet_builtins(), ast_transform=_poet_rewrite)
