"""A Pygments lexer for Dana (`.na`), used by the REPL, `dana-poet inspect` and the docs.

Registered as the `pygments.lexers` entry point `dana`, so `pygmentize -l dana`, rich's
`Syntax(code, "dana")` and Markdown tools that use Pygments (```dana fences) find it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

KEYWORDS = (
    "if elif else while for in is not and or def sync return break continue pass try except "
    "finally raise assert import from as with lambda deliver export"
).split()
DECLARATIONS = "struct resource agent_blueprint agent workflow interface".split()
CONSTANTS = "True true TRUE False false FALSE None none NONE null NULL".split()
SCOPES = "private public local system".split()
BUILTINS = (
    "abs all any bool chr dict enumerate filter float frozenset int isinstance len list map max "
    "min ord print range reversed round set sorted str sum tuple type zip reason llm poet "
    "feedback case noop log_calls log_with_prefix repeat validate_args"
).split()


def _string_rules(token: Any, quote: str, *, fstring: bool) -> list[Any]:
    """Rules inside a string opened by `quote`; f-strings highlight their `{fields}`."""
    special = "\\\\" + quote[0] + ("{}" if fstring else "") + ("" if len(quote) == 3 else "\\n")
    rules: list[Any] = [(r"\\.", String.Escape)]
    if fstring:
        rules += [(r"\{\{|\}\}", String.Escape), (r"\{[^{}\n]*\}", String.Interpol)]
    rules += [(quote, token, "#pop"), (f"[^{special}]+", token)]
    if len(quote) == 1:
        rules += [(r"\n", token, "#pop")]  # unterminated: stop at the end of the line
    rules += [(r".|\n", token)]
    return rules


class DanaLexer(RegexLexer):
    """Dana: Python-shaped syntax with scope prefixes, `::` lambdas, pipelines and receivers."""

    name = "Dana"
    aliases: ClassVar[list[str]] = ["dana", "na"]
    filenames: ClassVar[list[str]] = ["*.na"]
    mimetypes: ClassVar[list[str]] = ["text/x-dana"]
    url = "https://github.com/aitomatic/dana"

    tokens: ClassVar[dict[str, Any]] = {
        "root": [
            (r"\n", Whitespace),
            (r"[^\S\n]+", Whitespace),
            (r"#.*$", Comment.Single),
            (r"@[A-Za-z_][\w.]*", Name.Decorator),
            (
                r"(def)(\s*)(\()",
                bygroups(Keyword, Whitespace, Punctuation),
                "receiver",
            ),
            (r"(def)(\s+)", bygroups(Keyword, Whitespace), "funcname"),
            (
                words(DECLARATIONS, prefix=r"(?<![.\w])", suffix=r"(?=[^\S\n]+[A-Za-z_])"),
                Keyword.Declaration,
                "typename",
            ),
            include("expr"),
        ],
        "receiver": [
            (r"\)", Punctuation, ("#pop", "funcname")),
            include("expr"),
        ],
        "funcname": [
            (r"\s+", Whitespace),
            (r"[A-Za-z_]\w*", Name.Function, "#pop"),
            (r"", Text, "#pop"),
        ],
        "typename": [
            (r"\s+", Whitespace),
            (r"[A-Za-z_]\w*", Name.Class, "#pop"),
            (r"", Text, "#pop"),
        ],
        "expr": [
            (r"[^\S\n]+", Whitespace),
            (r"#.*$", Comment.Single),
            (r'(?i)(rf|fr|f)(""")', bygroups(String.Affix, String.Double), "fdq3"),
            (r"(?i)(rf|fr|f)(''')", bygroups(String.Affix, String.Single), "fsq3"),
            (r'(?i)(rf|fr|f)(")', bygroups(String.Affix, String.Double), "fdq"),
            (r"(?i)(rf|fr|f)(')", bygroups(String.Affix, String.Single), "fsq"),
            (r'(?i)(r?)(""")', bygroups(String.Affix, String.Double), "dq3"),
            (r"(?i)(r?)(''')", bygroups(String.Affix, String.Single), "sq3"),
            (r'(?i)(r?)(")', bygroups(String.Affix, String.Double), "dq"),
            (r"(?i)(r?)(')", bygroups(String.Affix, String.Single), "sq"),
            (words(SCOPES, suffix=r"(?=:[A-Za-z_])"), Name.Namespace),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(("and", "or", "not", "in", "is"), suffix=r"\b"), Operator.Word),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(BUILTINS, prefix=r"(?<![.\w])", suffix=r"\b"), Name.Builtin),
            (r"(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"\$\$", Name.Variable.Magic),
            (r"::", Operator),
            (r"\*\*|//|==|!=|<=|>=|->|[-+*/%<>=|]=?", Operator),
            (r"[()\[\]{},:.]", Punctuation),
            (r"[A-Za-z_]\w*", Name),
            (r".", Text),
        ],
        "dq": _string_rules(String.Double, '"', fstring=False),
        "sq": _string_rules(String.Single, "'", fstring=False),
        "dq3": _string_rules(String.Double, '"""', fstring=False),
        "sq3": _string_rules(String.Single, "'''", fstring=False),
        "fdq": _string_rules(String.Double, '"', fstring=True),
        "fsq": _string_rules(String.Single, "'", fstring=True),
        "fdq3": _string_rules(String.Double, '"""', fstring=True),
        "fsq3": _string_rules(String.Single, "'''", fstring=True),
    }
