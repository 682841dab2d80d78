"""Compiling declarative functions: `def f(x) = g | h(1) as y | [a, b]` (spec §8.5).

A mixin of the compiler: each stage becomes a call on the value flowing
through (`__dana_pv`), `as` captures become locals visible to later stages,
and `$$` is the current value. A definition that is a single call stage is an
ordinary call that `case` can see the arguments of.
"""

from __future__ import annotations

import ast as py
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dana_poet.lang import ast as A
from dana_poet.lang.analysis import uses_placeholder, walk
from dana_poet.lang.helpers import H_PIPE_ARGS, H_STAGE
from dana_poet.lang.pyast import LOAD, Where, at, call, load, no_args, store

CURRENT = "__dana_pv"

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from dana_poet.lang.compiler import _Context


class PipelineCompiler:
    _pipe_captures: set[str]
    _placeholder: py.expr | None
    w: Where  # the position of the nodes being made (see Compiler)

    if TYPE_CHECKING:  # provided by the Compiler this is mixed into
        ctx: _Context

        def expr(self, e: A.Expr) -> py.expr: ...
        def type_expr(self, t: A.TypeExpr) -> py.expr: ...
        def _arguments(self, params: tuple[A.Param, ...]) -> py.arguments: ...
        def _decorators(self, decorators: tuple[A.Decorator, ...]) -> list[py.expr]: ...
        def placed(self, span: A.Span) -> AbstractContextManager[None]: ...
        def scope(
            self, kind: str, names: set[str], track_last: bool = False
        ) -> AbstractContextManager[_Context]: ...

    @contextmanager
    def _pipeline_scope(self, params: list[str]) -> Iterator[None]:
        saved = self._pipe_captures
        self._pipe_captures = set()
        try:
            with self.scope("function", set(params)):
                yield
        finally:
            self._pipe_captures = saved

    @contextmanager
    def _flowing(self, value: py.expr | None) -> Iterator[None]:
        """`$$` means `value` while compiling one stage's arguments."""
        saved = self._placeholder
        self._placeholder = value
        try:
            yield
        finally:
            self._placeholder = saved

    def s_DeclarativeDef(self, s: A.DeclarativeDef) -> list[py.stmt]:
        w = self.w
        args = self._arguments(s.params)
        returns = self.type_expr(s.returns) if s.returns is not None else None
        decorators = self._decorators(s.decorators)
        param_names = [p.name for p in s.params]
        with self._pipeline_scope(param_names):
            body = self._pipeline_body(s, param_names)
        return [at(py.FunctionDef(s.name, args, body, decorators, returns, None), w)]

    def _pipeline_body(self, s: A.DeclarativeDef, params: list[str]) -> list[py.stmt]:
        w = self.w
        if len(s.stages) == 1 and isinstance(s.stages[0], A.ExprStage):
            with self.placed(s.stages[0].span):
                return [at(py.Return(self.expr(s.stages[0].expr)), self.w)]
        only = s.stages[0]
        if (
            len(s.stages) == 1
            and isinstance(only, A.StageCall)
            and only.args is not None
            and not uses_placeholder(only.args)
        ):  # `def f(x) = g(10)` is an ordinary call; `def f(x) = g($$, 10)` feeds x in
            packed = at(py.Tuple([load(p, w) for p in params], LOAD), w)
            thunk = at(py.Lambda(no_args(), self._stage_call(only, None)), w)
            return [at(py.Return(call(H_PIPE_ARGS, w, packed, thunk)), w)]
        out: list[py.stmt] = []
        for i, stage in enumerate(s.stages):
            with self.placed(stage.span):
                sw = self.w
                inputs: list[py.expr] = (
                    [load(p, sw) for p in params] if i == 0 else [load(CURRENT, sw)]
                )
                value = self._stage(stage, inputs)
                out.append(at(py.Assign([store(CURRENT, sw)], value), sw))
            if stage.capture:
                out.append(at(py.Assign([store(stage.capture, w)], load(CURRENT, w)), w))
                self._capture(stage.capture)
        out.append(at(py.Return(load(CURRENT, w)), w))
        return out

    def _capture(self, name: str) -> None:
        self._pipe_captures.add(name)
        self.ctx.locals.add(name)

    def _stage(self, stage: A.Stage, inputs: list[py.expr]) -> py.expr:
        if isinstance(stage, A.ParallelStage):
            w = self.w
            members: list[py.expr] = []
            for sub in stage.stages:
                value = self._stage(sub, inputs)
                if sub.capture:  # `[f as a, g]`: the member's own result is captured
                    value = at(py.NamedExpr(store(sub.capture, w), value), w)
                    self._capture(sub.capture)
                members.append(value)
            return at(py.List(members, LOAD), w)
        assert isinstance(stage, A.StageCall)
        return self._stage_call(stage, inputs)

    def _stage_func(self, stage: A.StageCall) -> py.expr:
        w = self.w
        parts = stage.func.split(".")
        func = self.expr(A.Name(parts[0], None, stage.span))
        for part in parts[1:]:
            func = at(py.Attribute(func, part, LOAD), w)
        return func

    def _stage_call(self, stage: A.StageCall, inputs: list[py.expr] | None) -> py.expr:
        with self.placed(stage.span):
            w = self.w
            func = self._stage_func(stage)
            if stage.args is None:
                # a named stage gets the value(s) flowing in, as many as it accepts
                return call(H_STAGE, w, func, *(inputs or []))
            written: tuple[Any, ...] = stage.args + tuple(k.value for k in stage.keywords)
            feeds_placeholder = uses_placeholder(written)
            uses_capture = any(
                isinstance(n, A.Name) and n.scope is None and n.id in self._pipe_captures
                for n in walk(written)
            )
            with self._flowing(inputs[0] if inputs else None):
                args = [self.expr(a) for a in stage.args]
                keywords = [at(py.keyword(k.name, self.expr(k.value)), w) for k in stage.keywords]
            if inputs is not None and not feeds_placeholder and not uses_capture:
                args = list(inputs) + args
            return at(py.Call(func, args, keywords), w)
