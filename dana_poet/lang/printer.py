"""AST -> Dana source, so that parse(to_source(parse(s))) == parse(s).

Parentheses are added only where precedence needs them; strings are quoted
with escapes (Dana strings process escapes as Python does).
"""

from __future__ import annotations

from typing import Any

from dana_poet.lang import ast as A

_LAMBDA, _IFEXP, _OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _POW, _POSTFIX, _ATOM = range(12)
_BIN_PREC = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "//": _MUL, "%": _MUL, "**": _POW}
INDENT = "    "


def _quote(text: str) -> str:
    return repr(text) if "'" in text and '"' not in text else '"' + repr(text)[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'


def _fstring_part(text: str) -> str:
    body = repr(text)[1:-1].replace('"', '\\"').replace("\\'", "'")
    return body.replace("{", "{{").replace("}", "}}")


def _prec(e: A.Expr) -> int:
    if isinstance(e, A.Lambda):
        return _LAMBDA
    if isinstance(e, A.IfExp):
        return _IFEXP
    if isinstance(e, A.BoolOp):
        return _OR if e.op == "or" else _AND
    if isinstance(e, A.UnaryOp):
        return _NOT if e.op == "not" else _UNARY
    if isinstance(e, A.Compare):
        return _CMP
    if isinstance(e, A.BinOp):
        return _BIN_PREC[e.op]
    if isinstance(e, A.Call | A.Attribute | A.Subscript):
        return _POSTFIX
    if isinstance(e, A.Constant) and isinstance(e.value, int | float) and not isinstance(e.value, bool) and e.value < 0:
        return _UNARY
    return _ATOM


def _wrap(e: A.Expr, minimum: int) -> str:
    text = expr(e)
    return f"({text})" if _prec(e) < minimum else text


def _type(t: A.TypeExpr) -> str:
    if isinstance(t, A.TypeUnion):
        return " | ".join(_type(o) for o in t.options)
    if t.args:
        return f"{t.name}[{', '.join(_type(a) for a in t.args)}]"
    return t.name


def _param(p: A.Param) -> str:
    out = p.name
    if p.annotation is not None:
        out += f": {_type(p.annotation)}"
    if p.default is not None:
        out += f" = {_wrap(p.default, _IFEXP)}"
    return out


def _args(args: tuple[A.Expr, ...], keywords: tuple[A.Keyword, ...]) -> str:
    parts = [_wrap(a, _LAMBDA) for a in args] + [f"{k.name}={_wrap(k.value, _LAMBDA)}" for k in keywords]
    return ", ".join(parts)


def _comp(gens: tuple[A.CompFor, ...]) -> str:
    out = []
    for g in gens:
        targets = ", ".join(g.targets)
        out.append(f"for {targets} in {_wrap(g.iter, _OR)}")
        out.extend(f"if {_wrap(c, _OR)}" for c in g.conditions)
    return " ".join(out)


def expr(e: A.Expr) -> str:
    if isinstance(e, A.Name):
        return f"{e.scope}:{e.id}" if e.scope else e.id
    if isinstance(e, A.Constant):
        v = e.value
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, str):
            return _quote(v)
        if isinstance(v, float):
            text = repr(v)
            return text if text not in ("inf", "-inf", "nan") else f"float({text!r})"
        return repr(v)
    if isinstance(e, A.FString):
        return 'f"' + "".join(_fpart(p) for p in e.parts) + '"'
    if isinstance(e, A.ListExpr):
        return "[" + ", ".join(_wrap(x, _LAMBDA) for x in e.elts) + "]"
    if isinstance(e, A.TupleExpr):
        if len(e.elts) == 1:
            return f"({_wrap(e.elts[0], _LAMBDA)},)"
        return "(" + ", ".join(_wrap(x, _LAMBDA) for x in e.elts) + ")"
    if isinstance(e, A.SetExpr):
        return "{" + ", ".join(_wrap(x, _LAMBDA) for x in e.elts) + "}"
    if isinstance(e, A.DictExpr):
        items = [f"{_wrap(k, _LAMBDA)}: {_wrap(v, _LAMBDA)}" for k, v in zip(e.keys, e.values, strict=True)]
        return "{" + ", ".join(items) + "}"
    if isinstance(e, A.Comprehension):
        gens = _comp(e.generators)
        if e.kind == "dict":
            return f"{{({_wrap(e.element, _LAMBDA)}: {_wrap(e.value, _LAMBDA)}) {gens}}}"  # type: ignore[arg-type]
        element = _wrap(e.element, _OR)
        return {"list": f"[{element} {gens}]", "set": f"{{{element} {gens}}}", "gen": f"({element} {gens})"}[e.kind]
    if isinstance(e, A.Lambda):
        head = "lambda"
        if e.receiver is not None:
            head += f" ({_param(e.receiver)})"
        if e.params:
            head += " " + ", ".join(_param(p) for p in e.params)
        return f"{head} :: {_wrap(e.body, _LAMBDA)}"
    if isinstance(e, A.Call):
        return f"{_wrap(e.func, _POSTFIX)}({_args(e.args, e.keywords)})"
    if isinstance(e, A.Attribute):
        base = _wrap(e.value, _POSTFIX)
        if isinstance(e.value, A.Constant) and isinstance(e.value.value, int) and not isinstance(e.value.value, bool):
            base = f"({base})"
        return f"{base}.{e.attr}"
    if isinstance(e, A.Subscript):
        return f"{_wrap(e.value, _POSTFIX)}[{', '.join(_index(i) for i in e.index)}]"
    if isinstance(e, A.Slice):
        return _index(e)
    if isinstance(e, A.BinOp):
        p = _BIN_PREC[e.op]
        if e.op == "**":
            return f"{_wrap(e.left, _POSTFIX)} ** {_wrap(e.right, _UNARY)}"
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, A.UnaryOp):
        if e.op == "not":
            return f"not {_wrap(e.operand, _NOT)}"
        inner = _wrap(e.operand, _UNARY)
        if inner.startswith(("-", "+")):
            inner = f"({inner})"
        return f"{e.op}{inner}"
    if isinstance(e, A.BoolOp):
        p = _OR if e.op == "or" else _AND
        return f" {e.op} ".join(_wrap(v, p + 1) for v in e.values)
    if isinstance(e, A.Compare):
        parts = [_wrap(e.left, _ADD)]
        for op, right in zip(e.ops, e.comparators, strict=True):
            parts.append(f"{op} {_wrap(right, _ADD)}")
        return " ".join(parts)
    if isinstance(e, A.IfExp):
        return f"{_wrap(e.body, _OR)} if {_wrap(e.test, _OR)} else {_wrap(e.orelse, _IFEXP)}"
    if isinstance(e, A.Placeholder):
        return "$$"
    raise TypeError(f"cannot print {type(e).__name__}")


def _index(i: A.Expr) -> str:
    if isinstance(i, A.Slice):
        out = (expr(i.lower) if i.lower else "") + ":" + (expr(i.upper) if i.upper else "")
        if i.step is not None:
            out += ":" + expr(i.step)
        return out
    return _wrap(i, _LAMBDA)


def _fpart(p: str | A.FormattedValue) -> str:
    if isinstance(p, str):
        return _fstring_part(p)
    inner = expr(p.value).replace('"', "'")
    if inner.startswith("{"):
        inner = " " + inner
    out = "{" + inner
    if p.conversion:
        out += "!" + p.conversion
    if p.format_spec is not None:
        out += ":" + "".join(_fpart(x) for x in p.format_spec.parts)
    return out + "}"


def _stage(s: A.Stage) -> str:
    if isinstance(s, A.ParallelStage):
        text = "[" + ", ".join(_stage(x) for x in s.stages) + "]"
    else:
        text = s.func if s.args is None else f"{s.func}({_args(s.args, s.keywords)})"
    return text + (f" as {s.capture}" if s.capture else "")


def _decorators(decorators: tuple[A.Decorator, ...], pad: str) -> list[str]:
    out = []
    for d in decorators:
        if d.args is None:
            out.append(f"{pad}@{d.name}")
        else:
            out.append(f"{pad}@{d.name}({_args(d.args, d.keywords)})")
    return out


def _block(body: tuple[A.Stmt, ...], depth: int) -> list[str]:
    out: list[str] = []
    for s in body or (A.Pass(),):
        out.extend(stmt_lines(s, depth))
    return out


def stmt_lines(s: A.Stmt, depth: int = 0) -> list[str]:
    pad = INDENT * depth
    if isinstance(s, A.ExprStmt):
        return [pad + expr(s.value)]
    if isinstance(s, A.Assign):
        target = expr(s.target)
        if s.annotation is not None:
            text = f"{target}: {_type(s.annotation)}"
            return [pad + text + (f" = {expr(s.value)}" if s.value is not None else "")]
        return [f"{pad}{target} = {expr(s.value)}"]  # type: ignore[arg-type]
    if isinstance(s, A.AugAssign):
        return [f"{pad}{expr(s.target)} {s.op}= {expr(s.value)}"]
    if isinstance(s, A.Pass):
        return [pad + "pass"]
    if isinstance(s, A.Break):
        return [pad + "break"]
    if isinstance(s, A.Continue):
        return [pad + "continue"]
    if isinstance(s, A.Return):
        if s.value is None:
            return [pad + "return"]
        if isinstance(s.value, A.TupleExpr) and len(s.value.elts) > 1:
            return [pad + "return " + ", ".join(_wrap(x, _LAMBDA) for x in s.value.elts)]
        return [pad + "return " + expr(s.value)]
    if isinstance(s, A.Raise):
        text = "raise"
        if s.exc is not None:
            text += " " + expr(s.exc)
        if s.cause is not None:
            text += " from " + expr(s.cause)
        return [pad + text]
    if isinstance(s, A.Assert):
        return [pad + "assert " + expr(s.test) + (f", {expr(s.msg)}" if s.msg is not None else "")]
    if isinstance(s, A.If):
        out = [f"{pad}{'elif' if s.is_elif and False else 'if'} {expr(s.test)}:"] + _block(s.body, depth + 1)
        orelse = s.orelse
        while len(orelse) == 1 and isinstance(orelse[0], A.If) and orelse[0].is_elif:
            branch = orelse[0]
            out += [f"{pad}elif {expr(branch.test)}:"] + _block(branch.body, depth + 1)
            orelse = branch.orelse
        if orelse:
            out += [f"{pad}else:"] + _block(orelse, depth + 1)
        return out
    if isinstance(s, A.While):
        return [f"{pad}while {expr(s.test)}:"] + _block(s.body, depth + 1)
    if isinstance(s, A.For):
        return [f"{pad}for {', '.join(s.targets)} in {expr(s.iter)}:"] + _block(s.body, depth + 1)
    if isinstance(s, A.Try):
        out = [pad + "try:"] + _block(s.body, depth + 1)
        for h in s.handlers:
            head = "except"
            if h.type is not None:
                head += " " + expr(h.type)
            if h.name:
                head += f" as {h.name}"
            out += [pad + head + ":"] + _block(h.body, depth + 1)
        if s.orelse:
            out += [pad + "else:"] + _block(s.orelse, depth + 1)
        if s.finalbody:
            out += [pad + "finally:"] + _block(s.finalbody, depth + 1)
        return out
    if isinstance(s, A.With):
        items = ", ".join(expr(i.context) + (f" as {i.name}" if i.name else "") for i in s.items)
        return [f"{pad}with {items}:"] + _block(s.body, depth + 1)
    if isinstance(s, A.FunctionDef):
        head = "sync def " if s.is_sync else "def "
        if s.receiver is not None:
            head += f"({_param(s.receiver)}) "
        head += f"{s.name}({', '.join(_param(p) for p in s.params)})"
        if s.returns is not None:
            head += f" -> {_type(s.returns)}"
        return _decorators(s.decorators, pad) + [pad + head + ":"] + _block(s.body, depth + 1)
    if isinstance(s, A.DeclarativeDef):
        head = "sync def " if s.is_sync else "def "
        head += f"{s.name}({', '.join(_param(p) for p in s.params)})"
        if s.returns is not None:
            head += f" -> {_type(s.returns)}"
        return _decorators(s.decorators, pad) + [pad + head + " = " + " | ".join(_stage(x) for x in s.stages)]
    if isinstance(s, A.TypeDecl):
        out = [f"{pad}{s.kind} {s.name}" + (f"({s.base})" if s.base else "") + ":"]
        inner = pad + INDENT
        if s.docstring is not None:
            out.append(inner + _quote(s.docstring))
        for f in s.fields:
            out.append(f"{inner}{f.name}: {_type(f.annotation)}" + (f" = {expr(f.default)}" if f.default is not None else ""))
        for m in s.methods:
            out += stmt_lines(m, depth + 1)
        if len(out) == 1:
            out.append(inner + "pass")
        return out
    if isinstance(s, A.AgentDecl):
        head = f"{pad}agent {s.name}" + (f"({s.blueprint})" if s.blueprint else "")
        if not s.has_block:
            return [head]
        return [head + ":"] + [f"{pad}{INDENT}{k.name} = {expr(k.value)}" for k in s.overrides]
    if isinstance(s, A.InterfaceDecl):
        out = [f"{pad}interface {s.name}:"]
        inner = pad + INDENT
        if s.docstring is not None:
            out.append(inner + _quote(s.docstring))
        for m in s.methods:
            out.append(f"{inner}{m.name}({', '.join(_param(p) for p in m.params)})" + (f" -> {_type(m.returns)}" if m.returns is not None else ""))
        out += [inner + e for e in s.embeds]
        if len(out) == 1:
            out.append(inner + "pass")
        return out
    if isinstance(s, A.Import):
        return [f"{pad}import {s.module}" + (f" as {s.alias}" if s.alias else "")]
    if isinstance(s, A.ImportFrom):
        names = "*" if not s.names else ", ".join(n + (f" as {a}" if a else "") for n, a in s.names)
        return [f"{pad}from {'.' * s.level}{s.module} import {names}"]
    raise TypeError(f"cannot print {type(s).__name__}")


def to_source(node: Any) -> str:
    """Dana source for a module, statement, expression or type."""
    if isinstance(node, A.Module):
        return "\n".join(line for s in node.body for line in stmt_lines(s)) + "\n"
    if isinstance(node, A.Stmt):
        return "\n".join(stmt_lines(node)) + "\n"
    if isinstance(node, A.TypeRef | A.TypeUnion):
        return _type(node)
    return expr(node)


def dump_ast(module: A.Module) -> str:
    """An indented view of the tree, for `dana-poet parse --ast`."""
    lines: list[str] = []

    def walk(value: Any, depth: int, label: str = "") -> None:
        pad = "  " * depth
        prefix = f"{label}=" if label else ""
        if isinstance(value, A.Node):
            span = getattr(value, "span", None)
            where = f"  @{span.line}:{span.column}" if span is not None and span.line else ""
            simple = {
                s: getattr(value, s)
                for s in value.__slots__  # type: ignore[attr-defined]
                if s != "span" and not isinstance(getattr(value, s), A.Node | tuple)
            }
            attrs = " ".join(f"{k}={v!r}" for k, v in simple.items())
            lines.append(f"{pad}{prefix}{type(value).__name__}{(' ' + attrs) if attrs else ''}{where}")
            for s in value.__slots__:  # type: ignore[attr-defined]
                child = getattr(value, s)
                if s != "span" and isinstance(child, A.Node | tuple) and child != ():
                    walk(child, depth + 1, s)
        elif isinstance(value, tuple):
            lines.append(f"{pad}{prefix}[")
            for item in value:
                walk(item, depth + 1)
            lines.append(f"{pad}]")
        else:
            lines.append(f"{pad}{prefix}{value!r}")

    for s in module.body:
        walk(s, 0)
    return "\n".join(lines)
