"""What one feedback costs as labelled history grows, and the drift showcase run after run.

Run: .venv/bin/python benchmarks/bench_train.py [--quick]

1. Per-feedback cost with 100, 1,000 and 10,000 labelled executions already stored
   (built through the public path: call, then feedback). Each measurement is 500 more
   labelled feedbacks from a noisy ground truth, so some refit and publish a version
   and most do not. Also the first feedback of a new process over the largest history.
   Goal: flat within 2x from 1,000 to 10,000.
2. examples/ml_monitoring/drift_detection.na run three times in one temporary folder.
   Goal: the third run within 1.3x of the first, each under 3 s (CPU; wall shown too).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRUTH = 6.0


def make_alarm() -> Any:
    from dana_poet import poet

    @poet(optimize_for="accuracy")
    def alarm(value: float, threshold: float = 1.0) -> bool:
        return value > threshold

    return alarm


def label(rng: random.Random, value: float) -> bool:
    return (value > TRUTH) != (rng.random() < 0.1)


def feed(alarm: Any, rng: random.Random, count: int) -> tuple[list[float], list[float]]:
    """Call, then label the result; returns the wall and the CPU seconds of each feedback."""
    from dana_poet import feedback

    walls, cpus = [], []
    for _ in range(count):
        v = round(rng.uniform(0, 10), 3)
        r = alarm(v)
        started, cpu = time.perf_counter(), time.process_time()
        feedback(r, {"expected": label(rng, v)})
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def per_feedback(history: int, measured: int) -> dict[str, float]:
    folder = tempfile.mkdtemp(prefix="bench-train-")
    os.environ["DANA_POET_DIR"] = folder
    try:
        rng = random.Random(history)
        alarm = make_alarm()
        feed(alarm, rng, history)
        state = alarm.__poet__.train_state
        replays, sweeps = state.replays, state.sweeps
        costs, cpus = feed(alarm, rng, measured)
        out = {
            "mean_ms": 1000 * statistics.fmean(costs),
            "median_ms": 1000 * statistics.median(costs),
            "cpu_ms": 1000 * statistics.fmean(cpus),
            "replays": (state.replays - replays) / measured,
            "sweeps": (state.sweeps - sweeps) / measured,
            "window": len(state.window),
        }
        restarted = make_alarm()  # the same function defined again: a new run's first feedback
        started = time.perf_counter()
        feed(restarted, rng, 1)
        out["first_after_restart_ms"] = 1000 * (time.perf_counter() - started)
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_cli(args: list[str], cwd: Path) -> tuple[float, float, str]:
    env = {k: v for k, v in os.environ.items() if k != "DANA_POET_DIR"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "dana_poet.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def showcase(runs: int = 3) -> list[tuple[float, float, str]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-drift-")) / "ml_monitoring"
    shutil.copytree(ROOT / "examples" / "ml_monitoring", folder)
    try:
        return [run_cli(["run", "drift_detection.na"], folder) for _ in range(runs)]
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [100, 1000] if quick else [100, 1000, 10_000]
    measured = 50 if quick else 500
    print(f"per-feedback cost ({measured} more labelled feedbacks after the history is stored)")
    print("wall: mean and median; cpu: mean process time (not inflated when the OS runs others)")
    print(
        f"{'history':>8} {'wall ms':>8} {'median':>8} {'cpu ms':>8} {'replays':>8} {'sweeps':>7}"
        f" {'window':>7} {'restart ms':>10}"
    )
    results = {}
    for n in sizes:
        r = results[n] = per_feedback(n, measured)
        print(
            f"{n:>8} {r['mean_ms']:>8.2f} {r['median_ms']:>8.2f} {r['cpu_ms']:>8.2f} "
            f"{r['replays']:>8.1f} {r['sweeps']:>7.2f} {r['window']:>7} "
            f"{r['first_after_restart_ms']:>10.1f}"
        )
    for small, big in zip(sizes, sizes[1:], strict=False):
        a, b = results[small], results[big]
        print(
            f"ratio {big:,} / {small:,} labelled: wall mean {b['mean_ms'] / a['mean_ms']:.2f}x, "
            f"median {b['median_ms'] / a['median_ms']:.2f}x, cpu {b['cpu_ms'] / a['cpu_ms']:.2f}x"
        )
    if not quick:
        a, b = results[1000], results[10_000]
        ratios = [b[k] / a[k] for k in ("mean_ms", "median_ms", "cpu_ms")]
        print(
            "goal: 10,000 / 1,000 within 2x (wall mean, median and cpu): "
            f"{'met' if max(ratios) <= 2 else 'MISSED'}"
        )
    largest = sizes[-1]
    print(
        f"first feedback of a new process over {largest:,} labelled: "
        f"{results[largest]['first_after_restart_ms']:.1f} ms"
    )

    hello = Path(tempfile.mkdtemp(prefix="bench-hello-"))
    (hello / "hello.na").write_text('print("hello")\n')
    wall0, cpu0, _ = run_cli(["run", "hello.na"], hello)
    shutil.rmtree(hello, ignore_errors=True)
    print(f"\nbaseline: dana-poet run hello.na  wall {wall0:.2f} s  cpu {cpu0:.2f} s")
    runs = showcase()
    for i, (wall, cpu, out) in enumerate(runs, 1):
        before = out.splitlines()[0] if out else ""
        print(f"showcase run {i}: wall {wall:.2f} s  cpu {cpu:.2f} s  | {before}")
    (w1, c1, o1), (w3, c3, _) = runs[0], runs[-1]
    print(f"third / first run: cpu {c3 / c1:.2f}x  wall {w3 / w1:.2f}x")
    print(f"same output every run: {all(o == o1 for _, _, o in runs)}")
    met = c3 / c1 <= 1.3 and max(c1, c3) < 3.0
    print(f"goal: within 1.3x and under 3 s (cpu): {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
