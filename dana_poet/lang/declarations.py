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
from dana_poet.lang.pyast import at, call, const, load, store

NO_DEFAULT = "__dana_NO_DEFAULT"

BUILTIN_TYPE_NAMES = frozenset(
    {"int", "float", "str", "bool", "list", "dict", "tuple", "set", "any", "None", "bytes"}
)


def is_builtin_type(t: A.TypeExpr) -> bool:
    if isinstance(t, A.TypeRef):
        return t.name in BUILTIN_TYPE_NAMES
    return all(is_builtin_type(o) for o in t.options)


class DeclarationCompiler:
    if TYPE_CHECKING:  # provided by the Compiler this is mixed into

        def expr(self, e: A.Expr) -> py.expr: ...
        def target(self, t: A.Expr) -> py.Name | py.Attribute | py.Subscript: ...
        def s_FunctionDef(self, s: A.FunctionDef) -> list[py.stmt]: ...
        def is_function_local(self, name: str) -> bool: ...

    def s_TypeDecl(self, s: A.TypeDecl) -> list[py.stmt]:
        fields: list[py.expr] = []
        for f in s.fields:
            default = self.expr(f.default) if f.default is not None else load(NO_DEFAULT)
            fields.append(
                py.Tuple(elts=[const(f.name), self.type_expr(f.annotation), default], ctx=py.Load())
            )
        value = call(
            H_STRUCT,
            const(s.kind),
            const(s.name),
            py.List(elts=fields, ctx=py.Load()),
            const(s.docstring),
            const(s.base),
        )
        out: list[py.stmt] = [
            at(py.Assign(targets=[self.target(A.Name(s.name))], value=value), s.span)
        ]
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
            out.extend(self.s_FunctionDef(fixed))
        return out

    def s_AgentDecl(self, s: A.AgentDecl) -> list[py.stmt]:
        blueprint = self.expr(A.Name(s.blueprint, None, s.span)) if s.blueprint else const(None)
        overrides = py.Dict(
            keys=[const(k.name) for k in s.overrides],
            values=[self.expr(k.value) for k in s.overrides],
        )
        return [
            py.Assign(
                targets=[store(s.name)], value=call(H_AGENT, const(s.name), blueprint, overrides)
            )
        ]

    def s_InterfaceDecl(self, s: A.InterfaceDecl) -> list[py.stmt]:
        methods = py.List(elts=[const(m.name) for m in s.methods], ctx=py.Load())
        embeds = py.List(elts=[const(e) for e in s.embeds], ctx=py.Load())
        value = call(H_INTERFACE, const(s.name), methods, embeds, const(s.docstring))
        return [py.Assign(targets=[store(s.name)], value=value)]

    def s_Import(self, s: A.Import) -> list[py.stmt]:
        module = s.module
        is_python = module.endswith(".py")
        if is_python:
            module = module[:-3]
        bind = s.alias or module.split(".")[0]
        value = call(
            H_IMPORT,
            const(module),
            const(is_python),
            const(s.alias is not None or "." not in module),
        )
        return [py.Assign(targets=[store(bind)], value=value)]

    def s_ImportFrom(self, s: A.ImportFrom) -> list[py.stmt]:
        module = s.module
        is_python = module.endswith(".py")
        if is_python:
            module = module[:-3]
        if not s.names:
            star = call(H_IMPORT_STAR, const(module), const(s.level), const(is_python))
            return [py.Expr(value=star)]
        out: list[py.stmt] = []
        for name, alias in s.names:
            value = call(
                H_IMPORT_FROM, const(module), const(s.level), const(is_python), const(name)
            )
            out.append(py.Assign(targets=[store(alias or name)], value=value))
        return out

    def type_expr(self, t: A.TypeExpr) -> py.expr:
        if isinstance(t, A.TypeUnion):
            return call(H_UNION, *[self.type_expr(o) for o in t.options])
        if (
            t.name not in BUILTIN_TYPE_NAMES
            and "." not in t.name
            and self.is_function_local(t.name)
        ):
            # a type declared inside a function is that function's local, not a module name
            return call(H_TYPE_VALUE, load(t.name), *[self.type_expr(a) for a in t.args])
        return call(H_TYPE, const(t.name), *[self.type_expr(a) for a in t.args])
