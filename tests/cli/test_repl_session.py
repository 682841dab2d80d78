"""The REPL's parts without a terminal: when an entry is complete, completion, the lexer."""

from __future__ import annotations

import pytest

from dana_poet.repl import ReplSession, entry_is_complete, history_path

COMPLETE = [
    "x = 1",
    "print(x)",
    "def f(x):\n    return x\n",
    "if x:\n    y = 1\n    ",
    "nums = [1,\n  2]",
    's = "a # not a comment ("',
    "# only a comment",
    "",
    '"""one\nblock"""',
]
INCOMPLETE = [
    "@poet()",
    '@poet(domain="x")\n',
    "def f(x):",
    "def f(x):\n    return x",
    "struct Point:\n    x: int",
    "nums = [1,",
    "f(a,\n  b",
    '"""open',
    "x = {(k: 1)\n",
    "if x:  # comment",
]


@pytest.mark.parametrize("text", COMPLETE)
def test_complete_entries(text: str) -> None:
    assert entry_is_complete(text)


@pytest.mark.parametrize("text", INCOMPLETE)
def test_incomplete_entries_continue(text: str) -> None:
    assert not entry_is_complete(text)


@pytest.fixture
def session() -> tuple[ReplSession, list[str]]:
    out: list[str] = []
    return ReplSession(out.append), out


def test_completion_pools(session: tuple[ReplSession, list[str]]) -> None:
    s, _ = session
    s.submit("total_amount = 5")
    s.submit("struct Point:\n    xcoord: int\n    ycoord: int = 0\n")
    s.submit("def (p: Point) shifted(dx: int) -> Point:\n    return Point(xcoord=p.xcoord + dx)\n")
    s.submit("def norm(p: Point) -> int:\n    return abs(p.xcoord)\n")
    s.submit("pt = Point(xcoord=1)")
    assert s.completions("tot") == ["total_amount"]
    assert "while" in s.completions("wh")
    assert "len" in s.completions("x = le")
    assert s.completions("pt.") == ["norm", "shifted", "xcoord", "ycoord"]
    assert s.completions("pt.y") == ["ycoord"]
    assert "upper" in s.completions('name = "a"\nname.up') or s.completions("name.up") == []
    s.submit('name = "dana"')
    assert s.completions("name.up") == ["upper"]
    assert s.completions("nothing_here.x") == []
    assert s.completions("") == []


def test_values_errors_and_commands(session: tuple[ReplSession, list[str]]) -> None:
    s, out = session
    assert s.submit("1 + 1")
    assert out[-1] == "2"
    s.submit("x = 3  # a comment")
    s.submit("x  # shown")
    assert out[-1] == "3"
    s.submit("undefined_thing")
    assert out[-1].startswith("<repl>:4: error: NameError")
    s.submit(":nope")
    assert out[-1] == "unknown command :nope (:help lists the commands)"
    s.submit(":stages")
    assert out[-1] == "usage: :stages FUNCTION"
    s.submit(":names")
    assert out[-1] == "x"
    for word in ("exit", "quit", "exit()", "quit()"):
        assert s.submit(word) is False


def test_history_lives_in_the_xdg_state_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "dana-poet" / "repl_history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "state" / "dana-poet" / "repl_history"


def test_the_dana_lexer_is_registered_with_pygments() -> None:
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.token import Keyword, Name, String

    lexer = get_lexer_by_name("dana")
    assert type(lexer) is type(get_lexer_for_filename("prog.na"))
    tokens = [(t, v) for t, v in lexer.get_tokens('private:x = f"{y}" :: true\n') if v.strip()]
    assert (Name.Namespace, "private") in tokens
    assert (String.Interpol, "{y}") in tokens
    assert (Keyword.Constant, "true") in tokens
    decl = [(t, v) for t, v in lexer.get_tokens("struct Point:\n    agent: str\n") if v.strip()]
    assert decl[:2] == [(Keyword.Declaration, "struct"), (Name.Class, "Point")]
    assert (Name, "agent") in decl  # a declaration word used as a field name


def test_the_lexer_never_emits_error_tokens_on_the_examples() -> None:
    from pathlib import Path

    from pygments.token import Error

    from dana_poet.pygments_lexer import DanaLexer

    root = Path(__file__).resolve().parents[2]
    files = sorted(root.glob("examples/**/*.na")) + sorted(root.glob("tests/**/*.na"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        tokens = list(DanaLexer().get_tokens(text))
        assert "".join(v for _, v in tokens) == text if text.endswith("\n") else True
        assert not [v for t, v in tokens if t is Error], path
