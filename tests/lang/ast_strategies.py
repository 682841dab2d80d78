"""Hypothesis strategies for well-formed Dana ASTs (the shapes the parser can produce)."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from dana_poet.lang import ast as A

# Ordinary identifiers, including prefixes of reserved words and type names.
NAMES = [
    "a",
    "b",
    "x",
    "y",
    "n",
    "items",
    "int",
    "str",
    "not_done",
    "is_ok",
    "in_stock",
    "lambda_fn",
    "Trueish",
    "nullable",
    "ifx",
    "orx",
    "_p",
    "case",
    "Point",
]
SCOPES = [None, None, None, "private", "public", "system", "local"]
COMPARE_OPS = ["<", ">", "==", ">=", "<=", "!=", "in", "not in", "is", "is not"]
BINARY_OPS = ["+", "-", "*", "/", "//", "%", "**"]
SPEC_ALPHABET = "<>^=+- 0123456789.,_bcdeEfFgGnosxX%#"

names = st.sampled_from(NAMES)
dotted = st.lists(names, min_size=1, max_size=3).map(".".join)


def distinct_names(min_size: int = 0, max_size: int = 3) -> st.SearchStrategy[list[str]]:
    return st.lists(names, min_size=min_size, max_size=max_size, unique=True)


# ---------------------------------------------------------------- types

type_refs = st.deferred(
    lambda: st.one_of(
        st.builds(A.TypeRef, dotted),
        st.just(A.TypeRef("None")),
        st.builds(
            lambda n, args: A.TypeRef(n, tuple(args)),
            names,
            st.lists(type_exprs, min_size=1, max_size=2),
        ),
    )
)
type_exprs = st.deferred(
    lambda: st.one_of(
        type_refs,
        st.lists(type_refs, min_size=2, max_size=3).map(lambda opts: A.TypeUnion(tuple(opts))),
    )
)

# ---------------------------------------------------------------- expressions

floats = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).filter(
    lambda v: math.copysign(1.0, v) > 0
)
constants = st.one_of(
    st.integers(min_value=0, max_value=10**30),
    floats,
    st.booleans(),
    st.none(),
    st.text(max_size=8),
).map(A.Constant)
leaves = st.one_of(
    st.builds(A.Name, names, st.sampled_from(SCOPES)),
    constants,
    st.just(A.Placeholder()),
)


def _params(
    children: st.SearchStrategy[A.Expr], max_size: int = 3
) -> st.SearchStrategy[tuple[A.Param, ...]]:
    """Parameters with distinct names where no plain parameter follows a defaulted one."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[A.Param, ...]:
        chosen = draw(distinct_names(0, max_size))
        first_default = draw(st.integers(0, len(chosen)))
        out = []
        for i, name in enumerate(chosen):
            annotation = draw(st.none() | type_exprs)
            default = draw(children) if i >= first_default else None
            out.append(A.Param(name, annotation, default))
        return tuple(out)

    return build()


def _keywords(children: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[tuple[A.Keyword, ...]]:
    return distinct_names(0, 2).flatmap(
        lambda ks: st.tuples(*[st.builds(A.Keyword, st.just(k), children) for k in ks])
    )


def _merge_text(parts: list[str | A.FormattedValue]) -> tuple[str | A.FormattedValue, ...]:
    """Adjacent literal pieces are one piece after parsing; empty ones vanish."""
    out: list[str | A.FormattedValue] = []
    for p in parts:
        if isinstance(p, str):
            if not p:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += p
                continue
        out.append(p)
    return tuple(out)


def _fstrings(children: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[A.FString]:
    spec_field = st.builds(A.FormattedValue, children, st.none(), st.none())
    specs = (
        st.lists(
            st.text(SPEC_ALPHABET, min_size=1, max_size=4) | spec_field, min_size=1, max_size=3
        )
        .map(_merge_text)
        .filter(bool)
        .map(A.FString)
    )
    fields = st.builds(
        A.FormattedValue, children, st.sampled_from([None, "r", "s", "a"]), st.none() | specs
    )
    return st.lists(st.text(max_size=6) | fields, max_size=4).map(_merge_text).map(A.FString)


def _comprehensions(children: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[A.Comprehension]:
    generators = st.lists(
        st.builds(
            lambda targets, it, conds: A.CompFor(tuple(targets), it, tuple(conds)),
            distinct_names(1, 2),
            children,
            st.lists(children, max_size=2),
        ),
        min_size=1,
        max_size=2,
    ).map(tuple)
    return st.one_of(
        st.builds(A.Comprehension, st.sampled_from(["list", "set", "gen"]), children, generators),
        st.builds(lambda k, g, v: A.Comprehension("dict", k, g, v), children, generators, children),
    )


def _index_items(children: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[tuple[A.Expr, ...]]:
    optional = st.none() | children
    slices = st.builds(A.Slice, optional, optional, optional)
    return st.lists(children | slices, min_size=1, max_size=3).map(tuple)


def _extend(children: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[A.Expr]:
    some = st.lists(children, min_size=1, max_size=3).map(tuple)
    maybe = st.lists(children, max_size=3).map(tuple)
    return st.one_of(
        st.builds(A.BinOp, children, st.sampled_from(BINARY_OPS), children),
        st.builds(A.UnaryOp, st.sampled_from(["-", "+", "not"]), children),
        st.builds(
            A.BoolOp,
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=2, max_size=3).map(tuple),
        ),
        st.integers(1, 3).flatmap(
            lambda k: st.builds(
                A.Compare,
                children,
                st.lists(st.sampled_from(COMPARE_OPS), min_size=k, max_size=k).map(tuple),
                st.lists(children, min_size=k, max_size=k).map(tuple),
            )
        ),
        st.builds(A.IfExp, children, children, children),
        st.builds(
            A.Lambda,
            _params(children),
            children,
            st.none() | st.builds(A.Param, names, type_exprs),
        ),
        st.builds(A.Call, children, maybe, _keywords(children)),
        st.builds(A.Attribute, children, names),
        st.builds(A.Subscript, children, _index_items(children)),
        st.builds(A.ListExpr, maybe),
        st.builds(A.TupleExpr, maybe),
        st.builds(A.SetExpr, some),
        st.lists(st.tuples(children, children), max_size=3).map(
            lambda kv: A.DictExpr(tuple(k for k, _ in kv), tuple(v for _, v in kv))
        ),
        _comprehensions(children),
        _fstrings(children),
        st.builds(
            A.AugAssignExpr,
            st.one_of(
                st.builds(A.Name, names, st.sampled_from(SCOPES)),
                st.builds(A.Attribute, children, names),
                st.builds(A.Subscript, children, _index_items(children)),
            ),
            st.sampled_from(["+", "-", "*", "/"]),
            children,
        ),
    )


# deferred: keeps the strategies' repr short (Hypothesis renders it in reports)
expressions = st.deferred(lambda: st.recursive(leaves, _extend, max_leaves=12))
small_expressions = st.deferred(lambda: st.recursive(leaves, _extend, max_leaves=4))

# ---------------------------------------------------------------- statements

targets = st.one_of(
    st.builds(A.Name, names, st.sampled_from(SCOPES)),
    st.builds(A.Attribute, small_expressions, names),
    st.builds(A.Subscript, small_expressions, _index_items(small_expressions)),
)
stages = st.deferred(
    lambda: st.one_of(
        st.builds(
            A.StageCall,
            dotted,
            st.none() | st.lists(small_expressions, max_size=2).map(tuple),
            st.just(()),
            st.none() | names,
        ).map(lambda s: s if s.args is not None else A.StageCall(s.func, None, (), s.capture)),
        st.builds(
            A.ParallelStage, st.lists(stages, min_size=1, max_size=3).map(tuple), st.none() | names
        ),
    )
)
decorators = st.lists(
    st.builds(
        A.Decorator,
        dotted,
        st.none() | st.lists(small_expressions, max_size=2).map(tuple),
        st.just(()),
    ),
    max_size=2,
).map(tuple)
simple_statements = st.one_of(
    st.builds(A.ExprStmt, expressions),
    st.builds(A.Assign, targets, expressions, st.none() | type_exprs),
    st.builds(A.Assign, st.builds(A.Name, names), st.none(), type_exprs),
    st.builds(A.AugAssign, targets, st.sampled_from(["+", "-", "*", "/"]), expressions),
    st.sampled_from([A.Pass(), A.Break(), A.Continue(), A.Return(), A.Raise()]),
    st.builds(A.Return, expressions),
    st.builds(
        A.Return,
        st.lists(small_expressions, min_size=2, max_size=3).map(lambda e: A.TupleExpr(tuple(e))),
    ),
    st.builds(A.Raise, expressions, st.none() | expressions),
    st.builds(A.Assert, expressions, st.none() | expressions),
    st.builds(A.Import, dotted | dotted.map(lambda d: d + ".py"), st.none() | names),
    st.builds(
        A.ImportFrom,
        dotted,
        st.just(0),
        st.lists(st.tuples(names, st.none() | names), max_size=3).map(tuple),
    ),
    st.builds(
        A.ImportFrom,
        st.just("") | dotted,
        st.integers(1, 3),
        st.lists(st.tuples(names, st.none() | names), min_size=1, max_size=2).map(tuple),
    ),
    st.builds(A.AgentDecl, names, st.none() | names),
    st.builds(
        lambda n, bp, kws: A.AgentDecl(n, bp, kws, True),
        names,
        st.none() | names,
        _keywords(small_expressions),
    ),
)


def _blocks(statements: st.SearchStrategy[A.Stmt]) -> st.SearchStrategy[tuple[A.Stmt, ...]]:
    return st.lists(statements, min_size=1, max_size=3).map(tuple)


def _if_chains(block: st.SearchStrategy[tuple[A.Stmt, ...]]) -> st.SearchStrategy[A.If]:
    @st.composite
    def build(draw: st.DrawFn) -> A.If:
        elifs = draw(st.lists(st.tuples(expressions, block), max_size=2))
        orelse: tuple[A.Stmt, ...] = draw(st.just(()) | block)
        for test, body in reversed(elifs):
            orelse = (A.If(test, body, orelse, True),)
        return A.If(draw(expressions), draw(block), orelse)

    return build()


def _functions(block: st.SearchStrategy[tuple[A.Stmt, ...]]) -> st.SearchStrategy[A.FunctionDef]:
    return st.builds(
        A.FunctionDef,
        names,
        _params(small_expressions),
        block,
        st.none() | type_exprs,
        decorators,
        st.none() | st.builds(A.Param, names, type_exprs),
        st.booleans(),
    )


def _try(block: st.SearchStrategy[tuple[A.Stmt, ...]]) -> st.SearchStrategy[A.Try]:
    handler = st.builds(A.ExceptHandler, st.none() | small_expressions, st.none() | names, block)

    @st.composite
    def build(draw: st.DrawFn) -> A.Try:
        handlers = tuple(draw(st.lists(handler, max_size=2)))
        finalbody = draw(block) if not handlers else draw(st.just(()) | block)
        return A.Try(draw(block), handlers, draw(st.just(()) | block), finalbody)

    return build()


def _type_decls(block: st.SearchStrategy[tuple[A.Stmt, ...]]) -> st.SearchStrategy[A.TypeDecl]:
    @st.composite
    def build(draw: st.DrawFn) -> A.TypeDecl:
        kind = draw(st.sampled_from(["struct", "resource", "agent_blueprint", "workflow"]))
        fields = tuple(
            A.FieldDecl(n, draw(type_exprs), draw(st.none() | small_expressions))
            for n in draw(distinct_names(0, 3))
        )
        methods = tuple(
            f for f in draw(st.lists(_functions(block), max_size=1)) if not f.decorators
        )
        base = draw(st.none() | names) if kind == "agent_blueprint" else None
        return A.TypeDecl(
            kind, draw(names), fields, draw(st.none() | st.text(max_size=6)), methods, base
        )

    return build()


interfaces = st.builds(
    A.InterfaceDecl,
    names,
    st.lists(
        st.builds(A.InterfaceMethod, names, _params(small_expressions), st.none() | type_exprs),
        max_size=2,
    ).map(tuple),
    st.lists(names, max_size=2).map(tuple),
    st.none() | st.text(max_size=6),
)
declarative_defs = st.builds(
    A.DeclarativeDef,
    names,
    _params(small_expressions),
    st.lists(stages, min_size=1, max_size=3).map(tuple),
    st.none() | type_exprs,
    decorators,
    st.booleans(),
)


def _compound(statements: st.SearchStrategy[A.Stmt]) -> st.SearchStrategy[A.Stmt]:
    block = _blocks(statements)
    return st.one_of(
        _if_chains(block),
        st.builds(A.While, expressions, block),
        st.builds(A.For, distinct_names(1, 3).map(tuple), expressions, block),
        _try(block),
        st.builds(
            A.With,
            st.lists(
                st.builds(A.WithItem, small_expressions, st.none() | names), min_size=1, max_size=2
            ).map(tuple),
            block,
        ),
        _functions(block),
        _type_decls(block),
    )


statements = st.deferred(
    lambda: st.recursive(
        st.one_of(simple_statements, declarative_defs, interfaces), _compound, max_leaves=6
    )
)
modules = st.lists(statements, max_size=4).map(lambda body: A.Module(tuple(body)))
