"""Generated code is untrusted: the checks it must pass before it may run.

Dana stage code may use only its parameters and locals, the Dana builtins
that cannot reach files, processes, the network or interpreter internals, and
the three stage helpers. Python stage code (the fallback) is admitted through
an AST allow-list and runs with a restricted builtins table.
"""

from __future__ import annotations

import ast as py
import builtins as py_builtins
from typing import Any

from dana_poet.lang import ast as A

STAGE_HELPERS = frozenset({"coerce", "check_output", "fail"})
STAGE_FUNCTIONS = ("perceive", "enforce", "train")

SAFE_BUILTINS = frozenset(
    "abs all any bool chr dict enumerate filter float frozenset int isinstance len list map max min ord "
    "print range reversed round set sorted str sum tuple type zip log noop case "
    "Exception ValueError TypeError KeyError IndexError ZeroDivisionError RuntimeError ArithmeticError "
    "LookupError AttributeError POETInputError POETOutputError".split()
)


def _walk(node: Any) -> Any:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple | list):
            stack.extend(n)
            continue
        if not isinstance(n, A.Node):
            continue
        yield n
        for slot in getattr(n, "__slots__", ()):
            if slot != "span":
                stack.append(getattr(n, slot))


def _bound_in(fn: A.FunctionDef) -> set[str]:
    names = {p.name for p in fn.params}
    for n in _walk(fn.body):
        if isinstance(n, A.Assign | A.AugAssign) and isinstance(n.target, A.Name):
            names.add(n.target.id)
        elif isinstance(n, A.For):
            names.update(n.targets)
        elif isinstance(n, A.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, A.Lambda):
            names.update(p.name for p in n.params)
        elif isinstance(n, A.CompFor):
            names.update(n.targets)
        elif isinstance(n, A.FunctionDef):
            names.add(n.name)
            names.update(p.name for p in n.params)
    return names


def check_dana_stage_code(module: A.Module) -> list[str]:
    """Problems that make Dana stage code unsafe or outside the contract ([] when fine)."""
    errors: list[str] = []
    allowed_globals = SAFE_BUILTINS | STAGE_HELPERS | set(STAGE_FUNCTIONS)
    for stmt in module.body:
        if isinstance(stmt, A.ExprStmt) and isinstance(stmt.value, A.Constant):
            continue
        if isinstance(stmt, A.Import | A.ImportFrom):
            errors.append(f"line {stmt.span.line}: imports are not allowed in stage code")
            continue
        if not isinstance(stmt, A.FunctionDef) or stmt.name not in STAGE_FUNCTIONS:
            errors.append(
                f"line {stmt.span.line}: only def perceive/enforce/train may appear at the top level"
            )
            continue
        if stmt.decorators or stmt.receiver:
            errors.append(f"line {stmt.span.line}: stage functions take no decorators or receivers")
        local = _bound_in(stmt)
        for n in _walk(stmt.body):
            line = n.span.line if n.span.line else stmt.span.line
            if isinstance(n, A.Import | A.ImportFrom):
                errors.append(f"line {line}: imports are not allowed in stage code")
            elif isinstance(n, A.With):
                errors.append(f"line {line}: 'with' is not allowed in stage code")
            elif isinstance(n, A.TypeDecl | A.AgentDecl | A.InterfaceDecl):
                errors.append(f"line {line}: declarations are not allowed in stage code")
            elif isinstance(n, A.Attribute) and n.attr.startswith("_"):
                errors.append(
                    f"line {line}: access to '{n.attr}' is not allowed (names starting with '_' are internal)"
                )
            elif isinstance(n, A.Name):
                if n.scope in ("private", "public", "system"):
                    errors.append(
                        f"line {line}: scoped variable '{n.scope}:{n.id}' is not allowed in stage code"
                    )
                elif n.id.startswith("_"):
                    errors.append(
                        f"line {line}: name '{n.id}' is not allowed (names starting with '_' are internal)"
                    )
                elif n.id not in local and n.id not in allowed_globals:
                    errors.append(f"line {line}: '{n.id}' is not available to stage code")
    return list(dict.fromkeys(errors))


_PY_ALLOWED = (
    py.Module,
    py.FunctionDef,
    py.arguments,
    py.arg,
    py.Return,
    py.Assign,
    py.AugAssign,
    py.AnnAssign,
    py.If,
    py.For,
    py.While,
    py.Break,
    py.Continue,
    py.Pass,
    py.Expr,
    py.Compare,
    py.BinOp,
    py.UnaryOp,
    py.BoolOp,
    py.Call,
    py.Name,
    py.Constant,
    py.Dict,
    py.List,
    py.Tuple,
    py.Set,
    py.Subscript,
    py.Slice,
    py.Attribute,
    py.IfExp,
    py.ListComp,
    py.DictComp,
    py.SetComp,
    py.GeneratorExp,
    py.comprehension,
    py.JoinedStr,
    py.FormattedValue,
    py.keyword,
    py.Load,
    py.Store,
    py.operator,
    py.unaryop,
    py.cmpop,
    py.boolop,
    py.expr_context,
    py.Raise,
    py.Try,
    py.ExceptHandler,
    py.Lambda,
)


def check_python_stage_code(source: str) -> list[str]:
    try:
        tree = py.parse(source)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: {exc.msg}"]
    errors: list[str] = []
    for node in py.walk(tree):
        line = getattr(node, "lineno", 0)
        if not isinstance(node, _PY_ALLOWED):
            errors.append(f"line {line}: {type(node).__name__} is not allowed in stage code")
        elif isinstance(node, py.Attribute) and node.attr.startswith("_"):
            errors.append(f"line {line}: access to '{node.attr}' is not allowed")
        elif isinstance(node, py.Name) and (node.id.startswith("_") or node.id in _PY_REFUSED):
            errors.append(f"line {line}: '{node.id}' is not allowed")
    for stmt in tree.body:
        if not isinstance(stmt, py.FunctionDef) or stmt.name not in STAGE_FUNCTIONS:
            if not (isinstance(stmt, py.Expr) and isinstance(stmt.value, py.Constant)):
                errors.append(
                    f"line {stmt.lineno}: only def perceive/enforce/train may appear at the top level"
                )
    return list(dict.fromkeys(errors))


_PY_REFUSED = frozenset(
    "open eval exec compile globals locals vars dir getattr setattr delattr hasattr input breakpoint "
    "memoryview object type super classmethod staticmethod property help exit quit".split()
)


def restricted_builtins() -> dict[str, Any]:
    names = [n for n in SAFE_BUILTINS if hasattr(py_builtins, n) and n not in _PY_REFUSED]
    return {n: getattr(py_builtins, n) for n in names}
