"""Errors the Dana language layer reports to a person."""

from __future__ import annotations


class DanaError(Exception):
    """Base of errors raised by the Dana toolchain itself (not by Dana programs)."""


class DanaSyntaxError(DanaError):
    """A program does not parse. Knows where, shows the line and a caret."""

    def __init__(
        self,
        message: str,
        *,
        filename: str = "<string>",
        line: int = 0,
        column: int = 0,
        source_line: str | None = None,
        source: str | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        if source_line is None and source is not None and line > 0:
            lines = source.splitlines()
            source_line = lines[line - 1] if line <= len(lines) else ""
        self.source_line = source_line or ""
        self.hint = hint

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        where = f"{self.filename}:{self.line}:{self.column}" if self.line else self.filename
        out = [f"{where}: syntax error: {self.message}"]
        if self.source_line:
            out.append("    " + self.source_line.rstrip("\n"))
            caret_at = max(self.column - 1, 0)
            prefix = "".join(ch if ch == "\t" else " " for ch in self.source_line[:caret_at])
            out.append("    " + prefix + "^")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)


class DanaImportError(DanaError, ImportError):
    """A Dana module could not be found or loaded."""


class SandboxError(DanaError, RuntimeError):
    """A Dana program asked for something the sandbox refuses (files, eval, ...)."""
