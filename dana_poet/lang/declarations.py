"""Compiling declarations: struct-like types, agents, interfaces, imports, type expressions.

A mixin of the compiler. Each declaration becomes one call of a runtime
helper bound in the module's globals (`__dana_struct`, `__dana_agent`, ...),
evaluated where the declaration stands, so a struct declared inside a
function is a local of that function.
"""

from __future__ import annotations

import ast as py
from typing import TYPE_CHECKING

from dana_poet.lang import ast as A
from dana_poet.lang.helpers import (
    H_AGENT,
    H_IMPORT,
    H_IMPORT_FROM,
    H_IMPORT_STAR,
    H_INTERFACE,
    H_STRUCT,
    H_TYPE,
    H_TYPE_VALUE,
    H_UNION,
)
from dana_poet.lang.pyast import LOAD, Where, at, call, const, load, store

NO_DEFAULT = "__dana_NO_DEFAULT"

# builtin types each module's globals bind as `__dana_<name>_t` (runtime.module_globals):
# an annotation naming one is a plain load of the value `__dana_t(name)` would return
BOUND_TYPES = frozenset({"int", "float", "str", "bool", "list", "dict", "tuple", "set"})

BUILTIN_TYPE_NAMES = frozenset(
    {"int", "float", "str", "bool", "list", "dict", "tuple", "set", "any", "None", "bytes"}
)


def is_builtin_type(t: A.TypeExpr) -> bool:
    if isinstance(t, A.TypeRef):
        return t.name in BUILTIN_TYPE_NAMES
    return all(is_builtin_type(o) for o in t.options)


class DeclarationCompiler:
    w: Where  # the position of the nodes being made (see Compiler)

    if TYPE_CHECKING:  # provided by the Compiler this is mixed into

        def expr(self, e: A.Expr) -> py.expr: ...
        def target(self, t: A.Expr) -> py.Name | py.Attribute | py.Subscript: ...
        def stmt(self, s: A.Stmt) -> list[py.stmt]: ...
        def is_function_local(self, name: str) -> bool: ...

    def s_TypeDecl(self, s: A.TypeDecl) -> list[py.stmt]:
        w = self.w
        fields: list[py.expr] = []
        for f in s.fields:
            default = self.expr(f.default) if f.default is not None else load(NO_DEFAULT, w)
            field = [const(f.name, w), self.type_expr(f.annotation), default]
            fields.append(at(py.Tuple(field, LOAD), w))
        value = call(
            H_STRUCT,
            w,
            const(s.kind, w),
            const(s.name, w),
            at(py.List(fields, LOAD), w),
            const(s.docstring, w),
            const(s.base, w),
        )
        out: list[py.stmt] = [at(py.Assign([self.target(A.Name(s.name))], value), w)]
        for method in s.methods:
            receiver = method.receiver or A.Param("self", A.TypeRef(s.name), None, method.span)
            params = method.params
            if method.receiver is None and params and params[0].name in ("self", "this"):
                receiver = A.Param(params[0].name, A.TypeRef(s.name), None, params[0].span)
                params = params[1:]
            fixed = A.FunctionDef(
                method.name,
                params,
                method.body,
                method.returns,
                method.decorators,
                receiver,
                method.is_sync,
                method.span,
            )
            out.extend(self.stmt(fixed))
        return out

    def s_AgentDecl(self, s: A.AgentDecl) -> list[py.stmt]:
        w = self.w
        blueprint = self.expr(A.Name(s.blueprint, None, s.span)) if s.blueprint else const(None, w)
        keys: list[py.expr | None] = [const(k.name, w) for k in s.overrides]
        overrides = at(py.Dict(keys, [self.expr(k.value) for k in s.overrides]), w)
        value = call(H_AGENT, w, const(s.name, w), blueprint, overrides)
        return [at(py.Assign([store(s.name, w)], value), w)]

    def s_InterfaceDecl(self, s: A.InterfaceDecl) -> list[py.stmt]:
        w = self.w
        methods = at(py.List([const(m.name, w) for m in s.methods], LOAD), w)
        embeds = at(py.List([const(e, w) for e in s.embeds], LOAD), w)
        value = call(H_INTERFACE, w, const(s.name, w), methods, embeds, const(s.docstring, w))
        return [at(py.Assign([store(s.name, w)], value), w)]

    def s_Import(self, s: A.Import) -> list[py.stmt]:
        w = self.w
        module = s.module
        is_python = module.endswith(".py")
        if is_python:
            module = module[:-3]
        bind = s.alias or module.split(".")[0]
        value = call(
            H_IMPORT,
            w,
            const(module, w),
            const(is_python, w),
            const(s.alias is not None or "." not in module, w),
        )
        return [at(py.Assign([store(bind, w)], value), w)]

    def s_ImportFrom(self, s: A.ImportFrom) -> list[py.stmt]:
        w = self.w
        module = s.module
        is_python = module.endswith(".py")
        if is_python:
            module = module[:-3]
        if not s.names:
            star = call(H_IMPORT_STAR, w, const(module, w), const(s.level, w), const(is_python, w))
            return [at(py.Expr(star), w)]
        out: list[py.stmt] = []
        for name, alias in s.names:
            value = call(
                H_IMPORT_FROM,
                w,
                const(module, w),
                const(s.level, w),
                const(is_python, w),
                const(name, w),
            )
            out.append(at(py.Assign([store(alias or name, w)], value), w))
        return out

    def type_expr(self, t: A.TypeExpr) -> py.expr:
        w = self.w
        if isinstance(t, A.TypeUnion):
            return call(H_UNION, w, *[self.type_expr(o) for o in t.options])
        if (
            t.name not in BUILTIN_TYPE_NAMES
            and "." not in t.name
            and self.is_function_local(t.name)
        ):
            # a type declared inside a function is that function's local, not a module name
            return call(H_TYPE_VALUE, w, load(t.name, w), *[self.type_expr(a) for a in t.args])
        if not t.args and t.name in BOUND_TYPES:
            return load(f"__dana_{t.name}_t", w)
        return call(H_TYPE, w, const(t.name, w), *[self.type_expr(a) for a in t.args])
