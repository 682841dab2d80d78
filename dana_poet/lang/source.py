"""Reading a `.na` file's text: UTF-8, an optional byte-order mark, bad bytes located."""

from __future__ import annotations

import os
from pathlib import Path

from dana_poet.lang.errors import DanaSyntaxError

_BOM = b"\xef\xbb\xbf"


def is_dana_filename(filename: str) -> bool:
    """Whether code compiled under this file name is a Dana program's (not generated helpers)."""
    return filename.endswith(".na") or filename.startswith("<dana") or filename == "<repl>"


def decode_source(data: bytes, filename: str) -> str:
    """The text of a source file. A leading UTF-8 BOM is dropped; bytes that are not UTF-8
    raise a DanaSyntaxError naming the line and the byte's column within that line."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        byte_column = exc.start - line_start + 1
        line_end = data.find(b"\n", exc.start)
        raw_line = data[line_start : line_end if line_end >= 0 else len(data)]
        shown = raw_line.decode("utf-8", errors="replace")
        bad = data[exc.start : exc.end].hex(" ")
        raise DanaSyntaxError(
            f"byte {byte_column} of this line (0x{bad}) is not valid UTF-8",
            filename=filename,
            line=line,
            column=len(raw_line[: byte_column - 1].decode("utf-8", errors="replace")) + 1,
            source_line=shown,
            hint="save the file as UTF-8 (Dana source is always UTF-8)",
        ) from None


def read_source(path: str | os.PathLike[str]) -> str:
    """Read a `.na` file (OSError propagates; decoding problems are DanaSyntaxError)."""
    return decode_source(Path(path).read_bytes(), str(path))
