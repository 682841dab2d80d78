"""pytest plugin: collects `test_*.na` (and `*_test.na`) files.

Each top-level `def test_*()` in a file is one test item; the file's top level
runs once, in a fresh Program, before its first test. A file without test
functions is a single item that runs the whole file. A file that does not parse
is a single failing item, so the other files still run. While a file's tests
run, POET keeps its `.dana/` state in a temporary directory of that file's own
(nothing is written beside the sources). Failures show the Dana file:line, the
assert and, for comparisons, both values; never the internals of dana_poet.
Top levels and tests run in the deep-recursion thread `dana-poet run` uses.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_TEST_DEF = re.compile(r"^def (test_\w*)\s*\(", re.M)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dana", "Dana (.na) tests")
    group.addoption(
        "--dana-only",
        action="store_true",
        default=False,
        help="collect only .na test files (skip Python test modules in the given folders)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.getoption("dana_only", False):
        return None
    if collection_path.suffix == ".py" and collection_path.name != "conftest.py":
        return True
    return None


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if is_dana_test_file(file_path):
        return DanaFile.from_parent(parent, path=file_path)
    return None


def is_dana_test_file(path: Path) -> bool:
    name = path.name
    return path.suffix == ".na" and (name.startswith("test_") or name.endswith("_test.na"))


class DanaFile(pytest.File):
    """One `.na` test file: its source, its program (made on first use) and its `.dana/`."""

    _source: str = ""
    _globals: dict[str, Any] | None = None
    _setup_error: BaseException | None = None
    _state_dir: str | None = None
    _saved_env: dict[str, str | None]

    def collect(self) -> Iterator[pytest.Item]:
        from dana_poet.lang.errors import DanaSyntaxError
        from dana_poet.lang.parser import parse
        from dana_poet.lang.source import read_source

        try:
            source = read_source(self.path)
            parse(source, str(self.path))
        except DanaSyntaxError as exc:
            yield DanaSyntaxItem.from_parent(self, name=self.path.name, error=exc)
            return
        self._source = source
        names = _TEST_DEF.findall(source)
        if not names:
            yield DanaItem.from_parent(self, name=self.path.name, dana_function=None)
            return
        for name in dict.fromkeys(names):
            yield DanaItem.from_parent(self, name=name, dana_function=name)

    def setup(self) -> None:
        self._state_dir = tempfile.mkdtemp(prefix="dana-test-")
        self._saved_env = {k: os.environ.get(k) for k in ("DANA_POET_DIR", "DANA_MOCK_LLM")}
        os.environ["DANA_POET_DIR"] = self._state_dir
        os.environ.setdefault("DANA_MOCK_LLM", "true")

    def teardown(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._globals = None
        self._setup_error = None
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None

    def module_globals(self) -> dict[str, Any]:
        """The file's globals after its top level ran (once; a failure is kept and re-raised)."""
        if self._setup_error is not None:
            raise self._setup_error
        if self._globals is None:
            from dana_poet.engine import new_program
            from dana_poet.lang.deep import run_deep

            program = new_program(self.path)
            try:
                self._globals = run_deep(lambda: program.run_source(self._source, str(self.path)))
            except BaseException as exc:
                self._setup_error = exc
                raise
        return self._globals


class _DanaReport(pytest.Item):
    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        from dana_poet.errors_report import format_runtime_error

        debug = bool(self.config.getoption("verbose", 0) > 1)
        return format_runtime_error(excinfo.value, debug=debug)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # pytest shows the domain with "." turned into "::"; a file-named item needs none.
        return self.path, None, "" if "." in self.name else self.name


class DanaItem(_DanaReport):
    """One `def test_*()` of a file (or the whole file when it has none)."""

    def __init__(self, *, dana_function: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dana_function = dana_function

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, DanaFile)
        g = parent.module_globals()
        if self.dana_function is not None:
            from dana_poet.lang.deep import run_deep

            run_deep(g[self.dana_function])


class DanaSyntaxItem(_DanaReport):
    """A file that does not parse: one failing item that shows where."""

    def __init__(self, *, error: BaseException, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error
