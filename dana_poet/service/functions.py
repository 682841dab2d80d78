"""From the code a client sends to what the library needs: a FunctionSpec and a callable.

The service is a thin shell: parsing is the language's parser (or Python's for
`language: "python"`), stage code comes from poet/codegen, learning from poet/train.
"""

from __future__ import annotations

import ast
from typing import Any

from dana_poet.poet.codegen import FunctionSpec, ParamSpec


class CodeError(ValueError):
    """The function code cannot be used; `str()` names line and column."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.column = column


_FILENAME = "<function_code>"


def _dana_function(source: str) -> tuple[Any, Any]:
    """(the module, the one function definition to enhance) or CodeError."""
    from dana_poet.lang import ast as A
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.parser import parse
    from dana_poet.poet.rewrite import is_poet_decorator

    try:
        module = parse(source, _FILENAME)
    except DanaSyntaxError as exc:
        raise CodeError(f"syntax error: {exc.message}", exc.line, exc.column) from None
    defs = [s for s in module.body if isinstance(s, A.FunctionDef)]
    decorated = [d for d in defs if any(is_poet_decorator(x) for x in d.decorators)]
    chosen = decorated or defs
    if len(chosen) != 1:
        raise CodeError(
            f"function_code must define exactly one function (or one @poet function); found {len(chosen)}"
        )
    return module, chosen[0]


def _python_function(source: str) -> ast.FunctionDef:
    try:
        tree = ast.parse(source, _FILENAME)
    except SyntaxError as exc:
        raise CodeError(f"syntax error: {exc.msg}", exc.lineno or 0, exc.offset or 0) from None
    except ValueError as exc:  # e.g. null bytes
        raise CodeError(str(exc)) from None
    defs = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    if len(defs) != 1:
        raise CodeError(f"function_code must define exactly one function; found {len(defs)}")
    return defs[0]


def _python_decorator_config(fn: ast.FunctionDef) -> dict[str, Any]:
    for d in fn.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", "")) == "poet":
            config: dict[str, Any] = {}
            for i, arg in enumerate(d.args):
                key = "domain" if i == 0 else f"_positional_{i}"
                config[key] = _python_literal(arg)
            for kw in d.keywords:
                if kw.arg:
                    config[kw.arg] = _python_literal(kw.value)
            return config
    return {}


def _python_literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return {"$source": ast.unparse(node)}


def function_spec(source: str, language: str, config: dict[str, Any] | None) -> FunctionSpec:
    """The spec codegen needs, from the function's source; config from the request wins."""
    if language == "dana":
        from dana_poet.poet.rewrite import decorator_config, function_spec, is_poet_decorator

        _, fn = _dana_function(source)
        merged: dict[str, Any] = {}
        for d in fn.decorators:
            if is_poet_decorator(d):
                merged.update(decorator_config(d))
        merged.update(config or {})
        return function_spec(fn, source, merged)  # type: ignore[no-any-return]
    pyfn = _python_function(source)
    merged = {**_python_decorator_config(pyfn), **(config or {})}
    args = pyfn.args.posonlyargs + pyfn.args.args + pyfn.args.kwonlyargs
    defaults: list[ast.expr | None] = [None] * (
        len(pyfn.args.posonlyargs) + len(pyfn.args.args) - len(pyfn.args.defaults)
    )
    defaults += list(pyfn.args.defaults) + list(pyfn.args.kw_defaults)
    params = tuple(
        ParamSpec(
            a.arg,
            ast.unparse(a.annotation) if a.annotation is not None else None,
            ast.unparse(d) if d is not None else None,
        )
        for a, d in zip(args, defaults, strict=True)
    )
    docstring = ast.get_docstring(pyfn)
    domain = merged.get("domain") if isinstance(merged.get("domain"), str) else None
    return FunctionSpec(
        name=pyfn.name,
        params=params,
        returns=ast.unparse(pyfn.returns) if pyfn.returns is not None else None,
        docstring=docstring,
        source=source,
        language="python",
        domain=domain,
        config=merged,
    )


def load_callable(source: str, language: str) -> Any:
    """The function as written (decorators dropped), for replaying executions when training.

    The code comes from an authenticated client of this project (or, without keys,
    from this machine); it runs in the service process only when feedback trains it.
    """
    if language == "dana":
        from dana_poet.lang import ast as A
        from dana_poet.lang.printer import to_source
        from dana_poet.lang.runtime import Program

        module, fn = _dana_function(source)
        plain = A.replace(fn, decorators=())
        body = [plain if s is fn else s for s in module.body if not _is_other_poet(s, fn)]
        text = to_source(A.replace(module, body=tuple(body)))
        namespace = Program(None).run_source(text, _FILENAME)
        return namespace[fn.name]
    pyfn = _python_function(source)
    pyfn.decorator_list = []
    tree = ast.Module(body=[pyfn], type_ignores=[])
    namespace = {}
    exec(compile(tree, _FILENAME, "exec"), namespace)  # noqa: S102 - see the docstring
    return namespace[pyfn.name]


def _is_other_poet(stmt: Any, chosen: Any) -> bool:
    from dana_poet.lang import ast as A

    return isinstance(stmt, A.FunctionDef) and stmt is not chosen and bool(stmt.decorators)
