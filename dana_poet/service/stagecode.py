"""Stage code from the POET service (`POST /poet/transpile`), checked and cached locally.

What comes back is untrusted: it is validated exactly as locally generated code is
(poet/codegen's validation: parse, capability check, compile, smoke test) before it
is used. The answer is cached beside the local cache, so a run while the service is
down still uses the service's code and knows the function's service id.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dana_poet.service.client import ServiceRefused, ServiceUnavailable, client_from_env


def service_stage_code(spec: Any, cache_dir: Path | None) -> Any:
    """A StageCode from the service, or None (not configured, unavailable, refused, invalid)."""
    client = client_from_env()
    if client is None:
        return None
    from dana_poet.poet import cache
    from dana_poet.poet.codegen import StageCode, cache_key

    key = cache_key(spec, f"service:{client.url}")
    body = {"function_code": spec.source, "language": spec.language}
    try:
        answer = client.request("POST", "/poet/transpile", body).json()
    except ServiceUnavailable:
        entry = cache.load_entry(cache_dir, key) if cache_dir is not None else None
        if entry is None:
            return None
        return StageCode(entry["source"], entry.get("language", "dana"), dict(entry["metadata"]))
    except (ServiceRefused, ValueError) as exc:
        sys.stderr.write(
            f"dana-poet: warning: the POET service refused {spec.name}(): {exc}; "
            "generating stage code locally\n"
        )
        return None
    code = answer["poet_implementation"]["code"]
    language = answer["poet_implementation"]["language"]
    meta = answer["metadata"]
    problems = _problems(code, language, spec)
    if problems:
        sys.stderr.write(
            f"dana-poet: warning: stage code for {spec.name}() from the POET service was "
            f"rejected ({problems[0]}); generating it locally\n"
        )
        return None
    client.known[meta["function_id"]] = (int(meta["version"]), dict(meta["params"]))
    metadata: dict[str, Any] = {
        "generator": f"service:{meta.get('generator')}",
        "fallback_used": meta.get("fallback_used"),
        "language": language,
        "cache_key": key,
        "service_function_id": meta["function_id"],
        "cache": "hit" if meta.get("cache_hit") else "miss",
        "errors": [],
    }
    if cache_dir is not None:
        try:
            cache.store_entry(
                cache_dir, key, {"source": code, "language": language, "metadata": metadata}
            )
        except OSError:
            pass
    return StageCode(code, language, metadata)


def _problems(code: str, language: str, spec: Any) -> list[str]:
    from dana_poet.poet import codegen

    if not code.strip() or language == "none":
        return []
    if language == "dana":
        return list(codegen.validate_stage_code(code, spec))
    if language == "python":
        return list(codegen.validate_python_stage_code(code, spec))
    return [f"unknown stage language {language!r}"]
