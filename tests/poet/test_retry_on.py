"""retry_on= / no_retry_on=: which failures Operate retries."""

from __future__ import annotations

import random

import pytest

from dana_poet.poet.config import POETConfig
from dana_poet.poet.errors import POETConfigError, POETInputError
from dana_poet.poet.operate import Operator

TIMEOUTS = pytest.mark.parametrize("timeout", [None, 5.0], ids=["inline", "worker"])


class Raises:
    """Raises the given exceptions in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def operator(**config: object) -> Operator:
    return Operator("fn", POETConfig(**config), sleep=lambda s: None, rng=random.Random(1))


@TIMEOUTS
def test_default_retries_every_exception(timeout: float | None) -> None:
    body = Raises(KeyError("a"), ValueError("b"))
    assert operator(retries=2, timeout=timeout).run(body, (), {}) == "ok"
    assert body.calls == 3


@TIMEOUTS
@pytest.mark.parametrize(
    "retry_on",
    [ConnectionError, (ConnectionError, TimeoutError), [ConnectionError]],
    ids=["class", "tuple", "list"],
)
def test_retry_on_types_retries_only_those(retry_on: object, timeout: float | None) -> None:
    op = operator(retries=3, timeout=timeout, retry_on=retry_on)
    flaky = Raises(ConnectionResetError("reset"), ConnectionError("down"))
    assert op.run(flaky, (), {}) == "ok"
    assert flaky.calls == 3

    first = ValueError("bad data")
    wrong = Raises(first, ConnectionError("never reached"))
    with pytest.raises(ValueError) as info:
        op.run(wrong, (), {})
    assert info.value is first
    assert wrong.calls == op.attempts_last_call == 1


@TIMEOUTS
def test_retry_on_predicate_sees_the_exception(timeout: float | None) -> None:
    seen: list[Exception] = []

    def transient(exc: Exception) -> bool:
        seen.append(exc)
        return "503" in str(exc)

    op = operator(retries=3, timeout=timeout, retry_on=transient)
    body = Raises(RuntimeError("HTTP 503"), RuntimeError("HTTP 404"))
    with pytest.raises(RuntimeError, match="404"):
        op.run(body, (), {})
    assert body.calls == 2
    assert [str(e) for e in seen] == ["HTTP 503", "HTTP 404"]


@TIMEOUTS
def test_no_retry_on_wins_over_retry_on(timeout: float | None) -> None:
    op = operator(retries=3, timeout=timeout, retry_on=OSError, no_retry_on=FileNotFoundError)
    missing = Raises(FileNotFoundError("x.csv"))
    with pytest.raises(FileNotFoundError):
        op.run(missing, (), {})
    assert missing.calls == 1
    other = Raises(PermissionError("locked"))
    assert op.run(other, (), {}) == "ok"
    assert other.calls == 2


@TIMEOUTS
def test_no_retry_on_alone_keeps_the_default_for_the_rest(timeout: float | None) -> None:
    op = operator(retries=2, timeout=timeout, no_retry_on=lambda e: isinstance(e, KeyError))
    with pytest.raises(KeyError):
        op.run(Raises(KeyError("k")), (), {})
    body = Raises(ValueError("v"), RuntimeError("r"))
    assert op.run(body, (), {}) == "ok"
    assert body.calls == 3


def test_input_errors_stay_unretried_even_if_listed() -> None:
    op = operator(retries=3, retry_on=Exception)
    body = Raises(POETInputError("bad input"))
    with pytest.raises(POETInputError):
        op.run(body, (), {})
    assert body.calls == 1


def test_a_refused_retry_counts_as_a_failed_call_for_the_breaker() -> None:
    op = operator(retries=3, retry_on=ConnectionError, circuit_threshold=2)
    for _ in range(2):
        with pytest.raises(ValueError):
            op.run(Raises(ValueError("v")), (), {})
    assert op.breaker.state == "open"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("ValueError", "retry_on='ValueError'"),
        ((), "retry_on=()"),
        ((ValueError, "x"), "retry_on=(<class 'ValueError'>, 'x')"),
        (KeyboardInterrupt, "retry_on=<class 'KeyboardInterrupt'>"),
        (int, "retry_on=<class 'int'>"),
        (3, "retry_on=3"),
    ],
)
def test_bad_retry_on_is_a_config_error(value: object, shown: str) -> None:
    with pytest.raises(POETConfigError) as info:
        POETConfig.from_decorator((), {"retry_on": value}, function="fetch")
    message = str(info.value)
    assert message.startswith("@poet on fetch(): ")
    assert shown in message
    assert "exception class" in message


def test_retry_options_through_operate_dict_and_in_cache_key() -> None:
    config = POETConfig.from_decorator((), {"operate": {"no_retry_on": KeyError}})
    assert config.no_retry_on == (KeyError,)
    assert POETConfig(retry_on=OSError).cache_key() == POETConfig(retry_on=(OSError,)).cache_key()
    assert POETConfig(retry_on=OSError).cache_key() != POETConfig().cache_key()


def test_retry_on_through_the_decorator() -> None:
    from dana_poet import poet

    calls: list[int] = []

    @poet(retries=3, retry_on=ConnectionError, backoff_base=0)
    def fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("blip")
        raise LookupError("gone")

    with pytest.raises(LookupError):
        fetch()
    assert len(calls) == 2
