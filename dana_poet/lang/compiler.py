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
from dana_poet.lang.pyast import LOAD, STORE, TOP, Where, fill_locations, where
from dana_poet.lang.pyast import at as _at
from dana_poet.lang.pyast import call as _call
from dana_poet.lang.pyast import const as _const
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


class _Placed:
    __slots__ = ("compiler", "w", "saved")

    def __init__(self, compiler: Compiler, w: Where | None) -> None:
        self.compiler, self.saved = compiler, compiler.w
        self.w = self.saved if w is None else w

    def __enter__(self) -> None:
        self.compiler.w = self.w

    def __exit__(self, *exc: object) -> None:
        self.compiler.w = self.saved


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
        # the Python position of the innermost Dana node being compiled that has one: the
        # position of every node made for it
        self.w: Where = TOP

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

    def placed(self, span: A.Span) -> _Placed:
        """Make nodes at `span` (kept where they were when the span has no position).
        `stmt` and `expr` do the same inline for each Dana node they compile."""
        return _Placed(self, where(span))

    def is_function_local(self, name: str) -> bool:
        owner = self.ctx.owner(name)
        return owner is not None and owner.kind != "module"

    # ------------------------------------------------------------ entry points
    def compile_module(self, module: A.Module) -> CodeType:
        tree = self.module_ast(module)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return compile(tree, self.filename, "exec", dont_inherit=True, optimize=0)
            except TypeError:
                # a node made without a position (tests/lang check that none is): the
                # standard rule places it at its nearest placed ancestor's
                fill_locations(tree)
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
        self.w = TOP
        body = self.stmts(module.body)
        return py.Module(body or [_at(py.Pass(), TOP)], [])

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
        outer = self.w
        w = where(s.span)
        if w is not None:
            self.w = w
        result: list[py.stmt] = self._stmt_methods[s.__class__](self, s)
        self.w = outer
        return result

    def guarded(self, s: A.Stmt, build: Any, exprs: list[Any]) -> list[py.stmt]:
        """Build a statement with Python's `+` and attribute reads. Where Dana's meaning may
        differ (`"n=" + 5`, `cfg.key` on a dict) and the statement is pure, a zero-cost `try`
        re-runs it with Dana's rules on TypeError/AttributeError; impure statements use the
        rules directly."""
        with self.probing() as probe:
            plain = build()
        if not (probe.add or probe.attr):
            return plain
        with self.add_mode("helper"):
            helper = build()
        if all(is_pure(e) for e in exprs):
            w = self.w
            handler = _at(py.ExceptHandler(self._retry_on(probe), None, helper), w)
            return [_at(py.Try(plain, [handler], [], []), w)]
        return helper

    def _retry_on(self, probe: _Probe) -> py.expr:
        w = self.w
        if probe.add and probe.attr:
            return _at(py.Tuple([_load("TypeError", w), _load("AttributeError", w)], LOAD), w)
        return _load("TypeError" if probe.add else "AttributeError", w)

    def _mark(self, name: str) -> list[py.stmt]:
        """Implicit return bookkeeping for `name = ...`: remember which name, not its value
        (a second reference to a string would defeat CPython's in-place `s = s + x`)."""
        w = self.w
        test = _at(py.Compare(_load(name, w), [py.IsNot()], [_const(None, w)]), w)
        mark = _at(py.Assign([_store(MARK, w)], _const(self.ctx.tracked[name], w)), w)
        return [_at(py.If(test, [mark], []), w)]

    def _tracked_name(self, target: A.Expr) -> str | None:
        if isinstance(target, A.Name) and target.scope in (None, "local"):
            if target.id in self.ctx.tracked:
                return target.id
        return None

    def _track(self, value: py.expr) -> list[py.stmt]:
        """`__dana_last = value` when value is not None (implicit return bookkeeping)."""
        w = self.w
        test = _at(py.Compare(value, [py.IsNot()], [_const(None, w)]), w)
        return [_at(py.If(test, self._track_value(value), []), w)]

    def s_ExprStmt(self, s: A.ExprStmt) -> list[py.stmt]:
        w = self.w
        if self.ctx.track_last:

            def build() -> list[py.stmt]:
                return [_at(py.Assign([_store(VALUE, w)], self.expr(s.value)), w)]

            return self.guarded(s, build, [s.value]) + self._track(_load(VALUE, w))
        return self.guarded(s, lambda: [_at(py.Expr(self.expr(s.value)), w)], [s.value])

    def s_Pass(self, s: A.Pass) -> list[py.stmt]:
        return [_at(py.Pass(), self.w)]

    def s_Break(self, s: A.Break) -> list[py.stmt]:
        if self.ctx.loop_depth == 0:
            raise self.error("'break' outside a loop", s.span)
        return [_at(py.Break(), self.w)]

    def s_Continue(self, s: A.Continue) -> list[py.stmt]:
        if self.ctx.loop_depth == 0:
            raise self.error("'continue' outside a loop", s.span)
        return [_at(py.Continue(), self.w)]

    def s_Return(self, s: A.Return) -> list[py.stmt]:
        if self.ctx.kind == "module":
            raise self.error("'return' outside a function", s.span)
        w = self.w
        if s.value is None:
            return [_at(py.Return(None), w)]
        value = s.value
        if (
            isinstance(value, A.BinOp)
            and value.op == "+"
            and not is_pure(value)
            and self._add_is_ambiguous(value.left, value.right)
        ):
            return self._hoisted_add(value, lambda v: [_at(py.Return(v), w)])
        if isinstance(value, A.Comprehension):
            guarded = self._guarded_comprehension(value, lambda v: [_at(py.Return(v), w)])
            if guarded is not None:
                return guarded
        return self.guarded(s, lambda: [_at(py.Return(self.expr(value)), w)], [value])

    def _guarded_comprehension(self, comp: A.Comprehension, finish: Any) -> list[py.stmt] | None:
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
        if not (probe.add or probe.attr):
            return finish(plain)  # type: ignore[no-any-return]
        with self.add_mode("helper"):
            helper = self.expr(comp)
            helper_again = self.expr(comp)
            iterable = self.expr(gen.iter)
        w = self.w
        handler = _at(py.ExceptHandler(self._retry_on(probe), None, finish(helper)), w)
        retry = _at(py.Try(finish(plain), [handler], [], []), w)
        reiterable = _at(
            py.Compare(
                _at(py.Attribute(iterable, "__class__", LOAD), w),
                [py.In()],
                [_load(H_REITERABLE, w)],
            ),
            w,
        )
        return [_at(py.If(reiterable, [retry], finish(helper_again)), w)]

    def _hoisted_add(self, value: A.BinOp, finish: Any) -> list[py.stmt]:
        """`a + f()`: evaluate the impure operand(s) once, then add plainly, with Dana's rule
        on TypeError. A pure left operand is not copied into a temporary, so `s = s + f()`
        keeps CPython's in-place string concatenation."""
        w = self.w
        out: list[py.stmt] = []
        with self.add_mode("helper"):
            if is_pure(value.left):
                left: py.expr = self.expr(value.left)
                left_again = self.expr(value.left)
            else:
                name = self.tmp("l")
                out.append(_at(py.Assign([_store(name, w)], self.expr(value.left)), w))
                left, left_again = _load(name, w), _load(name, w)
            right = self.tmp("r")
            out.append(_at(py.Assign([_store(right, w)], self.expr(value.right)), w))
        plain = _at(py.BinOp(left, py.Add(), _load(right, w)), w)
        helper = _call(H_ADD, w, left_again, _load(right, w))
        handler = _at(py.ExceptHandler(_load("TypeError", w), None, finish(helper)), w)
        out.append(_at(py.Try(finish(plain), [handler], [], []), w))
        return out

    def s_Raise(self, s: A.Raise) -> list[py.stmt]:
        w = self.w
        exc = _call(H_EXC, w, self.expr(s.exc)) if s.exc is not None else None
        cause = _call(H_EXC, w, self.expr(s.cause)) if s.cause is not None else None
        return [_at(py.Raise(exc, cause), w)]

    def s_Assert(self, s: A.Assert) -> list[py.stmt]:
        with self.add_mode("helper"):  # asserts are not hot: always concatenate-aware
            return self._assert(s)

    def _assert(self, s: A.Assert) -> list[py.stmt]:
        w = self.w
        source = self._assert_source(s) or "assertion"
        msg = self.expr(s.msg) if s.msg is not None else _const(None, w)
        test = s.test
        if isinstance(test, A.Compare) and len(test.ops) == 1:
            # a literal or a local is read again for the message (nothing changes); other
            # operands are kept in temporaries, evaluated in order
            right_direct = self._is_simple(test.comparators[0])
            left_direct = self._is_simple(test.left) and (
                right_direct or isinstance(test.left, A.Constant)
            )
            out: list[py.stmt] = []
            operands: list[py.expr] = []
            for operand, direct, stem in (
                (test.left, left_direct, "l"),
                (test.comparators[0], right_direct, "r"),
            ):
                if direct:
                    operands.append(self.expr(operand))
                else:
                    name = self.tmp(stem)
                    out.append(_at(py.Assign([_store(name, w)], self.expr(operand)), w))
                    operands.append(_load(name, w))
            left, right = operands
            cond: py.expr = _at(py.Compare(left, [_CMP[test.ops[0]]()], [right]), w)
            fail = _call(H_ASSERT, w, msg, _const(source, w), left, right, _const(test.ops[0], w))
        else:
            out = []
            cond = self.expr(test)
            fail = _call(H_ASSERT, w, msg, _const(source, w))
        failed = _at(py.UnaryOp(py.Not(), cond), w)
        out.append(_at(py.If(failed, [_at(py.Raise(fail, None), w)], []), w))
        return out

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
        w = self.w
        source = s.value
        if source is None:
            return [_at(py.Pass(), w)]
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
                    _at(py.Assign([_store(VALUE, w)], value_expr()), w),
                    _at(py.Assign([self.target(target)], _load(VALUE, w)), w),
                ]

            return self.guarded(s, build, [s.value, target]) + self._track(_load(VALUE, w))
        out: list[py.stmt] | None = None
        if s.annotation is None and is_pure(target):
            if (
                isinstance(s.value, A.BinOp)
                and s.value.op == "+"
                and not is_pure(s.value)
                and self._add_is_ambiguous(s.value.left, s.value.right)
            ):
                out = self._hoisted_add(
                    s.value, lambda v: [_at(py.Assign([self.target(target)], v), w)]
                )
            elif isinstance(s.value, A.Comprehension):
                out = self._guarded_comprehension(
                    s.value, lambda v: [_at(py.Assign([self.target(target)], v), w)]
                )
        if out is None:
            out = self.guarded(
                s,
                lambda: [_at(py.Assign([self.target(target)], value_expr()), w)],
                [s.value, target],
            )
        if tracked is not None:
            out += self._mark(tracked)
        return out

    def _assign_attribute(self, s: A.Assign, target: A.Attribute, value_expr: Any) -> list[py.stmt]:
        """`obj.f = v`: the value first, then the object, then a checked field store."""
        w = self.w
        direct = self._direct_value(s, target)
        if direct is not None:  # a local or a literal stored on a local: no temporary
            obj, _ = self._store_base(target.value)
            return self._store_field(
                obj,
                target.attr,
                direct(),
                target.value,
                s.value,
                self.ctx.track_last,
                s is self.ctx.tail,
            )
        out = self.guarded(
            s, lambda: [_at(py.Assign([_store(VALUE, w)], value_expr()), w)], [s.value]
        )
        obj, setup = self._store_base(target.value)
        source = s.value if s.annotation is None else None
        return (
            out
            + setup
            + self._store_field(
                obj,
                target.attr,
                _load(VALUE, w),
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
        w = self.w
        if isinstance(value, A.Constant) and type(value.value) in (int, float, str, bool):
            return lambda: _const(value.value, w)
        if isinstance(value, A.Name) and self._is_local_name(value):
            return lambda: _load(value.id, w)
        return None

    def _is_local_name(self, e: A.Expr) -> bool:
        return isinstance(e, A.Name) and e.scope is None and self.is_function_local(e.id)

    def _store_base(self, base: A.Expr) -> tuple[py.expr, list[py.stmt]]:
        """The object a field is stored on, evaluated once (a local name is used as it is)."""
        w = self.w
        if isinstance(base, A.Name) and base.scope is None and self.ctx.resolves(base.id):
            return _load(base.id, w), []
        with self.add_mode("helper"):
            value = self._vivified(base) if self._scoped_root(base) else self.expr(base)
        name = self.tmp("o")
        return _load(name, w), [_at(py.Assign([_store(name, w)], value), w)]

    def _store_field(
        self,
        obj: py.expr,
        attr: str,
        value: py.expr,
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
        w = self.w
        field = _at(py.Attribute(obj, attr, STORE), w)
        plain: list[py.stmt] = [_at(py.Assign([field], value), w)]
        checked: list[py.stmt] = [
            _at(py.Expr(_call(H_SET_FIELD, w, obj, _const(attr, w), value)), w)
        ]
        if track and tail and not self.ctx.last_written and not self.ctx.tracked:
            # nothing before it gave a value: the implicit return is this one
            plain.append(_at(py.Return(value), w))
            checked.append(_at(py.Return(value), w))
            track = False
        known = self._known_field_type(base, attr)
        if known is None:
            out = self._store_by_class_type(obj, attr, value, plain, checked)
            return out + (self._track(value) if track else [])
        struct, field_type, certain = known
        if track:  # a value of a builtin field type is never None
            plain += self._track_value(value)
            checked += self._track(value)
        if certain and self._conforms(source, field_type):
            return plain  # stored unchanged, on a known struct
        # the value's real type (`__class__` can lie: a Mock(spec=int) claims int); the
        # receiver's may be taken from `__class__`: an object lying about being this struct
        # is not a Dana struct, so a plain store on it breaks no field's type
        test: py.expr = _at(
            py.Compare(_call(H_PYTYPE, w, value), [py.Is()], [_load(f"__dana_{field_type}_t", w)]),
            w,
        )
        receiver = isinstance(base, A.Name) and base.id == self.ctx.receiver
        if not certain and not (receiver and self.ctx.receiver_exact):
            self.ctx.receiver_tested = self.ctx.receiver_tested or receiver
            is_struct = _at(
                py.Compare(
                    _at(py.Attribute(obj, "__class__", LOAD), w), [py.Is()], [_load(struct, w)]
                ),
                w,
            )
            test = _at(py.BoolOp(py.And(), [test, is_struct]), w)
        return [_at(py.If(test, plain, checked), w)]

    def _store_by_class_type(
        self,
        obj: py.expr,
        attr: str,
        value: py.expr,
        plain: list[py.stmt],
        checked: list[py.stmt],
    ) -> list[py.stmt]:
        """The store when the compiler does not know the struct: the class names the field's
        exact type as `__dana_ft_<field>` (absent: not a struct field with one exact type)."""
        w = self.w
        field_type = _at(py.Attribute(obj, f"__dana_ft_{attr}", LOAD), w)
        absent = _at(py.Assign([_store(FIELD_TYPE, w)], _const(None, w)), w)
        lookup = py.Try(
            [_at(py.Assign([_store(FIELD_TYPE, w)], field_type), w)],
            [_at(py.ExceptHandler(_load("AttributeError", w), None, [absent]), w)],
            [],
            [],
        )
        test = _at(py.Compare(_load(FIELD_TYPE, w), [py.Is()], [_call(H_PYTYPE, w, value)]), w)
        return [_at(lookup, w), _at(py.If(test, plain, checked), w)]

    def _track_value(self, value: py.expr) -> list[py.stmt]:
        """`__dana_last = value` for a value known not to be None."""
        w = self.w
        self.ctx.last_written = True
        out: list[py.stmt] = [_at(py.Assign([_store(LAST, w)], value), w)]
        if self.ctx.tracked:
            out.append(_at(py.Assign([_store(MARK, w)], _const(0, w)), w))
        return out

    def _typed_value(
        self, source: A.Expr, value: py.expr, annotation: A.TypeExpr, target: A.Expr
    ) -> py.expr:
        w = self.w
        type_expr = self.type_expr(annotation)
        if (
            isinstance(source, A.Call)
            and isinstance(source.func, A.Name)
            and source.func.id == "reason"
            and not self.ctx.resolves("reason")
            and isinstance(value, py.Call)
        ):
            value.keywords.append(_at(py.keyword("_dana_type", type_expr), w))
        name = target.id if isinstance(target, A.Name) else self._source_of(target.span)
        return _call(H_COERCE, w, value, type_expr, _const(name, w))

    def s_AugAssign(self, s: A.AugAssign) -> list[py.stmt]:
        target = s.target
        if isinstance(target, A.Attribute):
            return self._aug_attribute(s, target)
        w = self.w
        op = _BIN[s.op]
        ambiguous = s.op == "+" and self._add_is_ambiguous(target, s.value)
        out: list[py.stmt]
        if ambiguous and is_pure(target) and not is_pure(s.value):
            # `s += f()`: the value once into a temporary, the name itself left alone
            right = self.tmp("r")
            with self.add_mode("helper"):
                out = [_at(py.Assign([_store(right, w)], self.expr(s.value)), w)]
                current = self.expr(target)
            plain = _at(py.AugAssign(self.target(target), py.Add(), _load(right, w)), w)
            helper = _at(
                py.Assign([self.target(target)], _call(H_ADD, w, current, _load(right, w))), w
            )
            handler = _at(py.ExceptHandler(_load("TypeError", w), None, [helper]), w)
            out.append(_at(py.Try([plain], [handler], [], []), w))
        else:

            def build() -> list[py.stmt]:
                if ambiguous and self._add_mode == "helper":
                    value = _call(H_ADD, w, self.expr(target), self.expr(s.value))
                    return [_at(py.Assign([self.target(target)], value), w)]
                if ambiguous:
                    self._probe.add = True
                return [_at(py.AugAssign(self.target(target), op(), self.expr(s.value)), w)]

            out = self.guarded(s, build, [s.value, target]) if is_pure(target) else build()
        tracked = self._tracked_name(target)
        if tracked is not None:
            out += self._mark(tracked)
        elif self.ctx.track_last:
            with self.add_mode("helper"):
                out += self._track(self.expr(target))
        return out

    def _aug_attribute(self, s: A.AugAssign, target: A.Attribute) -> list[py.stmt]:
        """`obj.f += v`: read the field, combine (Dana's `+` on TypeError), checked store."""
        if self._plain_attribute_base(target.value) and self._is_simple(s.value):
            return self._aug_field(s, target)
        w = self.w
        obj, out = self._store_base(target.value)
        current, right = self.tmp("c"), self.tmp("r")
        with self.add_mode("helper"):
            field = _at(py.Attribute(obj, target.attr, LOAD), w)
            out.append(_at(py.Assign([_store(current, w)], field), w))
            out.append(_at(py.Assign([_store(right, w)], self.expr(s.value)), w))
        out.append(self._combine(s.op, _load(current, w), _load(right, w)))
        return out + self._store_field(
            obj,
            target.attr,
            _load(VALUE, w),
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
        w = self.w

        def current() -> py.expr:
            return _at(py.Attribute(_load(base.id, w), target.attr, LOAD), w)

        with self.add_mode("helper"):
            right = self.expr(s.value)
        combine = self._combine(s.op, current(), right, current())
        stores = self._store_field(
            _load(base.id, w),
            target.attr,
            _load(VALUE, w),
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
            combine.orelse = [_at(py.If(guard.test, guard.body, []), w)]
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
        w = self.w
        compute: py.stmt = _at(
            py.Assign([_store(VALUE, w)], _at(py.BinOp(left, _BIN[op](), right), w)), w
        )
        if op != "+":
            return compute
        again = left_again if left_again is not None else left
        helper = _at(py.Assign([_store(VALUE, w)], _call(H_ADD, w, again, right)), w)
        handler = _at(py.ExceptHandler(_load("TypeError", w), None, [helper]), w)
        return _at(py.Try([compute], [handler], [], []), w)

    def s_If(self, s: A.If) -> list[py.stmt]:
        w = self.w
        body = self.stmts(s.body) or [_at(py.Pass(), w)]
        orelse = self.stmts(s.orelse)
        return self._with_guarded_test(s.test, lambda t: [_at(py.If(t, body, orelse), w)])

    def _with_guarded_test(self, test: A.Expr, finish: Any) -> list[py.stmt]:
        with self.probing() as probe:
            plain = self.expr(test)
        if not (probe.add or probe.attr):
            return finish(plain)  # type: ignore[no-any-return]
        w = self.w
        tmp = self.tmp("c")
        with self.add_mode("helper"):
            helper = self.expr(test)
        if is_pure(test):
            handler = _at(
                py.ExceptHandler(
                    self._retry_on(probe), None, [_at(py.Assign([_store(tmp, w)], helper), w)]
                ),
                w,
            )
            attempt = _at(py.Assign([_store(tmp, w)], plain), w)
            compute: list[py.stmt] = [_at(py.Try([attempt], [handler], [], []), w)]
        else:
            compute = [_at(py.Assign([_store(tmp, w)], helper), w)]
        return compute + finish(_load(tmp, w))

    def s_While(self, s: A.While) -> list[py.stmt]:
        w = self.w
        with self.loop():
            body = self.stmts(s.body) or [_at(py.Pass(), w)]
        with self.probing() as probe:
            test = self.expr(s.test)
        if not (probe.add or probe.attr):
            return [_at(py.While(test, body, []), w)]

        def stop_unless(t: py.expr) -> list[py.stmt]:
            return [_at(py.If(_at(py.UnaryOp(py.Not(), t), w), [_at(py.Break(), w)], []), w)]

        check = self._with_guarded_test(s.test, stop_unless)
        return [_at(py.While(_const(True, w), check + body, []), w)]

    def s_For(self, s: A.For) -> list[py.stmt]:
        w = self.w
        if len(s.targets) == 1:
            target: py.expr = _store(s.targets[0], w)
        else:
            target = _at(py.Tuple([_store(n, w) for n in s.targets], STORE), w)
        with self.loop():
            body = self.stmts(s.body) or [_at(py.Pass(), w)]
        return self._with_guarded_test(
            s.iter, lambda it: [_at(py.For(target, it, body, [], None), w)]
        )

    def s_Try(self, s: A.Try) -> list[py.stmt]:
        w = self.w
        body = self.stmts(s.body) or [_at(py.Pass(), w)]
        handlers = []
        for h in s.handlers:
            handler_body = self.stmts(h.body)
            hw = where(h.span) or w
            exc_type: py.expr
            if h.type is not None:
                exc_type = self.expr(h.type)
            else:
                exc_type = _load("Exception", hw)
            if h.name:
                caught = self.tmp("e")
                bind = _at(
                    py.Assign([_store(h.name, hw)], _call(H_CAUGHT, hw, _load(caught, hw))), hw
                )
                handler = py.ExceptHandler(exc_type, caught, [bind] + handler_body)
            else:
                handler = py.ExceptHandler(exc_type, None, handler_body or [_at(py.Pass(), hw)])
            handlers.append(_at(handler, hw))
        orelse = self.stmts(s.orelse)
        finalbody = self.stmts(s.finalbody)
        return [_at(py.Try(body, handlers, orelse, finalbody), w)]

    def s_With(self, s: A.With) -> list[py.stmt]:
        w = self.w
        items = [
            py.withitem(self._with_context(item), _store(item.name, w) if item.name else None)
            for item in s.items
        ]
        return [_at(py.With(items, self.stmts(s.body) or [_at(py.Pass(), w)], None), w)]

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
            name = _const(item.name, self.w)
            context.keywords.append(_at(py.keyword("_name", name), self.w))
        return context

    # ------------------------------------------------------------ definitions
    def _arguments(self, params: tuple[A.Param, ...]) -> py.arguments:
        args = []
        defaults = []
        for p in params:
            with self.placed(p.span):
                annotation = self.type_expr(p.annotation) if p.annotation is not None else None
                args.append(_at(py.arg(p.name, annotation), self.w))
            if p.default is not None:
                defaults.append(self.expr(p.default))
        return py.arguments([], args, None, [], [], None, defaults)

    def _decorators(self, decorators: tuple[A.Decorator, ...]) -> list[py.expr]:
        out = []
        for d in decorators:
            with self.placed(d.span):
                w = self.w
                parts = d.name.split(".")
                func: py.expr = self.expr(A.Name(parts[0], None, d.span))
                for part in parts[1:]:
                    func = _at(py.Attribute(func, part, LOAD), w)
                if d.args is None or (not d.args and not d.keywords):
                    out.append(func)
                else:
                    args = [self.expr(a) for a in d.args]
                    keywords = [_at(py.keyword(k.name, self.expr(k.value)), w) for k in d.keywords]
                    out.append(_at(py.Call(func, args, keywords), w))
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
        w = self.w
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
                    lookup = _at(py.Attribute(_load(H_GLOBALS, w), "get", LOAD), w)
                    get = _call(lookup, w, _const(n, w))
                    prologue.append(_at(py.Assign([_store(n, w)], get), w))
                else:
                    getter = f"__dana_get_{n}"
                    read = _at(py.Lambda(_no_args(), _load(n, w)), w)
                    getters.append(_at(py.Assign([_store(getter, w)], read), w))
                    prologue.append(_at(py.Assign([_store(n, w)], _call(getter, w)), w))
            self._getters_for_parent = getters
            docstring: list[py.stmt] = []
            if body and isinstance(body[0], A.ExprStmt) and isinstance(body[0].value, A.Constant):
                if isinstance(body[0].value.value, str) and len(body) > 1:
                    dw = where(body[0].span) or w
                    docstring = [_at(py.Expr(_const(body[0].value.value, dw)), dw)]
                    body = body[1:]
            compiled = self.stmts(body)
            if track:
                if ctx.last_written:
                    prologue.append(_at(py.Assign([_store(LAST, w)], _const(None, w)), w))
                if ctx.tracked:
                    prologue.append(_at(py.Assign([_store(MARK, w)], _const(0, w)), w))
            out = docstring + prologue + compiled
            if track:
                out += self._implicit_return(ctx)
            self._receiver_tested = ctx.receiver_tested
            return out or [_at(py.Pass(), w)]

    def _implicit_return(self, ctx: _Context) -> list[py.stmt]:
        """Return the last non-None value: a tracked name's current value, or `__dana_last`."""
        w = self.w
        out: list[py.stmt] = []
        for tracked, marker in ctx.tracked.items():
            test = _at(py.Compare(_load(MARK, w), [py.Eq()], [_const(marker, w)]), w)
            out.append(_at(py.If(test, [_at(py.Return(_load(tracked, w)), w)], []), w))
        out.append(_at(py.Return(_load(LAST, w) if ctx.last_written else None), w))
        return out

    def s_FunctionDef(self, s: A.FunctionDef) -> list[py.stmt]:
        w = self.w
        if (
            s.receiver is not None
            and s.name in self.builtin_names
            and not self.ctx.resolves(s.name)
        ):
            # `def (s: Sys) log(...)` is a method; a plain `log(...)` call stays the builtin
            hidden = A.replace(s, name=f"__dana_method_{s.name}")
            out = self.s_FunctionDef(hidden)
            function_name = _at(py.Attribute(_load(hidden.name, w), "__name__", STORE), w)
            rename = _at(py.Assign([function_name], _const(s.name, w)), w)
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
        fn = _at(py.FunctionDef(s.name, args, body, decorators, returns, None), w)
        out = list(getters)
        if exact_body is not None:
            out += self._exact_method(fn, exact_body)
        else:
            out.append(fn)
        if receiver is not None and receiver.annotation is not None:
            implicit = s.receiver is None
            if not (implicit and is_builtin_type(receiver.annotation)):
                register = _call(
                    H_RECEIVER,
                    w,
                    _load(s.name, w),
                    self.type_expr(receiver.annotation),
                    _const(implicit, w),
                )
                out.append(_at(py.Expr(register), w))
        return out

    def _exact_method(self, fn: py.FunctionDef, exact_body: list[py.stmt]) -> list[py.stmt]:
        """`fn`, and as its `__dana_exact__` the same function with `exact_body`: the method
        its struct gets, whose field stores need not test the receiver's type."""
        w = self.w
        exact = copy.copy(fn)
        exact.body = exact_body
        exact.args = copy.copy(fn.args)
        exact.args.defaults = []  # evaluated once, for `fn`; the runtime shares them
        holder = f"__dana_exact_{fn.name}"
        exact_attribute = _at(py.Attribute(_load(fn.name, w), EXACT_METHOD, STORE), w)
        return [
            exact,
            _at(py.Assign([_store(holder, w)], _load(fn.name, w)), w),
            fn,
            _at(py.Assign([exact_attribute], _load(holder, w)), w),
        ]

    # ------------------------------------------------------------ targets
    def target(self, t: A.Expr) -> py.Name | py.Attribute | py.Subscript:
        w = where(t.span) or self.w
        if isinstance(t, A.Name):
            if t.scope in SCOPE_DICTS:
                scope = _load(SCOPE_DICTS[t.scope], w)
                return _at(py.Subscript(scope, _const(t.id, w), STORE), w)
            return _store(t.id, w)
        if isinstance(t, A.Attribute):
            if self._scoped_root(t.value):
                with self.placed(t.span):
                    base = self._vivified(t.value)
            else:
                base = self.expr(t.value)
            return _at(py.Attribute(base, t.attr, STORE), w)
        if isinstance(t, A.Subscript):
            with self.placed(t.span):
                return _at(py.Subscript(self.expr(t.value), self._index(t.index), STORE), w)
        raise self.error("cannot assign to this expression", t.span)

    @staticmethod
    def _scoped_root(e: A.Expr) -> bool:
        while isinstance(e, A.Attribute):
            e = e.value
        return isinstance(e, A.Name) and e.scope in SCOPE_DICTS

    def _vivified(self, e: A.Expr) -> py.expr:
        """`private:cfg.a.b = v` creates `private:cfg` and `.a` as namespaces when missing."""
        w = self.w
        if isinstance(e, A.Name):
            return _call(H_VIVIFY, w, _load(SCOPE_DICTS[e.scope or ""], w), _const(e.id, w))
        assert isinstance(e, A.Attribute)
        return _call(H_VIVIFY, w, self._vivified(e.value), _const(e.attr, w))

    # ------------------------------------------------------------ expressions
    def expr(self, e: A.Expr) -> py.expr:
        outer = self.w
        w = where(e.span)
        if w is not None:
            self.w = w
        node: py.expr = self._expr_methods[e.__class__](self, e)
        self.w = outer
        return node

    def e_Name(self, e: A.Name) -> py.expr:
        w = self.w
        if e.scope in SCOPE_DICTS:
            return _at(py.Subscript(_load(SCOPE_DICTS[e.scope], w), _const(e.id, w), LOAD), w)
        if self.ctx.resolves(e.id) or e.id in self.builtin_names:
            return _load(e.id, w)
        return _call(H_LOOKUP, w, _const(e.id, w))

    def e_Constant(self, e: A.Constant) -> py.expr:
        return _const(e.value, self.w)

    def e_FString(self, e: A.FString) -> py.expr:
        w = self.w
        values: list[py.expr] = []
        for part in e.parts:
            if isinstance(part, str):
                values.append(_const(part, w))
            else:
                values.append(self.expr(part))
        return _at(py.JoinedStr(values), w)

    def e_FormattedValue(self, e: A.FormattedValue) -> py.expr:
        conversion = {"s": 115, "r": 114, "a": 97}.get(e.conversion or "", -1)
        spec = self.e_FString(e.format_spec) if e.format_spec is not None else None
        return _at(py.FormattedValue(self.expr(e.value), conversion, spec), self.w)

    def e_ListExpr(self, e: A.ListExpr) -> py.expr:
        return _at(py.List([self.expr(x) for x in e.elts], LOAD), self.w)

    def e_TupleExpr(self, e: A.TupleExpr) -> py.expr:
        return _at(py.Tuple([self.expr(x) for x in e.elts], LOAD), self.w)

    def e_SetExpr(self, e: A.SetExpr) -> py.expr:
        return _at(py.Set([self.expr(x) for x in e.elts]), self.w)

    def e_DictExpr(self, e: A.DictExpr) -> py.expr:
        keys: list[py.expr | None] = [self.expr(k) for k in e.keys]
        return _at(py.Dict(keys, [self.expr(v) for v in e.values]), self.w)

    def e_Comprehension(self, e: A.Comprehension) -> py.expr:
        w = self.w
        names: set[str] = set()
        for g in e.generators:
            names.update(g.targets)
        mode = "plain" if self._plain_comprehension is e else "helper"
        with self.add_mode(mode), self.scope("comprehension", names):
            gens = []
            for g in e.generators:
                if len(g.targets) == 1:
                    target: py.expr = _store(g.targets[0], w)
                else:
                    target = _at(py.Tuple([_store(n, w) for n in g.targets], STORE), w)
                iterable = self.expr(g.iter)
                gens.append(
                    py.comprehension(target, iterable, [self.expr(c) for c in g.conditions], 0)
                )
            elt = self.expr(e.element)
            if e.kind == "list":
                return _at(py.ListComp(elt, gens), w)
            if e.kind == "set":
                return _at(py.SetComp(elt, gens), w)
            if e.kind == "gen":
                return _at(py.GeneratorExp(elt, gens), w)
            assert e.value is not None  # a dict comprehension has a value
            return _at(py.DictComp(elt, self.expr(e.value), gens), w)

    def e_Lambda(self, e: A.Lambda) -> py.expr:
        params = e.params if e.receiver is None else (e.receiver,) + e.params
        args = self._arguments(params)
        for a in args.args:
            a.annotation = None
        with self.add_mode("helper"), self.scope("lambda", {p.name for p in params}):
            body = self.expr(e.body)
        return _at(py.Lambda(args, body), self.w)

    def e_Call(self, e: A.Call) -> py.expr:
        w = self.w
        if isinstance(e.func, A.Attribute):
            base = self.expr(e.func.value)
            fw = where(e.func.span) or w
            if e.func.attr in self.fallback_methods and not self._is_module(e.func.value):
                # `obj.f(args)` may mean the visible function `f(obj, args)` (spec §8.6)
                func: py.expr = _call(H_METHOD, fw, base, _const(e.func.attr, fw))
            else:
                func = _at(py.Attribute(base, e.func.attr, LOAD), fw)
        elif self._builds_known_struct(e):
            func = _at(py.Attribute(self.expr(e.func), MAKE, LOAD), w)
        else:
            func = self.expr(e.func)
        return _at(py.Call(func, [self.expr(a) for a in e.args], self._keywords(e)), w)

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
        w = self.w
        if len(e.keywords) <= _MANY_KEYWORDS:
            return [_at(py.keyword(k.name, self.expr(k.value)), w) for k in e.keywords]
        names: list[py.expr | None] = [_const(k.name, w) for k in e.keywords]
        values = [self.expr(k.value) for k in e.keywords]
        return [_at(py.keyword(None, _at(py.Dict(names, values), w)), w)]

    def e_Attribute(self, e: A.Attribute) -> py.expr:
        base = self.expr(e.value)
        w = self.w
        if self._plain_attribute_base(e.value):
            return _at(py.Attribute(base, e.attr, LOAD), w)
        if self._add_mode == "plain":
            self._probe.attr = True
            return _at(py.Attribute(base, e.attr, LOAD), w)
        return _call(H_ATTR, w, base, _const(e.attr, w))

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
        return _at(py.Tuple([self.expr(i) for i in index], LOAD), self.w)

    def e_Subscript(self, e: A.Subscript) -> py.expr:
        return _at(py.Subscript(self.expr(e.value), self._index(e.index), LOAD), self.w)

    def e_Slice(self, e: A.Slice) -> py.expr:
        lower = self.expr(e.lower) if e.lower is not None else None
        upper = self.expr(e.upper) if e.upper is not None else None
        step = self.expr(e.step) if e.step is not None else None
        return _at(py.Slice(lower, upper, step), self.w)

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
        return _at(py.BinOp(left, _BIN[e.op](), right), self.w)

    def _dana_add_inline(self, e: A.BinOp, left: py.expr, right: py.expr) -> py.expr:
        """Dana's `+` inside an expression. `x + 1` (a local and a number) only differs from
        Python's when `x` is a string, so it is tested inline instead of calling the helper."""
        w = self.w
        for number, other in ((e.right, e.left), (e.left, e.right)):
            if (
                isinstance(number, A.Constant)
                and type(number.value) in (int, float)
                and isinstance(other, A.Name)
                and other.scope is None
                and self.ctx.resolves(other.id)
            ):
                kind = _at(py.Attribute(_load(other.id, w), "__class__", LOAD), w)
                test = _at(py.Compare(kind, [py.IsNot()], [_load(H_PYSTR, w)]), w)
                plain = _at(py.BinOp(left, py.Add(), right), w)
                helper = _call(H_ADD, w, self.expr(e.left), self.expr(e.right))
                return _at(py.IfExp(test, plain, helper), w)
        return _call(H_ADD, w, left, right)

    def e_UnaryOp(self, e: A.UnaryOp) -> py.expr:
        w = self.w
        if e.op == "not":
            return _at(py.UnaryOp(py.Not(), self.expr(e.operand)), w)
        if (
            e.op == "-"
            and isinstance(e.operand, A.Constant)
            and type(e.operand.value) in (int, float)
        ):
            return _const(-e.operand.value, w)
        op = py.USub() if e.op == "-" else py.UAdd()
        return _at(py.UnaryOp(op, self.expr(e.operand)), w)

    def e_BoolOp(self, e: A.BoolOp) -> py.expr:
        op = py.And() if e.op == "and" else py.Or()
        return _at(py.BoolOp(op, [self.expr(v) for v in e.values]), self.w)

    def e_Compare(self, e: A.Compare) -> py.expr:
        left = self.expr(e.left)
        comparators = [self.expr(c) for c in e.comparators]
        return _at(py.Compare(left, [_CMP[o]() for o in e.ops], comparators), self.w)

    def e_IfExp(self, e: A.IfExp) -> py.expr:
        test, body, orelse = self.expr(e.test), self.expr(e.body), self.expr(e.orelse)
        return _at(py.IfExp(test, body, orelse), self.w)

    def e_AugAssignExpr(self, e: A.AugAssignExpr) -> py.expr:
        """`(x += v)` as an expression: a walrus for names, a helper for items and fields."""
        w = self.w
        target = e.target
        value = self.expr(e.value)
        if isinstance(target, A.Name) and target.scope in (None, "local"):
            current = self.expr(target)
            combined: py.expr = (
                _call(H_ADD, w, current, value)
                if e.op == "+"
                else _at(py.BinOp(current, _BIN[e.op](), value), w)
            )
            return _at(py.NamedExpr(_store(target.id, w), combined), w)
        op = _const(e.op, w)
        if isinstance(target, A.Name):
            scope = SCOPE_DICTS[target.scope or ""]  # a scoped name (unscoped ones are above)
            return _call(H_AUG_ITEM, w, _load(scope, w), _const(target.id, w), op, value)
        if isinstance(target, A.Subscript):
            return _call(
                H_AUG_ITEM, w, self.expr(target.value), self._index(target.index), op, value
            )
        assert isinstance(target, A.Attribute)
        return _call(H_AUG_ATTR, w, self.expr(target.value), _const(target.attr, w), op, value)

    def e_Captured(self, e: A.Captured) -> py.expr:
        raise self.error("'as' captures are only allowed on pipeline stages", e.span)

    def e_Placeholder(self, e: A.Placeholder) -> py.expr:
        if self._placeholder is None:
            raise self.error("'$$' can only be used inside a pipeline stage", e.span)
        return self._placeholder


Compiler._expr_methods = _method_table(Compiler, "e_")
Compiler._stmt_methods = _method_table(Compiler, "s_")
