"""The policy's admitted subset behaves like Dana; its guards refuse what they must."""

from __future__ import annotations

import pytest

from dana_poet.poet import policy
from dana_poet.poet.stage_runner import run_contained


def stages(source: str, language: str = "dana", **helpers) -> policy.StageFunctions:
    base = {"coerce": lambda v, n: v, "check_output": lambda v: v, "fail": lambda r, m="": None}
    base.update(helpers)
    return policy.load(policy.admit(source, language), language, base)


def call(fn, *args, **kwargs):
    return run_contained("test", fn, args, kwargs, 5.0)


def test_dana_semantics_inside_stage_code():
    src = (
        "def perceive(name, count, info):\n"
        '    label = "n=" + count\n'
        "    flag = true\n"
        "    words = [w.upper() for w in name.split()]\n"
        "    total = 0\n"
        "    for i in range(3):\n"
        "        total += i\n"
        '    return {"name": f"{label}:{words}", "count": total, "info": info.kind}\n'
    )
    out = call(stages(src).perceive, "a b", 5, {"kind": "k"})
    assert out == {"name": "n=5:['A', 'B']", "count": 3, "info": "k"}


def test_python_stage_code_runs_with_the_same_guards():
    src = "def enforce(result, x):\n    return sorted(result, key=len)[-1]\n"
    assert call(stages(src, "python").enforce, ["aa", "b", "cccc"], 1) == "cccc"


def test_free_names_do_not_reach_the_program():
    src = "def perceive(x):\n    return {'x': x}\n"
    funcs = stages(src)
    g = funcs.perceive.__globals__
    assert set(g["__builtins__"]) == set(policy.PURE_BUILTINS)
    assert "open" not in g and "print" not in g and "__import__" not in g["__builtins__"]


@pytest.mark.parametrize(
    ("value", "name"),
    [("s", "format"), ("s", "format_map"), ([1], "__class__"), (1, "to_bytes"), (len, "x")],
)
def test_getattr_guard_refuses_unlisted_attributes(value, name):
    with pytest.raises(policy.PolicyViolation):
        policy.guarded_getattr(value, name)


def test_getitem_guard_refuses_non_containers():
    with pytest.raises(policy.PolicyViolation):
        policy.guarded_getitem(object(), 0)


@pytest.mark.parametrize(
    ("guard", "a", "b"),
    [
        (policy.guarded_pow, 10, 10**9),
        (policy.guarded_mul, "ab", 10**9),
        (policy.guarded_mul, 10**60_000, 10**60_000),
        (policy.guarded_lshift, 1, 10**9),
        (policy.guarded_add, "a" * 900_000, "b" * 900_000),
        (policy.guarded_mod, "%*d", (10**9, 1)),
    ],
    ids=["pow", "repeat", "multiply", "shift", "concatenate", "percent-width"],
)
def test_growing_operators_are_refused_before_computing(guard, a, b):
    with pytest.raises(policy.LimitExceeded):
        guard(a, b)


def test_ordinary_arithmetic_passes_the_guards():
    assert policy.guarded_pow(2, 10) == 1024 and policy.guarded_pow(2.0, -1) == 0.5
    assert policy.guarded_mul("ab", 3) == "ababab" and policy.guarded_lshift(1, 8) == 256
    assert policy.guarded_mod("%.2f", 1.5) == "1.50" and policy.guarded_add("x", 1.5) == "x1.5"


def test_private_copy_leaves_the_original_alone():
    original = {"a": [1, 2], "b": ({"c": 3},)}
    copy = policy.private_copy(original)
    copy["a"].append(3)
    assert original == {"a": [1, 2], "b": ({"c": 3},)}


def test_private_copy_keeps_cycles_and_shared_parts_as_they_are() -> None:
    looped: list = [1, {"k": (2,)}]
    looped.append(looped)
    looped[1]["self"] = looped
    copy = policy.private_copy(looped)
    assert copy is not looped and copy[2] is copy and copy[1]["self"] is copy
    assert copy[1] is not looped[1] and copy[1]["k"] == (2,)
    shared: list = [0]
    for _ in range(60):  # 2**60 leaves if copied as a tree
        shared = [shared, shared]
    twin = policy.private_copy(shared)
    assert twin is not shared and twin[0] is twin[1] and twin[0] is not shared[0]
    through_tuple: list = []
    tup = (through_tuple,)
    through_tuple.append(tup)
    again = policy.private_copy(tup)
    assert again[0][0] is again and again[0] is not through_tuple


def test_a_deadline_stops_a_loop():
    src = "def perceive(x):\n    while true:\n        x = x + 1\n"
    with pytest.raises(policy.StageTimeout):
        run_contained("test", stages(src).perceive, (1,), {}, 0.05)


def test_helpers_take_any_text_the_caller_passed_but_bounded_text_the_stage_built():
    from dana_poet.poet.errors import POETInputError
    from dana_poet.poet.stage_runner import MAX_HELPER_TEXT, stage_helpers

    helpers = stage_helpers("f", {"amount": float, "return": float}, None)
    src = (
        "def perceive(amount):\n"
        "    if len(amount) < 10:\n"
        '        return {"amount": coerce(amount * 30000, "amount")}\n'
        '    return {"amount": coerce(amount, "amount")}\n'
    )
    perceive = stages(src, **helpers).perceive
    long_text = "1" * (MAX_HELPER_TEXT + 5) + "x"
    with pytest.raises(POETInputError, match="amount"):  # the caller's own text: parsed
        call(perceive, long_text)
    with pytest.raises(policy.PolicyViolation, match="built by stage code"):
        call(perceive, "12345x")
