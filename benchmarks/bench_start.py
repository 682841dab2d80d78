"""Start-up of `dana-poet run hello.na` against `python -c pass`, measured in one run.

Run: .venv/bin/python benchmarks/bench_start.py
Goals: a warm run (the compiled-code cache and Python's bytecode cache filled) within
0.10 s of `python -c pass`; a first run (nothing cached for the program) within 0.25 s;
peak RSS under 40 MiB. Bytecode caching is on for every measurement
(PYTHONDONTWRITEBYTECODE is removed from the children's environment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEAT = 9


def timed(cmd: list[str], cwd: str, env: dict[str, str], before: object = None) -> float:
    """Best of REPEAT runs; `before(cwd)` runs untimed ahead of each one."""
    times = []
    for _ in range(REPEAT):
        if callable(before):
            before(cwd)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mib(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    """Peak RSS of one child, read from wait4 so other children do not mix in."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_maxrss / 1024


def forget_program_cache(cwd: str) -> None:
    shutil.rmtree(Path(cwd) / "__pycache__", ignore_errors=True)


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
    env.pop("DANA_POET_NO_CACHE", None)
    exe = str(Path(sys.executable).parent / "dana-poet")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "hello.na").write_text('print("hello")\n')
        run = [exe, "run", "hello.na"]
        subprocess.run(run, cwd=tmp, env=env, check=True, capture_output=True)  # fill caches
        bare = timed([sys.executable, "-c", "pass"], tmp, env)
        warm = timed(run, tmp, env)
        first = timed(run, tmp, env, before=forget_program_cache)
        no_cache = timed([exe, "run", "--no-cache", "hello.na"], tmp, env)
        rss_warm = peak_rss_mib(run, tmp, env)
        forget_program_cache(tmp)
        rss_first = peak_rss_mib(run, tmp, env)
    rows = [
        ("python -c pass", f"{bare:.3f} s", "", None),
        ("warm run - python -c pass", f"{warm - bare:.3f} s", "<= 0.10 s", warm - bare <= 0.10),
        ("first run - python -c pass", f"{first - bare:.3f} s", "<= 0.25 s", first - bare <= 0.25),
        ("--no-cache run - python -c pass", f"{no_cache - bare:.3f} s", "", None),
        ("peak RSS, warm run", f"{rss_warm:.1f} MiB", "< 40 MiB", rss_warm < 40),
        ("peak RSS, first run", f"{rss_first:.1f} MiB", "< 40 MiB", rss_first < 40),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, goal, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"{name:{width}}  {value:>10}  {goal:>10}  {verdict}")
    print(f"(best of {REPEAT}; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    os.environ.setdefault("DANA_POET_DIR", tempfile.mkdtemp())
    main()
