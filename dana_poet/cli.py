"""`dana-poet`: run, check and inspect Dana programs. A thin shell over the library."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
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


def _read_source(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"dana-poet: no such file: {path}", file=sys.stderr)
    except IsADirectoryError:
        print(f"dana-poet: {path} is a directory, not a .na file", file=sys.stderr)
    except UnicodeDecodeError:
        print(f"dana-poet: {path} is not UTF-8 text", file=sys.stderr)
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from dana_poet.engine import new_program
    from dana_poet.errors_report import format_runtime_error
    from dana_poet.lang.errors import DanaSyntaxError

    source = _read_source(args.file)
    if source is None:
        return EXIT_FAILED
    if args.trace:
        os.environ["DANA_POET_TRACE"] = "1"
    program = new_program(args.file)
    try:
        g = program.run_source(source, args.file)
        if re.search(r"^def __main__\(", source, re.M) and callable(g.get("__main__")):
            kwargs = {}
            for item in args.args:
                key, sep, value = item.partition("=")
                if not sep:
                    print(
                        f"dana-poet: arguments to __main__ are key=value, got {item!r}",
                        file=sys.stderr,
                    )
                    return EXIT_FAILED
                kwargs[key] = _parse_cli_value(value)
            g["__main__"](**kwargs)
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
    if source is None:
        return EXIT_FAILED
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


def cmd_test(args: argparse.Namespace) -> int:
    import pytest

    return int(pytest.main(list(args.paths)))  # the plugin is registered as a pytest11 entry point


def cmd_repl(args: argparse.Namespace) -> int:
    from dana_poet.repl import run_repl

    return run_repl()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dana-poet", description="Run Dana (.na) programs with POET."
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a .na program")
    run.add_argument("file")
    run.add_argument("args", nargs="*", help="key=value arguments for def __main__(...)")
    run.add_argument("--trace", action="store_true", help="print each POET stage with its timing")
    run.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    run.set_defaults(func=cmd_run)

    parse = sub.add_parser("parse", help="check a .na file's syntax")
    parse.add_argument("file")
    parse.add_argument("--ast", action="store_true", help="print the syntax tree")
    parse.set_defaults(func=cmd_parse)

    repl = sub.add_parser("repl", help="interactive Dana")
    repl.set_defaults(func=cmd_repl)

    test = sub.add_parser("test", help="run test_*.na files with pytest")
    test.add_argument("paths", nargs="*", default=["."])
    test.set_defaults(func=cmd_test)

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
    sys.stderr.write(f"dana-poet: warning: {message}\n")


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
