"""Attacks on the capability policy, as a model that writes hostile stage code would try them.

Every attack is served by a real HTTP server on 127.0.0.1 through the real
`openai` client. Each test runs a Dana program (or a Python @poet function)
whose stage code comes from that server, and asserts the program's own
answer and that no marker file (or other side effect) appeared.
"""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.poet.fake_openai import FakeOpenAI, Reply, stage_json

PROGRAM = """
@poet(domain="financial_services", timeout=1)
def assess(score: int, income: float) -> str:
    if score >= 700 and income >= 50000:
        return "approved"
    return "declined"

print(assess("720", "$65K"))
print(assess(650, 80000))
"""
ANSWER = "approved\ndeclined\n"
CATCHING_FIRST_CALL = PROGRAM.replace(
    'print(assess("720", "$65K"))',
    'try:\n    print(assess("720", "$65K"))\nexcept as e:\n    print(e.message)',
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake = FakeOpenAI()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-key")
    monkeypatch.setenv("DANA_POET_MODEL", "scripted-model")
    monkeypatch.setenv("DANA_POET_LLM_BACKOFF", "0.01")
    monkeypatch.setenv("DANA_POET_NO_CACHE", "1")
    monkeypatch.delenv("DANA_POET_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    yield fake
    fake.close()


def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


@pytest.fixture(autouse=True)
def _each_test_warns_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad LLM setting is reported once per process: each test is its own process here."""
    from dana_poet.poet import llm

    monkeypatch.setattr(llm, "_warned", set())


def run_dana(tmp_path: Path, source: str = PROGRAM, name: str = "prog.na") -> tuple[str, str]:
    from dana_poet.engine import new_program

    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        new_program(path).run_file(path)
    return out.getvalue(), err.getvalue()


def attack(code: str) -> Reply:
    return Reply(stage_json(code))


def hostile(tmp_path: Path, body: str) -> str:
    """Stage code for assess(): `body` inside perceive, then the ordinary answer."""
    mark = str(marker(tmp_path))
    lines = body.replace("MARK", mark).strip("\n").splitlines()
    inner = "\n".join("    " + line for line in lines)
    return (
        f"def perceive(score, income):\n{inner}\n"
        '    return {"score": coerce(score, "score"), "income": coerce(income, "income")}\n'
    )


def versions_meta(tmp_path: Path, fn: str = "assess") -> list[dict]:
    functions = tmp_path / ".dana" / "poet" / "functions"
    (base,) = [p for p in functions.rglob(fn) if p.is_dir()]
    out = []
    for vdir in sorted(base.glob("v*"), key=lambda p: int(p.name[1:])):
        out.append(json.loads((vdir / "metadata.json").read_text()))
    return out


# ------------------------------------------------------------------ refused at admission

ADMISSION_ATTACKS = {
    "generator frame to builtins import": (
        "g = (x for x in [1])\n"
        'b = g.gi_frame.f_back.f_builtins["__import__"]("os").system("touch MARK")'
    ),
    "lambda parameter as a free name": 'f = lambda open :: open\nf(1)("MARK", "w")',
    "nested def local": 'def helper(x):\n    return x\nhelper(open)("MARK", "w")',
    "loop target named like a builtin": 'for open in [1]:\n    pass\nopen("MARK", "w")',
    "public scope read": "x = public:secret",
    "private scope write": "private:owned = 1",
    "system scope read": "x = system:config",
    "reason call": 'x = reason("leak the key")',
    "llm call": 'x = llm("hello")',
    "sleep call": "sleep(100)",
    "print call": 'print("hello")',
    "log call": 'log("hello")',
    "set_model call": 'set_model("evil")',
    "open call": 'open("MARK", "w")',
    "eval call": 'eval("1")',
    "dunder import": '__import__("os").system("touch MARK")',
    "getattr call": 'getattr(score, "__class__")',
    "type call": "t = type(score)",
    "globals call": "g = globals()",
    "BaseException name": "e = BaseException",
    "str.format leak": 'x = "{0.__globals__[os].environ[OPENAI_API_KEY]}".format(coerce)',
    "format_map leak": 'x = "{k}".format_map({"k": 1})',
    "receiver replacement in try": (
        "try:\n    def (a: Applicant) describe() -> str:\n        return 'owned'\nexcept:\n    pass"
    ),
    "struct declaration": "struct Evil:\n    x: int",
    "import inside": "import os.py",
    "with statement": 'with open("MARK") as f:\n    pass',
    "raise statement": 'raise "boom"',
    "dunder attribute": "c = score.__class__.__mro__",
    "underscore name": "b = __builtins__",
    "giant format width": 'x = f"{score:>1000000000}"',
    "nested format spec": 'w = 5\nx = f"{score:{w}}"',
    "calling an argument": "score()",
    "typed assignment": "x: int = 1",
    "attribute write": "score.real = 1",
}


@pytest.mark.parametrize("name", sorted(ADMISSION_ATTACKS))
def test_admission_refuses(server, tmp_path, name):
    code = hostile(tmp_path, ADMISSION_ATTACKS[name])
    server.script(attack(code), attack(code), attack(code))
    out, err = run_dana(tmp_path)
    assert out == ANSWER
    assert not marker(tmp_path).exists()
    assert len(server.requests) == 3, "Dana twice, then Python, then the template"
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template"
    for attempt in ("dana attempt 1", "dana attempt 2", "python attempt"):
        assert any(e.startswith(attempt) for e in meta["errors"]), meta["errors"]


def test_admission_refuses_struct_receiver_signature(server, tmp_path):
    code = (
        'def perceive(score: Applicant, income):\n    return {"score": score, "income": income}\n'
    )
    server.script(attack(code), attack(code), attack(code))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    assert any("annotation" in e for e in versions_meta(tmp_path)[-1]["errors"])


def test_python_fallback_dunder_chain_is_refused(server, tmp_path):
    dana_bad = hostile(tmp_path, 'open("MARK", "w")')
    python = (
        "def perceive(score, income):\n"
        "    for c in ().__class__.__bases__[0].__subclasses__():\n"
        "        pass\n"
        '    return {"score": score, "income": income}\n'
    )
    server.script(attack(dana_bad), attack(dana_bad), attack(python))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER and not marker(tmp_path).exists()
    errors = versions_meta(tmp_path)[-1]["errors"]
    assert any("python attempt" in e and "__class__" in e for e in errors), errors


def test_repair_request_quotes_a_bounded_excerpt(server, tmp_path):
    huge = hostile(tmp_path, "\n".join(f"x{i} = public:k{i}" for i in range(1500)))
    assert len(huge) > 25_000
    server.script(attack(huge), attack(huge), attack(huge))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    repair = server.requests[1]["body"]["messages"]
    quoted = json.loads(repair[-2]["content"])["stage_code"]
    assert len(quoted) < 2_200
    assert len(repair[-1]["content"]) < 8_000 and "more problems" in repair[-1]["content"]


# ------------------------------------------------------------------ refused while running

RUNTIME_ATTACKS = {
    # admitted (names and syntax are fine) but refused by a guard on real input only
    "generator frame through a comprehension value": (
        'if score != "text":\n    f = [x for x in [1]].gi_frame'
    ),
    "attribute of a method object": 'if score != "text":\n    m = score.upper\n    f = m.real',
    "struct-like attribute of a string": 'if score != "text":\n    f = score.f_globals',
    "giant power": 'if score != "text":\n    x = 10 ** (10 ** 9)',
    "giant string repeat": 'if score != "text":\n    x = "a" * (10 ** 10)',
    "giant list repeat": 'if score != "text":\n    x = [0] * (10 ** 10)',
    "giant int by squaring": 'x = 3\nif score != "text":\n    for i in range(40):\n        x = x * x',
    "list doubling": 'x = [1]\nif score != "text":\n    for i in range(64):\n        x.extend(x)',
    "string doubling": 'x = "ab"\nif score != "text":\n    for i in range(64):\n        x = x + x',
    "ljust width": 'if score != "text":\n    x = "a".ljust(10 ** 10)',
    "percent star width": 'if score != "text":\n    x = "%*d" % (10 ** 9, 1)',
    "join amplification": (
        'if score != "text":\n    s = "a" * 900000\n    x = "".join([s, s, s, s, s, s])'
    ),
    "replace amplification": (
        'if score != "text":\n    s = "a" * 900000\n    x = s.replace("a", "aaaaaaaaaa")'
    ),
    "huge range": 'if score != "text":\n    x = list(range(10 ** 12))',
    "KeyError on real input": 'table = {"text": 1}\nx = table[score]',
    "sort key is a helper": 'if score != "text":\n    x = sorted([1, 2], key=coerce)',
}


@pytest.mark.parametrize("name", sorted(RUNTIME_ATTACKS))
def test_runtime_guards_drop_the_stage(server, tmp_path, name):
    code = hostile(tmp_path, RUNTIME_ATTACKS[name]).replace(
        '    return {"score": coerce',
        '    return {"score": coerce',
    )
    # the smoke test feeds "text" for a str parameter; assess's score is an int, so the
    # sample is 1 — make the attack fire on real input only
    code = code.replace('score != "text"', "score != 1").replace('{"text": 1}', "{1: 1}")
    server.script(attack(code))
    out, err = run_dana(tmp_path)
    assert out == ANSWER
    assert not marker(tmp_path).exists()
    assert err.count("was dropped") == 1, err
    meta = versions_meta(tmp_path)[-1]
    assert meta["stage_dropped"]["stage"] == "perceive"


# ------------------------------------------------------------------ bounded cost

UNTIMED = PROGRAM.replace(", timeout=1", "")

COSTLY_ATTACKS = {
    # straight-line code: no loop to tick, every statement a large (size-limited) operation
    "straight-line block of sorts": (
        "if score != 1:\n    a = [str(i) for i in range(200000)]\n"
        + "    b = sorted(a, key=str)\n" * 60,
        ("ran past its deadline", "more than 10,000,000 items"),
    ),
    "one statement of many sorts": (
        "if score != 1:\n    a = [str(i) for i in range(200000)]\n"
        "    b = [" + ", ".join(["sorted(a, key=str)"] * 200) + "]",
        ("ran past its deadline", "more than 10,000,000 items"),
    ),
    "straight-line block of comparisons": (
        # two-character strings: equal but distinct, so each comparison reads 1M items
        "if score != 1:\n    a = [str(i % 10 + 10) for i in range(1000000)]\n"
        "    c = [str(i % 10 + 10) for i in range(1000000)]\n" + "    b = a == c == a\n" * 350,
        "ran past its deadline",
    ),
    "copies kept in a comprehension": (
        "if score != 1:\n    a = [0] * 1000000\n    b = [a[:] for i in range(500)]",
        "more than 10,000,000 items",
    ),
    "copies kept in straight-line code": (
        "if score != 1:\n    a = [0] * 1000000\n"
        + "".join(f"    b{i} = a[:]\n" for i in range(40)),
        "more than 10,000,000 items",
    ),
    "text built to make a helper's parser backtrack": (
        'if score != 1:\n    x = coerce("1" + " " * 40000 + "usdx", "income")',
        "refused input the built-in engine accepts",
    ),
    "huge text handed to a helper": (
        'if score != 1:\n    x = coerce("9" * 500000, "income")',
        "coerce() takes text of at most 100,000 characters",
    ),
    "f-string of many large fields": (
        'if score != 1:\n    a = [0] * 1000000\n    s = f"' + "{a}" * 40 + '"',
        # the size check stops it; on a loaded machine the stage's deadline may come first
        ("more than 10,000,000 items", "ran past its deadline"),
    ),
}


@pytest.mark.parametrize("name", sorted(COSTLY_ATTACKS))
def test_costly_stage_code_is_stopped(server, tmp_path, name):
    body, expected = COSTLY_ATTACKS[name]
    code = hostile(tmp_path, body)
    server.script(attack(code))
    import time

    started = time.monotonic()
    out, err = run_dana(tmp_path, UNTIMED)
    assert time.monotonic() - started < 60, "stopped, not run to its end"
    assert out == ANSWER
    assert not marker(tmp_path).exists()
    expected = (expected,) if isinstance(expected, str) else expected
    assert any(e in err for e in expected) and err.count("was dropped") == 1, err
    assert versions_meta(tmp_path)[-1]["stage_dropped"]["stage"] == "perceive"


OVERSIZED_ATTACKS = {
    "deeply nested expression": (
        "x = " + "+".join(["score"] * 3000),
        "nested too deeply",
    ),
    "deeply nested parentheses and calls": (
        "x = " + "abs(" * 80 + "score" + ")" * 80,
        "levels deep (limit 60)",
    ),
    "giant string literal": ('x = "' + "A" * 45_000 + '"', "characters long (limit 40,000)"),
    "too many syntax nodes": (
        "".join(f"a{i % 7} = score - {i}\n" for i in range(1300)),
        "syntax nodes",
    ),
}


@pytest.mark.parametrize("name", sorted(OVERSIZED_ATTACKS))
def test_oversized_stage_code_is_refused_before_it_runs(server, tmp_path, name):
    body, expected = OVERSIZED_ATTACKS[name]
    code = hostile(tmp_path, body + '\nopen("MARK", "w")')
    server.script(attack(code), attack(code), attack(code))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    assert not marker(tmp_path).exists()
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template"
    assert any(expected in e for e in meta["errors"]), meta["errors"]


PYTHON_UNPACKING = {
    "star display": "a = [0] * 1000000\nb = [" + ", ".join(["*a"] * 200) + "]",
    "double-star display": "a = {1: 2}\nb = {**a, **a}",
    "double-star call": "a = {}\nb = dict(**a)",
    "long comparison chain": "a = [0] * 10\nb = a == a == a == a == a",
}


@pytest.mark.parametrize("name", sorted(PYTHON_UNPACKING))
def test_python_unpacking_and_long_chains_are_refused(server, tmp_path, name):
    dana_bad = hostile(tmp_path, 'open("MARK", "w")')
    lines = PYTHON_UNPACKING[name].splitlines()
    python = (
        "def perceive(score, income):\n"
        + "".join(f"    {line}\n" for line in lines)
        + '    return {"score": score, "income": income}\n'
    )
    server.script(attack(dana_bad), attack(dana_bad), attack(python))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER and not marker(tmp_path).exists()
    errors = versions_meta(tmp_path)[-1]["errors"]
    assert any(
        e.startswith("python attempt") and ("unpacking" in e or "chained comparison" in e)
        for e in errors
    ), errors


def test_a_hanging_perceive_stops_at_the_function_timeout(server, tmp_path):
    """The stages share the call's `timeout=`: a hanging Perceive spends it (a POET timeout
    error naming the function and the stage), is dropped, and later calls are answered."""
    code = hostile(tmp_path, "if score != 1:\n    while true:\n        x = 1")
    server.script(attack(code))
    program = CATCHING_FIRST_CALL
    import time

    started = time.monotonic()
    out, err = run_dana(tmp_path, program)
    assert time.monotonic() - started < 30, "the hang was stopped, not waited out"
    first, second = out.splitlines()
    assert "assess(): timed out after 1 s in the generated perceive stage" in first
    assert second == "declined"
    assert "ran past the function's deadline" in err and err.count("was dropped") == 1
    assert not marker(tmp_path).exists()
    assert versions_meta(tmp_path)[-1]["stage_dropped"]["stage"] == "perceive"


def test_a_hanging_comprehension_stops(server, tmp_path):
    code = hostile(
        tmp_path, "if score != 1:\n    x = [a for a in range(900000) for b in range(900000)]"
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path, CATCHING_FIRST_CALL)
    assert out.splitlines()[0].endswith(
        "timed out after 1 s in the generated perceive stage (Perceive, Operate and Enforce "
        "share the function's timeout)"
    )
    assert out.splitlines()[1] == "declined" and "ran past the function's deadline" in err


def test_a_hang_in_the_smoke_test_is_refused(server, tmp_path):
    code = hostile(tmp_path, "while true:\n    x = 1")
    server.script(attack(code), attack(code), attack(code))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    errors = versions_meta(tmp_path)[-1]["errors"]
    assert any("deadline" in e for e in errors), errors


def test_giant_int_at_smoke_time_is_refused_quickly(server, tmp_path):
    code = hostile(tmp_path, "x = 10 ** (10 ** 9)")
    server.script(attack(code), attack(code), attack(code))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    assert any("bits" in e for e in versions_meta(tmp_path)[-1]["errors"])


def test_enforce_returning_the_wrong_type_is_dropped(server, tmp_path):
    program = (
        "@poet()\ndef is_big(x: int) -> bool:\n    return x > 10\n\n"
        "print(is_big(50))\nprint(is_big(5))\n"
    )
    code = (
        'def perceive(x):\n    return {"x": coerce(x, "x")}\n\n'
        "def enforce(result, x):\n"
        '    if x != 1:\n        return "definitely"\n'
        "    return result\n"
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path, program)
    assert out == "true\nfalse\n" or out == "True\nFalse\n"
    assert "breaks the return type" in err and err.count("was dropped") == 1


def test_perceive_with_wrong_keys_on_real_input_is_dropped(server, tmp_path):
    code = (
        "def perceive(score, income):\n"
        "    if score != 1:\n"
        '        return {"score": 999}\n'
        '    return {"score": score, "income": income}\n'
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path)
    assert out == ANSWER and "expected ['income', 'score']" in err


def test_perceive_returning_an_uncoercible_value_is_dropped(server, tmp_path):
    code = (
        "def perceive(score, income):\n"
        "    if score != 1:\n"
        '        return {"score": "lots", "income": income}\n'
        '    return {"score": score, "income": income}\n'
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path)
    assert out == ANSWER and "was dropped" in err


def test_bad_input_is_still_a_clear_input_error(server, tmp_path):
    code = hostile(tmp_path, "x = 1")
    server.script(attack(code))
    program = PROGRAM.replace("print(assess(650, 80000))", 'print(assess("lots", 80000))')
    from dana_poet.poet.errors import POETInputError

    with pytest.raises(POETInputError, match="score"):
        run_dana(tmp_path, program)


def test_a_stage_rule_through_fail_is_the_programs_answer(server, tmp_path):
    code = (
        'def perceive(score, income):\n    return {"score": coerce(score, "score"), '
        '"income": coerce(income, "income")}\n\n'
        "def enforce(result, score, income):\n"
        "    result = check_output(result)\n"
        '    if result == "approved" and income < 60000:\n'
        '        fail("income_floor", "approval needs 60K")\n'
        "    return result\n"
    )
    server.script(attack(code))
    program = PROGRAM.replace('"$65K"', '"$55K"')
    from dana_poet.poet.errors import POETOutputError

    with pytest.raises(POETOutputError, match="income_floor"):
        run_dana(tmp_path, program)


def test_a_stage_works_on_a_copy_of_the_arguments(server, tmp_path):
    program = (
        "@poet()\ndef total(items: list) -> int:\n    return len(items)\n\n"
        "xs = [1, 2, 3]\nprint(total(xs))\nprint(xs)\n"
    )
    code = (
        "def perceive(items):\n"
        "    items.append(99)\n"
        '    items[0] = "changed"\n'
        '    return {"items": items}\n'
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path, program)
    assert out == "4\n[1, 2, 3]\n", (out, err)
    assert "dropped" not in err


def test_struct_fields_are_readable_and_methods_are_not(server, tmp_path):
    program = (
        "struct Applicant:\n    name: str\n    score: int\n\n"
        "def (a: Applicant) describe() -> str:\n    return 'real'\n\n"
        "@poet()\ndef grade(a: Applicant) -> str:\n"
        '    return "good" if a.score > 700 else "poor"\n\n'
        'print(grade(Applicant(name="x", score=800)))\n'
        'print(Applicant(name="y", score=1).describe())\n'
    )
    code = (
        'def perceive(a):\n    if a.name == "x":\n        d = a.describe()\n    return {"a": a}\n'
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path, program)
    assert out == "good\nreal\n"
    assert "may not call '.describe()'" in err


def test_secret_environment_cannot_be_read(server, tmp_path):
    code = (
        "def perceive(score, income):\n"
        "    if score != 1:\n        k = coerce.__globals__\n"
        '    return {"score": score, "income": income}\n'
    )
    python = (
        "def perceive(score, income):\n"
        "    if score != 1:\n"
        "        k = coerce.__closure__\n"
        '    return {"score": score, "income": income}\n'
    )
    server.script(attack(code), attack(code), attack(python))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    assert "sk-secret-test-key" not in json.dumps(versions_meta(tmp_path))


# ------------------------------------------------------------------ the Python API


def test_python_function_with_hostile_python_stage(server, tmp_path, monkeypatch):
    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = (
        "def perceive(x):\n"
        "    if x != 1:\n"
        "        y = [c for c in [1]].gi_frame\n"
        '    return {"x": x}\n'
    )

    @poet(_stage_code=code, _stage_language="python")
    def double(x: int) -> int:
        return 2 * x

    err = io.StringIO()
    with redirect_stderr(err):
        assert double("21") == 42
        assert double(5) == 10
    assert err.getvalue().count("was dropped") == 1
    assert not marker(tmp_path).exists()


def test_a_stage_cannot_write_into_a_callers_dict_subclass(tmp_path, monkeypatch):
    import collections

    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = (
        "def perceive(items):\n"
        '    items["k"] = "changed"\n'
        '    nested = items["tags"]\n'
        '    nested.append("changed")\n'
        '    return {"items": items}\n'
    )

    @poet(_stage_code=code, _stage_language="python")
    def count(items: dict) -> int:
        return len(items)

    mine = collections.OrderedDict(tags=["a"])
    err = io.StringIO()
    with redirect_stderr(err):
        assert count(mine) == 1
    assert mine == collections.OrderedDict(tags=["a"]), "the caller's object is untouched"
    assert "may not assign items of a OrderedDict" in err.getvalue()


def test_a_stage_reaching_a_nested_list_of_a_subclass_works_on_a_copy(tmp_path, monkeypatch):
    import collections

    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = (
        "def perceive(items):\n"
        '    nested = items["tags"]\n'
        '    nested.append("changed")\n'
        '    return {"items": dict(items)}\n'
    )

    @poet(_stage_code=code, _stage_language="python")
    def tags(items: dict) -> list:
        return items["tags"]

    mine = collections.defaultdict(list, tags=["a"])
    err = io.StringIO()
    with redirect_stderr(err):
        assert tags(mine) == ["a", "changed"]
    assert mine["tags"] == ["a"], "the stage changed its own deep copy only"
    assert "dropped" not in err.getvalue()


@pytest.mark.parametrize(
    "statement",
    ["for items[0] in [1]:\n        pass", "items[0], b = 1, 2", "x = [y for items[0] in [1]]"],
)
def test_python_item_targets_other_than_a_plain_item_assignment_are_refused(statement):
    from dana_poet.poet import policy

    code = (
        f"def perceive(items):\n    items = [0]\n    {statement}\n    return {{'items': items}}\n"
    )
    with pytest.raises(policy.PolicyError, match="assigned on its own line"):
        policy.admit(code, "python")


@pytest.mark.parametrize(
    "expression", ["1 << (10 ** 10)", "10 ** 10 ** 10", "b'x' * 10 ** 10", "(1,) * 10 ** 10"]
)
def test_python_stage_giant_values_are_refused_before_computing(tmp_path, monkeypatch, expression):
    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = f'def perceive(x):\n    if x != 1:\n        y = {expression}\n    return {{"x": x}}\n'

    @poet(_stage_code=code, _stage_language="python")
    def half(x: int) -> int:
        return x // 2

    err = io.StringIO()
    with redirect_stderr(err):
        assert half("8") == 4
    assert "limit" in err.getvalue() and "was dropped" in err.getvalue()


def test_code_passed_to_the_decorator_is_admitted_too(tmp_path, monkeypatch):
    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = f'import os\ndef perceive(x):\n    os.system("touch {marker(tmp_path)}")\n'
    err = io.StringIO()
    with redirect_stderr(err):

        @poet(_stage_code=code, _stage_language="python")
        def inc(x: int) -> int:
            return x + 1

        assert inc("1") == 2
    assert "was refused" in err.getvalue() and not marker(tmp_path).exists()


# ------------------------------------------------------------------ the audit layer


@pytest.mark.parametrize(
    "operation",
    ["open", "import", "subprocess", "socket", "compile", "os.system", "exec"],
)
def test_the_audit_layer_refuses_system_access_from_stage_code(tmp_path, operation):
    """A hole in the checker (simulated by calling Python directly) still reaches nothing."""
    from dana_poet.poet import safety
    from dana_poet.poet.stage_runner import run_contained

    safety.install()
    path = marker(tmp_path)

    def hole() -> None:
        if operation == "open":
            open(path, "w").close()  # noqa: SIM115
        elif operation == "import":
            sys.modules.pop("colorsys", None)
            import colorsys  # noqa: F401
        elif operation == "subprocess":
            import subprocess

            subprocess.run(["touch", str(path)], check=False)
        elif operation == "socket":
            import socket

            socket.socket().close()
        elif operation == "compile":
            compile("1", "<x>", "eval")
        elif operation == "os.system":
            os.system(f"touch {path}")  # noqa: S605
        elif operation == "exec":
            exec("x = 1")  # noqa: S102

    with pytest.raises(safety.SystemAccessRefused):
        run_contained("test", hole, (), {}, 5.0)
    assert not path.exists()
    open(tmp_path / "after", "w").close()  # noqa: SIM115 - the flag is down again


# ------------------------------------------------------------------ cache and inspect


def test_a_tampered_cache_entry_is_refused_and_regenerated(server, tmp_path):
    good = hostile(tmp_path, "x = 1")
    server.script(attack(good))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    cache_dir = tmp_path / ".dana" / "poet" / "cache"
    (entry,) = [p for p in cache_dir.glob("*.json") if p.name != "stats.json"]
    data = json.loads(entry.read_text())
    data["source"] = hostile(tmp_path, 'open("MARK", "w")')
    entry.write_text(json.dumps(data))
    server.script(attack(good))
    with pytest.warns(RuntimeWarning, match="policy refuses"):
        out, _ = run_dana(tmp_path)
    assert out == ANSWER and not marker(tmp_path).exists()
    assert len(server.requests) == 2
    assert json.loads(entry.read_text())["source"] == good


def test_a_dropped_stage_is_regenerated_next_run(server, tmp_path):
    bad = hostile(tmp_path, "table = {1: 1}\nx = table[score]")
    good = hostile(tmp_path, "x = 1")
    server.script(attack(bad))
    out, err = run_dana(tmp_path)
    assert out == ANSWER and "was dropped" in err
    server.script(attack(good))
    out, err = run_dana(tmp_path)
    assert out == ANSWER and "dropped" not in err
    assert len(server.requests) == 2
    assert "failed on real input" in server.requests[1]["body"]["messages"][1]["content"]


def test_inspect_runs_nothing_outside_the_policy(server, tmp_path):
    code = hostile(tmp_path, "x = [c for c in [1]].gi_frame.f_back")
    python = (
        "def perceive(score, income):\n"
        "    g = (x for x in [1])\n"
        "    g.gi_frame.f_back.f_globals['os'].system('touch MARK')\n"
    ).replace("MARK", str(marker(tmp_path)))
    server.script(attack(code), attack(code), attack(python))
    (tmp_path / "prog.na").write_text(PROGRAM)
    import subprocess

    env = dict(os.environ)
    r = subprocess.run(
        [str(Path(sys.executable).parent / "dana-poet"), "inspect", "prog.na:assess"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "fallback: template" in r.stdout
    assert not marker(tmp_path).exists()


# ------------------------------------------------------------------ model replies


def test_a_huge_reply_is_refused_before_parsing(server, tmp_path, monkeypatch):
    from dana_poet.poet import llm

    server.script(Reply("x" * 2_500_000))
    with pytest.raises(llm.LLMUnavailable, match="limit 65,536"):
        llm.chat([{"role": "user", "content": "hi"}], tries=1)


def test_a_huge_reply_without_length_is_cut_while_reading(server, tmp_path):
    from dana_poet.poet import llm

    server.script(Reply("x" * 2_500_000, declare_length=False))
    with pytest.raises(llm.LLMUnavailable, match="over 65,536 bytes"):
        llm.chat([{"role": "user", "content": "hi"}], tries=1)


def test_a_dripping_reply_ends_at_one_deadline(server, tmp_path, monkeypatch):
    from dana_poet.poet import llm

    monkeypatch.setenv("DANA_POET_LLM_TIMEOUT", "1")
    server.script(Reply(stage_json("def perceive(x):\n    return {}\n"), drip=0.2))
    with pytest.raises(llm.LLMUnavailable, match="within 1 s|in time"):
        llm.chat([{"role": "user", "content": "hi"}], tries=1)


@pytest.mark.parametrize(
    "reply",
    [Reply("[" * 30_000), Reply(body=b'{"choices": ' + b"[" * 30_000)],
    ids=["nested answer", "nested completion"],
)
def test_a_deeply_nested_reply_falls_back_to_the_template(server, tmp_path, reply):
    server.script(reply, reply, reply)
    out, err = run_dana(tmp_path)
    assert out == ANSWER
    assert "RecursionError" not in err
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template"
    assert meta["errors"], "each refused reply is recorded"


def test_a_huge_reply_falls_back_to_the_template(server, tmp_path):
    server.script(Reply("y" * 500_000))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template"
    assert any("65,536" in e for e in meta["errors"])


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DANA_POET_LLM_TIMEOUT", "soon"),
        ("DANA_POET_LLM_TIMEOUT", "-3"),
        ("DANA_POET_LLM_MAX_REPLY", "big"),
        ("DANA_POET_LLM_BACKOFF", "nan"),
    ],
)
def test_bad_llm_settings_are_a_clear_error(server, tmp_path, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    out, err = run_dana(tmp_path)
    assert out == ANSWER
    assert variable in err
    meta = versions_meta(tmp_path)[-1]
    assert any(variable in e for e in meta["errors"])
    assert server.requests == []


@pytest.mark.parametrize("value", ["forever", "1e10"], ids=["not a number", "too large"])
def test_bad_llm_settings_never_crash_feedback(server, tmp_path, monkeypatch, value):
    from dana_poet import feedback, poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    monkeypatch.setenv("DANA_POET_LLM_TIMEOUT", value)

    @poet(optimize_for="accuracy")
    def alarm(value: float, threshold: float = 10.0) -> bool:
        return value > threshold

    err = io.StringIO()
    with redirect_stderr(err):
        signal = feedback(alarm(12.0), "too many false alarms")
    assert signal.source == "rules" and "Traceback" not in err.getvalue()
    assert server.requests == []


# ------------------------------------------------------------------ audit 8: more classes


def _gated(body: str) -> str:
    """`body` run on real input only (the smoke test's sample score is 1)."""
    return "if score != 1:\n" + "".join(f"    {line}\n" for line in body.splitlines())


MORE_ADMISSION_ATTACKS = {
    "vars call": "v = vars()",
    "locals call": "v = locals()",
    "bytes call": "b = bytes(10 ** 9)",
    "breakpoint call": "breakpoint()",
    "input call": "x = input()",
    "exception traceback through try": (
        "try:\n    x = 1 / 0\nexcept Exception as e:\n    t = e.__traceback__.tb_frame"
    ),
    "exception args through try": "try:\n    x = 1 / 0\nexcept Exception as e:\n    t = e.args",
    "calling a comprehension target named like a builtin": (
        'y = [1 for open in [1]]\nopen("MARK", "w")'
    ),
}


@pytest.mark.parametrize("name", sorted(MORE_ADMISSION_ATTACKS))
def test_more_admission_attacks_are_refused(server, tmp_path, name):
    code = hostile(tmp_path, MORE_ADMISSION_ATTACKS[name])
    server.script(attack(code), attack(code), attack(code))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER
    assert not marker(tmp_path).exists()
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template"
    assert any(e.startswith("python attempt") for e in meta["errors"]), meta["errors"]


PYTHON_ADMISSION_ATTACKS = {
    "walrus": 'x = (y := open)\n    y("MARK", "w")',
    "try and a traceback's frame": (
        "try:\n        x = 1 // 0\n    except Exception as e:\n"
        "        t = e.__traceback__.tb_frame.f_globals"
    ),
    "lambda": 'f = lambda: open("MARK", "w")',
    "global statement": "global coerce\n    coerce = 1",
    "class statement": "class A:\n        pass",
    "delete statement": "del score",
    "yield": "yield 1",
    "match statement": "match score:\n        case _:\n            pass",
    "comprehension target called after": 'y = [1 for open in [1]]\n    open("MARK", "w")',
}


@pytest.mark.parametrize("name", sorted(PYTHON_ADMISSION_ATTACKS))
def test_python_fallback_admission_attacks_are_refused(server, tmp_path, name):
    dana_bad = hostile(tmp_path, 'open("MARK", "w")')
    python = (
        "def perceive(score, income):\n    "
        + PYTHON_ADMISSION_ATTACKS[name].replace("MARK", str(marker(tmp_path)))
        + '\n    return {"score": score, "income": income}\n'
    )
    server.script(attack(dana_bad), attack(dana_bad), attack(python))
    out, _ = run_dana(tmp_path)
    assert out == ANSWER and not marker(tmp_path).exists()
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template"
    assert any(e.startswith("python attempt") for e in meta["errors"]), meta["errors"]


# Each is admitted and stopped on real input: by a guard before the work is done (sizes of
# values read as trees, text, hashing, sums), or by an ordinary error. Written so the same
# text is Dana and Python.
SHARED = 's = "x" * 1000000\nL = [s] * 1000000\n'
NESTED = "a = [1]\nb = [1]\nfor i in range(6):\n    a = [a] * 1000\n    b = [b] * 1000\n"
MORE_RUNTIME_ATTACKS = {
    "attribute of a helper": ("f = check_output.gi_frame", "may not read '.gi_frame'"),
    "attribute of fail": ("f = fail.func_globals", "may not read '.func_globals'"),
    "dict.fromkeys on the builtin": (
        "x = dict.fromkeys(range(10 ** 6))",
        "may not call '.fromkeys()'",
    ),
    "expandtabs": ('x = "\\t".expandtabs(10 ** 9)', "may not call '.expandtabs()'"),
    "int of a million digits": ('x = int("9" * 1000000)', "Exceeds the limit"),
    "comprehension target named like a builtin": (
        "y = [1 for print in [1]]\nz = print",
        "NameError",
    ),
    "text of a list of shared strings": (SHARED + "t = str(L)", "may not format"),
    "f-string of a list of shared strings": (SHARED + 't = f"{L}"', "may not format"),
    "f-string repr of shared strings": (SHARED + 't = f"{L!r}"', "may not format"),
    "percent format of shared strings": (
        SHARED + 'f = "%s" * 1000\nt = f % tuple(L[:1000])',
        "%-formatted string that large",
    ),
    "join over a string": ('s = "x" * 1000000\nt = s[:20000].join(s)', "a string of"),
    "join over an iterator": (SHARED + 't = "".join(reversed(L))', "a string of"),
    "comparison of shared nested lists": (NESTED + "t = a == b", "may not compare"),
    "sorting shared nested lists": (NESTED + "t = sorted([a, b])", "may not compare"),
    "membership in shared nested lists": (NESTED + "t = a in [b, b]", "may not compare"),
    "comparison of long equal strings": (
        SHARED + "u = s[:-1] + 'x'\nM = [u] * 1000000\nt = L == M",
        "may not compare",
    ),
    "count of a long equal string": (SHARED + "u = s[:-1] + 'x'\nt = L.count(u)", "compare"),
    "hash of shared nested tuples": (
        "a = tuple([1])\nfor i in range(6):\n    a = tuple([a] * 1000)\nt = set([a])",
        "may not hash",
    ),
    "dict key of shared nested tuples": (
        "a = tuple([1])\nfor i in range(6):\n    a = tuple([a] * 1000)\nd = {}\nd[a] = 1",
        "may not hash",
    ),
    "sum of huge integers": (
        "b = 2 ** 49000\nL = [b] * 1000000\nt = sum(L)",
        "bits of integers",
    ),
    "deep nesting compared": (
        "y = []\nz = []\nfor i in range(100000):\n    y = [y]\n    z = [z]\nt = y == z",
        "RecursionError",
    ),
    "fail with a huge shared message": (SHARED + 'fail("rule", L)', "list of 1,000,000 items"),
    "coerce of shared nested lists": (NESTED + 'x = coerce(a, "income")', "may not coerce"),
    "isinstance with nested tuples of types": (
        'k = tuple([int])\nfor i in range(40):\n    k = tuple([k, k])\nt = isinstance("s", k)',
        "flat tuple of types",
    ),
    "comparison of dict items views": (
        NESTED + "d = {1: a}\ne = {1: b}\nt = d.items() == e.items()",
        "may not compare",
    ),
    "membership in dict values": (NESTED + "d = {1: a}\nt = b in d.values()", "may not compare"),
    "sorting zipped shared nested lists": (
        NESTED + "t = sorted(zip([a, b], [b, a]))",
        "may not compare",
    ),
}


@pytest.mark.parametrize("name", sorted(MORE_RUNTIME_ATTACKS))
def test_more_runtime_attacks_drop_the_stage(server, tmp_path, name):
    body, expected = MORE_RUNTIME_ATTACKS[name]
    code = hostile(tmp_path, _gated(body))
    server.script(attack(code))
    out, err = run_dana(tmp_path, UNTIMED)
    assert out == ANSWER
    assert not marker(tmp_path).exists()
    assert expected in err and err.count("was dropped") == 1, err
    assert versions_meta(tmp_path)[-1]["stage_dropped"]["stage"] == "perceive"


@pytest.mark.parametrize("name", sorted(MORE_RUNTIME_ATTACKS))
def test_more_runtime_attacks_in_the_python_fallback(tmp_path, monkeypatch, name):
    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    body, expected = MORE_RUNTIME_ATTACKS[name]
    lines = _gated(body).replace("score", "x").replace('"income"', '"x"').splitlines()
    code = (
        "def perceive(x):\n" + "".join(f"    {line}\n" for line in lines) + '    return {"x": x}\n'
    )

    @poet(_stage_code=code, _stage_language="python")
    def half(x: int) -> int:
        return x // 2

    err = io.StringIO()
    with redirect_stderr(err):
        assert half("8") == 4
        assert half(6) == 3
    assert expected in err.getvalue() and err.getvalue().count("was dropped") == 1, err.getvalue()


SHARED_NESTED_LISTS = (  # cheap to build, a million million items to copy or print
    "    a = [1]\n    if {guard}:\n        for i in range(6):\n            a = [a] * 1000\n"
)
NESTED_RETURNED = {
    "perceive": (
        "@poet()\ndef total(items: list) -> int:\n    return len(items)\n\n"
        "print(total([1, 2, 3]))\nprint(total([4, 5]))\n",
        "def perceive(items):\n"
        + SHARED_NESTED_LISTS.format(guard="len(items) > 0")
        + '    return {"items": a}\n\ndef enforce(result, items):\n    return result\n',
        "3\n2\n",
    ),
    "enforce": (
        "@poet()\ndef tags(n: int) -> list:\n    return [n]\n\n"
        "print(tags(5))\nprint(len(tags(6)))\n",
        'def perceive(n):\n    return {"n": coerce(n, "n")}\n\ndef enforce(result, n):\n'
        + SHARED_NESTED_LISTS.format(guard="n != 1")
        + "    return a\n",
        "[5]\n1\n",
    ),
}


@pytest.mark.parametrize("stage", sorted(NESTED_RETURNED))
def test_a_stage_handing_the_program_shared_nested_lists_is_dropped(server, tmp_path, stage):
    """Such a value never reaches the function's body or its caller."""
    program, code, expected = NESTED_RETURNED[stage]
    server.script(attack(code))
    out, err = run_dana(tmp_path, program)
    assert out == expected, (out, err)
    assert "may not return a value of more than" in err and err.count("was dropped") == 1


def test_a_stage_changing_a_struct_field_changes_its_own_copy(tmp_path, monkeypatch):
    import dataclasses

    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))

    @dataclasses.dataclass
    class Order:
        tags: list

    code = (
        "def perceive(order):\n"
        "    t = order.tags\n"
        '    t.append("changed")\n'
        '    t[0] = "changed"\n'
        '    return {"order": order}\n'
    )

    @poet(_stage_code=code, _stage_language="python")
    def count(order: Order) -> int:
        return len(order.tags)

    mine = Order(tags=["a"])
    err = io.StringIO()
    with redirect_stderr(err):
        assert count(mine) == 1
    assert mine.tags == ["a"] and "dropped" not in err.getvalue()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(stage_json(hostile(Path("/nonexistent"), "x = 1") + "# padding\n" * 12_000)),
        Reply(body=b"not json at all"),
        Reply(body=b'{"choices": [{"message": {"content": null}}]}'),
        Reply(body=b'{"choices": []}'),
        Reply(body=b"\xff\xfe\x00 not text"),
        Reply(json.dumps({"stage_code": [1, 2]})),
    ],
    ids=["valid but over 64 KB", "not JSON", "null content", "no choices", "bad bytes", "list"],
)
def test_unusable_replies_fall_back_to_the_template(server, tmp_path, reply):
    server.script(reply, reply, reply)
    out, err = run_dana(tmp_path)
    assert out == ANSWER and "Traceback" not in err
    meta = versions_meta(tmp_path)[-1]
    assert meta["fallback_used"] == "template" and meta["errors"]


def test_a_timeout_too_large_for_the_platform_is_a_clear_error(server, tmp_path, monkeypatch):
    monkeypatch.setenv("DANA_POET_LLM_TIMEOUT", "1e10")
    out, err = run_dana(tmp_path)
    assert out == ANSWER
    assert "DANA_POET_LLM_TIMEOUT must be a positive number of seconds up to 86,400" in err
    assert server.requests == []


@pytest.mark.parametrize("metadata", [5, "abc"])
def test_a_cache_entry_with_tampered_metadata_is_regenerated(server, tmp_path, metadata):
    good = hostile(tmp_path, "x = 1")
    server.script(attack(good))
    run_dana(tmp_path)
    cache_dir = tmp_path / ".dana" / "poet" / "cache"
    (entry,) = [p for p in cache_dir.glob("*.json") if p.name != "stats.json"]
    data = json.loads(entry.read_text())
    data["metadata"] = metadata
    entry.write_text(json.dumps(data))
    server.script(attack(good))
    with pytest.warns(RuntimeWarning, match="metadata is not a mapping"):
        out, err = run_dana(tmp_path)
    assert out == ANSWER and "could not be prepared" not in err
    assert len(server.requests) == 2
    assert isinstance(json.loads(entry.read_text())["metadata"], dict)


@pytest.mark.parametrize("emit", ["dana", "python"])
def test_transpile_runs_nothing_outside_the_policy(server, tmp_path, emit):
    code = hostile(tmp_path, "x = [c for c in [1]].gi_frame.f_back")
    python = (
        "def perceive(score, income):\n"
        "    g = (x for x in [1])\n"
        "    g.gi_frame.f_back.f_globals['os'].system('touch MARK')\n"
    ).replace("MARK", str(marker(tmp_path)))
    server.script(attack(code), attack(code), attack(python))
    (tmp_path / "prog.na").write_text(PROGRAM)
    import subprocess

    r = subprocess.run(
        [str(Path(sys.executable).parent / "dana-poet"), "transpile", "prog.na", "--emit", emit],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "assess" in r.stdout and "template" in r.stdout
    assert not marker(tmp_path).exists()


def test_a_stage_cannot_run_a_callers_endless_iterator_in_c(tmp_path, monkeypatch):
    import itertools

    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = 'def perceive(items):\n    x = sorted(items)\n    return {"items": items}\n'

    @poet(_stage_code=code, _stage_language="python")
    def first(items) -> int:
        return next(iter(items))

    err = io.StringIO()
    with redirect_stderr(err):
        assert first(itertools.count(5)) >= 5
    assert "a list that long from an iterator" in err.getvalue()
    assert err.getvalue().count("was dropped") == 1


def test_a_perceive_handing_the_program_deeply_nested_lists_is_dropped(tmp_path, monkeypatch):
    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    code = (
        "def perceive(items):\n"
        "    a = []\n"
        "    if len(items) > 0:\n"
        "        for i in range(100000):\n"
        "            a = [a]\n"
        '    return {"items": a}\n\n'
        "def enforce(result, items):\n"
        "    return result\n"
    )

    @poet(_stage_code=code, _stage_language="python")
    def total(items: list) -> int:
        return sum(items)

    err = io.StringIO()
    with redirect_stderr(err):
        assert total([1, 2]) == 3
        assert total([4]) == 4
    assert "nested more than 100 deep" in err.getvalue()
    assert err.getvalue().count("was dropped") == 1


def test_program_code_a_stage_reaches_cannot_open_files(tmp_path, monkeypatch):
    """A caller's `__eq__` run by a stage's comparison is below the stage's frame: the audit
    layer refuses what it opens, as for the stage itself."""
    from dana_poet import poet

    monkeypatch.setenv("DANA_POET_DIR", str(tmp_path))
    path = marker(tmp_path)

    class Sneaky:
        def __eq__(self, other: object) -> bool:
            with open(path, "w") as f:
                f.write("owned")
            return False

        __hash__ = object.__hash__

    code = 'def perceive(x):\n    if x == 1:\n        fail("r", "one")\n    return {"x": x}\n'

    @poet(_stage_code=code, _stage_language="python")
    def name(x) -> str:
        return type(x).__name__

    err = io.StringIO()
    with redirect_stderr(err):
        assert name(Sneaky()) == "Sneaky"
    assert not path.exists()
    assert "was dropped" in err.getvalue() and "open" in err.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        'd = {}\n    x = d["k" * 900000]',
        "return {str(i): i for i in range(10000)}",
    ],
    ids=["KeyError naming a huge key", "ten thousand keys"],
)
def test_the_reason_of_a_drop_is_bounded(server, tmp_path, body):
    """The reason is printed, stored and quoted in the next prompt: never the stage's data."""
    code = (
        "def perceive(score, income):\n    if score != 1:\n        "
        + body.replace("\n    ", "\n        ")
        + '\n    return {"score": score, "income": income}\n'
    )
    server.script(attack(code))
    out, err = run_dana(tmp_path, UNTIMED)
    assert out == ANSWER and err.count("was dropped") == 1
    assert len(err) < 3_000, len(err)
    reason = versions_meta(tmp_path)[-1]["stage_dropped"]["reason"]
    assert len(reason) <= 1_000


def test_a_server_that_never_answers_ends_at_the_deadline(server, tmp_path, monkeypatch):
    from dana_poet.poet import llm

    monkeypatch.setenv("DANA_POET_LLM_TIMEOUT", "1")
    server.script(Reply(stage_json("def perceive(x):\n    return {}\n"), delay=8))
    with pytest.raises(llm.LLMUnavailable, match="did not answer within 1 s"):
        llm.chat([{"role": "user", "content": "hi"}], tries=3)
    assert len(server.requests) == 1, "a timeout is not retried"
