"""How an uncaught error in a Dana program is shown to a person: Dana lines, not Python internals."""

from __future__ import annotations

from types import TracebackType

from dana_poet.lang.errors import DanaSyntaxError
from dana_poet.lang.runtime import DanaAssertionError, source_line
from dana_poet.lang.source import is_dana_filename


def dana_frames(tb: TracebackType | None) -> list[tuple[str, int, str]]:
    """(file, line, function) for each frame that runs Dana code, outermost first."""
    import traceback

    frames = []
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if is_dana_filename(filename):
            name = frame.f_code.co_name
            frames.append((filename, lineno, "top level" if name == "<module>" else name))
    return frames


def describe(exc: BaseException) -> str:
    if isinstance(exc, DanaAssertionError):
        return f"AssertionError: {exc}"
    message = str(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def returned_at(exc: BaseException) -> tuple[str, int, str] | None:
    """Where a POET Enforce error's result came from in Dana code: (file, line, function)."""
    where = getattr(exc, "returned_at", None)
    if isinstance(where, tuple) and len(where) == 3 and is_dana_filename(str(where[0])):
        return (str(where[0]), int(where[1]), str(where[2]))
    return None


def format_runtime_error(exc: BaseException, *, debug: bool = False) -> str:
    if isinstance(exc, DanaSyntaxError):
        return exc.render()
    lines: list[str] = []
    frames = dana_frames(exc.__traceback__)
    origin = returned_at(exc)
    if origin is not None:  # the result was refused after the function returned: point at it
        frames.append(origin)
    if frames:
        filename, lineno, _ = frames[-1]
        lines.append(f"{filename}:{lineno}: error: {describe(exc)}")
    else:
        lines.append(f"error: {describe(exc)}")
    if frames:
        lines.append("Dana call chain (most recent call last):")
        previous = None
        repeats = 0
        for frame in [*frames, None]:
            if frame == previous:
                repeats += 1
                continue
            if repeats:
                lines.append(
                    f"  [the frame above repeated {repeats} more time{'s' if repeats > 1 else ''}]"
                )
                repeats = 0
            if frame is None:
                break
            filename, lineno, name = frame
            lines.append(f"  {filename}:{lineno} in {name}")
            text = source_line(filename, lineno).strip()
            if text:
                lines.append(f"      {text}")
            previous = frame
    if debug:
        lines.append("")
        lines.append("Python traceback (--debug):")
        import traceback

        lines.append("".join(traceback.format_exception(exc)).rstrip())
    return "\n".join(lines)
