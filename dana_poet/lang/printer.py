"""AST -> Dana source."""

from __future__ import annotations

from dana_poet.lang import ast as A


def dump_ast(module: A.Module) -> str:
    return "\n".join(repr(s) for s in module.body)
