"""POETConfig: validation at definition time, readable errors, metadata, cache keys."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from pydantic import ValidationError

from dana_poet.poet.config import POETConfig, POETConfigWarning, TrainConfig
from dana_poet.poet.errors import POETConfigError

ACCEPTED: list[tuple[tuple[Any, ...], dict[str, Any], dict[str, Any]]] = [
    ((), {}, {"domain": None, "retries": 1, "timeout": None, "jitter": "full"}),
    (("financial_services",), {}, {"domain": "financial_services"}),
    ((), {"domain": "healthcare", "retries": 0}, {"domain": "healthcare", "retries": 0}),
    ((), {"retries": 3, "timeout": 2}, {"retries": 3, "timeout": 2.0}),
    ((), {"timeout": 0.25, "backoff_base": 0, "backoff_max": 3}, {"backoff_max": 3.0}),
    ((), {"timeout": None}, {"timeout": None}),
    ((), {"operate": {"retries": 4, "timeout": 1}}, {"retries": 4, "timeout": 1.0}),
    ((), {"retries": 4, "operate": {"retries": 4}}, {"retries": 4}),
    ((), {"operate": {"jitter": "none", "circuit_threshold": 0}}, {"jitter": "none"}),
    ((), {"backoff_multiplier": 1, "circuit_cooldown": 0}, {"backoff_multiplier": 1.0}),
    (
        (),
        {"optimize_for": "accuracy", "train": {"params": ["t"]}},
        {"optimize_for": "accuracy", "train": TrainConfig(params=("t",))},
    ),
    ((), {"perceive": {"strict": True}, "enforce": {}}, {"perceive": {"strict": True}}),
    ((), {"debug": True, "trace_phases": True}, {"debug": True, "trace_phases": True}),
    ((), {"enable_training": True}, {"enable_training": True, "extra": {}}),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), ACCEPTED)
def test_accepts(args: tuple[Any, ...], kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    config = POETConfig.from_decorator(args, kwargs, function="calc")
    for name, value in expected.items():
        assert getattr(config, name) == value, name
        assert type(getattr(config, name)) is type(value), name


REJECTED: list[tuple[tuple[Any, ...], dict[str, Any], str, str]] = [
    ((), {"domain": 123}, "domain=123", "domain name string"),
    ((42,), {}, "domain=42", "domain name string"),
    ((), {"retries": -1}, "retries=-1", "whole number >= 0"),
    ((), {"retries": True}, "retries=True", "whole number >= 0"),
    ((), {"retries": "2"}, "retries='2'", "whole number >= 0"),
    ((), {"retries": 1.5}, "retries=1.5", "whole number >= 0"),
    ((), {"timeout": "x"}, "timeout='x'", "seconds > 0"),
    ((), {"timeout": "1.0"}, "timeout='1.0'", "seconds > 0"),
    ((), {"timeout": 0}, "timeout=0", "seconds > 0"),
    ((), {"timeout": -2.5}, "timeout=-2.5", "seconds > 0"),
    ((), {"timeout": math.nan}, "timeout=nan", "seconds > 0"),
    ((), {"timeout": math.inf}, "timeout=inf", "seconds > 0"),
    ((), {"timeout": False}, "timeout=False", "seconds > 0"),
    ((), {"backoff_base": -0.1}, "backoff_base=-0.1", "seconds >= 0"),
    ((), {"backoff_multiplier": 0.5}, "backoff_multiplier=0.5", "number >= 1"),
    ((), {"jitter": "sometimes"}, "jitter='sometimes'", "'full' or 'none'"),
    ((), {"circuit_threshold": -1}, "circuit_threshold=-1", "whole number >= 0"),
    ((), {"optimize_for": 3}, "optimize_for=3", "objective name"),
    ((), {"debug": "yes"}, "debug='yes'", "true or false"),
    ((), {"train": ["params"]}, "train=['params']", "a dict"),
    ((), {"train": {"ab_share": "lots"}}, "train['ab_share']='lots'", "between 0 and 1"),
    ((), {"train": {"ab_share": 1.5}}, "train['ab_share']=1.5", "between 0 and 1"),
    ((), {"train": {"params": 5}}, "train['params']=5", "a list of parameter names"),
    ((), {"train": {"bounds": {"t": [1, 0]}}}, "low 1 is not below high 0", "low < high"),
    ((), {"train": {"bounds": {"t": 3}}}, "train['bounds']={'t': 3}", "[low, high]"),
    ((), {"train": {"policy": "sometimes"}}, "train['policy']='sometimes'", "'manual'"),
    ((), {"train": {"windw": 3}}, "train['windw']=3", "did you mean 'window'?"),
    ((), {"train": {"rollback_window": 0}}, "train['rollback_window']=0", "whole number"),
    ((), {"train": {"window": True}}, "train['window']=True", "whole number"),
    ((), {"operate": {"retries": -2}}, "operate['retries']=-2", "whole number >= 0"),
    ((), {"operate": {"timeout": "soon"}}, "operate['timeout']='soon'", "seconds > 0"),
    ((), {"retries": 2, "operate": {"retries": 3}}, "retries given twice", "operate['retries']=3"),
    (("a", "b"), {}, "at most one positional argument", "'a', 'b'"),
    (("finance",), {"domain": "healthcare"}, "domain given twice", "'finance'"),
]


@pytest.mark.parametrize(("args", "kwargs", "names", "explains"), REJECTED)
def test_rejects_naming_function_argument_value_and_expectation(
    args: tuple[Any, ...], kwargs: dict[str, Any], names: str, explains: str
) -> None:
    with pytest.raises(POETConfigError) as info:
        POETConfig.from_decorator(args, kwargs, function="calc")
    message = str(info.value)
    assert message.startswith("@poet on calc(): ")
    assert names in message
    assert explains in message
    assert len(message.splitlines()) <= 2
    assert "pydantic" not in message and "validation error" not in message
    assert info.value.function == "calc"


def test_error_without_a_function_name_still_reads_well() -> None:
    with pytest.raises(POETConfigError, match=r"^@poet\(\.\.\.\): retries=-1 is not valid"):
        POETConfig.from_decorator((), {"retries": -1})


def test_config_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        POETConfig.from_decorator((), {"timeout": 0})


def test_several_bad_arguments_are_counted() -> None:
    with pytest.raises(POETConfigError, match=r"1 more invalid argument\)$"):
        POETConfig.from_decorator((), {"retries": -1, "timeout": 0})


def test_direct_construction_validates_and_lifts_operate_keys() -> None:
    assert POETConfig(operate={"retries": 0}).retries == 0
    with pytest.raises(ValidationError):
        POETConfig(retries=-1)


def test_config_is_frozen() -> None:
    config = POETConfig()
    with pytest.raises(ValidationError):
        config.retries = 5  # type: ignore[misc]


def recorded_warnings(*calls: dict[str, Any]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kwargs in calls:
            POETConfig.from_decorator((), kwargs, function="fn")
    return [str(w.message) for w in caught if issubclass(w.category, POETConfigWarning)]


def test_unknown_names_are_kept_and_warned_once_per_name_set() -> None:
    first = {"hipaa_compliance": True, "objectives": ["accuracy"], "x_first": 1}
    messages = recorded_warnings(first, dict(first), {"x_first": 2, "hipaa_compliance": False})
    assert len(messages) == 2
    assert "hipaa_compliance" in messages[0] and "objectives" in messages[0]
    assert "kept as metadata" in messages[0]
    config = POETConfig.from_decorator((), first)
    assert config.extra == first
    assert not hasattr(config, "hipaa_compliance")


def test_real_program_arguments_are_metadata_not_errors() -> None:
    real = {
        "performance_tracking": True,
        "enable_monitoring": True,
        "learning_algorithm": "bayesian",
        "collect_metrics": ["latency"],
        "profile": "fast",
        "interrupts": False,
        "enable_training": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", POETConfigWarning)
        config = POETConfig.from_decorator(("ml_monitoring",), real)
    assert config.enable_training is True
    assert set(config.extra) == set(real) - {"enable_training"}


def test_a_likely_typo_gets_a_suggestion() -> None:
    typo, unrelated = recorded_warnings(
        {"retires": 3, "x_typo_test": 1}, {"collect_metrics": True, "x_typo_test": 1}
    )
    assert "retires (did you mean retries?)" in typo
    assert "did you mean" not in unrelated


def test_cache_key_is_stable_and_sensitive() -> None:
    def key(**kwargs: Any) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", POETConfigWarning)
            return POETConfig.from_decorator((), kwargs).cache_key()

    assert key(retries=2) == key(retries=2)
    assert key(retries=2, timeout=1) == key(timeout=1.0, retries=2)
    assert key(train={"window": 9, "ab_share": 0.5}) == key(train={"ab_share": 0.5, "window": 9})
    assert key(objectives={"speed", "cost", "accuracy"}) == key(
        objectives={"accuracy", "speed", "cost"}
    )
    distinct = {
        key(),
        key(retries=2),
        key(retries=3),
        key(timeout=1),
        key(domain="healthcare"),
        key(train={"window": 9}),
        key(objectives=["x"]),
    }
    assert len(distinct) == 7


def test_cache_key_survives_values_json_cannot_encode() -> None:
    class Marker:
        def __repr__(self) -> str:
            return "Marker()"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", POETConfigWarning)
        a = POETConfig.from_decorator((), {"profile": Marker(), "objectives": {(1, 2): "x"}})
        b = POETConfig.from_decorator((), {"profile": Marker(), "objectives": {(1, 2): "x"}})
    assert a.cache_key() == b.cache_key()


def test_an_unknown_domain_is_warned_at_the_user_s_decorator_line() -> None:
    import warnings

    from dana_poet import poet

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")

        @poet(domain="no such domain here")
        def shout(text: str) -> str:
            return text.upper()

        assert shout("a") == "A"
    found = [w for w in seen if "unknown POET domain" in str(w.message)]
    assert len(found) == 1 and "shout()" in str(found[0].message)
    assert found[0].filename == __file__
