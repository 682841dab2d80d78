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
import copy
import keyword
import warnings
from types import CodeType
from typing import Any

from dana_poet.lang import ast as A
from dana_poet.lang.analysis import (
    binders,
    bound_names,
    falls_through,
    is_pure,
    local_types,
    read_before_write,
    rebound_names,
    static_type,
)
from dana_poet.lang.declarations import (
    DeclarationCompiler,
    is_builtin_type,
)
from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.helpers import (
    EXACT_METHOD,
    H_ADD,
    H_ASSERT,
    H_ATTR,
    H_AUG_ATTR,
    H_AUG_ITEM,
    H_CAUGHT,
    H_COERCE,
    H_EXC,
    H_GLOBALS,
    H_LOOKUP,
    H_METHOD,
    H_PYSTR,
    H_PYTYPE,
    H_RECEIVER,
    H_REITERABLE,
    H_SET_FIELD,
    H_VIVIFY,
    MAKE,
    SCOPE_DICTS,
)
from dana_poet.lang.pipelines import PipelineCompiler
from dana_poet.lang.pyast import at as _at
from dana_poet.lang.pyast import call as _call
from dana_poet.lang.pyast import const as _const
from dana_poet.lang.pyast import fill_locations
from dana_poet.lang.pyast import load as _load
from dana_poet.lang.pyast import no_args as _no_args
from dana_poet.lang.pyast import store as _store

RESOURCE_BUILTINS = frozenset({"use", "get_resource"})
EXACT_TYPES = frozenset({"int", "float", "str", "bool", "list", "dict", "tuple", "set"})
FIELD_TYPE = "__dana_ft"  # the exact type a field store may skip the check for
VALUE = "__dana_v"  # the value of the statement being compiled
LAST = "__dana_last"  # implicit return: the last non-None value ...
MARK = "__dana_k"  # ... or the marker of the tracked name that holds it

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


def _tracked_names(found: list[A.Node]) -> dict[str, int]:
    """Names whose assignments the implicit return can track by name: assigned only by
    `=`/`+=` statements (never rebound by a loop, handler, import or definition)."""
    assigned: list[str] = []
    rebound: set[str] = set()
    for node in found:
        if isinstance(node, A.Assign | A.AugAssign):
            t = node.target
            if isinstance(t, A.Name) and t.scope in (None, "local") and t.id not in assigned:
                assigned.append(t.id)
        else:
            rebound.update(rebound_names(node))
    names = [n for n in assigned if n not in rebound]
    return {n: i + 1 for i, n in enumerate(names)}


def _fallback_methods(body: tuple[A.Stmt, ...]) -> set[str]:
    """Top-level functions that are not methods of a declared type (no receiver, first
    parameter not typed with one): `obj.f(args)` may fall back to them."""
    names: set[str] = set()
    for stmt in body:
        if isinstance(stmt, A.FunctionDef):
            first = stmt.params[0].annotation if stmt.params else None
            if stmt.receiver is None and (first is None or is_builtin_type(first)):
                names.add(stmt.name)
        elif isinstance(stmt, A.DeclarativeDef):
            names.add(stmt.name)
        elif isinstance(stmt, A.ImportFrom):
            names.update(alias or name for name, alias in stmt.names)
        elif isinstance(stmt, A.Assign) and isinstance(stmt.value, A.Lambda):
            if isinstance(stmt.target, A.Name) and stmt.target.scope is None:
                names.add(stmt.target.id)
    return names


def _constructed_locals(found: list[A.Node], struct_types: set[str]) -> dict[str, str]:
    """Locals assigned only with `T(...)`, always the same `T`, a struct declared at the
    module's top level: name -> `T` (their attribute reads are plain loads)."""
    constructed: dict[str, str] = {}
    other: set[str] = set()
    for node in found:
        if isinstance(node, A.Assign | A.AugAssign):
            t = node.target
            if not (isinstance(t, A.Name) and t.scope in (None, "local")):
                continue
            value = node.value if isinstance(node, A.Assign) else None
            if (
                isinstance(value, A.Call)
                and isinstance(value.func, A.Name)
                and value.func.scope is None
                and value.func.id in struct_types
                and isinstance(node, A.Assign)
                and node.annotation is None
                and constructed.setdefault(t.id, value.func.id) == value.func.id
            ):
                continue
            other.add(t.id)
        else:
            other.update(rebound_names(node))
    return {n: t for n, t in constructed.items() if n not in other}


def _field_types(body: tuple[A.Stmt, ...], struct_types: set[str]) -> dict[str, dict[str, str]]:
    """For each top-level struct, its fields declared with a plain builtin type."""
    out: dict[str, dict[str, str]] = {}
    for stmt in body:
        if isinstance(stmt, A.TypeDecl) and stmt.name in struct_types and stmt.base is None:
            out[stmt.name] = {
                f.name: f.annotation.name
                for f in stmt.fields
                if isinstance(f.annotation, A.TypeRef) and f.annotation.name in EXACT_TYPES
            }
    return out


def _module_names_bound_once(found: list[A.Node]) -> set[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for node in found:
        names: tuple[str, ...] = ()
        if isinstance(node, A.Assign | A.AugAssign) and isinstance(node.target, A.Name):
            names = (node.target.id,)
        else:
            names = rebound_names(node)
        for n in names:
            (twice if n in seen else seen).add(n)
    return seen - twice


def _module_names(found: list[A.Node]) -> set[str]:
    """Top-level names bound by `import` and by nothing else (attribute reads on them are
    plain loads)."""
    imported: set[str] = set()
    other: set[str] = set()
    for node in found:
        if isinstance(node, A.Import):
            imported.update(rebound_names(node))
        elif isinstance(node, A.Assign | A.AugAssign):
            if isinstance(node.target, A.Name):
                other.add(node.target.id)
        else:
            other.update(rebound_names(node))
    return imported - other


class _Context:
    """Where the compiler is: module level or inside a function (and how deep in loops).

    `structs` are locals known to hold struct instances (parameters typed with a
    declared type and never reassigned) and `modules` names bound only by `import`:
    attribute reads on them are plain loads."""

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
        self.structs: set[str] = set()
        # local -> (its struct type, certain: built here rather than a typed parameter)
        self.struct_types: dict[str, tuple[str, bool]] = {}
        self.modules: set[str] = set()
        self.tracked: dict[str, int] = {}  # name -> marker of the implicit-return bookkeeping
        # a function's body and the names bound outside it (parameters, enclosing values),
        # from which the exact types of its locals are worked out when first needed
        self.body: tuple[A.Stmt, ...] = ()
        self.bound_outside: set[str] = set()
        self.exact_types: dict[str, str] | None = None
        # a receiver typed with a struct of this module; `receiver_exact` while compiling
        # the copy installed as that struct's method, where the receiver has exactly that
        # type; `receiver_tested` when a field store tests the receiver's type
        self.receiver: str | None = None
        self.receiver_exact = False
        self.receiver_tested = False
        # implicit return: the function's last statement, and whether any statement
        # compiled so far stores into `__dana_last`
        self.tail: A.Stmt | None = None
        self.last_written = False

    def owner(self, name: str) -> _Context | None:
        ctx: _Context | None = self
        while ctx is not None:
            if name in ctx.locals:
                return ctx
            ctx = ctx.parent
        return None

    def resolves(self, name: str) -> bool:
        return self.owner(name) is not None


class _Probe:
    """What compiling an expression in plain mode needed: a `+` or an attribute read whose
    Dana meaning differs from Python's for some operand types."""

    __slots__ = ("add", "attr")

    def __init__(self) -> None:
        self.add = False
        self.attr = False

    def __bool__(self) -> bool:
        return self.add or self.attr


class _Scope:
    """`with compiler.scope(...)`: the compiler inside a new `_Context`, restored after."""

    __slots__ = ("compiler", "ctx", "parent")

    def __init__(self, compiler: Compiler, ctx: _Context) -> None:
        self.compiler, self.ctx, self.parent = compiler, ctx, compiler.ctx

    def __enter__(self) -> _Context:
        self.compiler.ctx = self.ctx
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        self.compiler.ctx = self.parent


class _AddMode:
    __slots__ = ("compiler", "mode", "saved")

    def __init__(self, compiler: Compiler, mode: str) -> None:
        self.compiler, self.mode, self.saved = compiler, mode, mode

    def __enter__(self) -> None:
        self.saved = self.compiler._add_mode
        self.compiler._add_mode = self.mode

    def __exit__(self, *exc: object) -> None:
        self.compiler._add_mode = self.saved


class _Probing:
    __slots__ = ("compiler", "saved_mode", "saved_probe")

    def __init__(self, compiler: Compiler) -> None:
        self.compiler = compiler
        self.saved_mode, self.saved_probe = compiler._add_mode, compiler._probe

    def __enter__(self) -> _Probe:
        probe = self.compiler._probe = _Probe()
        self.compiler._add_mode = "plain"
        return probe

    def __exit__(self, *exc: object) -> None:
        self.compiler._add_mode, self.compiler._probe = self.saved_mode, self.saved_probe


class _LoopDepth:
    """The loop depth of a context set for a block (`break` is refused outside loops)."""

    __slots__ = ("ctx", "depth", "saved")

    def __init__(self, ctx: _Context, depth: int) -> None:
        self.ctx, self.depth, self.saved = ctx, depth, ctx.loop_depth

    def __enter__(self) -> None:
        self.ctx.loop_depth = self.depth

    def __exit__(self, *exc: object) -> None:
        self.ctx.loop_depth = self.saved


def _method_table(cls: type, prefix: str) -> dict[type, Any]:
    """Node class -> the compiler's method for it (`e_Name` for `A.Name`), built once per
    compiler class: a lookup by class is cheaper than `getattr` of a built name per node."""
    table: dict[type, Any] = {}
    for name, node_class in vars(A).items():
        if isinstance(node_class, type) and issubclass(node_class, A.Node):
            method = getattr(cls, prefix + name, None)
            if method is not None:
                table[node_class] = method
    return table


class Compiler(PipelineCompiler, DeclarationCompiler):
    _expr_methods: dict[type, Any]
    _stmt_methods: dict[type, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._expr_methods = _method_table(cls, "e_")
        cls._stmt_methods = _method_table(cls, "s_")

    def __init__(self, filename: str, builtin_names: frozenset[str], source: str = "") -> None:
        self.filename = filename
        self.builtin_names = builtin_names
        self.source = source
        self._lines: list[str] | None = None  # source.splitlines(), made once when first needed
        self.ctx: _Context = _Context("module", set(), None)
        self.module_names: set[str] = set()
        self.fallback_methods: set[str] = set()
        self.struct_types: set[str] = set()
        self.field_types: dict[str, dict[str, str]] = {}
        self.struct_fields: dict[str, tuple[str, ...]] = {}  # top-level struct -> its fields
        self._add_mode = "plain"
        self._probe = _Probe()
        self._tmp = 0
        self._pipe_captures: set[str] = set()
        self._placeholder: py.expr | None = None
        self._getters_for_parent: list[py.stmt] = []
        self._receiver_tested = False
        self._lines = None
        self._plain_comprehension: A.Comprehension | None = None

    # ------------------------------------------------------------ scoped compiler state
    # (small classes rather than `@contextmanager` generators: entered a few times per
    # statement, a generator-based manager was a measurable share of compiling)
    def scope(self, kind: str, names: set[str], track_last: bool = False) -> _Scope:
        """Compile inside a new function, lambda or comprehension scope."""
        return _Scope(self, _Context(kind, names, self.ctx, track_last))

    def add_mode(self, mode: str) -> _AddMode:
        """`plain`: emit Python's `+` and plain attribute reads, noting where Dana's rule may
        apply (the statement is then guarded); `helper`: emit Dana's rule inline."""
        return _AddMode(self, mode)

    def probing(self) -> _Probing:
        """Compile in plain mode, noting in a fresh `_Probe` where Dana's rule may apply."""
        return _Probing(self)

    def loop(self) -> _LoopDepth:
        return _LoopDepth(self.ctx, self.ctx.loop_depth + 1)

    def outside_loops(self) -> _LoopDepth:
        return _LoopDepth(self.ctx, 0)

    def is_function_local(self, name: str) -> bool:
        owner = self.ctx.owner(name)
        return owner is not None and owner.kind != "module"

    # ------------------------------------------------------------ entry points
    def compile_module(self, module: A.Module) -> CodeType:
        tree = self.module_ast(module)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile(tree, self.filename, "exec", dont_inherit=True, optimize=0)

    def module_ast(self, module: A.Module) -> py.Module:
        found = binders(module.body)
        self.module_names = bound_names(module.body, found)
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
        self.ctx.modules = _module_names(found)
        self.fallback_methods = _fallback_methods(module.body)
        self.struct_types = {
            s.name for s in module.body if isinstance(s, A.TypeDecl) and s.kind == "struct"
        } & _module_names_bound_once(found)
        self.field_types = _field_types(module.body, self.struct_types)
        self.struct_fields = {
            s.name: tuple(f.name for f in s.fields)
            for s in module.body
            if isinstance(s, A.TypeDecl) and s.name in self.struct_types and s.base is None
        }
        body = self.stmts(module.body)
        tree = py.Module(body=body or [py.Pass()], type_ignores=[])
        fill_locations(tree)
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
        result = self._stmt_methods[s.__class__](self, s)
        for node in result:
            if not hasattr(node, "lineno"):
                _at(node, s.span)
        return result

    def guarded(self, s: A.Stmt, build: Any, exprs: list[Any]) -> list[py.stmt]:
        """Build a statement with Python's `+` and attribute reads. Where Dana's meaning may
        differ (`"n=" + 5`, `cfg.key` on a dict) and the statement is pure, a zero-cost `try`
        re-runs it with Dana's rules on TypeError/AttributeError; impure statements use the
        rules directly."""
        with self.probing() as probe:
            plain = build()
        if not probe:
            return plain
        with self.add_mode("helper"):
            helper = build()
        if all(is_pure(e) for e in exprs):
            handler = py.ExceptHandler(type=self._retry_on(probe), name=None, body=helper)
            return [_at(py.Try(body=plain, handlers=[handler], orelse=[], finalbody=[]), s.span)]
        return helper

    @staticmethod
    def _retry_on(probe: _Probe) -> py.expr:
        names = [n for n, on in (("TypeError", probe.add), ("AttributeError", probe.attr)) if on]
        if len(names) == 1:
            return _load(names[0])
        return py.Tuple(elts=[_load(n) for n in names], ctx=py.Load())

    def _mark(self, name: str, span: A.Span) -> list[py.stmt]:
        """Implicit return bookkeeping for `name = ...`: remember which name, not its value
        (a second reference to a string would defeat CPython's in-place `s = s + x`)."""
        test = py.Compare(left=_load(name), ops=[py.IsNot()], comparators=[_const(None)])
        mark = py.Assign(targets=[_store(MARK)], value=_const(self.ctx.tracked[name]))
        return [_at(py.If(test=test, body=[mark], orelse=[]), span)]

    def _tracked_name(self, target: A.Expr) -> str | None:
        if isinstance(target, A.Name) and target.scope in (None, "local"):
            if target.id in self.ctx.tracked:
                return target.id
        return None

    def _track(self, value: py.expr, span: A.Span) -> list[py.stmt]:
        """`__dana_last = value` when value is not None (implicit return bookkeeping)."""
        self.ctx.last_written = True
        test = py.Compare(left=value, ops=[py.IsNot()], comparators=[_const(None)])
        body: list[py.stmt] = [py.Assign(targets=[_store(LAST)], value=value)]
        if self.ctx.tracked:
            body.append(py.Assign(targets=[_store(MARK)], value=_const(0)))
        return [_at(py.If(test=test, body=body, orelse=[]), span)]

    def s_ExprStmt(self, s: A.ExprStmt) -> list[py.stmt]:
        if self.ctx.track_last:

            def build() -> list[py.stmt]:
                return [_at(py.Assign(targets=[_store(VALUE)], value=self.expr(s.value)), s.span)]

            return self.guarded(s, build, [s.value]) + self._track(_load(VALUE), s.span)
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
            and not is_pure(value)
            and self._add_is_ambiguous(value.left, value.right)
        ):
            return self._hoisted_add(value, lambda v: [_at(py.Return(value=v), s.span)], s.span)
        if isinstance(value, A.Comprehension):
            guarded = self._guarded_comprehension(value, lambda v: [py.Return(value=v)], s.span)
            if guarded is not None:
                return guarded
        return self.guarded(s, lambda: [py.Return(value=self.expr(value))], [value])

    def _guarded_comprehension(
        self, comp: A.Comprehension, finish: Any, span: A.Span
    ) -> list[py.stmt] | None:
        """`[x + 1 for x in xs]` with plain `+` for every element: when the iterable is a
        re-iterable collection, a TypeError re-runs the comprehension with Dana's rule;
        an iterator (which a retry would find half consumed) gets the rule from the start."""
        if len(comp.generators) != 1:
            return None
        gen = comp.generators[0]
        parts = [comp.element, comp.value, *gen.conditions]
        if not is_pure(gen.iter) or not all(is_pure(p) for p in parts if p is not None):
            return None
        with self.probing() as probe:
            self._plain_comprehension = comp
            try:
                plain = self.expr(comp)
            finally:
                self._plain_comprehension = None
        if not probe:
            return [_at(n, span) for n in finish(plain)]
        with self.add_mode("helper"):
            helper = self.expr(comp)
            helper_again = self.expr(comp)
            iterable = self.expr(gen.iter)
        handler = py.ExceptHandler(type=self._retry_on(probe), name=None, body=finish(helper))
        retry = py.Try(body=finish(plain), handlers=[handler], orelse=[], finalbody=[])
        reiterable = py.Compare(
            left=py.Attribute(value=iterable, attr="__class__", ctx=py.Load()),
            ops=[py.In()],
            comparators=[_load(H_REITERABLE)],
        )
        return [_at(py.If(test=reiterable, body=[retry], orelse=finish(helper_again)), span)]

    def _hoisted_add(self, value: A.BinOp, finish: Any, span: A.Span) -> list[py.stmt]:
        """`a + f()`: evaluate the impure operand(s) once, then add plainly, with Dana's rule
        on TypeError. A pure left operand is not copied into a temporary, so `s = s + f()`
        keeps CPython's in-place string concatenation."""
        out: list[py.stmt] = []
        with self.add_mode("helper"):
            if is_pure(value.left):
                left: py.expr = self.expr(value.left)
                left_again = self.expr(value.left)
            else:
                name = self.tmp("l")
                out.append(
                    _at(py.Assign(targets=[_store(name)], value=self.expr(value.left)), span)
                )
                left, left_again = _load(name), _load(name)
            right = self.tmp("r")
            out.append(_at(py.Assign(targets=[_store(right)], value=self.expr(value.right)), span))
        plain = py.BinOp(left=left, op=py.Add(), right=_load(right))
        helper = _call(H_ADD, left_again, _load(right))
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
        with self.add_mode("helper"):  # asserts are not hot: always concatenate-aware
            return self._assert(s)

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
            cond: py.expr = py.Compare(
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
        source = s.value
        if source is None:
            return [py.Pass()]
        target = s.target

        def value_expr() -> py.expr:
            value = self.expr(source)
            if s.annotation is not None:
                return self._typed_value(source, value, s.annotation, target)
            return value

        if isinstance(target, A.Attribute):
            return self._assign_attribute(s, target, value_expr)
        tracked = self._tracked_name(target)
        if self.ctx.track_last and tracked is None:

            def build() -> list[py.stmt]:
                return [
                    _at(py.Assign(targets=[_store(VALUE)], value=value_expr()), s.span),
                    _at(py.Assign(targets=[self.target(target)], value=_load(VALUE)), s.span),
                ]

            return self.guarded(s, build, [s.value, target]) + self._track(_load(VALUE), s.span)
        out: list[py.stmt] | None = None
        if s.annotation is None and is_pure(target):
            if (
                isinstance(s.value, A.BinOp)
                and s.value.op == "+"
                and not is_pure(s.value)
                and self._add_is_ambiguous(s.value.left, s.value.right)
            ):
                out = self._hoisted_add(
                    s.value,
                    lambda v: [_at(py.Assign(targets=[self.target(target)], value=v), s.span)],
                    s.span,
                )
            elif isinstance(s.value, A.Comprehension):
                out = self._guarded_comprehension(
                    s.value, lambda v: [py.Assign(targets=[self.target(target)], value=v)], s.span
                )
        if out is None:
            out = self.guarded(
                s,
                lambda: [py.Assign(targets=[self.target(target)], value=value_expr())],
                [s.value, target],
            )
        if tracked is not None:
            out += self._mark(tracked, s.span)
        return out

    def _assign_attribute(self, s: A.Assign, target: A.Attribute, value_expr: Any) -> list[py.stmt]:
        """`obj.f = v`: the value first, then the object, then a checked field store."""
        direct = self._direct_value(s, target)
        if direct is not None:  # a local or a literal stored on a local: no temporary
            obj, _ = self._store_base(target.value, s.span)
            return self._store_field(
                obj,
                target.attr,
                direct(),
                s.span,
                target.value,
                s.value,
                self.ctx.track_last,
                s is self.ctx.tail,
            )
        out = self.guarded(
            s,
            lambda: [_at(py.Assign(targets=[_store(VALUE)], value=value_expr()), s.span)],
            [s.value],
        )
        obj, setup = self._store_base(target.value, s.span)
        source = s.value if s.annotation is None else None
        return (
            out
            + setup
            + self._store_field(
                obj,
                target.attr,
                _load(VALUE),
                s.span,
                target.value,
                source,
                self.ctx.track_last,
                s is self.ctx.tail,
            )
        )

    def _direct_value(self, s: A.Assign, target: A.Attribute) -> Any:
        """For `p.f = x` or `p.f = 3` with `p` and `x` locals: a maker of the value's
        expression (used as it is, twice at most), else None."""
        base, value = target.value, s.value
        if s.annotation is not None or not self._is_local_name(base):
            return None
        if isinstance(value, A.Constant) and type(value.value) in (int, float, str, bool):
            return lambda: _const(value.value)
        if isinstance(value, A.Name) and self._is_local_name(value):
            return lambda: _load(value.id)
        return None

    def _is_local_name(self, e: A.Expr) -> bool:
        return isinstance(e, A.Name) and e.scope is None and self.is_function_local(e.id)

    def _store_base(self, base: A.Expr, span: A.Span) -> tuple[py.expr, list[py.stmt]]:
        """The object a field is stored on, evaluated once (a local name is used as it is)."""
        if isinstance(base, A.Name) and base.scope is None and self.ctx.resolves(base.id):
            return _load(base.id), []
        with self.add_mode("helper"):
            value = self._vivified(base) if self._scoped_root(base) else self.expr(base)
        name = self.tmp("o")
        return _load(name), [_at(py.Assign(targets=[_store(name)], value=value), span)]

    def _store_field(
        self,
        obj: py.expr,
        attr: str,
        value: py.expr,
        span: A.Span,
        base: A.Expr,
        source: A.Expr | None = None,
        track: bool = False,
        tail: bool = False,
    ) -> list[py.stmt]:
        """A plain store when the value has the field's exact declared type (known here for a
        struct declared in this module, else named by the class as `__dana_ft_<field>`),
        else the validating `set_field`, which also handles delegation and other objects.
        `source`, the Dana expression of the value, may show its type at compile time;
        `track` adds the implicit-return bookkeeping of the stored value; `tail` says the
        store is the function's last statement."""
        plain: list[py.stmt] = [
            py.Assign(targets=[py.Attribute(value=obj, attr=attr, ctx=py.Store())], value=value)
        ]
        checked: list[py.stmt] = [py.Expr(value=_call(H_SET_FIELD, obj, _const(attr), value))]
        if track and tail and not self.ctx.last_written and not self.ctx.tracked:
            # nothing before it gave a value: the implicit return is this one
            plain.append(py.Return(value=value))
            checked.append(py.Return(value=value))
            track = False
        known = self._known_field_type(base, attr)
        if known is None:
            out = self._store_by_class_type(obj, attr, value, span, plain, checked)
            return out + (self._track(value, span) if track else [])
        struct, field_type, certain = known
        if track:  # a value of a builtin field type is never None
            plain += self._track_value(value)
            checked += self._track(value, span)
        if certain and self._conforms(source, field_type):
            return [_at(stmt, span) for stmt in plain]  # stored unchanged, on a known struct
        # the value's real type (`__class__` can lie: a Mock(spec=int) claims int); the
        # receiver's may be taken from `__class__`: an object lying about being this struct
        # is not a Dana struct, so a plain store on it breaks no field's type
        test: py.expr = py.Compare(
            left=_call(H_PYTYPE, value),
            ops=[py.Is()],
            comparators=[_load(f"__dana_{field_type}_t")],
        )
        receiver = isinstance(base, A.Name) and base.id == self.ctx.receiver
        if not certain and not (receiver and self.ctx.receiver_exact):
            self.ctx.receiver_tested = self.ctx.receiver_tested or receiver
            is_struct = py.Compare(
                left=py.Attribute(value=obj, attr="__class__", ctx=py.Load()),
                ops=[py.Is()],
                comparators=[_load(struct)],
            )
            test = py.BoolOp(op=py.And(), values=[test, is_struct])
        return [_at(py.If(test=test, body=plain, orelse=checked), span)]

    def _store_by_class_type(
        self,
        obj: py.expr,
        attr: str,
        value: py.expr,
        span: A.Span,
        plain: list[py.stmt],
        checked: list[py.stmt],
    ) -> list[py.stmt]:
        """The store when the compiler does not know the struct: the class names the field's
        exact type as `__dana_ft_<field>` (absent: not a struct field with one exact type)."""
        lookup = py.Try(
            body=[
                py.Assign(
                    targets=[_store(FIELD_TYPE)],
                    value=py.Attribute(value=obj, attr=f"__dana_ft_{attr}", ctx=py.Load()),
                )
            ],
            handlers=[
                py.ExceptHandler(
                    type=_load("AttributeError"),
                    name=None,
                    body=[py.Assign(targets=[_store(FIELD_TYPE)], value=_const(None))],
                )
            ],
            orelse=[],
            finalbody=[],
        )
        test = py.Compare(
            left=_load(FIELD_TYPE),
            ops=[py.Is()],
            comparators=[_call(H_PYTYPE, value)],
        )
        return [_at(lookup, span), _at(py.If(test=test, body=plain, orelse=checked), span)]

    def _track_value(self, value: py.expr) -> list[py.stmt]:
        """`__dana_last = value` for a value known not to be None."""
        self.ctx.last_written = True
        out: list[py.stmt] = [py.Assign(targets=[_store(LAST)], value=value)]
        if self.ctx.tracked:
            out.append(py.Assign(targets=[_store(MARK)], value=_const(0)))
        return out

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
        if isinstance(target, A.Attribute):
            return self._aug_attribute(s, target)
        op = _BIN[s.op]
        ambiguous = s.op == "+" and self._add_is_ambiguous(target, s.value)
        out: list[py.stmt]
        if ambiguous and is_pure(target) and not is_pure(s.value):
            # `s += f()`: the value once into a temporary, the name itself left alone
            right = self.tmp("r")
            with self.add_mode("helper"):
                out = [_at(py.Assign(targets=[_store(right)], value=self.expr(s.value)), s.span)]
                current = self.expr(target)
            plain = py.AugAssign(target=self.target(target), op=py.Add(), value=_load(right))
            helper = py.Assign(
                targets=[self.target(target)], value=_call(H_ADD, current, _load(right))
            )
            handler = py.ExceptHandler(type=_load("TypeError"), name=None, body=[helper])
            out.append(
                _at(py.Try(body=[plain], handlers=[handler], orelse=[], finalbody=[]), s.span)
            )
        else:

            def build() -> list[py.stmt]:
                if ambiguous and self._add_mode == "helper":
                    value = _call(H_ADD, self.expr(target), self.expr(s.value))
                    return [py.Assign(targets=[self.target(target)], value=value)]
                if ambiguous:
                    self._probe.add = True
                return [py.AugAssign(target=self.target(target), op=op(), value=self.expr(s.value))]

            out = self.guarded(s, build, [s.value, target]) if is_pure(target) else build()
        tracked = self._tracked_name(target)
        if tracked is not None:
            out += self._mark(tracked, s.span)
        elif self.ctx.track_last:
            with self.add_mode("helper"):
                out += self._track(self.expr(target), s.span)
        return out

    def _aug_attribute(self, s: A.AugAssign, target: A.Attribute) -> list[py.stmt]:
        """`obj.f += v`: read the field, combine (Dana's `+` on TypeError), checked store."""
        if self._plain_attribute_base(target.value) and self._is_simple(s.value):
            return self._aug_field(s, target)
        obj, out = self._store_base(target.value, s.span)
        current, right = self.tmp("c"), self.tmp("r")
        with self.add_mode("helper"):
            out.append(
                _at(
                    py.Assign(
                        targets=[_store(current)],
                        value=py.Attribute(value=obj, attr=target.attr, ctx=py.Load()),
                    ),
                    s.span,
                )
            )
            out.append(_at(py.Assign(targets=[_store(right)], value=self.expr(s.value)), s.span))
        out.append(_at(self._combine(s.op, _load(current), _load(right)), s.span))
        return out + self._store_field(
            obj,
            target.attr,
            _load(VALUE),
            s.span,
            target.value,
            None,
            self.ctx.track_last,
            s is self.ctx.tail,
        )

    def _aug_field(self, s: A.AugAssign, target: A.Attribute) -> list[py.stmt]:
        """`p.f += v` on a struct local with a local or literal `v`: no temporaries but the
        combined value (reading `p.f` again only if `+` needs Dana's rule)."""
        base = target.value
        assert isinstance(base, A.Name)

        def current() -> py.expr:
            return py.Attribute(value=_load(base.id), attr=target.attr, ctx=py.Load())

        with self.add_mode("helper"):
            right = self.expr(s.value)
        combine = _at(self._combine(s.op, current(), right, current()), s.span)
        stores = self._store_field(
            _load(base.id),
            target.attr,
            _load(VALUE),
            s.span,
            base,
            None,
            self.ctx.track_last,
            s is self.ctx.tail,
        )
        guard = stores[0] if len(stores) == 1 else None
        if (
            isinstance(combine, py.Try)
            and isinstance(guard, py.If)
            and guard.body
            and isinstance(guard.body[-1], py.Return)
        ):
            # the last statement: the fast store returns from the `try`'s `else`, without
            # the jump over the handler; Dana's `+` and failed tests reach the checked store
            combine.orelse = [_at(py.If(test=guard.test, body=guard.body, orelse=[]), s.span)]
            return [combine, *guard.orelse]
        return [combine, *stores]

    def _is_simple(self, e: A.Expr) -> bool:
        """A local name or a literal: evaluating it again costs nothing and changes nothing."""
        if isinstance(e, A.Constant):
            return True
        return isinstance(e, A.Name) and e.scope is None and self.ctx.resolves(e.id)

    def _combine(
        self, op: str, left: py.expr, right: py.expr, left_again: py.expr | None = None
    ) -> py.stmt:
        """`__dana_v = left op right`; for `+`, Dana's rule when Python's raises TypeError."""
        compute: py.stmt = py.Assign(
            targets=[_store(VALUE)], value=py.BinOp(left=left, op=_BIN[op](), right=right)
        )
        if op != "+":
            return compute
        again = left_again if left_again is not None else left
        helper = py.Assign(targets=[_store(VALUE)], value=_call(H_ADD, again, right))
        handler = py.ExceptHandler(type=_load("TypeError"), name=None, body=[helper])
        return py.Try(body=[compute], handlers=[handler], orelse=[], finalbody=[])

    def s_If(self, s: A.If) -> list[py.stmt]:
        body = self.stmts(s.body) or [py.Pass()]
        orelse = self.stmts(s.orelse)
        return self._with_guarded_test(
            s.test, s.span, lambda t: [py.If(test=t, body=body, orelse=orelse)]
        )

    def _with_guarded_test(self, test: A.Expr, span: A.Span, finish: Any) -> list[py.stmt]:
        with self.probing() as probe:
            plain = self.expr(test)
        if not probe:
            return finish(plain)
        tmp = self.tmp("c")
        with self.add_mode("helper"):
            helper = self.expr(test)
        if is_pure(test):
            handler = py.ExceptHandler(
                type=self._retry_on(probe),
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
        with self.loop():
            body = self.stmts(s.body) or [py.Pass()]
        with self.probing() as probe:
            test = self.expr(s.test)
        if not probe:
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
            target = py.Tuple(elts=[_store(n) for n in s.targets], ctx=py.Load())
            target.ctx = py.Store()
        with self.loop():
            body = self.stmts(s.body) or [py.Pass()]
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
                context_expr=self._with_context(item),
                optional_vars=_store(item.name) if item.name else None,
            )
            for item in s.items
        ]
        return [py.With(items=items, body=self.stmts(s.body) or [py.Pass()])]

    def _with_context(self, item: A.WithItem) -> py.expr:
        """`with use("mcp", url=u) as client:` names the resource after the variable (spec
        §14: the builtin is called with `_name="client"` added)."""
        context = self.expr(item.context)
        call = item.context
        if (
            item.name
            and isinstance(call, A.Call)
            and isinstance(call.func, A.Name)
            and call.func.scope is None
            and call.func.id in RESOURCE_BUILTINS
            and not self.ctx.resolves(call.func.id)
            and not any(k.name == "_name" for k in call.keywords)
            and isinstance(context, py.Call)
        ):
            context.keywords.append(py.keyword(arg="_name", value=_const(item.name)))
        return context

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
        self,
        params: tuple[A.Param, ...],
        body: tuple[A.Stmt, ...],
        name: str,
        receiver: str | None = None,
        exact: bool = False,
    ) -> list[py.stmt]:
        """The body of a function; `receiver` names the parameter a method is called on,
        `exact` compiles the copy whose receiver has exactly its declared struct type
        (whether that copy would differ is left in `_receiver_tested`)."""
        param_names = {p.name for p in params}
        found = binders(body)
        assigned = bound_names(body, found)
        local_names = assigned | param_names
        track = falls_through(body)
        parent = self.ctx
        with self.scope("function", local_names, track_last=track) as ctx:
            typed = {
                p.name: p.annotation
                for p in params
                if p.annotation is not None
                and not is_builtin_type(p.annotation)
                and p.name not in assigned
            }
            constructed = _constructed_locals(found, self.struct_types - assigned)
            ctx.structs = set(typed) | set(constructed)
            ctx.struct_types = {n: (t, True) for n, t in constructed.items()}
            for n, annotation in typed.items():
                if isinstance(annotation, A.TypeRef) and annotation.name in self.field_types:
                    ctx.struct_types[n] = (annotation.name, False)
            if receiver is not None and receiver in ctx.struct_types:
                ctx.receiver, ctx.receiver_exact = receiver, exact
            if track:
                ctx.tracked = _tracked_names(found)
            prologue: list[py.stmt] = []
            outer = {n for n in local_names - param_names if parent.resolves(n)}
            ctx.body, ctx.bound_outside = body, param_names | outer
            ctx.tail = body[-1] if track and body else None
            getters: list[py.stmt] = []
            for n in sorted(read_before_write(body, outer) if outer else ()):
                # `x = x + 1` where x is an enclosing variable: start from its current value
                owner = parent.owner(n)
                if owner is None or owner.kind == "module":
                    get = _call(
                        py.Attribute(value=_load(H_GLOBALS), attr="get", ctx=py.Load()), _const(n)
                    )
                    prologue.append(py.Assign(targets=[_store(n)], value=get))
                else:
                    getter = f"__dana_get_{n}"
                    getters.append(
                        py.Assign(
                            targets=[_store(getter)],
                            value=py.Lambda(args=_no_args(), body=_load(n)),
                        )
                    )
                    prologue.append(py.Assign(targets=[_store(n)], value=_call(getter)))
            self._getters_for_parent = getters
            docstring: list[py.stmt] = []
            if body and isinstance(body[0], A.ExprStmt) and isinstance(body[0].value, A.Constant):
                if isinstance(body[0].value.value, str) and len(body) > 1:
                    docstring = [_at(py.Expr(value=_const(body[0].value.value)), body[0].span)]
                    body = body[1:]
            compiled = self.stmts(body)
            if track:
                if ctx.last_written:
                    prologue.append(py.Assign(targets=[_store(LAST)], value=_const(None)))
                if ctx.tracked:
                    prologue.append(py.Assign(targets=[_store(MARK)], value=_const(0)))
            out = docstring + prologue + compiled
            if track:
                out += self._implicit_return(ctx)
            self._receiver_tested = ctx.receiver_tested
            return out or [py.Pass()]

    @staticmethod
    def _implicit_return(ctx: _Context) -> list[py.stmt]:
        """Return the last non-None value: a tracked name's current value, or `__dana_last`."""
        out: list[py.stmt] = []
        for tracked, marker in ctx.tracked.items():
            test = py.Compare(left=_load(MARK), ops=[py.Eq()], comparators=[_const(marker)])
            out.append(py.If(test=test, body=[py.Return(value=_load(tracked))], orelse=[]))
        out.append(py.Return(value=_load(LAST) if ctx.last_written else None))
        return out

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
            out.insert(len(out) - 1, rename)  # before the receiver registration (reads __name__)
            return out
        params = s.params
        if s.receiver is not None:
            params = (s.receiver,) + params
        args = self._arguments(params)
        returns = self.type_expr(s.returns) if s.returns is not None else None
        decorators = self._decorators(s.decorators)
        receiver = s.receiver
        if receiver is None and params and params[0].annotation is not None:
            receiver = params[0]
        method_of = None
        if (
            receiver is not None
            and not s.decorators
            and isinstance(receiver.annotation, A.TypeRef)
            and receiver.annotation.name in self.field_types
        ):
            method_of = receiver.name
        exact_body: list[py.stmt] | None = None
        with self.outside_loops():
            body = self._function_body(params, s.body, s.name, method_of)
            getters = self._getters_for_parent
            if self._receiver_tested:
                exact_body = self._function_body(params, s.body, s.name, method_of, exact=True)
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
        out = [_at(g, s.span) for g in getters]
        if exact_body is not None:
            out += self._exact_method(fn, exact_body, s.span)
        else:
            out.append(fn)
        if receiver is not None and receiver.annotation is not None:
            implicit = s.receiver is None
            if not (implicit and is_builtin_type(receiver.annotation)):
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

    def _exact_method(
        self, fn: py.FunctionDef, exact_body: list[py.stmt], span: A.Span
    ) -> list[py.stmt]:
        """`fn`, and as its `__dana_exact__` the same function with `exact_body`: the method
        its struct gets, whose field stores need not test the receiver's type."""
        exact = copy.copy(fn)
        exact.body = exact_body
        exact.args = copy.copy(fn.args)
        exact.args.defaults = []  # evaluated once, for `fn`; the runtime shares them
        holder = f"__dana_exact_{fn.name}"
        return [
            _at(exact, span),
            _at(py.Assign(targets=[_store(holder)], value=_load(fn.name)), span),
            fn,
            _at(
                py.Assign(
                    targets=[py.Attribute(value=_load(fn.name), attr=EXACT_METHOD, ctx=py.Store())],
                    value=_load(holder),
                ),
                span,
            ),
        ]

    # ------------------------------------------------------------ targets
    def target(self, t: A.Expr) -> py.Name | py.Attribute | py.Subscript:
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

    # ------------------------------------------------------------ expressions
    def expr(self, e: A.Expr) -> py.expr:
        node = self._expr_methods[e.__class__](self, e)
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
        names: set[str] = set()
        for g in e.generators:
            names.update(g.targets)
        mode = "plain" if self._plain_comprehension is e else "helper"
        with self.add_mode(mode), self.scope("comprehension", names):
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
            assert e.value is not None  # a dict comprehension has a value
            return py.DictComp(key=elt, value=self.expr(e.value), generators=gens)

    def e_Lambda(self, e: A.Lambda) -> py.expr:
        params = e.params if e.receiver is None else (e.receiver,) + e.params
        args = self._arguments(params)
        for a in args.args:
            a.annotation = None
        with self.add_mode("helper"), self.scope("lambda", {p.name for p in params}):
            body = self.expr(e.body)
        return py.Lambda(args=args, body=body)

    def e_Call(self, e: A.Call) -> py.expr:
        if isinstance(e.func, A.Attribute):
            base = self.expr(e.func.value)
            if e.func.attr in self.fallback_methods and not self._is_module(e.func.value):
                # `obj.f(args)` may mean the visible function `f(obj, args)` (spec §8.6)
                func: py.expr = _call(H_METHOD, base, _const(e.func.attr))
            else:
                func = py.Attribute(value=base, attr=e.func.attr, ctx=py.Load())
            _at(func, e.func.span)
        elif self._builds_known_struct(e):
            func = py.Attribute(value=self.expr(e.func), attr=MAKE, ctx=py.Load())
        else:
            func = self.expr(e.func)
        return py.Call(func=func, args=[self.expr(a) for a in e.args], keywords=self._keywords(e))

    def _builds_known_struct(self, e: A.Call) -> bool:
        """`S(...)` of a struct declared once at this module's top level, with arguments that
        name its fields: the class's MAKE runs the constructor's checks without
        `type.__call__` (other calls keep `__init__`, which words the argument errors)."""
        func = e.func
        if not (isinstance(func, A.Name) and func.scope is None):
            return False
        fields = self.struct_fields.get(func.id)
        if fields is None or "*" in self.module_names:
            return False
        owner = self.ctx.owner(func.id)
        if owner is None or owner.kind != "module":
            return False
        if len(e.args) > len(fields) or len(e.keywords) > _MANY_KEYWORDS:
            return False
        taken = set(fields[: len(e.args)])
        names = [k.name for k in e.keywords]
        if len(set(names)) != len(names):
            return False
        return all(n in fields and n not in taken for n in names) and all(
            n.isidentifier() and not keyword.iskeyword(n) for n in fields
        )

    def _keywords(self, e: A.Call) -> list[py.keyword]:
        """Many keywords go in one `**{...}`: CPython checks keyword names pairwise (quadratic);
        the builder has already refused repeated names."""
        if len(e.keywords) <= _MANY_KEYWORDS:
            return [py.keyword(arg=k.name, value=self.expr(k.value)) for k in e.keywords]
        names: list[py.expr | None] = [_const(k.name) for k in e.keywords]
        values = [self.expr(k.value) for k in e.keywords]
        return [py.keyword(arg=None, value=py.Dict(keys=names, values=values))]

    def e_Attribute(self, e: A.Attribute) -> py.expr:
        base = self.expr(e.value)
        if self._plain_attribute_base(e.value):
            return py.Attribute(value=base, attr=e.attr, ctx=py.Load())
        if self._add_mode == "plain":
            self._probe.attr = True
            return py.Attribute(value=base, attr=e.attr, ctx=py.Load())
        return _call(H_ATTR, base, _const(e.attr))

    def exact_type(self, e: A.Expr) -> str | None:
        """The exact builtin type of `e`'s every value, from the literals, `range()` loops and
        arithmetic of the function being compiled (None when not known)."""
        ctx = self.ctx
        if ctx.kind != "function":
            return None
        if ctx.exact_types is None:
            range_is_builtin = (
                "range" in self.builtin_names
                and not ctx.resolves("range")
                and "*" not in self.module_names
            )
            ctx.exact_types = local_types(ctx.body, ctx.bound_outside, range_is_builtin)
        return static_type(e, ctx.exact_types)

    def _conforms(self, e: A.Expr | None, field_type: str) -> bool:
        """Is every value of `e` one a field declared `field_type` stores unchanged?"""
        if e is None:
            return False
        found = self.exact_type(e)
        if found is None and isinstance(e, A.Attribute):
            known = self._known_field_type(e.value, e.attr)
            if known is not None and known[2]:
                found = known[1]  # a field of a struct built here holds an instance of its type
        return found == field_type or (found == "bool" and field_type == "int")

    def _known_field_type(self, base: A.Expr, attr: str) -> tuple[str, str, bool] | None:
        """(struct, builtin type of field `attr`, certain) when `base` is a local whose struct
        type this module declares."""
        if not (isinstance(base, A.Name) and base.scope is None):
            return None
        owner = self.ctx.owner(base.id)
        if owner is None or base.id not in owner.struct_types:
            return None
        struct, certain = owner.struct_types[base.id]
        struct_owner = self.ctx.owner(struct)
        if struct_owner is None or struct_owner.kind != "module":
            return None
        field_type = self.field_types.get(struct, {}).get(attr)
        return (struct, field_type, certain) if field_type is not None else None

    def _is_module(self, e: A.Expr) -> bool:
        if not (isinstance(e, A.Name) and e.scope is None):
            return False
        owner = self.ctx.owner(e.id)
        return owner is not None and e.id in owner.modules

    def _plain_attribute_base(self, e: A.Expr) -> bool:
        """Is `e` a struct instance or a module, where a plain attribute load is exact (a
        struct's own `__getattr__` does delegation and the function fallback)?"""
        if not (isinstance(e, A.Name) and e.scope is None):
            return False
        owner = self.ctx.owner(e.id)
        return owner is not None and (e.id in owner.structs or e.id in owner.modules)

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
            if self._add_mode == "helper":
                return self._dana_add_inline(e, left, right)
            self._probe.add = True
        return py.BinOp(left=left, op=_BIN[e.op](), right=right)

    def _dana_add_inline(self, e: A.BinOp, left: py.expr, right: py.expr) -> py.expr:
        """Dana's `+` inside an expression. `x + 1` (a local and a number) only differs from
        Python's when `x` is a string, so it is tested inline instead of calling the helper."""
        for number, other in ((e.right, e.left), (e.left, e.right)):
            if (
                isinstance(number, A.Constant)
                and type(number.value) in (int, float)
                and isinstance(other, A.Name)
                and other.scope is None
                and self.ctx.resolves(other.id)
            ):
                test = py.Compare(
                    left=py.Attribute(value=_load(other.id), attr="__class__", ctx=py.Load()),
                    ops=[py.IsNot()],
                    comparators=[_load(H_PYSTR)],
                )
                plain = py.BinOp(left=left, op=py.Add(), right=right)
                helper = _call(H_ADD, self.expr(e.left), self.expr(e.right))
                return py.IfExp(test=test, body=plain, orelse=helper)
        return _call(H_ADD, left, right)

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
            scope = SCOPE_DICTS[target.scope or ""]  # a scoped name (unscoped ones are above)
            return _call(H_AUG_ITEM, _load(scope), _const(target.id), _const(e.op), value)
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


Compiler._expr_methods = _method_table(Compiler, "e_")
Compiler._stmt_methods = _method_table(Compiler, "s_")
