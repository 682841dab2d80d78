"""What a type checker sees of @poet functions (checked by tests/typing/test_mypy.py).

Each expect-comment names text that mypy must print for that line; lines
without one must produce no error. This file is never run.
"""

from __future__ import annotations

import asyncio
from typing import Any, reveal_type

from dana_poet import feedback, poet, rollback, versions


@poet
def bare(a: int, b: str = "x") -> float:
    return float(a)


@poet(domain="financial_services", retries=2, timeout=1.5, retry_on=ConnectionError)
def assess(score: int, income: float) -> str:
    return "approved"


@poet("ml_monitoring", no_retry_on=(KeyError, ValueError))
async def fetch(url: str, *, attempts: int = 1) -> bytes:
    return b""


class Scorer:
    @poet(retries=1)
    def score(self, value: float) -> int:
        return 0


reveal_type(bare)  # expect: POETFunction[[a: int, b: str =], float]
reveal_type(bare(1, b="y"))  # expect: float
reveal_type(assess(720, 65000.0))  # expect: str
reveal_type(Scorer().score(1.5))  # expect: int
reveal_type(bare.poet.version)  # expect: int
reveal_type(versions(bare)[0].params)  # expect: dict[str, Any]
reveal_type(rollback(bare, 0).version)  # expect: int


async def main() -> None:
    data = await fetch("http://example", attempts=2)
    reveal_type(data)  # expect: bytes


asyncio.run(main())

# Values typed Any (parsed JSON, form fields, LLM output) are what Perceive is for: accepted.
form: dict[str, Any] = {"score": "excellent", "income": "$50K"}
assess(form["score"], form["income"])
feedback(assess(700, 1.0), "good")

# A literal of the wrong type is reported, as without POET.
assess("excellent", "$50K")  # expect: incompatible type "str"; expected "int"
bare(1, c=2)  # expect: Unexpected keyword argument "c"
Scorer().score("high")  # expect: incompatible type "str"; expected "float"


@poet(retries="2")  # expect: No overload variant of "poet" matches argument type "str"
def bad_config() -> None: ...


@poet(retires=2)  # expect: Unexpected keyword argument "retires"
def typo() -> None: ...
