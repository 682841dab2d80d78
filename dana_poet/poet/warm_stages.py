"""Warm forms of admitted stage code: the same stages, specialised for the calls of the stage
warm path (poet/orchestrate.py), where the wrapper has already checked the exact type of
every annotated argument (and, before Enforce, of the result).

Rewrites of the admitted Python form, each provably without effect on such calls:

* a leading `p = coerce(p, "p")` (before any other statement) is left out when the type the
  wrapper checked for `p` is exactly the one the helper hands back unchanged (the type its
  inline test compares with, `policy.G_EXACT + "p"`; none when a domain coercer looks at
  `p`), and a leading `result = check_output(result)` likewise against `policy.G_RETURNS`;
* when every parameter is a scalar of exactly its checked type (immutable) and the rest of
  Perceive never binds a parameter again, a `return {"p": p, ...}` of exactly the parameters
  returns the value `policy.G_UNCHANGED` instead: the wrapper then uses the arguments it
  was called with, which are those values, so it neither builds nor re-checks the dict.
  Any other `return` is left as it is and checked as usual. When every `return` is such
  and the body ends with one, the answer can only be the marker (or the stage raises), so
  the wrapper does not look at it; the same holds for an Enforce whose every `return` is
  `return result`, ending with one, that never binds `result` (its answer is the result);
* a parameter the rest never reads is not passed (it cannot reach a helper, so the budget,
  which lists what the stage was passed, need not hold it).

The result is guarded and compiled exactly as admitted code is (`policy.compile_guarded`:
same guards, same budget, the reserved file name the audit hook looks for) and runs in the
stage's own globals. Stage code cannot name the marker (names starting with `_` are
refused at admission) and cannot reach the globals holding it, so only the rewritten
returns produce it.
"""

from __future__ import annotations

import ast
import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dana_poet.poet import policy

_IMMUTABLE = (int, float, str, bool)


@dataclass(frozen=True, slots=True)
class WarmStages:
    """The warm forms of one function's stages (None: call the stage as admitted).

    `perceive_args` / `enforce_args`: the parameters each warm form takes, in order (those
    its body reads; Enforce's `result` comes first and is not listed). `perceive_answer`:
    "dict" (checked as the admitted stage's), "marked" (`marker` for the arguments
    unchanged, anything else checked) or "inputs" (always the arguments unchanged, or it
    raises); `enforce_answer`: "checked", or "input" (always the result it was given).
    """

    perceive: Callable[..., Any] | None
    perceive_args: tuple[str, ...]
    perceive_answer: str
    enforce: Callable[..., Any] | None
    enforce_args: tuple[str, ...]
    enforce_answer: str
    marker: object


def _body(fn: ast.FunctionDef) -> list[ast.stmt]:
    body = list(fn.body)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:]
    return body


def _is_helper_call(node: ast.expr, helper: str, name: str, literal: bool) -> bool:
    """`helper(name)`, or `helper(name, "name")` when `literal`, and nothing else."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    if node.func.id != helper or node.keywords:
        return False
    args = node.args
    if len(args) != (2 if literal else 1):
        return False
    if not (isinstance(args[0], ast.Name) and args[0].id == name):
        return False
    return not literal or (
        isinstance(args[1], ast.Constant) and type(args[1].value) is str and args[1].value == name
    )


def _leading_identities(body: list[ast.stmt], helper: str, passing: set[str], literal: bool) -> int:
    """How many statements at the start of `body` are `p = helper(p[, "p"])` for a `p` in
    `passing` (the helper hands p's value back unchanged on the warm path)."""
    count = 0
    for statement in body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            break
        target = statement.targets[0].id
        if target not in passing or not _is_helper_call(statement.value, helper, target, literal):
            break
        count += 1
    return count


def _is_parameters_dict(node: ast.expr | None, params: list[str]) -> bool:
    """`{"p": p, ...}` holding each parameter exactly once, as its own name."""
    if not isinstance(node, ast.Dict) or len(node.keys) != len(params):
        return False
    seen = []
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and type(key.value) is str):
            return False
        if not (isinstance(value, ast.Name) and value.id == key.value):
            return False
        seen.append(key.value)
    return sorted(seen) == sorted(params)


def _stage_body(tree: ast.Module, name: str) -> list[ast.stmt]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return _body(node)
    return []


def identity_stages(tree: ast.Module, params: list[str]) -> tuple[bool, bool]:
    """Whether the admitted perceive / enforce leave values their helpers pass unchanged as
    they are. Perceive: only `p = coerce(p, "p")` for its own parameters, then
    `return {"p": p, ...}` of exactly the parameters; Enforce: at most one
    `result = check_output(result)`, then `return result`. Given values `coerce` and
    `check_output` return unchanged (of exactly their type, no domain coercer or rule),
    such a stage's answer is its input, so the warm path need not run it."""
    if set(params) & {"coerce", "check_output", "fail", "result"}:
        return False, False
    perceive = _stage_body(tree, "perceive")
    identity_perceive = bool(perceive) and (
        _leading_identities(perceive[:-1], "coerce", set(params), True) == len(perceive) - 1
        and isinstance(perceive[-1], ast.Return)
        and _is_parameters_dict(perceive[-1].value, params)
    )
    enforce = _stage_body(tree, "enforce")
    identity_enforce = bool(enforce) and (
        len(enforce) <= 2
        and _leading_identities(enforce[:-1], "check_output", {"result"}, False) == len(enforce) - 1
        and isinstance(enforce[-1], ast.Return)
        and isinstance(enforce[-1].value, ast.Name)
        and enforce[-1].value.id == "result"
    )
    return identity_perceive, identity_enforce


def _read_names(body: list[ast.stmt]) -> set[str]:
    return {
        node.id
        for statement in body
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def _always(body: list[ast.stmt], answers: Callable[[ast.expr | None], bool]) -> bool:
    """Whether every `return` in `body` returns what `answers` accepts and the body cannot
    end without one (its last statement is one: nothing else leaves a function's body)."""
    returns = [
        node for statement in body for node in ast.walk(statement) if isinstance(node, ast.Return)
    ]
    return (
        bool(body) and isinstance(body[-1], ast.Return) and all(answers(r.value) for r in returns)
    )


def _function(fn: ast.FunctionDef, args: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    """`fn` taking only `args` (plain parameters, in its order) and running `body`."""
    arguments = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg=a) for a in args],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    warm = ast.FunctionDef(
        name=fn.name, args=arguments, body=body or [ast.Pass()], decorator_list=[], returns=None
    )
    return ast.fix_missing_locations(ast.copy_location(warm, fn))


def _warm_perceive(
    fn: ast.FunctionDef, checked: dict[str, type], passing: set[str]
) -> tuple[ast.FunctionDef, tuple[str, ...], str] | None:
    params = [a.arg for a in fn.args.args]
    body = _body(fn)
    skipped = _leading_identities(body, "coerce", passing & set(params), literal=True)
    rest = copy.deepcopy(body[skipped:])
    answer = "dict"
    scalars = all(checked.get(p) in _IMMUTABLE for p in params)
    rebound = policy.rebound_names(rest)
    if scalars and not (rebound & set(params)):
        marked = False
        for statement in rest:
            for node in ast.walk(statement):
                if isinstance(node, ast.Return) and _is_parameters_dict(node.value, params):
                    marker = ast.Name(id=policy.G_UNCHANGED, ctx=ast.Load())
                    node.value = ast.copy_location(marker, node)
                    marked = True
        if marked:
            unchanged = _always(
                rest, lambda v: isinstance(v, ast.Name) and v.id == policy.G_UNCHANGED
            )
            answer = "inputs" if unchanged else "marked"
    if not skipped and answer == "dict":
        return None
    read = _read_names(rest)
    # with the dict answer every parameter may be in it; otherwise only what the body reads
    args = params if answer == "dict" else [p for p in params if p in read]
    return _function(fn, args, rest), tuple(args), answer


def _warm_enforce(
    fn: ast.FunctionDef, params: list[str]
) -> tuple[ast.FunctionDef, tuple[str, ...], str] | None:
    body = _body(fn)
    skipped = _leading_identities(body, "check_output", {"result"}, literal=False)
    if not skipped:
        return None
    rest = copy.deepcopy(body[skipped:])
    rebound = policy.rebound_names(rest)
    answer = "checked"
    if "result" not in rebound and _always(
        rest, lambda v: isinstance(v, ast.Name) and v.id == "result"
    ):
        answer = "input"
    read = _read_names(rest)
    args = [p for p in params if p in read]
    return _function(fn, ["result", *args], rest), tuple(args), answer


def warm_stages(
    tree: ast.Module,
    stage_globals: dict[str, Any],
    checked: dict[str, type | None],
    result_type: type | None,
) -> WarmStages | None:
    """The warm forms of the admitted stages in `tree` (their plain Python form), for calls
    whose arguments have exactly the types in `checked` (None: not checked; in the
    function's order, which both stages take) and, when `result_type` is given, whose
    result has exactly that type; None when neither stage has one. They run in
    `stage_globals` (the admitted stages' own)."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    params = list(checked)
    types_checked = {name: t for name, t in checked.items() if t is not None}
    passing = {
        name for name, t in types_checked.items() if stage_globals.get(policy.G_EXACT + name) is t
    }
    perceive = enforce = None
    fn = functions.get("perceive")
    if fn is not None and [a.arg for a in fn.args.args] == params:
        perceive = _warm_perceive(fn, types_checked, passing)
    fn = functions.get("enforce")
    result_passes = result_type is not None and stage_globals.get(policy.G_RETURNS) is result_type
    if fn is not None and result_passes and [a.arg for a in fn.args.args] == ["result", *params]:
        enforce = _warm_enforce(fn, params)
    warm: list[ast.stmt] = [form[0] for form in (perceive, enforce) if form is not None]
    if not warm:
        return None
    marker = object()
    code = policy.compile_guarded(ast.Module(body=warm, type_ignores=[]))
    stage_globals[policy.G_UNCHANGED] = marker
    made = {
        const.co_name: types.FunctionType(const, stage_globals, const.co_name)
        for const in code.co_consts
        if isinstance(const, types.CodeType)
    }
    return WarmStages(
        made["perceive"] if perceive is not None else None,
        perceive[1] if perceive is not None else tuple(params),
        perceive[2] if perceive is not None else "dict",
        made["enforce"] if enforce is not None else None,
        enforce[1] if enforce is not None else tuple(params),
        enforce[2] if enforce is not None else "checked",
        marker,
    )


__all__ = ["WarmStages", "warm_stages"]
