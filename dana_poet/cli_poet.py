"""POET sub-commands of `dana-poet`: inspect, transpile, versions, rollback, feedback, cache."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SYNTAX = 2


def is_pseudo_file(path: str) -> bool:
    """`<repl>`, `<stdin>`: code without a file (its functions live in DANA_POET_DIR or here)."""
    return path.startswith("<") and path.endswith(">")


def _split_target(target: str) -> tuple[str, str | None]:
    path, sep, fn = target.rpartition(":")
    if sep and (path.endswith((".na", ".py")) or is_pseudo_file(path)):
        return path, fn
    return target, None


def _functions_of(path: str) -> tuple[set[str], set[str]]:
    """(qualified names of the functions `path` defines, those of them marked @poet). A .py
    file's functions all count as @poet ones (Python can enhance a function without the
    decorator). Raises OSError, UnicodeDecodeError, SyntaxError or DanaSyntaxError."""
    source = Path(path).read_text(encoding="utf-8")
    names: set[str] = set()
    if path.endswith(".py"):
        import ast as py

        tree = py.parse(source, path)

        def walk(body: list[py.stmt], prefix: str) -> None:
            for node in body:
                if isinstance(node, py.FunctionDef | py.AsyncFunctionDef):
                    names.add(prefix + node.name)
                    walk(node.body, f"{prefix}{node.name}.")
                elif isinstance(node, py.ClassDef):
                    walk(node.body, f"{prefix}{node.name}.")

        walk(tree.body, "")
        return names, names
    from dana_poet.lang import ast as A
    from dana_poet.lang.parser import parse

    enhanced: set[str] = set()
    for stmt in parse(source, path).body:
        if isinstance(stmt, A.FunctionDef):
            names.add(stmt.name)
            if any(d.name == "poet" for d in stmt.decorators):
                enhanced.add(stmt.name)
    return names, enhanced


def _resolve_function(target: str, command: str) -> tuple[Any, str] | int:
    """(store, function id) for FILE:function, or an exit code after a message."""
    from dana_poet.poet.identity import identify

    path, fn = _split_target(target)
    if fn is None:
        print(f"dana-poet: {command} needs FILE.na:function (got {target!r})", file=sys.stderr)
        return EXIT_FAILED
    if is_pseudo_file(path):
        identity = identify(path, fn)
        return _store_at(identity.root), identity.id
    if not Path(path).is_file():
        print(f"dana-poet: no such file: {path}", file=sys.stderr)
        return EXIT_FAILED
    from dana_poet.lang.errors import DanaSyntaxError

    try:
        defined, enhanced = _functions_of(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        print(f"dana-poet: cannot read {path}: {reason or exc}", file=sys.stderr)
        return EXIT_FAILED
    except DanaSyntaxError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_SYNTAX
    except SyntaxError as exc:
        print(f"{path}:{exc.lineno}: syntax error: {exc.msg}", file=sys.stderr)
        return EXIT_SYNTAX
    if fn not in defined:
        known = ", ".join(sorted(defined)) or "none"
        print(
            f"dana-poet: {path} defines no function '{fn}' (it defines: {known})", file=sys.stderr
        )
        return EXIT_FAILED
    if fn not in enhanced:
        known = ", ".join(sorted(enhanced)) or "none"
        print(
            f"dana-poet: {path}:{fn} is not a @poet function, so it has no versions or feedback"
            f" (@poet functions in {path}: {known})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    identity = identify(path, fn)
    return _store_at(identity.root), identity.id


def _rewrite(path: str) -> tuple[Any, list[Any]] | int:
    from dana_poet.lang.errors import DanaSyntaxError
    from dana_poet.lang.parser import parse
    from dana_poet.lang.source import read_source
    from dana_poet.poet.rewrite import rewrite_module

    try:
        source = read_source(path)
    except OSError as exc:
        print(f"dana-poet: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except DanaSyntaxError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_SYNTAX
    try:
        module = parse(source, path)
    except DanaSyntaxError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_SYNTAX
    return rewrite_module(module, path, source, count_cache_use=False)  # looking moves nothing


def parse_version(text: str) -> int:
    """A version as `versions` prints it (`v3`) or as a number (`3`)."""
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"not a version: {text!r} (write 3 or v3)")
    return int(digits)


def _console() -> Any:
    """A rich console; piped output is not cut at 80 columns."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=10_000, soft_wrap=True)
    return console


def _store_at(root: Path) -> Any:
    from dana_poet.poet.store.sqlite import SQLiteStore

    return SQLiteStore(root / ".dana" / "poet")


def _store_for(path: str) -> Any:
    from dana_poet.poet.identity import project_root

    return _store_at(project_root(path))


def cmd_inspect(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.syntax import Syntax

    path, fn = _split_target(args.target)
    outcome = _rewrite(path)
    if isinstance(outcome, int):
        return outcome
    _, results = outcome
    if fn is not None:
        results = [r for r in results if r.function == fn]
        if not results:
            print(f"dana-poet: no @poet function named '{fn}' in {path}", file=sys.stderr)
            return EXIT_FAILED
    if not results:
        print(f"{path}: no @poet functions")
        return EXIT_OK
    from dana_poet.poet.identity import identify

    console = Console()
    plain = not console.is_terminal
    if plain:
        console = _console()
    store = _store_for(path)
    for r in results:
        meta = r.metadata
        function_id = identify(path, r.function).id
        version = store.current_version(function_id)
        if plain:
            console.print(f"== {function_id} ==", markup=False)
        else:
            console.rule(f"[bold]{function_id}[/]")
        console.print(
            f"version: v{version}   generator: {meta.get('generator', '?')}   "
            f"language: {r.language}   fallback: {meta.get('fallback_used') or 'none'}"
        )
        for error in meta.get("errors") or []:
            console.print(f"  [yellow]fallback reason:[/] {error}")
        code = r.stage_source or "# (no stage code: built-in engines)"
        if plain:
            for number, line in enumerate(code.rstrip("\n").split("\n"), 1):
                console.print(f"{number:4} {line}".rstrip(), markup=False, highlight=False)
        else:
            console.print(Syntax(code, "dana", line_numbers=True))
    return EXIT_OK


def cmd_transpile(args: argparse.Namespace) -> int:
    outcome = _rewrite(args.file)
    if isinstance(outcome, int):
        return outcome
    module, _ = outcome
    if args.emit == "python":
        import ast as py

        from dana_poet.engine import new_program
        from dana_poet.lang.compiler import Compiler

        program = new_program(args.file)
        tree = Compiler(args.file, program.builtin_names, Path(args.file).read_text()).module_ast(
            module
        )
        from dana_poet.transpiled import header

        text = header(Path(args.file).name) + py.unparse(tree) + "\n"
    else:
        from dana_poet.lang.printer import to_source

        text = to_source(module)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_versions(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    resolved = _resolve_function(args.target, "versions")
    if isinstance(resolved, int):
        return resolved
    store, fn = resolved
    versions = store.list_versions(fn)
    current = store.current_version(fn)
    if not versions:
        print(f"{fn}: no versions yet (v0 is the function as written)")
        return EXIT_OK
    table = Table(title=f"{fn} versions")
    for col in ("version", "current", "params", "reason"):
        table.add_column(col)
    for v in versions:
        reason = v.reason if v.problem is None else f"[damaged: {v.problem}]"
        table.add_row(
            f"v{v.version}",
            "*" if v.version == current else "",
            escape(str(v.params)),
            escape(reason),
        )
    _console().print(table)
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    resolved = _resolve_function(args.target, "rollback")
    if isinstance(resolved, int):
        return resolved
    store, fn = resolved
    known = {v.version for v in store.list_versions(fn)} | {0}
    if args.version not in known:
        print(
            f"dana-poet: {fn} has no version {args.version} (known: {sorted(known)})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    with warnings.catch_warnings(record=True):  # an unsaved rollback is an error, said below
        warnings.simplefilter("always")
        store.set_current(fn, args.version)
    status = store.status()
    if not status.persistent:
        # the store's fault reads "cannot use DIR (cause) while saving ...; POET goes on in memory"
        cause = status.problems[-1].split("; ")[0] if status.problems else status.location
        print(f"dana-poet: {fn}: rollback to v{args.version} not saved: {cause}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{fn}: current version is now v{args.version}")
    return EXIT_OK


def cmd_feedback_summary(args: argparse.Namespace) -> int:
    from rich.table import Table

    resolved = _resolve_function(args.target, "feedback summary")
    if isinstance(resolved, int):
        return resolved
    store, fn = resolved
    table = Table(title=f"feedback for {fn} (by the version that ran)")
    for col in ("version", "count", "mean sentiment", "negative", "positive"):
        table.add_column(col)
    for row in store.feedback_summary(fn):
        table.add_row(
            f"v{row.version}",
            str(row.count),
            f"{row.mean_sentiment:+.2f}",
            str(row.negative),
            str(row.positive),
        )
    _console().print(table)
    return EXIT_OK


def cmd_cache(args: argparse.Namespace) -> int:
    from dana_poet.poet.cache import cache_stats, clear_cache

    cache_dir = Path(args.dir).resolve() / ".dana" / "poet" / "cache"
    if args.action == "clear":
        print(f"removed {clear_cache(cache_dir)} cache entries")
        return EXIT_OK
    stats = cache_stats(cache_dir)
    print(
        f"entries: {stats['entries']}  hits: {stats['hits']}  misses: {stats['misses']}  "
        f"hit rate: {stats['hit_rate']:.0%}"
    )
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the POET sub-commands on the main parser."""
    p = sub.add_parser("inspect", help="show each @poet function's stage code and version")
    p.add_argument("target", help="FILE.na or FILE.na:function")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("transpile", help="write the enhanced module as Dana or Python")
    p.add_argument("file", help="the .na file to transpile")
    p.add_argument(
        "--emit", choices=["dana", "python"], default="dana", help="output language (default dana)"
    )
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_transpile)

    p = sub.add_parser("versions", help="list a function's versions")
    p.add_argument("target", help="FILE.na:function")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("rollback", help="make an earlier version current")
    p.add_argument("target", help="FILE.na:function")
    p.add_argument("version", type=parse_version, help="the version to restore: 3 or v3")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("feedback", help="feedback reports")
    p.add_argument("action", choices=["summary"], help="summary: feedback counts per version")
    p.add_argument("target", help="FILE.na:function")
    p.set_defaults(func=cmd_feedback_summary)

    p = sub.add_parser("cache", help="stage-code cache statistics")
    p.add_argument(
        "action", choices=["stats", "clear"], help="stats: entries and hit rate; clear: empty it"
    )
    p.add_argument("dir", nargs="?", default=".", help="directory holding .dana/")
    p.set_defaults(func=cmd_cache)
