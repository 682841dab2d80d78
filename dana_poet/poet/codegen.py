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
from dana_poet.poet import cache, policy
from dana_poet.poet.policy import STAGE_HELPERS

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
            return json.loads(default)
        except ValueError:
            return None
    return None


def _permissive_helpers() -> dict[str, Any]:
    from dana_poet.poet.errors import POETOutputError

    def fail(rule: Any, message: Any = "") -> Any:
        raise POETOutputError(f"{rule}: {message}", rule=str(rule))

    return {"coerce": lambda value, name: value, "check_output": lambda value: value, "fail": fail}


def _smoke(stages: policy.StageFunctions, spec: FunctionSpec) -> list[str]:
    """Run the stages once on sample values, under the same policy and limits as real calls."""
    from dana_poet.poet.stage_runner import run_contained

    samples = {p.name: _sample_for(p.annotation, p.default) for p in spec.params}
    # with a struct (or other unknown) parameter the sample is None and stage code that reads
    # its fields cannot run; only the limits (time, size) are findings then
    partial = any(v is None for v in samples.values())
    errors: list[str] = []
    perceived = samples
    if stages.perceive is None:
        errors.append("smoke test: no perceive() function")
    else:
        try:
            perceived = run_contained(
                "smoke test perceive", stages.perceive, (), dict(samples), SMOKE_TIMEOUT
            )
        except (policy.LimitExceeded, policy.StageTimeout) as exc:
            errors.append(f"smoke test: perceive() {exc}")
            perceived = samples
        except Exception as exc:  # noqa: BLE001 - every failure of untrusted code is a finding
            if partial:
                return errors
            errors.append(
                f"smoke test: perceive{tuple(samples.values())!r} raised {type(exc).__name__}: "
                f"{_bounded(str(exc), 300)}"
            )
            perceived = samples
        else:
            if not partial and (type(perceived) is not dict or set(perceived) != set(samples)):
                errors.append(
                    f"smoke test: perceive() must return a dict with keys {sorted(samples)}, "
                    f"got {_bounded(repr(perceived), 300)}"
                )
                perceived = samples
    if stages.enforce is not None:
        result = _sample_for(spec.returns, None)
        try:
            run_contained(
                "smoke test enforce", stages.enforce, (result,), dict(perceived), SMOKE_TIMEOUT
            )
        except (policy.LimitExceeded, policy.StageTimeout) as exc:
            errors.append(f"smoke test: enforce() {exc}")
        except Exception as exc:  # noqa: BLE001
            if partial or result is None:
                return errors
            errors.append(
                f"smoke test: enforce({result!r}, ...) raised {type(exc).__name__}: "
                f"{_bounded(str(exc), 300)}"
            )
    return errors


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more)"


def validate_stage_code(source: str, spec: FunctionSpec, language: str = "dana") -> list[str]:
    """[] when the stage code is admitted by the policy and passes its smoke test."""
    from dana_poet.poet import safety

    safety.install()
    try:
        code = policy.admit(source, language, f"<{language}-stages:{spec.name}>")
        stages = policy.load(code, language, _permissive_helpers())
    except policy.PolicyError as exc:
        return exc.problems
    return _smoke(stages, spec)


def validate_python_stage_code(source: str, spec: FunctionSpec) -> list[str]:
    return validate_stage_code(source, spec, "python")


# ------------------------------------------------------------------ LLM generator


CONTRACT = """Write stage code in Dana (Python-like syntax; true/false/null).
Return JSON: {"stage_code": "<Dana source>", "notes": "<one line>"}.
The stage code holds exactly these top-level functions:
- def perceive(<the function's parameters, same names and order, no annotations>): return a dict from each parameter name to the value to call the function with. Use coerce(value, "param_name") to convert a value to the parameter's declared type (it understands currency, K/M suffixes, percentages, units, bool words and the domain's vocabulary); add your own normalisation where the function's purpose calls for it.
- def enforce(result, <the function's parameters>): return the result after check_output(result) (coerces to the return type and applies the domain's rules); call fail("rule_name", "message") when the result breaks a rule you can justify from the function's purpose.
Inside them use only: assignments to your own variables, if/elif/else, for, while, return, expressions, list/dict/set comprehensions and f-strings.
Only these names exist: the parameters, your local variables, coerce, check_output, fail, and the builtins abs all any bool chr dict enumerate float frozenset int isinstance len list max min ord range reversed round set sorted str sum tuple zip.
Attributes: only the ordinary methods of str, list, dict, set and tuple values (never format or format_map) and the declared fields of struct arguments, read-only.
No def, lambda, class/struct declarations, imports, try, with, raise (call fail instead), names or attributes starting with '_', private:/public:/system: scopes, no file, network or system access."""

REPAIR_EXCERPT = 2_000
"""The most characters of rejected stage code a repair request quotes back."""
REPAIR_PROBLEMS = 10


def _prompt(spec: FunctionSpec, previous_failure: str | None = None) -> list[dict[str, str]]:
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
    if previous_failure:
        user += (
            "\nThe stage code generated last time failed on real input and was dropped: "
            f"{_bounded(previous_failure, 500)}\n"
        )
    return [{"role": "system", "content": CONTRACT}, {"role": "user", "content": user}]


def repair_request(stage_code: str, problems: list[str]) -> list[dict[str, str]]:
    """The two messages asking for a fix: a bounded excerpt of the code and the errors."""
    listed = [_bounded(p, 500) for p in problems[:REPAIR_PROBLEMS]]
    if len(problems) > REPAIR_PROBLEMS:
        listed.append(f"... and {len(problems) - REPAIR_PROBLEMS} more problems")
    return [
        {
            "role": "assistant",
            "content": json.dumps({"stage_code": _bounded(stage_code, REPAIR_EXCERPT)}),
        },
        {
            "role": "user",
            "content": "That stage code was rejected:\n"
            + "\n".join(listed)
            + "\nFix it and answer again in the same JSON format.",
        },
    ]


def _llm_chain(
    spec: FunctionSpec, metadata: dict[str, Any], previous_failure: str | None
) -> StageCode | None:
    from dana_poet.poet import llm

    messages = _prompt(spec, previous_failure)
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
            metadata["notes"] = _bounded(answer.notes, 500)
            return StageCode(answer.stage_code, "dana", metadata)
        errors.extend(f"dana attempt {attempt}: {_bounded(p, 500)}" for p in problems)
        messages = messages + repair_request(answer.stage_code, problems)
    python_messages = _prompt(spec, previous_failure)
    python_messages[0] = {
        "role": "system",
        "content": CONTRACT.replace(
            "in Dana (Python-like syntax; true/false/null)", "in plain Python"
        )
        .replace("<Dana source>", "<Python source>")
        .replace("true/false/null", "True/False/None"),
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
    errors.extend(f"python attempt: {_bounded(p, 500)}" for p in problems)
    return None


# ------------------------------------------------------------------ entry point

STAGE_LANGUAGES = ("dana", "python", "none")


def _cached(cache_dir: Path, key: str) -> tuple[StageCode | None, str | None]:
    """A cached entry that passes the policy again, or (None, why it was dropped last time)."""
    entry = cache.load_entry(cache_dir, key)
    if entry is None:
        return None, None
    if entry.get("dropped"):
        return None, str(entry["dropped"])
    language = entry.get("language", "dana")
    source = entry["source"]
    refused: list[str] = []
    if not isinstance(entry.get("metadata") or {}, dict):
        refused = ["its metadata is not a mapping"]
    elif language not in STAGE_LANGUAGES or (language == "none" and source.strip()):
        refused = [f"unknown stage language {language!r}"]
    elif language != "none":
        try:
            policy.admit(source, language, f"<cached stages {key}>")
        except policy.PolicyError as exc:
            refused = exc.problems
    if refused:
        from dana_poet.poet.warn import warn

        warn(
            f"cache entry {key}.json holds stage code the policy refuses "
            f"({_bounded('; '.join(refused), 300)}); regenerating"
        )
        return None, None
    meta = dict(entry.get("metadata") or {})
    meta["cache"] = "hit"
    return StageCode(source, language, meta), None


def generate_stage_code(
    spec: FunctionSpec,
    *,
    cache_dir: Path | None = None,
    generator: str = "auto",
    count: bool = True,
) -> StageCode:
    """Stage code for `spec`, from the cache or generated (and cached). `count=False` leaves
    the cache's hit/miss counters alone: for looking at stage code (`inspect`, `transpile`)."""
    from dana_poet.poet import llm

    use_llm = generator == "llm" or (generator == "auto" and llm.configured())
    generator_id = f"llm:{llm.model_name()}" if use_llm else TEMPLATE_ID
    key = cache_key(spec, generator_id)
    previous_failure = None
    if cache_dir is not None:
        hit, previous_failure = _cached(cache_dir, key)
        if count:
            cache.count(cache_dir, hit=hit is not None)
        if hit is not None:
            return hit
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
    if previous_failure:
        metadata["previous_failure"] = previous_failure
    result = _llm_chain(spec, metadata, previous_failure) if use_llm else None
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
    "template_stage_code",
    "validate_stage_code",
]
