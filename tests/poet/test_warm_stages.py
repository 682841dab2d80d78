"""Warm forms of admitted stage code (poet/warm_stages.py): each shortcut is taken only where
it provably changes nothing, and a warm call answers as the general path does."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

from dana_poet import poet
from dana_poet.poet import policy, safety, stage_runner
from dana_poet.poet.errors import POETError, POETTimeoutError
from dana_poet.poet.warm_stages import WarmStages, warm_stages

MODEL_STYLE = """
def perceive(score, income):
    \"\"\"Accept what callers pass.\"\"\"
    score = coerce(score, "score")
    income = coerce(income, "income")
    if score < 300 or score > 850:
        fail("score_range", f"score must be 300-850, got {score}")
    return {"score": score, "income": income}

def enforce(result, score, income):
    result = check_output(result)
    if result not in ["approved", "declined"]:
        fail("allowed_values", f"got {result}")
    return result
"""

HINTS: dict[str, Any] = {"score": int, "income": float, "return": str}


@pytest.fixture(autouse=True)
def _project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))


def _forms(
    code: str, language: str = "python", hints: dict[str, Any] | None = None, domain: Any = None
) -> tuple[policy.StageFunctions, WarmStages | None]:
    hints = hints or HINTS
    compiled, tree = policy.admit_with_tree(code, language)
    stages = policy.load(compiled, language, stage_runner.stage_helpers("f", hints, domain))
    checked = {name: t for name, t in hints.items() if name != "return"}
    return stages, warm_stages(tree, stages.namespace, checked, hints.get("return"))


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "value", fn(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return type(exc).__name__, str(exc)


def _perceive_agrees(stages: policy.StageFunctions, warm: WarmStages, *args: Any) -> None:
    """The warm Perceive answers as the admitted one on `args` (exact types)."""
    general = _outcome(stages.perceive, *args)
    picked = [a for a, n in zip(args, ("score", "income"), strict=False) if n in warm.perceive_args]
    fast = _outcome(warm.perceive, *picked)
    if general[0] != "value":
        assert fast == general
    elif warm.perceive_answer == "inputs":
        assert general[1] == dict(zip(("score", "income"), args, strict=True))
    elif warm.perceive_answer == "marked" and fast[1] is warm.marker:
        assert general[1] == dict(zip(("score", "income"), args, strict=True))
    else:
        assert fast == general


def test_model_style_stages_skip_the_helpers_and_return_their_inputs() -> None:
    stages, warm = _forms(MODEL_STYLE, "dana")
    assert warm is not None and warm.perceive is not None and warm.enforce is not None
    assert warm.perceive_answer == "inputs" and warm.perceive_args == ("score",)
    assert warm.enforce_answer == "input" and warm.enforce_args == ()
    assert warm.perceive.__code__.co_filename == safety.STAGE_FILENAME  # the audit hook sees it
    assert warm.enforce.__code__.co_filename == safety.STAGE_FILENAME
    for score in (300, 720, 850, 299, 851, -5):
        _perceive_agrees(stages, warm, score, 65000.0)
    for result in ("approved", "declined", "maybe", ""):
        assert _outcome(warm.enforce, result) == _outcome(stages.enforce, result, 720, 1.0)


def test_a_perceive_that_clamps_its_argument_keeps_the_dict_answer() -> None:
    code = (
        "def perceive(score, income):\n"
        "    score = coerce(score, 'score')\n"
        "    if score > 850:\n"
        "        score = 850\n"
        "    return {'score': score, 'income': income}\n"
    )
    stages, warm = _forms(code)
    assert warm is not None and warm.perceive_answer == "dict"  # the coerce skipped, that is all
    assert warm.perceive_args == ("score", "income")
    for score in (900, 700):
        _perceive_agrees(stages, warm, score, 1.0)

    @poet(_stage_code=code, _stage_language="python")
    def seen(score: int, income: float) -> int:
        return score

    assert [seen(900, 1.0) for _ in range(3)] == [850, 850, 850]
    assert seen(700, 1.0) == 700


def test_a_perceive_returning_a_changed_value_on_one_branch_is_checked_there() -> None:
    code = (
        "def perceive(score, income):\n"
        "    score = coerce(score, 'score')\n"
        "    if score > 850:\n"
        "        return {'score': 850, 'income': income}\n"
        "    if score < 0:\n"
        "        return {'score': income, 'income': income}\n"
        "    return {'score': score, 'income': income}\n"
    )
    stages, warm = _forms(code)
    assert warm is not None and warm.perceive_answer == "marked"
    assert _outcome(warm.perceive, 900, 2.0) == ("value", {"score": 850, "income": 2.0})
    assert _outcome(warm.perceive, 10, 2.0) == ("value", warm.marker)
    for score in (900, 10, -3):
        _perceive_agrees(stages, warm, score, 2.0)

    @poet(_stage_code=code, _stage_language="python")
    def seen(score: int, income: float) -> str:
        return f"{score!r} {income!r}"

    assert [seen(900, 2.0) for _ in range(3)] == ["850 2.0"] * 3
    assert seen(10, 2.0) == "10 2.0"
    err = io.StringIO()
    with redirect_stderr(err):
        assert seen(-3, 2.0) == "2 2.0"  # 2.0 re-coerced to the int 2, as the general path does


@pytest.mark.parametrize(
    "code",
    [
        # the coerce is not at the start: the parameter may have changed before it
        "def perceive(score, income):\n"
        "    if score > 10:\n"
        "        score = 0\n"
        "    score = coerce(score, 'score')\n"
        "    return {'score': score, 'income': income}\n",
        # a coerce into another parameter's type is not the identity
        "def perceive(score, income):\n"
        "    score = coerce(score, 'income')\n"
        "    return {'score': score, 'income': income}\n",
        # values swapped, a duplicate key, a computed value
        "def perceive(score, income):\n    return {'score': income, 'income': score}\n",
        "def perceive(score, income):\n"
        "    return {'score': score, 'score': score, 'income': income}\n",
        "def perceive(score, income):\n    return {'score': score + 0, 'income': income}\n",
        # a parameter bound again anywhere, even only as a loop or comprehension target
        "def perceive(score, income):\n"
        "    for score in [1, 2]:\n"
        "        pass\n"
        "    return {'score': score, 'income': income}\n",
        "def perceive(score, income):\n"
        "    xs = [score for score in range(3)]\n"
        "    return {'score': score, 'income': income}\n",
        "def perceive(score, income):\n"
        "    income += 1.0\n"
        "    return {'score': score, 'income': income}\n",
    ],
)
def test_no_unchanged_answer_where_a_value_may_have_changed(code: str) -> None:
    stages, warm = _forms(code)
    if warm is not None:
        assert warm.perceive_answer == "dict"
        for score in (5, 50):
            _perceive_agrees(stages, warm, score, 3.0)


def test_no_unchanged_answer_for_a_container_parameter() -> None:
    code = (
        "def perceive(items, income):\n"
        "    items = coerce(items, 'items')\n"
        "    return {'items': items, 'income': income}\n"
    )
    stages, warm = _forms(code, hints={"items": list, "income": float, "return": str})
    assert warm is not None and warm.perceive_answer == "dict"  # a list may be changed in place


def test_a_domain_coercer_keeps_its_coerce() -> None:
    from dana_poet.poet.domains import get_domain

    domain = get_domain("financial_services")
    code = (
        "def perceive(score, income):\n"
        "    score = coerce(score, 'score')\n"
        "    return {'score': score, 'income': income}\n"
    )
    helpers = stage_runner.stage_helpers("f", HINTS, domain)
    assert policy.G_EXACT + "score" not in helpers  # "score" words: the coercer sees every value
    _, warm = _forms(code, domain=domain)
    assert warm is None


def test_an_enforce_that_changes_or_may_change_its_result_is_checked() -> None:
    for body in (
        "    result = check_output(result)\n    result = result.upper()\n    return result\n",
        "    result = check_output(result)\n"
        "    if result == 'a':\n        return 'b'\n    return result\n",
        "    result = check_output(result)\n    if result == 'a':\n        return result\n",
    ):
        code = f"def enforce(result, score, income):\n{body}"
        stages, warm = _forms(code)
        assert warm is not None and warm.enforce_answer == "checked", body
        for result in ("a", "c"):
            assert _outcome(warm.enforce, result) == _outcome(stages.enforce, result, 1, 1.0)


def test_an_enforce_check_output_not_at_the_start_is_kept() -> None:
    code = (
        "def enforce(result, score, income):\n"
        "    if score > 5:\n"
        "        result = 'x'\n"
        "    result = check_output(result)\n"
        "    return result\n"
    )
    _, warm = _forms(code)
    assert warm is None


def test_a_float_given_an_int_and_a_bool_given_for_an_int_take_the_general_path() -> None:
    code = (
        "def perceive(score, income):\n"
        "    score = coerce(score, 'score')\n"
        "    income = coerce(income, 'income')\n"
        "    return {'score': score, 'income': income}\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def kinds(score: int, income: float) -> str:
        return f"{type(score).__name__} {type(income).__name__}"

    @poet()
    def builtin(score: int, income: float) -> str:
        return f"{type(score).__name__} {type(income).__name__}"

    for args in ((1, 2.0), (1, 2), (1, 2.0), (1, 2)):
        assert kinds(*args) == builtin(*args) == "int float"
    for f in (kinds, builtin):
        try:
            answer: Any = f(True, 2.0)
        except POETError as exc:
            answer = type(exc)
        if f is kinds:
            first = answer
        else:
            assert answer == first


def test_warm_forms_keep_the_guards_and_the_deadline() -> None:
    code = (
        "def perceive(score, income):\n"
        "    score = coerce(score, 'score')\n"
        "    while score > 0:\n"
        "        pass\n"
        "    return {'score': score, 'income': income}\n"
    )
    stages, warm = _forms(code)
    assert warm is not None and warm.perceive_answer == "inputs"
    assert policy.G_TICK in warm.perceive.__code__.co_names  # type: ignore[union-attr]

    @poet(_stage_code=code, _stage_language="python", timeout=0.3)
    def spins(score: int, income: float) -> int:
        return score

    assert spins(0, 1.0) == 0 and spins(0, 1.0) == 0  # published, then warm
    with pytest.raises(POETTimeoutError) as caught, redirect_stderr(io.StringIO()):
        spins(1, 1.0)
    assert caught.value.stage == "perceive"


def test_the_marker_cannot_be_named_by_stage_code() -> None:
    for code in (
        f"def perceive(n):\n    return {policy.G_UNCHANGED}\n",
        f"def perceive(n):\n    x = {policy.G_UNCHANGED}\n    return {{'n': n}}\n",
    ):
        with pytest.raises(policy.PolicyError):
            policy.admit(code, "python")


def test_the_model_style_function_answers_alike_on_both_paths() -> None:
    def decide(score: int, income: float) -> str:
        return "approved" if score >= 700 and income >= 50000 else "declined"

    generated = poet(_stage_code=MODEL_STYLE)(decide)
    assert generated.__poet__.stage_code
    for args in ((720, 65000.0), (650, 65000.0), (720, 1.0), ("720", "65000"), (720, 65000)):
        assert generated(*args) == generated(*args) == decide(int(args[0]), float(args[1]))
    warm_call, general_call = (
        poet(_stage_code=MODEL_STYLE)(decide),
        poet(_stage_code=MODEL_STYLE)(decide),
    )
    assert warm_call(720, 65000.0) == general_call(720, 65000.0)  # both published
    for fn, score in ((warm_call, 900), (general_call, "900")):
        err = io.StringIO()
        with redirect_stderr(err):
            assert fn(score, 65000.0) == "approved"  # fail() in Perceive: dropped, built-in answers
        assert "score must be 300-850, got 900" in err.getvalue()


def test_the_warm_path_calls_the_warm_forms_and_the_general_path_the_admitted_stages() -> None:
    def decide(score: int, income: float) -> str:
        return "approved" if score >= 700 else "declined"

    generated = poet(_stage_code=MODEL_STYLE)(decide)
    module = generated.__globals__  # the warm path's own globals
    guarded = module["_p_guarded"]
    warm_perceive, warm_enforce = module["_p_perceive"], module["_p_enforce_warm"]
    assert warm_perceive is not guarded.stages.perceive
    assert warm_perceive.__code__.co_varnames[:1] == ("score",)
    assert warm_enforce is not None and warm_enforce is not guarded.stages.enforce
    assert module["_p_enforce"] is guarded.stages.enforce  # for a result of another type
    assert [generated(720, 1.0) for _ in range(3)] == ["approved"] * 3


def test_template_perceive_with_a_model_enforce_uses_the_warm_enforce() -> None:
    code = (
        "def perceive(score, income):\n"
        "    score = coerce(score, 'score')\n"
        "    income = coerce(income, 'income')\n"
        "    return {'score': score, 'income': income}\n"
        "def enforce(result, score, income):\n"
        "    result = check_output(result)\n"
        "    if result not in ['approved', 'declined']:\n"
        "        fail('allowed', 'no')\n"
        "    return result\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def decide(score: int, income: float) -> str:
        return "approved" if score >= 700 else ("declined" if score >= 0 else "other")

    assert decide.__globals__["_p_enforce_warm"] is not None
    assert [decide(720, 1.0) for _ in range(3)] == ["approved"] * 3
    assert decide(10, 1.0) == "declined"
    with pytest.raises(POETError, match="no"):
        decide(-1, 1.0)


IDENTITY_CASES = [
    # (perceive body, enforce body, params, expected (perceive, enforce))
    (
        '    s = coerce(s, "s")\n    return {"s": s}',
        "    result = check_output(result)\n    return result",
        ["s"],
        (True, True),
    ),
    ('    return {"s": s, "t": t}', "    return result", ["s", "t"], (True, True)),
    (
        '    """Doc."""\n    t = coerce(t, "t")\n    return {"t": t, "s": s}',
        "    return result",
        ["s", "t"],
        (True, True),
    ),
    ('    s = coerce(s, "t")\n    return {"s": s}', "    return result", ["s"], (False, True)),
    (
        '    s = coerce(t, "t")\n    return {"s": s, "t": t}',
        "    return result",
        ["s", "t"],
        (False, True),
    ),
    ('    s = coerce(s, "s")\n    return {"s": s + 1}', "    return result", ["s"], (False, True)),
    ('    return {"s": s}', "    return result", ["s", "t"], (False, True)),
    ('    return {"s": s, "s": s}', "    return result", ["s", "t"], (False, True)),
    ('    x = 1\n    return {"s": s}', "    return result", ["s"], (False, True)),
    (
        '    return {"s": s}',
        "    result = check_output(result)\n    result = check_output(result)\n    return result",
        ["s"],
        (True, False),
    ),
    (
        '    return {"s": s}',
        "    result = check_output(result, 1)\n    return result",
        ["s"],
        (True, False),
    ),
    ('    return {"s": s}', "    return s", ["s"], (True, False)),
    ('    return {"result": result}', "    return result", ["result"], (False, False)),
]


@pytest.mark.parametrize(("perceive", "enforce", "params", "expected"), IDENTITY_CASES)
def test_identity_stages_are_exactly_the_stages_that_hand_back_their_input(
    perceive: str, enforce: str, params: list[str], expected: tuple[bool, bool]
) -> None:
    import ast

    from dana_poet.poet.warm_stages import identity_stages

    args = ", ".join(params)
    source = f"def perceive({args}):\n{perceive}\n\ndef enforce(result, {args}):\n{enforce}\n"
    assert identity_stages(ast.parse(source), params) == expected
