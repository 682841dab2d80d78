"""The language's runtime constructs, each as a Dana function and its CPython twin.

Used by bench_lang.py: every row is the best-of-N time of the Dana function over
the best-of-N time of the Python function, measured in the same run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DANA = """
struct Point:
    x: int
    y: int

def (p: Point) norm1() -> int:
    return p.x + p.y

def (p: Point) bump(dx: int):
    p.x += dx

def fib(n: int) -> int:
    if n <= 1:
        return n
    return fib(n - 1) + fib(n - 2)

def loop(n):
    total = 0
    for i in range(n):
        total = total + i
    return total

def build_string(n):
    s = ""
    for i in range(n):
        s = s + str(i)
    return len(s)

def create_structs(n):
    for i in range(n):
        p = Point(x=i, y=i)
    return p

def read_fields(n):
    p = Point(x=1, y=2)
    total = 0
    for i in range(n):
        total = total + p.x + p.y
    return total

def write_fields(n):
    p = Point(x=1, y=2)
    for i in range(n):
        p.x = i
    return p

def receiver_calls(n):
    p = Point(x=1, y=2)
    total = 0
    for i in range(n):
        total = total + p.norm1()
    return total

def receiver_updates(n):
    p = Point(x=1, y=2)
    for i in range(n):
        p.bump(1)
    return p

def comprehension(xs, rounds):
    for r in range(rounds):
        ys = [x + 1 for x in xs]
    return ys

def fstrings(n):
    name = "item"
    for i in range(n):
        s = f"{name}-{i}: {i * 2}"
    return s
"""


@dataclass
class Point:
    x: int
    y: int

    def norm1(self) -> int:
        return self.x + self.y

    def bump(self, dx: int) -> None:
        self.x += dx


def fib(n: int) -> int:
    if n <= 1:
        return n
    return fib(n - 1) + fib(n - 2)


def loop(n: int) -> int:
    total = 0
    for i in range(n):
        total = total + i
    return total


def build_string(n: int) -> int:
    s = ""
    for i in range(n):
        s = s + str(i)
    return len(s)


def create_structs(n: int) -> Point:
    for i in range(n):
        p = Point(x=i, y=i)
    return p


def read_fields(n: int) -> int:
    p = Point(x=1, y=2)
    total = 0
    for _ in range(n):
        total = total + p.x + p.y
    return total


def write_fields(n: int) -> Point:
    p = Point(x=1, y=2)
    for i in range(n):
        p.x = i
    return p


def receiver_calls(n: int) -> int:
    p = Point(x=1, y=2)
    total = 0
    for _ in range(n):
        total = total + p.norm1()
    return total


def receiver_updates(n: int) -> Point:
    p = Point(x=1, y=2)
    for _ in range(n):
        p.bump(1)
    return p


def comprehension(xs: list[int], rounds: int) -> list[int]:
    for _ in range(rounds):
        ys = [x + 1 for x in xs]
    return ys


def fstrings(n: int) -> str:
    name = "item"
    for i in range(n):
        s = f"{name}-{i}: {i * 2}"
    return s


CASES: list[tuple[str, str, tuple[Any, ...]]] = [
    ("recursion: fib(22)", "fib", (22,)),
    ("loop: 500k additions", "loop", (500_000,)),
    ("string building: s = s + str(i), 200k", "build_string", (200_000,)),
    ("struct create vs dataclass, 100k", "create_structs", (100_000,)),
    ("struct field reads vs dataclass, 200k x2", "read_fields", (200_000,)),
    ("struct field writes vs dataclass, 200k", "write_fields", (200_000,)),
    ("receiver calls vs methods, 200k", "receiver_calls", (200_000,)),
    ("receiver updating a field (p.x += dx) vs method, 200k", "receiver_updates", (200_000,)),
    ("comprehension [x + 1 for x in xs], 200 x 1k", "comprehension", (list(range(1000)), 200)),
    ("f-strings, 200k", "fstrings", (200_000,)),
]


def best(fn: Any, *args: Any, repeat: int = 5) -> float:
    """Best CPU time of this (single-threaded) process: on the shared machine, wall time
    also counts the time other processes hold the cores."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn(*args)
        times.append(time.process_time() - t)
    return min(times)


def interleaved(dana_fn: Any, python_fn: Any, args: tuple[Any, ...], repeat: int = 9) -> float:
    """Best Dana time over best Python time, the two run alternately (on a shared machine
    a burst of load then hits both sides instead of one)."""
    dana, python = [], []
    for _ in range(repeat):
        dana.append(best(dana_fn, *args, repeat=1))
        python.append(best(python_fn, *args, repeat=1))
    return min(dana) / min(python)


def runtime_rows(tmp: str, goal: float = 1.3) -> list[tuple[str, str, str, bool]]:
    """One row per construct: Dana time / CPython time in this run."""
    from dana_poet.engine import new_program

    path = Path(tmp) / "constructs.na"
    path.write_text(DANA)
    g = new_program(path).run_file(path)
    rows = []
    for label, name, args in CASES:
        python_fn = globals()[name]
        ratio = interleaved(g[name], python_fn, args)
        rows.append((f"{label}: Dana / Python", f"{ratio:.2f}x", f"<= {goal}x", ratio <= goal))
    return rows
