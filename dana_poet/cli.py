"""`dana-poet`: run, check and inspect Dana programs. A thin shell over the library."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SYNTAX = 2


def _parse_cli_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _read_source(path: str) -> str | int:
    """The file's text, or the exit code after telling the user why it cannot be read."""
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.source import read_source

    try:
        return read_source(path)
    except FileNotFoundError:
        print(f"dana-poet: no such file: {path}", file=sys.stderr)
    except IsADirectoryError:
        print(f"dana-poet: {path} is a directory, not a .na file", file=sys.stderr)
    except PermissionError:
        print(f"dana-poet: {path} cannot be read (permission denied)", file=sys.stderr)
    except DanaSyntaxError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_SYNTAX
    return EXIT_FAILED


def _main_arguments(items: list[str]) -> dict[str, Any] | str:
    """key=value words for `def __main__` as a dict, or the message for a malformed word."""
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return f"arguments to __main__ are key=value, got {item!r}"
        kwargs[key] = _parse_cli_value(value)
    return kwargs


def _check_main_call(main: Any, kwargs: dict[str, Any], filename: str) -> str | None:
    """Why `__main__(**kwargs)` cannot bind (naming the def line), or None when it can."""
    import inspect

    try:
        signature = inspect.signature(main)
    except (TypeError, ValueError):
        return None
    params = signature.parameters
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in kwargs
    ]
    unknown = [k for k in kwargs if k not in params]
    if not missing and not unknown:
        return None
    code = getattr(main, "__code__", None)
    line = code.co_firstlineno if code is not None else 0
    from dana_poet.lang.runtime import source_line

    text = source_line(filename, line).strip() if line else ""
    parts = []
    if missing:
        parts.append("missing " + ", ".join(f"{n}=..." for n in missing))
    if unknown:
        parts.append("unknown " + ", ".join(unknown) + f" (parameters: {', '.join(params)})")
    where = f"{filename}:{line}: " if line else ""
    usage = " ".join(f"{n}=VALUE" for n in params)
    message = f"{where}error: __main__ arguments: {'; '.join(parts)}"
    if text:
        message += f"\n    {text}"
    message += f"\nusage: dana-poet run {filename} {usage}".rstrip()
    return message


def cmd_run(args: argparse.Namespace) -> int:
    from dana_poet.engine import new_program
    from dana_poet.errors_report import format_runtime_error
    from dana_poet.lang.errors import DanaSyntaxError

    source = _read_source(args.file)
    if isinstance(source, int):
        return source
    if args.args and not re.search(r"^def __main__\(", source, re.M):
        print(
            f"dana-poet: {args.file} has no def __main__(...), so it takes no arguments "
            f"(got {' '.join(args.args)})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if args.trace:
        os.environ["DANA_POET_TRACE"] = "1"
    if args.no_cache:
        from dana_poet.lang.codecache import NO_CACHE_ENV

        os.environ[NO_CACHE_ENV] = "1"
    from dana_poet.lang.deep import run_deep

    program = new_program(args.file)
    try:
        g = run_deep(lambda: program.run_source(source, args.file))
        if re.search(r"^def __main__\(", source, re.M) and callable(g.get("__main__")):
            kwargs = _main_arguments(args.args)
            if isinstance(kwargs, str):
                print(f"dana-poet: {kwargs}", file=sys.stderr)
                return EXIT_FAILED
            problem = _check_main_call(g["__main__"], kwargs, args.file)
            if problem is not None:
                sys.stdout.flush()
                print(problem, file=sys.stderr)
                return EXIT_FAILED
            run_deep(lambda: g["__main__"](**kwargs))

    except DanaSyntaxError as exc:
        sys.stdout.flush()
        print(exc.render(), file=sys.stderr)
        return EXIT_SYNTAX
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every program error is reported, never a traceback
        sys.stdout.flush()
        print(format_runtime_error(exc, debug=args.debug), file=sys.stderr)
        return EXIT_FAILED
    finally:
        sys.stdout.flush()
    return EXIT_OK


def cmd_parse(args: argparse.Namespace) -> int:
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.parser import parse

    source = _read_source(args.file)
    if isinstance(source, int):
        return source
    try:
        module = parse(source, args.file)
    except DanaSyntaxError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_SYNTAX
    if args.ast:
        from dana_poet.lang.printer import dump_ast

        print(dump_ast(module))
    else:
        print(f"{args.file}: ok ({len(module.body)} top-level statements)")
    return EXIT_OK


TEST_HELP = """\
usage: dana-poet test [PATHS ...] [pytest options]

Run the test_*.na (and *_test.na) files under PATHS (default: the current folder)
with pytest. Each `def test_*()` is one test; Python test modules are not collected.
Every pytest option works, for example:
  -k EXPR        run the tests whose names match EXPR
  -x             stop at the first failure
  --lf           run the tests that failed last time
  -v / -vv       list each test / also show Python tracebacks
  --junitxml F   write a JUnit XML report to F
(see `pytest --help` for the rest)"""


def cmd_test(argv: list[str]) -> int:
    """`dana-poet test`: pytest over .na test files, every pytest option passed through."""
    if any(a in ("-h", "--help") for a in argv):
        print(TEST_HELP)
        return EXIT_OK
    import pytest

    # The plugin is registered as a pytest11 entry point; --dana-only keeps Python tests out.
    has_path = any(not a.startswith("-") and os.path.exists(a.split("::")[0]) for a in argv)
    pytest_args = ["--dana-only", *argv]
    if not has_path:
        pytest_args.append(".")
    status = int(pytest.main(pytest_args))
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        where = "the given paths" if has_path else os.getcwd()
        print(f"dana-poet: no test_*.na files (or no tests selected) in {where}", file=sys.stderr)
    return status


def cmd_repl(args: argparse.Namespace) -> int:
    from dana_poet.repl import run_repl

    return run_repl(debug=args.debug)


DEBUG_HELP = "show Python tracebacks for errors (also accepted before the command)"


def build_parser() -> argparse.ArgumentParser:
    from dana_poet import __version__

    parser = argparse.ArgumentParser(
        prog="dana-poet", description="Run Dana (.na) programs with POET."
    )
    parser.add_argument(
        "--version", action="version", version=f"dana-poet {__version__}", help="print the version"
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a .na program")
    run.add_argument("file", help="the .na file to run")
    run.add_argument("args", nargs="*", help="key=value arguments for def __main__(...)")
    run.add_argument("--trace", action="store_true", help="print each POET stage with its timing")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="compile every module from source; neither read nor write __pycache__/*.nac",
    )
    run.set_defaults(func=cmd_run)

    parse = sub.add_parser("parse", help="check a .na file's syntax")
    parse.add_argument("file", help="the .na file to check")
    parse.add_argument("--ast", action="store_true", help="print the syntax tree")
    parse.set_defaults(func=cmd_parse)

    repl = sub.add_parser("repl", help="interactive Dana (:help inside lists its commands)")
    repl.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    repl.set_defaults(func=cmd_repl)

    sub.add_parser(
        "test",
        help="run test_*.na files with pytest (every pytest option works)",
        add_help=False,
    )

    from dana_poet import cli_poet

    cli_poet.add_commands(sub)
    from dana_poet.service import cli as service_cli

    service_cli.add_command(sub)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings read as one plain line, not as a Python source location."""
    text = str(message).removeprefix("dana-poet: ")
    sys.stderr.write(f"dana-poet: warning: {text}\n")


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _show_warning
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["test"] or argv[:2] == ["--debug", "test"]:
        rest = argv[argv.index("test") + 1 :]
        return cmd_test(rest + (["-vv"] if argv[0] == "--debug" else []))
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
