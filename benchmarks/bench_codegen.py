"""Stage-code generation cost: offline templates, warm cache loads, a 20-function file cold vs warm.

Run: .venv/bin/python benchmarks/bench_codegen.py
Goals: offline generation under 20 ms per function, a warm cache load under 2 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(key, None)

from dana_poet.poet.codegen import FunctionSpec, ParamSpec, generate_stage_code  # noqa: E402


def spec(i: int) -> FunctionSpec:
    return FunctionSpec(
        name=f"f{i}",
        params=(
            ParamSpec("score", "int"),
            ParamSpec("income", "float"),
            ParamSpec("note", "str", '""'),
        ),
        returns="str",
        docstring=None,
        source=f'def f{i}(score: int, income: float, note: str = "") -> str:\n    return note\n',
        domain="financial_services",
        config={"domain": "financial_services", "n": i},
    )


def program(n: int) -> str:
    out = []
    for i in range(n):
        out += [
            f'@poet(domain="financial_services", retries={i % 3})',
            f"def f{i}(score: int, income: float) -> str:",
            '    return "ok" if score > 600 else "no"',
            "",
        ]
    out.append('print(f0("good", "$5K"))')
    return "\n".join(out) + "\n"


def main() -> None:
    generate_stage_code(spec(-1))  # imports and first compile out of the way
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        n = 20
        t = time.perf_counter()
        for i in range(n):
            generate_stage_code(spec(i), cache_dir=cache)
        cold = (time.perf_counter() - t) / n * 1000
        t = time.perf_counter()
        for i in range(n):
            generate_stage_code(spec(i), cache_dir=cache)
        warm = (time.perf_counter() - t) / n * 1000
        path = Path(tmp) / "twenty.na"
        path.write_text(program(20))
        exe = str(Path(sys.executable).parent / "dana-poet")
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([exe, "run", str(path)], check=True, capture_output=True)
            runs.append(time.perf_counter() - t)
    print(
        f"offline generation per function : {cold:7.2f} ms  (goal < 20)  {'PASS' if cold < 20 else 'MISS'}"
    )
    print(
        f"warm cache load per function    : {warm:7.2f} ms  (goal < 2)   {'PASS' if warm < 2 else 'MISS'}"
    )
    print(f"20-function file, cold run      : {runs[0]:7.3f} s")
    print(f"20-function file, warm runs     : {min(runs[1:]):7.3f} s")


if __name__ == "__main__":
    main()
