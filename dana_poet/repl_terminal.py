"""The REPL's terminal input on prompt_toolkit: multi-line entries, history, completion,
Dana highlighting. Imported only when `dana-poet repl` runs on a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer

from dana_poet.pygments_lexer import DanaLexer
from dana_poet.repl import entry_is_complete, history_path, trailing_word

if TYPE_CHECKING:
    from dana_poet.repl import ReplSession

INDENT = "    "


class DanaCompleter(Completer):
    """Keywords, builtins, session names; fields and methods after `.`."""

    def __init__(self, session: ReplSession) -> None:
        self.session = session

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        before = document.text_before_cursor
        word, _ = trailing_word(before)
        try:
            names = self.session.completions(before)
        except Exception:  # noqa: BLE001 - a completion problem must not end the session
            return
        for name in names:
            yield Completion(name, start_position=-len(word))


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        text = buffer.document.text
        at_end = not buffer.document.text_after_cursor.strip()
        if at_end and entry_is_complete(text):
            buffer.validate_and_handle()
            return
        current = buffer.document.current_line
        indent = current[: len(current) - len(current.lstrip())]
        if current.split("#", 1)[0].rstrip().endswith(":"):
            indent += INDENT
        buffer.insert_text("\n" + indent)

    @bindings.add("tab")
    def _tab(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        before = buffer.document.current_line_before_cursor
        if not before.strip():
            buffer.insert_text(INDENT)  # indenting a block line
        elif buffer.complete_state:
            buffer.complete_next()
        else:
            buffer.start_completion(insert_common_part=True)

    @bindings.add("backspace")
    def _backspace(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        before = buffer.document.current_line_before_cursor
        if before and not before.strip() and len(before) % len(INDENT) == 0:
            buffer.delete_before_cursor(len(INDENT))  # a whole indentation step
        else:
            buffer.delete_before_cursor(1)

    return bindings


def _history() -> History:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()  # an unwritable home costs the history, not the REPL


def _continuation(width: int, line_number: int, wrap_count: int) -> str:
    return "... "


def terminal_entries(session: ReplSession, **prompt_options: Any) -> Iterator[str]:
    """Entries typed at the terminal. Ctrl-C cancels the line; Ctrl-D ends the input."""
    prompt: PromptSession[str] = PromptSession(
        history=_history(),
        lexer=PygmentsLexer(DanaLexer),
        completer=DanaCompleter(session),
        complete_while_typing=False,
        multiline=True,
        key_bindings=_key_bindings(),
        prompt_continuation=_continuation,
        **prompt_options,
    )
    while True:
        try:
            yield prompt.prompt(">>> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
