"""The POET rewrite: a Dana AST-to-AST step run between parsing and compiling.

For every top-level `@poet(...)` function it obtains stage code (generated,
validated and cached by poet/codegen) and rewrites

    @poet(domain="x", retries=2)
    def f(a: int) -> str: ...

into plain Dana that is compiled like any other code:

    @poet(domain="x", retries=2, _stage_code="def perceive(a): ...", _stage_language="dana",
          _stage_meta={...})
    def f(a: int) -> str: ...

The stage code travels as text and never joins the user's module: the stage
runner (poet/stage_runner.py) admits it under the capability policy and runs
it in globals of its own. The enhanced module can always be printed back as
Dana (`dana-poet inspect`, `.dana/poet/functions/<fn>/v<N>/enhanced.na`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dana_poet.lang import ast as A

_GENERATED_KEYWORDS = ("_stage_code", "_stage_language", "_stage_meta")


@dataclass
class RewriteResult:
    """What the rewrite did for one function (for `inspect` and tests)."""

    function: str
    stage_source: str
    language: str
    metadata: dict[str, Any]


def is_poet_decorator(d: A.Decorator) -> bool:
    return d.name in ("poet", "dana_poet.poet")


def literal_value(expr: A.Expr) -> Any:
    """The value of a literal decorator argument, or raise ValueError."""
    if isinstance(expr, A.Constant):
        return expr.value
    if isinstance(expr, A.UnaryOp) and expr.op == "-" and isinstance(expr.operand, A.Constant):
        return -expr.operand.value
    if isinstance(expr, A.ListExpr | A.TupleExpr):
        return [literal_value(e) for e in expr.elts]
    if isinstance(expr, A.DictExpr):
        return {
            literal_value(k): literal_value(v) for k, v in zip(expr.keys, expr.values, strict=True)
        }
    raise ValueError("not a literal")


def decorator_config(d: A.Decorator) -> dict[str, Any]:
    """JSON-able form of the decorator's arguments (non-literals kept as their source)."""
    from dana_poet.lang.printer import to_source

    config: dict[str, Any] = {}
    for i, arg in enumerate(d.args or ()):
        key = "domain" if i == 0 else f"_positional_{i}"
        try:
            config[key] = literal_value(arg)
        except ValueError:
            config[key] = {"$source": to_source(arg)}
    for kw in d.keywords:
        try:
            config[kw.name] = literal_value(kw.value)
        except ValueError:
            config[kw.name] = {"$source": to_source(kw.value)}
    return config


def _function_source(fn: A.FunctionDef, source: str) -> str:
    lines = source.splitlines()
    if not fn.span.line:
        return ""
    start = fn.span.line
    for d in fn.decorators:
        if d.span.line:
            start = min(start, d.span.line)
    return "\n".join(lines[start - 1 : fn.span.end_line])


def function_spec(fn: A.FunctionDef, source: str, config: dict[str, Any]) -> Any:
    from dana_poet.lang.printer import to_source
    from dana_poet.poet.codegen import FunctionSpec, ParamSpec

    params = tuple(
        ParamSpec(
            p.name,
            to_source(p.annotation) if p.annotation is not None else None,
            to_source(p.default) if p.default is not None else None,
        )
        for p in ((fn.receiver,) if fn.receiver else ()) + fn.params
    )
    docstring = None
    if fn.body and isinstance(fn.body[0], A.ExprStmt) and isinstance(fn.body[0].value, A.Constant):
        if isinstance(fn.body[0].value.value, str):
            docstring = fn.body[0].value.value
    domain = config.get("domain") if isinstance(config.get("domain"), str) else None
    return FunctionSpec(
        name=fn.name,
        params=params,
        returns=to_source(fn.returns) if fn.returns is not None else None,
        docstring=docstring,
        source=_function_source(fn, source),
        language="dana",
        domain=domain,
        config=config,
    )


def rewrite_function(
    fn: A.FunctionDef,
    source: str,
    filename: str,
    cache_dir: Path | None,
    *,
    count_cache_use: bool = True,
) -> tuple[list[A.Stmt], RewriteResult | None]:
    index = next((i for i, d in enumerate(fn.decorators) if is_poet_decorator(d)), None)
    if index is None:
        return [fn], None
    from dana_poet.poet.codegen import generate_stage_code

    decorator = fn.decorators[index]
    if any(kw.name in _GENERATED_KEYWORDS for kw in decorator.keywords):
        return [fn], None  # already enhanced (the output of `transpile --emit dana`)
    config = decorator_config(decorator)
    spec = function_spec(fn, source, config)
    stages = service_stage_code(spec, cache_dir) if _service_configured() else None
    if stages is None:
        stages = generate_stage_code(spec, cache_dir=cache_dir, count=count_cache_use)
    result = RewriteResult(fn.name, stages.source, stages.language, dict(stages.metadata))
    meta = _brief(result.metadata)
    if cache_dir is not None:
        meta["cache_dir"] = str(cache_dir)
    keywords = [A.Keyword("_stage_meta", _json_expr(meta), decorator.span)]
    if stages.language in ("dana", "python") and stages.source.strip():
        # the stage code travels as text: the stage runner admits it under the policy and
        # runs it in its own globals, never as part of this module
        keywords.append(A.Keyword("_stage_code", A.Constant(stages.source), decorator.span))
        keywords.append(A.Keyword("_stage_language", A.Constant(stages.language), decorator.span))
    new_decorator = A.replace(
        decorator, args=decorator.args or (), keywords=decorator.keywords + tuple(keywords)
    )
    decorators = fn.decorators[:index] + (new_decorator,) + fn.decorators[index + 1 :]
    return [A.replace(fn, decorators=decorators)], result


def _service_configured() -> bool:
    return os.environ.get("AITOMATIC_API_URL", "").startswith(("http://", "https://"))


def service_stage_code(spec: Any, cache_dir: Path | None) -> Any:
    """Stage code from the POET service (AITOMATIC_API_URL), or None to generate it here."""
    from dana_poet.service.stagecode import service_stage_code as from_service

    return from_service(spec, cache_dir)


def _brief(metadata: dict[str, Any]) -> dict[str, Any]:
    keys = ("generator", "language", "fallback_used", "errors", "cache_key", "service_function_id")
    return {k: metadata.get(k) for k in keys}


def _json_expr(value: Any) -> A.Expr:
    if isinstance(value, dict):
        return A.DictExpr(
            tuple(A.Constant(str(k)) for k in value), tuple(_json_expr(v) for v in value.values())
        )
    if isinstance(value, list | tuple):
        return A.ListExpr(tuple(_json_expr(v) for v in value))
    if value is None or isinstance(value, bool | int | float | str):
        return A.Constant(value)
    return A.Constant(str(value))


def rewrite_module(
    module: A.Module, filename: str, source: str, *, count_cache_use: bool = True
) -> tuple[A.Module, list[RewriteResult]]:
    """Rewrite every top-level @poet function of a module.

    Pure apart from the content-addressed stage-code cache: nothing is published (versions
    are published when a function first runs). `count_cache_use=False` also leaves the
    cache's hit/miss counters alone, for commands that only look (`inspect`, `transpile`).
    """
    from dana_poet.poet.identity import project_root

    cache_dir = project_root(filename) / ".dana" / "poet" / "cache"
    body: list[A.Stmt] = []
    results: list[RewriteResult] = []
    targets = [
        s
        for s in module.body
        if isinstance(s, A.FunctionDef) and any(is_poet_decorator(d) for d in s.decorators)
    ]
    progress = _progress(len(targets))
    for stmt in module.body:
        if isinstance(stmt, A.FunctionDef) and any(is_poet_decorator(d) for d in stmt.decorators):
            progress(stmt.name)
            try:
                new_stmts, result = rewrite_function(
                    stmt, source, filename, cache_dir, count_cache_use=count_cache_use
                )
            except Exception as exc:  # noqa: BLE001 - the runtime engines still give every stage
                print(
                    f"dana-poet: warning: stage code for {stmt.name}() could not be prepared "
                    f"({type(exc).__name__}: {exc}); using the built-in stage engines",
                    file=sys.stderr,
                )
                new_stmts, result = [stmt], None
            body.extend(new_stmts)
            if result is not None:
                results.append(result)
        else:
            body.append(stmt)
    progress(None)
    return A.Module(tuple(body), module.filename, module.span), results


def _progress(total: int) -> Any:
    """A rich progress bar on a terminal when many functions need stage code; silent otherwise."""
    if total < 5 or not sys.stderr.isatty():
        return lambda name: None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task("POET stage code", total=total)
    bar.start()

    def step(name: str | None) -> None:
        if name is None:
            bar.stop()
            return
        bar.update(task, advance=1, description=f"POET stage code: {name}")

    return step


def ast_transform(module: A.Module, filename: str, source: str) -> A.Module:
    """The hook the engine installs between parse and compile."""
    if "poet" not in source:
        return module
    rewritten, _ = rewrite_module(module, filename, source)
    return rewritten
