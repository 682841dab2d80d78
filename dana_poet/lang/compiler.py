"""Dana AST -> Python `ast` -> code object, with line numbers mapped to the `.na` file.

The generated code calls a handful of runtime helpers bound into each
module's globals under names starting with `__dana_` (see runtime.py). Dana
semantics that differ from Python are handled here, at compile time, so that
ordinary code runs as plain bytecode:

* `+` with a string on one side concatenates (`"n=" + 5`). Where the compiler
  cannot tell the operand types, the statement runs as plain Python inside a
  zero-cost `try`; only a `TypeError` re-runs it with the concatenating
  helper (pure statements only; impure ones use the helper directly).
* A function that can end without `return` returns the value of its last
  value-producing statement.
* Names that are bound nowhere in the program are looked up at run time in
  the program-wide `private`, `public` and `system` scopes.
"""

from __future__ import annotations

import ast as py
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from dana_poet.lang import ast as A
from dana_poet.lang.errors import DanaSyntaxError

# Names of the helpers the generated code uses (bound in runtime.module_globals).
H_LOOKUP = "__dana_lookup"
H_ADD = "__dana_add"
H_ATTR = "__dana_attr"
H_COERCE = "__dana_coerce"
H_EXC = "__dana_exc"
H_CAUGHT = "__dana_caught"
H_ASSERT = "__dana_assert_failed"
H_TYPE = "__dana_t"
H_UNION = "__dana_tu"
H_STRUCT = "__dana_struct"
H_RECEIVER = "__dana_receiver"
H_AGENT = "__dana_agent"
H_INTERFACE = "__dana_interface"
H_IMPORT = "__dana_import"
H_IMPORT_FROM = "__dana_import_from"
H_IMPORT_STAR = "__dana_import_star"
H_PIPE_ARGS = "__dana_pipe_call"
H_GLOBALS = "__dana_globals"
H_STAGE = "__dana_stage"
H_AUG_ITEM = "__dana_aug_item"
H_AUG_ATTR = "__dana_aug_attr"
H_VIVIFY = "__dana_vivify"
SCOPE_DICTS = {"private": "__dana_private", "public": "__dana_public", "system": "__dana_system"}

BUILTIN_TYPE_NAMES = frozenset(
    {"int", "float", "str", "bool", "list", "dict", "tuple", "set", "any", "None", "bytes"}
)
COERCIBLE_TYPES = frozenset({"int", "float", "str", "bool", "list", "dict", "tuple", "set"})
_MANY_KEYWORDS = 64
NUMERIC_CALLS = frozenset({"len", "int", "float", "abs", "round"})

_CMP = {
    "==": py.Eq,
    "!=": py.NotEq,
    "<": py.Lt,
    "<=": py.LtE,
    ">": py.Gt,
    ">=": py.GtE,
    "in": py.In,
    "not in": py.NotIn,
    "is": py.Is,
    "is not": py.IsNot,
}
_BIN = {
    "+": py.Add,
    "-": py.Sub,
    "*": py.Mult,
    "/": py.Div,
    "//": py.FloorDiv,
    "%": py.Mod,
    "**": py.Pow,
}


def _load(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Load())


def _store(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Store())


def _const(value: Any) -> py.Constant:
    return py.Constant(value=value)


def _call(func: py.expr | str, *args: py.expr, **kwargs: py.expr) -> py.Call:
    f = _load(func) if isinstance(func, str) else func
    return py.Call(
        func=f, args=list(args), keywords=[py.keyword(arg=k, value=v) for k, v in kwargs.items()]
    )


def _no_args() -> py.arguments:
    return py.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )


def _at(node: Any, span: A.Span | None) -> Any:
    if span is not None and span.line:
        node.lineno = span.line
        node.col_offset = max(span.column - 1, 0)
        end_line = max(span.end_line, span.line)
        node.end_lineno = end_line
        end_col = max(span.end_column - 1, 0)
        if end_line == span.line and end_col < node.col_offset:
            end_col = node.col_offset
        node.end_col_offset = end_col
    return node


# ------------------------------------------------------------------ name analysis


def _walk_expr(node: Any) -> Iterator[Any]:
    """Yield every AST node reachable from `node` without entering nested scopes' bodies."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        if isinstance(n, tuple | list):
            stack.extend(reversed(n))
            continue
        yield n
        if isinstance(n, A.FunctionDef | A.DeclarativeDef):
            stack.extend(reversed([p.default for p in n.params]))
            continue
        if isinstance(n, A.TypeDecl):
            stack.extend(reversed([f.default for f in n.fields]))
            continue
        for slot in getattr(n, "__slots__", ()):
            if slot == "span":
                continue
            value = getattr(n, slot)
            if isinstance(value, A.Node | tuple | list):
                stack.append(value)


@dataclass
class _FunctionScope:
    params: set[str] = field(default_factory=set)
    assigned: set[str] = field(default_factory=set)
    first_use_is_read: set[str] = field(default_factory=set)


def _bound_names(body: tuple[A.Stmt, ...]) -> set[str]:
    """Names an unscoped assignment, loop, import or definition binds in this scope."""
    names: set[str] = set()
    for node in _walk_expr(body):
        if isinstance(node, A.Assign | A.AugAssign):
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local"):
                names.add(t.id)
        elif isinstance(node, A.For):
            names.update(node.targets)
        elif isinstance(node, A.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, A.WithItem) and node.name:
            names.add(node.name)
        elif isinstance(node, A.FunctionDef | A.DeclarativeDef | A.TypeDecl | A.InterfaceDecl):
            names.add(node.name)
        elif isinstance(node, A.AgentDecl):
            names.add(node.name)
        elif isinstance(node, A.Import):
            mod = node.module[:-3] if node.module.endswith(".py") else node.module
            names.add(node.alias or mod.split(".")[0])
        elif isinstance(node, A.ImportFrom):
            for name, alias in node.names:
                names.add(alias or name)
    return names


def _read_before_write(body: tuple[A.Stmt, ...], candidates: set[str]) -> set[str]:
    """Candidates whose first occurrence in source order is a read (`x = x + 1`)."""
    seen: set[str] = set()
    read_first: set[str] = set()

    def visit(node: Any) -> None:
        if node is None or not candidates - seen:
            return
        if isinstance(node, tuple | list):
            for n in node:
                visit(n)
            return
        if isinstance(node, A.Name):
            if node.scope is None and node.id in candidates and node.id not in seen:
                seen.add(node.id)
                read_first.add(node.id)
            return
        if isinstance(node, A.Assign):
            visit(node.value)
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local"):
                seen.add(t.id)
            else:
                visit(t)
            return
        if isinstance(node, A.AugAssign):
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local") and t.id not in seen:
                seen.add(t.id)
                read_first.add(t.id) if t.id in candidates else None
            visit(node.value)
            return
        if isinstance(node, A.For):
            visit(node.iter)
            seen.update(node.targets)
            visit(node.body)
            return
        if isinstance(node, A.FunctionDef | A.DeclarativeDef | A.Lambda | A.Comprehension):
            return
        for slot in getattr(node, "__slots__", ()):
            if slot != "span":
                value = getattr(node, slot)
                if isinstance(value, A.Node | tuple | list):
                    visit(value)

    visit(body)
    return read_first


def _is_pure(expr: Any) -> bool:
    """True when evaluating `expr` twice is harmless (no calls, lambdas or comprehensions)."""
    for node in _walk_expr(expr):
        if isinstance(node, A.Call | A.Lambda | A.Comprehension | A.Placeholder):
            return False
    return True


def _falls_through(body: tuple[A.Stmt, ...]) -> bool:
    if not body:
        return True
    last = body[-1]
    if isinstance(last, A.Return | A.Raise):
        return False
    if isinstance(last, A.If):
        return _falls_through(last.body) or _falls_through(last.orelse)
    if isinstance(last, A.Try):
        if last.finalbody and not _falls_through(last.finalbody):
            return False
        body_end = _falls_through(last.orelse or last.body)
        return body_end or any(_falls_through(h.body) for h in last.handlers)
    return True


class _Context:
    """Where the compiler is: module level or inside a function (and how deep in loops)."""

    def __init__(
        self,
        kind: str,
        locals_: set[str],
        parent: _Context | None,
        track_last: bool = False,
    ) -> None:
        self.kind = kind
        self.locals = locals_
        self.parent = parent
        self.track_last = track_last
        self.loop_depth = 0

    def resolves(self, name: str) -> bool:
        ctx: _Context | None = self
        while ctx is not None:
            if name in ctx.locals:
                return True
            ctx = ctx.parent
        return False


class Compiler:
    def __init__(self, filename: str, builtin_names: frozenset[str], source: str = "") -> None:
        self.filename = filename
        self.builtin_names = builtin_names
        self.source = source
        self._lines: list[str] | None = None  # source.splitlines(), made once when first needed
        self.ctx: _Context = _Context("module", set(), None)
        self.module_names: set[str] = set()
        self._add_mode = "plain"
        self._ambiguous_add = False
        self._tmp = 0
        self._pipe_captures: dict[str, str] = {}
        self._placeholder: py.expr | None = None
        self._getters_for_parent: list[py.stmt] = []

    # ------------------------------------------------------------ entry points
    def compile_module(self, module: A.Module) -> CodeType:
        tree = self.module_ast(module)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile(tree, self.filename, "exec", dont_inherit=True, optimize=0)

    def module_ast(self, module: A.Module) -> py.Module:
        self.module_names = _bound_names(module.body)
        for (
            stmt
        ) in module.body:  # receiver methods named like builtins keep the builtin's name free
            if (
                isinstance(stmt, A.FunctionDef)
                and stmt.receiver is not None
                and stmt.name in self.builtin_names
            ):
                self.module_names.discard(stmt.name)
        self.ctx = _Context("module", set(self.module_names), None)
        body = self.stmts(module.body)
        tree = py.Module(body=body or [py.Pass()], type_ignores=[])
        py.fix_missing_locations(tree)
        return tree

    def error(self, message: str, span: A.Span) -> DanaSyntaxError:
        return DanaSyntaxError(
            message, filename=self.filename, line=span.line, column=span.column, source=self.source
        )

    def tmp(self, stem: str = "t") -> str:
        self._tmp += 1
        return f"__dana_{stem}{self._tmp}"

    # ------------------------------------------------------------ statements
    def stmts(self, body: tuple[A.Stmt, ...]) -> list[py.stmt]:
        out: list[py.stmt] = []
        for s in body:
            out.extend(self.stmt(s))
        return out

    def stmt(self, s: A.Stmt) -> list[py.stmt]:
        method = getattr(self, "s_" + type(s).__name__)
        result = method(s)
        for node in result:
            if not hasattr(node, "lineno"):
                _at(node, s.span)
        return result

    def guarded(self, s: A.Stmt, build: Any, exprs: list[Any]) -> list[py.stmt]:
        """Build a statement, protecting ambiguous `+` with a retry on TypeError."""
        saved = (self._add_mode, self._ambiguous_add)
        self._add_mode, self._ambiguous_add = "plain", False
        plain = build()
        ambiguous = self._ambiguous_add
        self._add_mode, self._ambiguous_add = saved
        if not ambiguous:
            return plain
        self._add_mode = "helper"
        try:
            helper = build()
        finally:
            self._add_mode = saved[0]
        if all(_is_pure(e) for e in exprs):
            handler = py.ExceptHandler(type=_load("TypeError"), name=None, body=helper)
            return [_at(py.Try(body=plain, handlers=[handler], orelse=[], finalbody=[]), s.span)]
        return helper

    def _track(self, value: py.expr, span: A.Span) -> list[py.stmt]:
        """`__dana_last = value` when value is not None (implicit return bookkeeping)."""
        test = py.Compare(left=value, ops=[py.IsNot()], comparators=[_const(None)])
        assign = py.Assign(targets=[_store("__dana_last")], value=value)
        return [_at(py.If(test=test, body=[assign], orelse=[]), span)]

    def s_ExprStmt(self, s: A.ExprStmt) -> list[py.stmt]:
        if self.ctx.track_last:
            tmp = "__dana_v"

            def build() -> list[py.stmt]:
                return [_at(py.Assign(targets=[_store(tmp)], value=self.expr(s.value)), s.span)]

            return self.guarded(s, build, [s.value]) + self._track(_load(tmp), s.span)
        return self.guarded(s, lambda: [py.Expr(value=self.expr(s.value))], [s.value])

    def s_Pass(self, s: A.Pass) -> list[py.stmt]:
        return [py.Pass()]

    def s_Break(self, s: A.Break) -> list[py.stmt]:
        if self.ctx.loop_depth == 0:
            raise self.error("'break' outside a loop", s.span)
        return [py.Break()]

    def s_Continue(self, s: A.Continue) -> list[py.stmt]:
        if self.ctx.loop_depth == 0:
            raise self.error("'continue' outside a loop", s.span)
        return [py.Continue()]

    def s_Return(self, s: A.Return) -> list[py.stmt]:
        if self.ctx.kind == "module":
            raise self.error("'return' outside a function", s.span)
        if s.value is None:
            return [py.Return(value=None)]
        value = s.value
        if (
            isinstance(value, A.BinOp)
            and value.op == "+"
            and not (_is_pure(value.left) and _is_pure(value.right))
            and self._add_is_ambiguous(value.left, value.right)
        ):
            return self._hoisted_add(value, lambda v: [_at(py.Return(value=v), s.span)], s.span)
        return self.guarded(s, lambda: [py.Return(value=self.expr(value))], [value])

    def _hoisted_add(self, value: A.BinOp, finish: Any, span: A.Span) -> list[py.stmt]:
        """`a() + b()`: evaluate both sides once, then add plainly, falling back on TypeError."""
        left, right = self.tmp("l"), self.tmp("r")
        saved = self._add_mode
        self._add_mode = "helper"
        try:
            out: list[py.stmt] = [
                _at(py.Assign(targets=[_store(left)], value=self.expr(value.left)), span),
                _at(py.Assign(targets=[_store(right)], value=self.expr(value.right)), span),
            ]
        finally:
            self._add_mode = saved
        plain = py.BinOp(left=_load(left), op=py.Add(), right=_load(right))
        helper = _call(H_ADD, _load(left), _load(right))
        handler = py.ExceptHandler(type=_load("TypeError"), name=None, body=finish(helper))
        out.append(
            _at(py.Try(body=finish(plain), handlers=[handler], orelse=[], finalbody=[]), span)
        )
        return out

    def s_Raise(self, s: A.Raise) -> list[py.stmt]:
        exc = _call(H_EXC, self.expr(s.exc)) if s.exc is not None else None
        cause = _call(H_EXC, self.expr(s.cause)) if s.cause is not None else None
        return [py.Raise(exc=exc, cause=cause)]

    def s_Assert(self, s: A.Assert) -> list[py.stmt]:
        saved = self._add_mode
        self._add_mode = "helper"  # asserts are not hot: always concatenate-aware
        try:
            return self._assert(s)
        finally:
            self._add_mode = saved

    def _assert(self, s: A.Assert) -> list[py.stmt]:
        source = self._assert_source(s) or "assertion"
        msg = self.expr(s.msg) if s.msg is not None else _const(None)
        test = s.test
        if isinstance(test, A.Compare) and len(test.ops) == 1:
            left, right = self.tmp("l"), self.tmp("r")
            out: list[py.stmt] = [
                py.Assign(targets=[_store(left)], value=self.expr(test.left)),
                py.Assign(targets=[_store(right)], value=self.expr(test.comparators[0])),
            ]
            cond = py.Compare(
                left=_load(left), ops=[_CMP[test.ops[0]]()], comparators=[_load(right)]
            )
            fail = _call(
                H_ASSERT, msg, _const(source), _load(left), _load(right), _const(test.ops[0])
            )
            out.append(
                py.If(
                    test=py.UnaryOp(op=py.Not(), operand=cond),
                    body=[py.Raise(exc=fail, cause=None)],
                    orelse=[],
                )
            )
            return [_at(n, s.span) for n in out]
        cond = self.expr(test)
        fail = _call(H_ASSERT, msg, _const(source))
        return [
            py.If(
                test=py.UnaryOp(op=py.Not(), operand=cond),
                body=[py.Raise(exc=fail, cause=None)],
                orelse=[],
            )
        ]

    def _assert_source(self, s: A.Assert) -> str:
        """The asserted expression as written (the whole line when the assert fits on one)."""
        if not self.source or not s.span.line:
            return ""
        lines = self.source_lines()
        if s.span.line > len(lines):
            return ""
        text = lines[s.span.line - 1].strip()
        if s.span.end_line == s.span.line and text.startswith("assert "):
            text = text[len("assert ") :]
            if s.msg is not None:
                return self._source_of(s.test.span) or text
            return text.split("  #", 1)[0].strip()
        return self._source_of(s.test.span)

    def source_lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.source.splitlines()
        return self._lines

    def _source_of(self, span: A.Span) -> str:
        if not self.source or not span.line:
            return ""
        lines = self.source_lines()
        if span.line > len(lines):
            return ""
        if span.end_line == span.line:
            return lines[span.line - 1][span.column - 1 : span.end_column - 1].strip()
        return lines[span.line - 1][span.column - 1 :].strip()

    def s_Assign(self, s: A.Assign) -> list[py.stmt]:
        if s.value is None:
            return [py.Pass()]
        target = s.target

        def value_expr() -> py.expr:
            value = self.expr(s.value)
            if s.annotation is not None:
                return self._typed_value(s.value, value, s.annotation, target)
            return value

        if self.ctx.track_last:
            tmp = "__dana_v"

            def build() -> list[py.stmt]:
                return [
                    _at(py.Assign(targets=[_store(tmp)], value=value_expr()), s.span),
                    _at(py.Assign(targets=[self.target(target)], value=_load(tmp)), s.span),
                ]

            return self.guarded(s, build, [s.value, target]) + self._track(_load(tmp), s.span)
        if (
            s.annotation is None
            and isinstance(s.value, A.BinOp)
            and s.value.op == "+"
            and not (_is_pure(s.value.left) and _is_pure(s.value.right))
            and _is_pure(target)
            and self._add_is_ambiguous(s.value.left, s.value.right)
        ):
            return self._hoisted_add(
                s.value,
                lambda v: [_at(py.Assign(targets=[self.target(target)], value=v), s.span)],
                s.span,
            )
        return self.guarded(
            s,
            lambda: [py.Assign(targets=[self.target(target)], value=value_expr())],
            [s.value, target],
        )

    def _typed_value(
        self, source: A.Expr, value: py.expr, annotation: A.TypeExpr, target: A.Expr
    ) -> py.expr:
        type_expr = self.type_expr(annotation)
        if (
            isinstance(source, A.Call)
            and isinstance(source.func, A.Name)
            and source.func.id == "reason"
            and not self.ctx.resolves("reason")
            and isinstance(value, py.Call)
        ):
            value.keywords.append(py.keyword(arg="_dana_type", value=type_expr))
        name = target.id if isinstance(target, A.Name) else self._source_of(target.span)
        return _call(H_COERCE, value, type_expr, _const(name))

    def s_AugAssign(self, s: A.AugAssign) -> list[py.stmt]:
        target = s.target
        op = _BIN[s.op]()

        def build() -> list[py.stmt]:
            if s.op == "+" and self._add_mode == "helper":
                if self._add_is_ambiguous(target, s.value):
                    value = _call(H_ADD, self.expr(target), self.expr(s.value))
                    return [py.Assign(targets=[self.target(target)], value=value)]
            if s.op == "+" and self._add_is_ambiguous(target, s.value):
                self._ambiguous_add = True
            return [py.AugAssign(target=self.target(target), op=op, value=self.expr(s.value))]

        if _is_pure(target):
            out = self.guarded(s, build, [s.value, target])
        else:
            out = build()
        if self.ctx.track_last:
            out += self._track(self.expr(target), s.span)
        return out

    def s_If(self, s: A.If) -> list[py.stmt]:
        body = self.stmts(s.body) or [py.Pass()]
        orelse = self.stmts(s.orelse)
        return self._with_guarded_test(
            s.test, s.span, lambda t: [py.If(test=t, body=body, orelse=orelse)]
        )

    def _with_guarded_test(self, test: A.Expr, span: A.Span, finish: Any) -> list[py.stmt]:
        saved = (self._add_mode, self._ambiguous_add)
        self._add_mode, self._ambiguous_add = "plain", False
        plain = self.expr(test)
        ambiguous = self._ambiguous_add
        self._add_mode, self._ambiguous_add = saved
        if not ambiguous:
            return finish(plain)
        tmp = self.tmp("c")
        self._add_mode = "helper"
        try:
            helper = self.expr(test)
        finally:
            self._add_mode = saved[0]
        if _is_pure(test):
            handler = py.ExceptHandler(
                type=_load("TypeError"),
                name=None,
                body=[_at(py.Assign(targets=[_store(tmp)], value=helper), span)],
            )
            compute: list[py.stmt] = [
                _at(
                    py.Try(
                        body=[_at(py.Assign(targets=[_store(tmp)], value=plain), span)],
                        handlers=[handler],
                        orelse=[],
                        finalbody=[],
                    ),
                    span,
                )
            ]
        else:
            compute = [_at(py.Assign(targets=[_store(tmp)], value=helper), span)]
        return compute + finish(_load(tmp))

    def s_While(self, s: A.While) -> list[py.stmt]:
        self.ctx.loop_depth += 1
        try:
            body = self.stmts(s.body) or [py.Pass()]
        finally:
            self.ctx.loop_depth -= 1
        saved = (self._add_mode, self._ambiguous_add)
        self._add_mode, self._ambiguous_add = "plain", False
        test = self.expr(s.test)
        ambiguous = self._ambiguous_add
        self._add_mode, self._ambiguous_add = saved
        if not ambiguous:
            return [py.While(test=test, body=body, orelse=[])]
        check = self._with_guarded_test(
            s.test,
            s.span,
            lambda t: [
                py.If(test=py.UnaryOp(op=py.Not(), operand=t), body=[py.Break()], orelse=[])
            ],
        )
        return [py.While(test=_const(True), body=check + body, orelse=[])]

    def s_For(self, s: A.For) -> list[py.stmt]:
        if len(s.targets) == 1:
            target: py.expr = _store(s.targets[0])
        else:
            target = py.Tuple(elts=[_store(n) for n in s.targets], ctx=py.Store())
        self.ctx.loop_depth += 1
        try:
            body = self.stmts(s.body) or [py.Pass()]
        finally:
            self.ctx.loop_depth -= 1
        return self._with_guarded_test(
            s.iter, s.span, lambda it: [py.For(target=target, iter=it, body=body, orelse=[])]
        )

    def s_Try(self, s: A.Try) -> list[py.stmt]:
        body = self.stmts(s.body) or [py.Pass()]
        handlers = []
        for h in s.handlers:
            handler_body = self.stmts(h.body)
            exc_type: py.expr = self.expr(h.type) if h.type is not None else _load("Exception")
            if h.name:
                caught = self.tmp("e")
                bind = _at(
                    py.Assign(targets=[_store(h.name)], value=_call(H_CAUGHT, _load(caught))),
                    h.span,
                )
                handlers.append(
                    _at(
                        py.ExceptHandler(type=exc_type, name=caught, body=[bind] + handler_body),
                        h.span,
                    )
                )
            else:
                handlers.append(
                    _at(
                        py.ExceptHandler(
                            type=exc_type, name=None, body=handler_body or [py.Pass()]
                        ),
                        h.span,
                    )
                )
        orelse = self.stmts(s.orelse)
        finalbody = self.stmts(s.finalbody)
        return [py.Try(body=body, handlers=handlers, orelse=orelse, finalbody=finalbody)]

    def s_With(self, s: A.With) -> list[py.stmt]:
        items = [
            py.withitem(
                context_expr=self.expr(item.context),
                optional_vars=_store(item.name) if item.name else None,
            )
            for item in s.items
        ]
        return [py.With(items=items, body=self.stmts(s.body) or [py.Pass()])]

    # ------------------------------------------------------------ definitions
    def _arguments(self, params: tuple[A.Param, ...]) -> py.arguments:
        args = []
        defaults = []
        for p in params:
            annotation = self.type_expr(p.annotation) if p.annotation is not None else None
            args.append(_at(py.arg(arg=p.name, annotation=annotation), p.span))
            if p.default is not None:
                defaults.append(self.expr(p.default))
        return py.arguments(
            posonlyargs=[],
            args=args,
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=defaults,
        )

    def _decorators(self, decorators: tuple[A.Decorator, ...]) -> list[py.expr]:
        out = []
        for d in decorators:
            parts = d.name.split(".")
            func: py.expr = self.expr(A.Name(parts[0], None, d.span))
            for part in parts[1:]:
                func = py.Attribute(value=func, attr=part, ctx=py.Load())
            if d.args is None or (not d.args and not d.keywords):
                out.append(_at(func, d.span))
            else:
                call = py.Call(
                    func=func,
                    args=[self.expr(a) for a in d.args],
                    keywords=[py.keyword(arg=k.name, value=self.expr(k.value)) for k in d.keywords],
                )
                out.append(_at(call, d.span))
        return out

    def _function_body(
        self, params: tuple[A.Param, ...], body: tuple[A.Stmt, ...], name: str
    ) -> list[py.stmt]:
        param_names = {p.name for p in params}
        local_names = _bound_names(body) | param_names
        track = _falls_through(body)
        parent = self.ctx
        self.ctx = _Context("function", local_names, parent, track_last=track)
        try:
            prologue: list[py.stmt] = []
            outer = {n for n in local_names - param_names if parent.resolves(n)}
            getters: list[py.stmt] = []
            for n in sorted(_read_before_write(body, outer) if outer else ()):
                # `x = x + 1` where x is an enclosing variable: start from its current value
                owner = parent
                while owner is not None and n not in owner.locals:
                    owner = owner.parent
                if owner is None or owner.kind == "module":
                    get = _call(
                        py.Attribute(value=_load(H_GLOBALS), attr="get", ctx=py.Load()), _const(n)
                    )
                    prologue.append(py.Assign(targets=[_store(n)], value=get))
                else:
                    getter = f"__dana_get_{n}"
                    no_args = _no_args()
                    getters.append(
                        py.Assign(
                            targets=[_store(getter)], value=py.Lambda(args=no_args, body=_load(n))
                        )
                    )
                    prologue.append(py.Assign(targets=[_store(n)], value=_call(getter)))
            self._getters_for_parent = getters
            if track:
                prologue.append(py.Assign(targets=[_store("__dana_last")], value=_const(None)))
            docstring: list[py.stmt] = []
            if body and isinstance(body[0], A.ExprStmt) and isinstance(body[0].value, A.Constant):
                if isinstance(body[0].value.value, str) and len(body) > 1:
                    docstring = [_at(py.Expr(value=_const(body[0].value.value)), body[0].span)]
                    body = body[1:]
            out = docstring + prologue + self.stmts(body)
            if track:
                out.append(py.Return(value=_load("__dana_last")))
            return out or [py.Pass()]
        finally:
            self.ctx = parent

    def s_FunctionDef(self, s: A.FunctionDef) -> list[py.stmt]:
        if (
            s.receiver is not None
            and s.name in self.builtin_names
            and not self.ctx.resolves(s.name)
        ):
            # `def (s: Sys) log(...)` is a method; a plain `log(...)` call stays the builtin
            hidden = A.replace(s, name=f"__dana_method_{s.name}")
            out = self.s_FunctionDef(hidden)
            rename = _at(
                py.Assign(
                    targets=[
                        py.Attribute(value=_load(hidden.name), attr="__name__", ctx=py.Store())
                    ],
                    value=_const(s.name),
                ),
                s.span,
            )
            at = next(i for i, n in enumerate(out) if isinstance(n, py.FunctionDef))
            out.insert(at + 1, rename)  # before the receiver registration, which reads __name__
            return out
        params = s.params
        if s.receiver is not None:
            params = (s.receiver,) + params
        args = self._arguments(params)
        returns = self.type_expr(s.returns) if s.returns is not None else None
        decorators = self._decorators(s.decorators)
        saved_loop = self.ctx.loop_depth
        self.ctx.loop_depth = 0
        try:
            body = self._function_body(params, s.body, s.name)
            getters = self._getters_for_parent
        finally:
            self.ctx.loop_depth = saved_loop
        fn = _at(
            py.FunctionDef(
                name=s.name,
                args=args,
                body=body,
                decorator_list=decorators,
                returns=returns,
                type_comment=None,
            ),
            s.span,
        )
        out: list[py.stmt] = [_at(g, s.span) for g in getters] + [fn]
        receiver = s.receiver
        if receiver is None and params and params[0].annotation is not None:
            receiver = params[0]
        if receiver is not None and receiver.annotation is not None:
            implicit = s.receiver is None
            if not (implicit and self._is_builtin_type(receiver.annotation)):
                out.append(
                    _at(
                        py.Expr(
                            value=_call(
                                H_RECEIVER,
                                _load(s.name),
                                self.type_expr(receiver.annotation),
                                _const(implicit),
                            )
                        ),
                        s.span,
                    )
                )
        return out

    @staticmethod
    def _is_builtin_type(t: A.TypeExpr) -> bool:
        if isinstance(t, A.TypeRef):
            return t.name in BUILTIN_TYPE_NAMES
        return all(Compiler._is_builtin_type(o) for o in t.options)

    def s_DeclarativeDef(self, s: A.DeclarativeDef) -> list[py.stmt]:
        args = self._arguments(s.params)
        returns = self.type_expr(s.returns) if s.returns is not None else None
        decorators = self._decorators(s.decorators)
        param_names = [p.name for p in s.params]
        parent = self.ctx
        self.ctx = _Context("function", set(param_names), parent)
        saved_caps = self._pipe_captures
        self._pipe_captures = {}
        try:
            body = self._pipeline_body(s, param_names)
        finally:
            self.ctx = parent
            self._pipe_captures = saved_caps
        fn = py.FunctionDef(
            name=s.name,
            args=args,
            body=body,
            decorator_list=decorators,
            returns=returns,
            type_comment=None,
        )
        return [_at(fn, s.span)]

    def _pipeline_body(self, s: A.DeclarativeDef, params: list[str]) -> list[py.stmt]:
        current = "__dana_pv"
        initial = [_load(p) for p in params]
        if len(s.stages) == 1 and isinstance(s.stages[0], A.ExprStage):
            return [_at(py.Return(value=self.expr(s.stages[0].expr)), s.stages[0].span)]
        if (
            len(s.stages) == 1
            and isinstance(s.stages[0], A.StageCall)
            and s.stages[0].args is not None
            and not any(isinstance(n, A.Placeholder) for n in _walk_expr(s.stages[0].args))
        ):  # `def f(x) = g(10)` is an ordinary call; `def f(x) = g($$, 10)` feeds x in
            stage = s.stages[0]
            call = self._stage_call(stage, None, first=False)
            packed = py.Tuple(elts=[_load(p) for p in params], ctx=py.Load())
            lam = py.Lambda(
                args=_no_args(),
                body=call,
            )
            return [py.Return(value=_call(H_PIPE_ARGS, packed, lam))]
        out: list[py.stmt] = []
        first = True
        for stage in s.stages:
            value = self._stage(stage, initial if first else [_load(current)], first)
            out.append(_at(py.Assign(targets=[_store(current)], value=value), stage.span))
            if stage.capture:
                out.append(py.Assign(targets=[_store(stage.capture)], value=_load(current)))
                self._pipe_captures[stage.capture] = stage.capture
                self.ctx.locals.add(stage.capture)
            first = False
        out.append(py.Return(value=_load(current)))
        return out

    def _stage(self, stage: A.Stage, inputs: list[py.expr], first: bool) -> py.expr:
        if isinstance(stage, A.ParallelStage):
            members: list[py.expr] = []
            for sub in stage.stages:
                value = self._stage(sub, inputs, first)
                if sub.capture:  # `[f as a, g]`: the member's own result is captured
                    value = py.NamedExpr(target=_store(sub.capture), value=value)
                    self._pipe_captures[sub.capture] = sub.capture
                    self.ctx.locals.add(sub.capture)
                members.append(value)
            return py.List(elts=members, ctx=py.Load())
        return self._stage_call(stage, inputs, first)

    def _stage_func(self, stage: A.StageCall) -> py.expr:
        parts = stage.func.split(".")
        func = self.expr(A.Name(parts[0], None, stage.span))
        for part in parts[1:]:
            func = py.Attribute(value=func, attr=part, ctx=py.Load())
        return func

    def _stage_call(self, stage: A.StageCall, inputs: list[py.expr] | None, first: bool) -> py.expr:
        func = self._stage_func(stage)
        if stage.args is None:
            # a named stage gets the value(s) flowing in, as many as it accepts
            return _at(_call(H_STAGE, func, *(inputs or [])), stage.span)
        uses_placeholder = any(
            isinstance(n, A.Placeholder)
            for n in _walk_expr(stage.args + tuple(k.value for k in stage.keywords))
        )
        uses_capture = any(
            isinstance(n, A.Name) and n.scope is None and n.id in self._pipe_captures
            for n in _walk_expr(stage.args + tuple(k.value for k in stage.keywords))
        )
        saved = self._placeholder
        self._placeholder = inputs[0] if inputs else None
        try:
            args = [self.expr(a) for a in stage.args]
            keywords = [py.keyword(arg=k.name, value=self.expr(k.value)) for k in stage.keywords]
        finally:
            self._placeholder = saved
        if inputs is not None and not uses_placeholder and not uses_capture:
            args = list(inputs) + args
        return _at(py.Call(func=func, args=args, keywords=keywords), stage.span)

    def s_TypeDecl(self, s: A.TypeDecl) -> list[py.stmt]:
        fields = []
        for f in s.fields:
            default = self.expr(f.default) if f.default is not None else _load("__dana_NO_DEFAULT")
            fields.append(
                py.Tuple(
                    elts=[_const(f.name), self.type_expr(f.annotation), default], ctx=py.Load()
                )
            )
        call = _call(
            H_STRUCT,
            _const(s.kind),
            _const(s.name),
            py.List(elts=fields, ctx=py.Load()),
            _const(s.docstring),
            _const(s.base),
        )
        out: list[py.stmt] = [
            _at(py.Assign(targets=[self.target(A.Name(s.name))], value=call), s.span)
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
            saved = self.ctx.locals
            out.extend(self.s_FunctionDef(fixed))
            self.ctx.locals = saved
        return out

    def s_AgentDecl(self, s: A.AgentDecl) -> list[py.stmt]:
        blueprint = self.expr(A.Name(s.blueprint, None, s.span)) if s.blueprint else _const(None)
        overrides = py.Dict(
            keys=[_const(k.name) for k in s.overrides],
            values=[self.expr(k.value) for k in s.overrides],
        )
        call = _call(H_AGENT, _const(s.name), blueprint, overrides)
        return [py.Assign(targets=[_store(s.name)], value=call)]

    def s_InterfaceDecl(self, s: A.InterfaceDecl) -> list[py.stmt]:
        methods = py.List(elts=[_const(m.name) for m in s.methods], ctx=py.Load())
        embeds = py.List(elts=[_const(e) for e in s.embeds], ctx=py.Load())
        call = _call(H_INTERFACE, _const(s.name), methods, embeds, _const(s.docstring))
        return [py.Assign(targets=[_store(s.name)], value=call)]

    def s_Import(self, s: A.Import) -> list[py.stmt]:
        module = s.module
        is_python = module.endswith(".py")
        if is_python:
            module = module[:-3]
        bind = s.alias or module.split(".")[0]
        value = _call(
            H_IMPORT,
            _const(module),
            _const(is_python),
            _const(s.alias is not None or "." not in module),
        )
        return [py.Assign(targets=[_store(bind)], value=value)]

    def s_ImportFrom(self, s: A.ImportFrom) -> list[py.stmt]:
        module = s.module
        is_python = module.endswith(".py")
        if is_python:
            module = module[:-3]
        if not s.names:
            return [
                py.Expr(
                    value=_call(H_IMPORT_STAR, _const(module), _const(s.level), _const(is_python))
                )
            ]
        out: list[py.stmt] = []
        for name, alias in s.names:
            value = _call(
                H_IMPORT_FROM, _const(module), _const(s.level), _const(is_python), _const(name)
            )
            out.append(py.Assign(targets=[_store(alias or name)], value=value))
        return out

    # ------------------------------------------------------------ targets
    def target(self, t: A.Expr) -> py.expr:
        if isinstance(t, A.Name):
            if t.scope in SCOPE_DICTS:
                return _at(
                    py.Subscript(
                        value=_load(SCOPE_DICTS[t.scope]), slice=_const(t.id), ctx=py.Store()
                    ),
                    t.span,
                )
            return _at(_store(t.id), t.span)
        if isinstance(t, A.Attribute):
            base = self._vivified(t.value) if self._scoped_root(t.value) else self.expr(t.value)
            return _at(py.Attribute(value=base, attr=t.attr, ctx=py.Store()), t.span)
        if isinstance(t, A.Subscript):
            return _at(
                py.Subscript(value=self.expr(t.value), slice=self._index(t.index), ctx=py.Store()),
                t.span,
            )
        raise self.error("cannot assign to this expression", t.span)

    @staticmethod
    def _scoped_root(e: A.Expr) -> bool:
        while isinstance(e, A.Attribute):
            e = e.value
        return isinstance(e, A.Name) and e.scope in SCOPE_DICTS

    def _vivified(self, e: A.Expr) -> py.expr:
        """`private:cfg.a.b = v` creates `private:cfg` and `.a` as namespaces when missing."""
        if isinstance(e, A.Name):
            return _call(H_VIVIFY, _load(SCOPE_DICTS[e.scope or ""]), _const(e.id))
        assert isinstance(e, A.Attribute)
        return _call(H_VIVIFY, self._vivified(e.value), _const(e.attr))

    # ------------------------------------------------------------ types
    def type_expr(self, t: A.TypeExpr) -> py.expr:
        if isinstance(t, A.TypeUnion):
            return _call(H_UNION, *[self.type_expr(o) for o in t.options])
        return _call(H_TYPE, _const(t.name), *[self.type_expr(a) for a in t.args])

    # ------------------------------------------------------------ expressions
    def expr(self, e: A.Expr) -> py.expr:
        node = getattr(self, "e_" + type(e).__name__)(e)
        return _at(node, e.span) if not hasattr(node, "lineno") else node

    def e_Name(self, e: A.Name) -> py.expr:
        if e.scope in SCOPE_DICTS:
            return py.Subscript(
                value=_load(SCOPE_DICTS[e.scope]), slice=_const(e.id), ctx=py.Load()
            )
        if self.ctx.resolves(e.id) or e.id in self.builtin_names:
            return _load(e.id)
        return _call(H_LOOKUP, _const(e.id))

    def e_Constant(self, e: A.Constant) -> py.expr:
        return _const(e.value)

    def e_FString(self, e: A.FString) -> py.expr:
        values: list[py.expr] = []
        for part in e.parts:
            if isinstance(part, str):
                values.append(_const(part))
            else:
                values.append(self.e_FormattedValue(part))
        return py.JoinedStr(values=values)

    def e_FormattedValue(self, e: A.FormattedValue) -> py.expr:
        conversion = {"s": 115, "r": 114, "a": 97}.get(e.conversion or "", -1)
        spec = self.e_FString(e.format_spec) if e.format_spec is not None else None
        return _at(
            py.FormattedValue(value=self.expr(e.value), conversion=conversion, format_spec=spec),
            e.span,
        )

    def e_ListExpr(self, e: A.ListExpr) -> py.expr:
        return py.List(elts=[self.expr(x) for x in e.elts], ctx=py.Load())

    def e_TupleExpr(self, e: A.TupleExpr) -> py.expr:
        return py.Tuple(elts=[self.expr(x) for x in e.elts], ctx=py.Load())

    def e_SetExpr(self, e: A.SetExpr) -> py.expr:
        return py.Set(elts=[self.expr(x) for x in e.elts])

    def e_DictExpr(self, e: A.DictExpr) -> py.expr:
        return py.Dict(keys=[self.expr(k) for k in e.keys], values=[self.expr(v) for v in e.values])

    def e_Comprehension(self, e: A.Comprehension) -> py.expr:
        saved_mode = self._add_mode
        self._add_mode = "helper"
        parent = self.ctx
        names: set[str] = set()
        for g in e.generators:
            names.update(g.targets)
        self.ctx = _Context("comprehension", names, parent)
        try:
            gens = []
            for g in e.generators:
                if len(g.targets) == 1:
                    target: py.expr = _store(g.targets[0])
                else:
                    target = py.Tuple(elts=[_store(n) for n in g.targets], ctx=py.Store())
                gens.append(
                    py.comprehension(
                        target=target,
                        iter=self.expr(g.iter),
                        ifs=[self.expr(c) for c in g.conditions],
                        is_async=0,
                    )
                )
            elt = self.expr(e.element)
            if e.kind == "list":
                return py.ListComp(elt=elt, generators=gens)
            if e.kind == "set":
                return py.SetComp(elt=elt, generators=gens)
            if e.kind == "gen":
                return py.GeneratorExp(elt=elt, generators=gens)
            return py.DictComp(key=elt, value=self.expr(e.value), generators=gens)
        finally:
            self.ctx = parent
            self._add_mode = saved_mode

    def e_Lambda(self, e: A.Lambda) -> py.expr:
        params = e.params if e.receiver is None else (e.receiver,) + e.params
        args = self._arguments(params)
        for a in args.args:
            a.annotation = None
        saved_mode = self._add_mode
        self._add_mode = "helper"
        parent = self.ctx
        self.ctx = _Context("lambda", {p.name for p in params}, parent)
        try:
            body = self.expr(e.body)
        finally:
            self.ctx = parent
            self._add_mode = saved_mode
        return py.Lambda(args=args, body=body)

    def e_Call(self, e: A.Call) -> py.expr:
        if isinstance(e.func, A.Attribute):
            func: py.expr = py.Attribute(
                value=self.expr(e.func.value), attr=e.func.attr, ctx=py.Load()
            )
            _at(func, e.func.span)
        else:
            func = self.expr(e.func)
        return py.Call(func=func, args=[self.expr(a) for a in e.args], keywords=self._keywords(e))

    def _keywords(self, e: A.Call) -> list[py.keyword]:
        """Many keywords go in one `**{...}`: CPython checks keyword names pairwise (quadratic);
        the builder has already refused repeated names."""
        if len(e.keywords) <= _MANY_KEYWORDS:
            return [py.keyword(arg=k.name, value=self.expr(k.value)) for k in e.keywords]
        names: list[py.expr | None] = [_const(k.name) for k in e.keywords]
        values = [self.expr(k.value) for k in e.keywords]
        return [py.keyword(arg=None, value=py.Dict(keys=names, values=values))]

    def e_Attribute(self, e: A.Attribute) -> py.expr:
        return _call(H_ATTR, self.expr(e.value), _const(e.attr))

    def _index(self, index: tuple[A.Expr, ...]) -> py.expr:
        if len(index) == 1:
            return self.expr(index[0])
        return py.Tuple(elts=[self.expr(i) for i in index], ctx=py.Load())

    def e_Subscript(self, e: A.Subscript) -> py.expr:
        return py.Subscript(value=self.expr(e.value), slice=self._index(e.index), ctx=py.Load())

    def e_Slice(self, e: A.Slice) -> py.expr:
        return py.Slice(
            lower=self.expr(e.lower) if e.lower is not None else None,
            upper=self.expr(e.upper) if e.upper is not None else None,
            step=self.expr(e.step) if e.step is not None else None,
        )

    def _numeric_evident(self, e: A.Expr) -> bool:
        if isinstance(e, A.Constant):
            return type(e.value) in (int, float)
        if isinstance(e, A.UnaryOp) and e.op in "+-":
            return self._numeric_evident(e.operand)
        if isinstance(e, A.BinOp) and e.op in ("-", "/", "//", "**"):
            return True
        if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.scope is None:
            return e.func.id in NUMERIC_CALLS and not self.ctx.resolves(e.func.id)
        return False

    @staticmethod
    def _stringish(e: A.Expr) -> bool:
        return isinstance(e, A.FString) or (isinstance(e, A.Constant) and isinstance(e.value, str))

    def _add_is_ambiguous(self, left: A.Expr, right: A.Expr) -> bool:
        if self._numeric_evident(left) and self._numeric_evident(right):
            return False
        if self._stringish(left) and self._stringish(right):
            return False
        return True

    def e_BinOp(self, e: A.BinOp) -> py.expr:
        left = self.expr(e.left)
        right = self.expr(e.right)
        if e.op == "+" and self._add_is_ambiguous(e.left, e.right):
            if self._add_mode == "helper" or self._stringish(e.left) or self._stringish(e.right):
                return _call(H_ADD, left, right)
            self._ambiguous_add = True
        return py.BinOp(left=left, op=_BIN[e.op](), right=right)

    def e_UnaryOp(self, e: A.UnaryOp) -> py.expr:
        if e.op == "not":
            return py.UnaryOp(op=py.Not(), operand=self.expr(e.operand))
        if (
            e.op == "-"
            and isinstance(e.operand, A.Constant)
            and type(e.operand.value) in (int, float)
        ):
            return _const(-e.operand.value)
        op = py.USub() if e.op == "-" else py.UAdd()
        return py.UnaryOp(op=op, operand=self.expr(e.operand))

    def e_BoolOp(self, e: A.BoolOp) -> py.expr:
        op = py.And() if e.op == "and" else py.Or()
        return py.BoolOp(op=op, values=[self.expr(v) for v in e.values])

    def e_Compare(self, e: A.Compare) -> py.expr:
        return py.Compare(
            left=self.expr(e.left),
            ops=[_CMP[o]() for o in e.ops],
            comparators=[self.expr(c) for c in e.comparators],
        )

    def e_IfExp(self, e: A.IfExp) -> py.expr:
        return py.IfExp(test=self.expr(e.test), body=self.expr(e.body), orelse=self.expr(e.orelse))

    def e_AugAssignExpr(self, e: A.AugAssignExpr) -> py.expr:
        """`(x += v)` as an expression: a walrus for names, a helper for items and fields."""
        target = e.target
        value = self.expr(e.value)
        if isinstance(target, A.Name) and target.scope in (None, "local"):
            current = self.expr(target)
            combined: py.expr = (
                _call(H_ADD, current, value)
                if e.op == "+"
                else py.BinOp(left=current, op=_BIN[e.op](), right=value)
            )
            return py.NamedExpr(target=_store(target.id), value=combined)
        if isinstance(target, A.Name):
            return _call(
                H_AUG_ITEM, _load(SCOPE_DICTS[target.scope]), _const(target.id), _const(e.op), value
            )
        if isinstance(target, A.Subscript):
            return _call(
                H_AUG_ITEM, self.expr(target.value), self._index(target.index), _const(e.op), value
            )
        assert isinstance(target, A.Attribute)
        return _call(H_AUG_ATTR, self.expr(target.value), _const(target.attr), _const(e.op), value)

    def e_Captured(self, e: A.Captured) -> py.expr:
        raise self.error("'as' captures are only allowed on pipeline stages", e.span)

    def e_Placeholder(self, e: A.Placeholder) -> py.expr:
        if self._placeholder is None:
            raise self.error("'$$' can only be used inside a pipeline stage", e.span)
        return self._placeholder
