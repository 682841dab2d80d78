"""What Python written by `dana-poet transpile --emit python` needs to run.

The emitted module is the compiled form of a Dana program: it calls Dana's
builtins (`print`, `len`, ...), the compiler's helpers (`__dana_t`, struct and
scope helpers), `poet` and `feedback`. Those live in a Dana program's globals,
so the emitted file starts with a few lines that, when Python runs it directly,
hand the file to `run_transpiled`: it makes the same globals `dana-poet run`
makes and executes the file's code in them (where those first lines do nothing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

MARK = "__dana_transpiled__"  # set in the globals the emitted code runs in


def header(source_name: str) -> str:
    """The first lines of an emitted module: what it needs, and the hand-over to the runtime."""
    from dana_poet import __version__

    return (
        f"# Python transpiled by `dana-poet transpile --emit python` from {source_name}\n"
        f"# (dana-poet {__version__}). It needs the `dana_poet` package: this code runs\n"
        "# inside its Dana runtime (Dana's builtins, @poet, feedback, the compiler's\n"
        "# helpers), which the lines below start. Save it to a file and run it with the\n"
        "# Python that has dana_poet installed:  python this_file.py [key=value ...]\n"
        "try:\n"
        f"    {MARK}\n"
        "except NameError:\n"
        "    from dana_poet.transpiled import run_transpiled\n"
        "\n"
        '    raise SystemExit(run_transpiled(globals().get("__file__"), __name__))\n\n'
    )


def run_transpiled(path: str | None, module_name: str = "__main__") -> int:
    """Run an emitted module's file in a Dana program's globals; the exit status."""
    if not path or not Path(path).is_file():
        print(
            "dana-poet: transpiled Python runs from a file: save it (transpile -o FILE.py) "
            "and run `python FILE.py`",
            file=sys.stderr,
        )
        return 1
    from dana_poet.engine import new_program
    from dana_poet.errors_report import describe
    from dana_poet.lang.deep import run_deep

    source = Path(path).read_text(encoding="utf-8")
    program = new_program(path)
    g = program.new_globals(path, module_name)
    g[MARK] = True
    try:
        code = compile(source, path, "exec")
        run_deep(lambda: exec(code, g))
        main = g.get("__main__")
        if callable(main) and module_name == "__main__":
            return _run_main(main, path, run_deep)
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported as `dana-poet run` reports it
        sys.stdout.flush()
        print(f"{_where(exc, path)}error: {describe(exc)}", file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
    return 0


def _run_main(main: Any, path: str, run_deep: Any) -> int:
    """`def __main__(...)` is called with key=value arguments, as `dana-poet run` does."""
    from dana_poet.cli import _check_main_call, _main_arguments

    kwargs = _main_arguments(sys.argv[1:])
    if isinstance(kwargs, str):
        print(f"dana-poet: {kwargs}", file=sys.stderr)
        return 1
    problem = _check_main_call(main, kwargs, path)
    if problem is not None:
        sys.stdout.flush()
        print(problem, file=sys.stderr)
        return 1
    run_deep(lambda: main(**kwargs))
    return 0


def _where(exc: BaseException, path: str) -> str:
    """`file.py:LINE: ` of the innermost frame of the emitted file, if any."""
    import traceback

    line = 0
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == path:
            line = lineno
    return f"{path}:{line}: " if line else ""
