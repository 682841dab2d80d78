"""Interactive Dana: `dana-poet repl`.

A session is one long-lived module namespace: each entry is compiled into it,
so definitions accumulate, and the value of an entry ending in an expression is
printed. An entry goes on while it is incomplete (an open bracket or string, a
decorator, a block: a block ends with a blank line), as IPython does. The
session's lines are numbered as one file, `<repl>`, so an error names
`<repl>:N` and quotes the line even inside a function typed earlier.

Lines starting with `:` are commands (`:help` lists them). On a terminal the
input is read by prompt_toolkit (`dana_poet.repl_terminal`: history, completion,
highlighting); from a pipe it is read line by line without it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
FILENAME = "<repl>"
BANNER = (
    "Dana REPL (dana-poet {version}). A blank line ends a block; :help lists commands; "
    "Ctrl-D or exit leaves."
)
COMMANDS_HELP = """\
:help            this list
:stages FN       the stage code of a @poet function defined in this session
:versions FN     its versions (v0 is the function as written)
:feedback FN     feedback received, per version
:names           names defined in this session
exit, quit       leave (also Ctrl-D); Ctrl-C cancels the line or stops running code"""
_VALUE = "__dana_repl_value"
_OPENERS = {"(": ")", "[": "]", "{": "}"}


def _scan(text: str) -> tuple[int, bool]:
    """(bracket depth, inside an unterminated triple-quoted string) at the end of `text`."""
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else ch
            j = i + len(quote)
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                if len(quote) == 1 and text[j] == "\n":
                    break
                j += 1
            if j >= n and len(quote) == 3:
                return depth, True
            i = j + len(quote)
            continue
        if ch in _OPENERS:
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, False


def _code_part(line: str) -> str:
    """A line without its trailing comment (a `#` inside a string is kept)."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def entry_is_complete(text: str) -> bool:
    """Whether an entry can run now, or more lines are wanted (IPython's rule, for Dana):
    an open bracket or triple-quoted string, a decorator still waiting for its `def`, or
    a block not yet ended by a blank line all want more."""
    if not text.strip():
        return True
    depth, in_string = _scan(text)
    if in_string or depth > 0:
        return False
    lines = text.split("\n")
    code = [(i, _code_part(line)) for i, line in enumerate(lines)]
    code = [(i, c) for i, c in code if c.strip()]
    if not code:
        return True
    if code[-1][1].lstrip().startswith("@"):
        return False  # a decorator: its function comes next
    if lines[-1].strip() == "":
        return True  # a blank line ends a block
    for i, line in code:
        if line.endswith(":") and _scan("\n".join(lines[: i + 1]))[0] == 0:
            return False  # a block header at bracket depth 0: wait for the blank line
    return True


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dana-poet"


def history_path() -> Path:
    """Where the REPL keeps its input history across sessions."""
    return _state_dir() / "repl_history"


class ReplSession:
    """The state of one REPL: a program, its namespace and every line typed so far."""

    def __init__(self, write: Callable[[str], None], *, debug: bool = False) -> None:
        from dana_poet.engine import new_program

        self.write = write
        self.debug = debug
        self.program = new_program(None)
        self.namespace = self.program.new_globals(FILENAME, "__main__")
        self.lines: list[str] = []
        self.poet_entries: dict[str, str] = {}  # @poet function -> the entry that defined it

    # ------------------------------------------------------------ running entries
    def submit(self, entry: str) -> bool:
        """Run one complete entry; False when it asks to leave."""
        stripped = entry.strip()
        if not stripped:
            return True
        if stripped in ("exit", "quit", "exit()", "quit()", ":quit", ":q"):
            return False
        if stripped.startswith(":"):
            self.command(stripped)
            return True
        try:
            self._execute(entry.rstrip("\n"))
        except KeyboardInterrupt:
            self.write("KeyboardInterrupt (the session goes on)")
        return True

    def _execute(self, entry: str) -> None:
        from dana_poet.errors_report import format_runtime_error
        from dana_poet.lang import ast as A
        from dana_poet.lang.compiler import Compiler
        from dana_poet.lang.errors import DanaSyntaxError
        from dana_poet.lang.parser import parse
        from dana_poet.lang.runtime import remember_source

        first_line = len(self.lines) + 1
        self.lines.extend(entry.split("\n"))
        session_source = "\n".join(self.lines) + "\n"
        remember_source(FILENAME, session_source)
        # Blank lines in front put the entry's lines at their session line numbers.
        source = "\n" * (first_line - 1) + entry + "\n"

        def compile_and_run() -> tuple[tuple[Any, ...], bool]:
            module = parse(source, FILENAME)
            body = module.body
            shows_value = bool(body) and isinstance(body[-1], A.ExprStmt)
            if shows_value:
                last = body[-1]
                assert isinstance(last, A.ExprStmt)
                value_stmt = A.Assign(target=A.Name(_VALUE), value=last.value, span=last.span)
                module = A.Module((*body[:-1], value_stmt), module.filename, module.span)
            if self.program.ast_transform is not None:
                module = self.program.ast_transform(module, FILENAME, source)
            code = Compiler(FILENAME, self.program.builtin_names, source).compile_module(module)
            self.namespace.pop(_VALUE, None)
            exec(code, self.namespace)
            return body, shows_value

        try:
            body, shows_value = run_deep_stoppable(compile_and_run)
        except DanaSyntaxError as exc:
            self.write(exc.render())
            return
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - every program error is shown, the session goes on
            self.write(format_runtime_error(exc, debug=self.debug))
            return
        self._note_poet_functions(entry, body)
        if shows_value:
            value = self.namespace.pop(_VALUE, None)
            if value is not None:
                self.write(repr(value))

    def _note_poet_functions(self, entry: str, body: tuple[Any, ...]) -> None:
        if "@poet" not in entry:
            return
        from dana_poet.lang import ast as A
        from dana_poet.poet.rewrite import is_poet_decorator

        for stmt in body:
            if isinstance(stmt, A.FunctionDef) and any(
                is_poet_decorator(d) for d in stmt.decorators
            ):
                self.poet_entries[stmt.name] = entry

    # ------------------------------------------------------------ commands
    def command(self, text: str) -> None:
        name, _, arg = text[1:].partition(" ")
        arg = arg.strip()
        handlers: dict[str, Callable[[str], None]] = {
            "help": lambda _: self.write(COMMANDS_HELP),
            "h": lambda _: self.write(COMMANDS_HELP),
            "stages": self._stages,
            "inspect": self._stages,
            "versions": self._versions,
            "feedback": self._feedback,
            "names": lambda _: self.write(" ".join(sorted(self.session_names())) or "(none yet)"),
        }
        handler = handlers.get(name)
        if handler is None:
            self.write(f"unknown command :{name} (:help lists the commands)")
            return
        try:
            handler(arg)
        except Exception as exc:  # noqa: BLE001 - a failed command never ends the session
            self.write(f"error: :{name} failed: {type(exc).__name__}: {exc}")

    def _poet_function(self, arg: str, command: str) -> str | None:
        if not arg:
            self.write(f"usage: :{command} FUNCTION")
            return None
        if arg not in self.poet_entries:
            known = ", ".join(sorted(self.poet_entries)) or "none yet"
            self.write(f"no @poet function named '{arg}' in this session (defined: {known})")
            return None
        return arg

    def _stages(self, arg: str) -> None:
        fn = self._poet_function(arg, "stages")
        if fn is None:
            return
        from dana_poet.lang.parser import parse
        from dana_poet.poet.rewrite import rewrite_module

        entry = self.poet_entries[fn]
        _, results = rewrite_module(
            parse(entry + "\n", FILENAME), FILENAME, entry + "\n", count_cache_use=False
        )
        for result in results:
            if result.function != fn:
                continue
            meta = result.metadata
            self.write(
                f"{fn}: generator {meta.get('generator', '?')}, language {result.language}, "
                f"fallback {meta.get('fallback_used') or 'none'}"
            )
            self.write(result.stage_source or "# (no stage code: built-in engines)")

    def _store_target(self, fn: str) -> str:
        return f"{FILENAME}:{fn}"  # the function id: its store is DANA_POET_DIR or here

    def _versions(self, arg: str) -> None:
        fn = self._poet_function(arg, "versions")
        if fn is not None:
            from dana_poet import cli_poet

            sys.stdout.flush()
            cli_poet.cmd_versions(argparse.Namespace(target=self._store_target(fn)))

    def _feedback(self, arg: str) -> None:
        fn = self._poet_function(arg, "feedback")
        if fn is not None:
            from dana_poet import cli_poet

            sys.stdout.flush()
            cli_poet.cmd_feedback_summary(argparse.Namespace(target=self._store_target(fn)))

    # ------------------------------------------------------------ completion
    def session_names(self) -> list[str]:
        return [n for n in self.namespace if not n.startswith("_")]

    def completions(self, before_cursor: str) -> list[str]:
        """Words that complete the name (or `obj.attr`) just before the cursor."""
        word, dotted = trailing_word(before_cursor)
        if dotted is not None:
            target = self._lookup(dotted)
            if target is _MISSING:
                return []
            return sorted(n for n in attribute_names(target) if n.startswith(word))
        from dana_poet.pygments_lexer import CONSTANTS, DECLARATIONS, KEYWORDS, SCOPES

        pool = {*KEYWORDS, *DECLARATIONS, *CONSTANTS, *SCOPES}
        pool |= {n for n in self.program.builtin_names if not n.startswith("_")}
        pool |= set(self.session_names())
        return sorted(n for n in pool if n.startswith(word) and word)

    def _lookup(self, dotted: str) -> Any:
        parts = dotted.split(".")
        if parts[0] in self.namespace:
            value: Any = self.namespace[parts[0]]
        elif parts[0] in self.program.builtins:
            value = self.program.builtins[parts[0]]
        else:
            return _MISSING
        for part in parts[1:]:
            if part not in attribute_names(value):
                return _MISSING
            try:
                value = getattr(value, part)
            except Exception:  # noqa: BLE001 - completion never raises
                return _MISSING
        return value


_MISSING = object()


def run_deep_stoppable(fn: Callable[[], T]) -> T:
    """`fn()` in the deep-recursion thread `dana-poet run` uses (512 MiB stack, raised
    recursion limit: `dana_poet.lang.deep`); Ctrl-C stops it and is raised here.

    Ctrl-C reaches the waiting main thread, which hands the program thread a
    KeyboardInterrupt (taken between bytecodes) and waits for it to unwind, so the
    session's namespace is not changed behind the next prompt. Code blocked in a C
    call stops when the call returns; a second Ctrl-C stops waiting for it.
    """
    from dana_poet.lang.deep import run_deep

    program_thread: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def body() -> T:
        program_thread.append(threading.get_ident())
        try:
            return fn()
        finally:
            with lock:
                done.set()

    try:
        return run_deep(body)
    except KeyboardInterrupt:
        with lock:
            if program_thread and not done.is_set():
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(program_thread[0]), ctypes.py_object(KeyboardInterrupt)
                )
        if program_thread:
            done.wait()
        raise


def trailing_word(text: str) -> tuple[str, str | None]:
    """The partial name before the cursor, and the dotted object before it (if any)."""
    i = len(text)
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_."):
        i -= 1
    chunk = text[i:]
    if "." not in chunk:
        return chunk, None
    obj, _, word = chunk.rpartition(".")
    if not obj or not all(p.isidentifier() for p in obj.split(".")):
        return word, None
    return word, obj


def attribute_names(value: Any) -> list[str]:
    """Fields and methods a Dana user can reach with `value.`: struct fields and methods,
    a module's names, or the public methods of a plain value."""
    from dana_poet.lang.structs import DanaStruct

    cls = value if isinstance(value, type) else type(value)
    if isinstance(cls, type) and issubclass(cls, DanaStruct):
        names = set(cls.__dana_fields__)
        for klass in cls.__mro__:
            if klass is DanaStruct or klass is object:
                continue
            names |= {n for n, v in vars(klass).items() if not n.startswith("_") and callable(v)}
        program = cls.__dana_program__
        if program is not None and not isinstance(value, type):
            names |= set(_implicit_methods(program, cls))
        return sorted(names)
    if type(value).__name__ == "DanaModule":
        return sorted(n for n in vars(value) if not n.startswith("_"))
    return sorted(n for n in dir(value) if not n.startswith("_"))


def _implicit_methods(program: Any, cls: type) -> Iterator[str]:
    """Visible functions whose first parameter is typed with `cls` (callable as obj.f())."""
    import inspect

    for module_globals in list(getattr(program, "module_globals", [])):
        for name, fn in module_globals.items():
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            params = list(inspect.signature(fn).parameters.values())
            if params and params[0].annotation is cls:
                yield name


# ---------------------------------------------------------------- the loops
def _piped_entries(read: Callable[[str], str]) -> Iterator[str]:
    """Entries from line-by-line input (pipes, tests): prompts are shown, not echoed."""
    while True:
        try:
            entry = read(">>> ")
            while not entry_is_complete(entry):
                entry += "\n" + read("... ")
        except EOFError:
            return
        yield entry


def run_repl(
    read: Callable[[str], str] | None = None,
    write: Callable[[str], None] | None = None,
    debug: bool = False,
) -> int:
    from dana_poet import __version__

    out = write or (lambda text: print(text, flush=True))
    interactive = read is None and sys.stdin.isatty() and sys.stdout.isatty()
    session = ReplSession(out, debug=debug)
    out(BANNER.format(version=__version__))
    if interactive:
        from dana_poet.repl_terminal import terminal_entries

        entries: Iterator[str] = terminal_entries(session)
    else:
        entries = _piped_entries(read or input)
    try:
        for entry in entries:
            if not session.submit(entry):
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C while reading piped input
    out("")
    return 0
