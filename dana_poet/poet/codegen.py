"""Stage code for a @poet function: from an LLM when configured, from templates otherwise.

What the LLM returns is untrusted and goes through a chain: parse with our
grammar -> safety check -> compile -> smoke test; one repair round with the
exact errors; then fallbacks Dana -> Python (AST allow-list, restricted
builtins) -> template -> original function. Each step is recorded in the
metadata (`language`, `generator`, `fallback_used`, `attempts`, `errors`,
`generation_ms`). Results are cached by content (poet/cache.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dana_poet import __version__
from dana_poet.poet import cache
from dana_poet.poet.safety import (
    STAGE_HELPERS,
    check_dana_stage_code,
    check_python_stage_code,
    restricted_builtins,
)

TEMPLATE_ID = "template-v1"
SMOKE_TIMEOUT = 2.0


@dataclass(frozen=True)
class ParamSpec:
    name: str
    annotation: str | None = None
    default: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: tuple[ParamSpec, ...]
    returns: str | None
    docstring: str | None
    source: str
    language: str = "dana"
    domain: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageCode:
    source: str
    language: str
    metadata: dict[str, Any]


def cache_key(spec: FunctionSpec, generator_id: str) -> str:
    blob = json.dumps(
        [spec.source, spec.config, spec.domain, __version__, generator_id],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# ------------------------------------------------------------------ template generator


def _domain_notes(domain: str | None) -> tuple[list[str], list[str]]:
    if not domain:
        return [], []
    try:
        from dana_poet.poet.domains import get_domain

        d = get_domain(domain)
    except Exception:  # noqa: BLE001 - notes are decoration; generation never fails on them
        return [], []
    if d is None:
        return [], []
    coercers = [f"{c.name} (parameters matching /{c.pattern}/)" for c in d.coercers]
    rules = [f"{r.name}: {r.description}" for r in d.output_rules]
    return coercers, rules


def template_stage_code(spec: FunctionSpec) -> str:
    """Deterministic stage code from the signature and domain, in the LLM's format."""
    names = [p.name for p in spec.params]
    params = ", ".join(names)
    coercers, rules = _domain_notes(spec.domain)
    lines = [f"def perceive({params}):"]
    lines.append(
        f'    """Perceive for {spec.name}(): turn each argument into what the signature asks for."""'
    )
    if coercers:
        lines.append(f"    # domain {spec.domain} adds: " + "; ".join(coercers))
    for p in spec.params:
        note = f"  # -> {p.annotation}" if p.annotation else "  # no annotation: passed through"
        lines.append(f'    {p.name} = coerce({p.name}, "{p.name}"){note}')
    mapping = ", ".join(f'"{n}": {n}' for n in names)
    lines.append(f"    return {{{mapping}}}")
    lines.append("")
    enforce_params = ", ".join(["result", *names])
    lines.append(f"def enforce({enforce_params}):")
    lines.append(
        f'    """Enforce for {spec.name}(): check the result before the caller sees it."""'
    )
    if rules:
        lines.append(f"    # domain {spec.domain} rules: " + "; ".join(rules))
    target = spec.returns or "any"
    lines.append(f"    result = check_output(result)  # return type: {target}")
    lines.append("    return result")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ validation


def _sample_for(annotation: str | None, default: str | None) -> Any:
    base = (annotation or "").split("[", 1)[0].split("|", 1)[0].strip()
    table = {
        "int": 1,
        "float": 1.0,
        "str": "text",
        "bool": True,
        "list": [],
        "dict": {},
        "tuple": (),
        "set": set(),
    }
    if base in table:
        return table[base]
    if default is not None:
        try:
            return json.loads(default.replace("true", "true").replace("null", "null"))
        except ValueError:
            return None
    return None


def _permissive_helpers() -> dict[str, Any]:
    from dana_poet.poet.errors import POETOutputError

    def fail(rule: Any, message: Any = "") -> Any:
        raise POETOutputError(f"{rule}: {message}", rule=str(rule))

    return {"coerce": lambda value, name: value, "check_output": lambda value: value, "fail": fail}


def _run_with_deadline(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from dana_poet.poet.config import POETConfig
    from dana_poet.poet.operate import Operator

    return Operator("smoke test", POETConfig(timeout=SMOKE_TIMEOUT, retries=0)).run(
        fn, args, kwargs
    )


def _smoke(perceive: Any, enforce: Any, spec: FunctionSpec) -> list[str]:
    samples = {p.name: _sample_for(p.annotation, p.default) for p in spec.params}
    errors: list[str] = []
    perceived = samples
    if perceive is None:
        errors.append("smoke test: no perceive() function")
    else:
        try:
            perceived = _run_with_deadline(perceive, **samples)
        except Exception as exc:  # noqa: BLE001 - every failure of untrusted code is a finding
            errors.append(
                f"smoke test: perceive{tuple(samples.values())!r} raised {type(exc).__name__}: {exc}"
            )
            perceived = samples
        else:
            if not isinstance(perceived, dict) or set(perceived) != set(samples):
                errors.append(
                    f"smoke test: perceive() must return a dict with keys {sorted(samples)}, got {perceived!r}"
                )
                perceived = samples
    if enforce is not None:
        result = _sample_for(spec.returns, None)
        try:
            _run_with_deadline(enforce, result, **perceived)
        except Exception as exc:  # noqa: BLE001
            errors.append(
                f"smoke test: enforce({result!r}, ...) raised {type(exc).__name__}: {exc}"
            )
    return errors


def validate_stage_code(source: str, spec: FunctionSpec) -> list[str]:
    """[] when the Dana stage code parses, is safe, compiles and passes its smoke test."""
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.parser import parse
    from dana_poet.lang.runtime import Program

    filename = f"<dana-stages:{spec.name}>"
    try:
        module = parse(source, filename)
    except DanaSyntaxError as exc:
        return [f"parse error: {exc.render()}"]
    errors = check_dana_stage_code(module)
    if errors:
        return errors
    program = Program()
    program.builtins.update(_permissive_helpers())
    try:
        from dana_poet.poet import errors as poet_errors

        program.builtins.update(
            {n: getattr(poet_errors, n) for n in dir(poet_errors) if n.startswith("POET")}
        )
        g = program.new_globals(filename, "stages")
        program.run_source(source, filename, g)
    except DanaSyntaxError as exc:
        return [f"compile error: {exc.render()}"]
    except Exception as exc:  # noqa: BLE001
        return [f"compile error: {type(exc).__name__}: {exc}"]
    return _smoke(g.get("perceive"), g.get("enforce"), spec)


def load_python_stages(source: str) -> Any:
    """A stage factory from admitted Python stage code (run with restricted builtins)."""
    problems = check_python_stage_code(source)
    if problems:
        raise ValueError("; ".join(problems))
    code = compile(source, "<python-stages>", "exec")

    def factory(coerce: Any, check_output: Any, fail: Any) -> list[Any]:
        g: dict[str, Any] = {
            "__builtins__": restricted_builtins(),
            "coerce": coerce,
            "check_output": check_output,
            "fail": fail,
        }
        exec(code, g)  # noqa: S102 - admitted through the allow-list above
        return [g.get("perceive"), g.get("enforce")]

    return factory


def validate_python_stage_code(source: str, spec: FunctionSpec) -> list[str]:
    problems = check_python_stage_code(source)
    if problems:
        return problems
    try:
        perceive, enforce = load_python_stages(source)(*_permissive_helpers().values())
    except Exception as exc:  # noqa: BLE001
        return [f"compile error: {type(exc).__name__}: {exc}"]
    return _smoke(perceive, enforce, spec)


# ------------------------------------------------------------------ LLM generator


CONTRACT = """Write stage code in Dana (Python-like syntax; lambdas are `lambda x :: x * 2`; true/false/null).
Return JSON: {"stage_code": "<Dana source>", "notes": "<one line>"}.
The stage code holds exactly these top-level functions:
- def perceive(<the function's parameters, same names and order>): return a dict from each parameter name to the value to call the function with. Use coerce(value, "param_name") to convert a value to the parameter's declared type (it understands currency, K/M suffixes, percentages, units, bool words and the domain's vocabulary); add your own normalisation where the function's purpose calls for it.
- def enforce(result, <the function's parameters>): return the result after check_output(result) (coerces to the return type and applies the domain's rules); call fail("rule_name", "message") when the result breaks a rule you can justify from the function's purpose.
Only these names exist: the parameters, your local variables, coerce, check_output, fail, and the builtins len str int float bool list dict abs min max round sum sorted range isinstance type any all zip enumerate map filter.
No imports, no names or attributes starting with '_', no private:/public:/system: scopes, no file, network or system access."""


def _prompt(spec: FunctionSpec) -> list[dict[str, str]]:
    hints = ""
    if spec.domain:
        try:
            from dana_poet.poet.domains import get_domain

            d = get_domain(spec.domain)
            hints = d.prompt_hints if d is not None else ""
        except Exception:  # noqa: BLE001
            hints = ""
    signature = ", ".join(
        p.name
        + (f": {p.annotation}" if p.annotation else "")
        + (f" = {p.default}" if p.default else "")
        for p in spec.params
    )
    user = (
        f"Function `{spec.name}({signature})"
        + (f" -> {spec.returns}" if spec.returns else "")
        + "`\n"
        f"Domain: {spec.domain or 'none'}. Domain hints: {hints or 'none'}\n"
        f"Decorator config: {json.dumps(spec.config, default=str)}\n"
        f"Docstring: {spec.docstring or 'none'}\n\nSource:\n{spec.source}\n"
    )
    return [{"role": "system", "content": CONTRACT}, {"role": "user", "content": user}]


def _llm_chain(spec: FunctionSpec, metadata: dict[str, Any]) -> StageCode | None:
    from dana_poet.poet import llm

    messages = _prompt(spec)
    errors: list[str] = metadata["errors"]
    for attempt in (1, 2):
        metadata["attempts"] = attempt
        try:
            answer = llm.parse_stage_answer(llm.chat(messages))
        except llm.LLMUnavailable as exc:
            errors.append(f"dana attempt {attempt}: {exc}")
            return None
        problems = validate_stage_code(answer.stage_code, spec)
        if not problems:
            metadata["notes"] = answer.notes
            return StageCode(answer.stage_code, "dana", metadata)
        errors.extend(f"dana attempt {attempt}: {p}" for p in problems)
        messages = messages + [
            {"role": "assistant", "content": json.dumps({"stage_code": answer.stage_code})},
            {
                "role": "user",
                "content": "That stage code was rejected:\n"
                + "\n".join(problems)
                + "\nFix it and answer again in the same JSON format.",
            },
        ]
    python_messages = _prompt(spec)
    python_messages[0] = {
        "role": "system",
        "content": CONTRACT.replace(
            "in Dana (Python-like syntax; lambdas are `lambda x :: x * 2`; true/false/null)",
            "in plain Python",
        ).replace("<Dana source>", "<Python source>"),
    }
    metadata["attempts"] += 1
    try:
        answer = llm.parse_stage_answer(llm.chat(python_messages))
    except llm.LLMUnavailable as exc:
        errors.append(f"python attempt: {exc}")
        return None
    problems = validate_python_stage_code(answer.stage_code, spec)
    if not problems:
        metadata["fallback_used"] = "python"
        return StageCode(answer.stage_code, "python", metadata)
    errors.extend(f"python attempt: {p}" for p in problems)
    return None


# ------------------------------------------------------------------ entry point


def generate_stage_code(
    spec: FunctionSpec, *, cache_dir: Path | None = None, generator: str = "auto"
) -> StageCode:
    from dana_poet.poet import llm

    use_llm = generator == "llm" or (generator == "auto" and llm.configured())
    generator_id = f"llm:{llm.model_name()}" if use_llm else TEMPLATE_ID
    key = cache_key(spec, generator_id)
    if cache_dir is not None:
        entry = cache.load_entry(cache_dir, key)
        if entry is not None and (
            entry.get("language") != "dana" or not entry["source"] or "def " in entry["source"]
        ):
            cache.count(cache_dir, hit=True)
            meta = dict(entry.get("metadata") or {})
            meta["cache"] = "hit"
            return StageCode(entry["source"], entry.get("language", "dana"), meta)
        cache.count(cache_dir, hit=False)
    started = time.perf_counter()
    metadata: dict[str, Any] = {
        "generator": generator_id,
        "fallback_used": None,
        "attempts": 0,
        "errors": [],
        "cache_key": key,
        "dana_poet_version": __version__,
        "cache": "miss",
    }
    result: StageCode | None = _llm_chain(spec, metadata) if use_llm else None
    if result is None:
        source = template_stage_code(spec)
        problems = validate_stage_code(source, spec)
        if use_llm:
            metadata["fallback_used"] = "template"
        if problems:
            metadata["errors"].extend(f"template: {p}" for p in problems)
            metadata["fallback_used"] = "original"
            result = StageCode("", "none", metadata)
        else:
            result = StageCode(source, "dana", metadata)
    metadata["language"] = result.language
    metadata["generation_ms"] = round((time.perf_counter() - started) * 1000, 2)
    if cache_dir is not None:
        try:
            cache.store_entry(
                cache_dir,
                key,
                {"source": result.source, "language": result.language, "metadata": metadata},
            )
        except OSError as exc:
            metadata["errors"].append(f"cache write failed: {exc}")
    return result


__all__ = [
    "STAGE_HELPERS",
    "FunctionSpec",
    "ParamSpec",
    "StageCode",
    "cache_key",
    "generate_stage_code",
    "load_python_stages",
    "template_stage_code",
    "validate_stage_code",
]
