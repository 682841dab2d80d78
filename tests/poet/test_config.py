from __future__ import annotations

import warnings

import pytest

from dana_poet.poet.config import POETConfig, POETConfigWarning
from dana_poet.poet.errors import POETConfigError


@pytest.mark.parametrize(
    ("args", "kwargs", "check"),
    [
        (("financial_services",), {}, lambda c: c.domain == "financial_services"),
        ((), {"retries": 3, "timeout": 2}, lambda c: c.retries == 3 and c.timeout == 2.0),
        ((), {"operate": {"retries": 4}}, lambda c: c.retries == 4),
        (
            (),
            {"optimize_for": "accuracy", "train": {"params": ["t"]}},
            lambda c: c.train == {"params": ["t"]},
        ),
        ((), {}, lambda c: c.retries == 1 and c.timeout is None),
    ],
)
def test_accepts(args, kwargs, check):
    assert check(POETConfig.from_decorator(args, kwargs))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"domain": 123}, "domain=123"),
        ({"retries": -1}, "retries=-1"),
        ({"retries": True}, "retries=True"),
        ({"retries": "2"}, "retries='2'"),
        ({"timeout": "x"}, "timeout='x'"),
        ({"timeout": 0}, "timeout=0"),
        ({"debug": "yes"}, "debug='yes'"),
    ],
)
def test_rejects_with_the_argument_named(kwargs, fragment):
    with pytest.raises(POETConfigError) as info:
        POETConfig.from_decorator((), kwargs, function="calc")
    assert fragment in str(info.value)
    assert "calc()" in str(info.value)


def test_unknown_names_are_kept_and_warned_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c1 = POETConfig.from_decorator((), {"hipaa_compliance": True, "objectives": ["x"]})
        POETConfig.from_decorator((), {"hipaa_compliance": True, "objectives": ["x"]})
    relevant = [w for w in caught if issubclass(w.category, POETConfigWarning)]
    assert len(relevant) == 1
    assert "hipaa_compliance" in str(relevant[0].message)
    assert c1.extra == {"hipaa_compliance": True, "objectives": ["x"]}


def test_cache_key_is_stable_and_sensitive():
    a = POETConfig.from_decorator((), {"retries": 2})
    assert a.cache_key() == POETConfig.from_decorator((), {"retries": 2}).cache_key()
    assert a.cache_key() != POETConfig.from_decorator((), {"retries": 3}).cache_key()
