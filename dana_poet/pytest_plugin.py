"""pytest plugin: collects `test_*.na` files.

Each top-level `def test_*()` in a file is one test item; the file's top level
runs once, in a fresh Program, before its first test. A file without test
functions is a single item that runs the whole file. Failures show the Dana
file:line, the assert and, for comparisons, both values; never the internals
of dana_poet.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

_TEST_DEF = re.compile(r"^def (test_\w*)\s*\(", re.M)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    name = file_path.name
    if file_path.suffix == ".na" and (name.startswith("test_") or name.endswith("_test.na")):
        return DanaFile.from_parent(parent, path=file_path)
    return None


class DanaFailure(Exception):
    """Carries a Dana error to repr_failure."""


class DanaFile(pytest.File):
    def collect(self) -> Any:
        source = self.path.read_text(encoding="utf-8")
        from dana_poet.lang.errors import DanaSyntaxError
        from dana_poet.lang.parser import parse

        try:
            parse(source, str(self.path))
        except DanaSyntaxError as exc:
            raise self.CollectError(exc.render()) from None
        self._source = source
        self._globals: dict[str, Any] | None = None
        self._setup_error: BaseException | None = None
        names = _TEST_DEF.findall(source)
        if not names:
            yield DanaItem.from_parent(self, name=self.path.name, function=None)
            return
        for name in dict.fromkeys(names):
            yield DanaItem.from_parent(self, name=name, function=name)

    def module_globals(self) -> dict[str, Any]:
        if self._setup_error is not None:
            raise self._setup_error
        if self._globals is None:
            from dana_poet.engine import new_program

            os.environ.setdefault("DANA_MOCK_LLM", "true")
            program = new_program(self.path)
            try:
                self._globals = program.run_source(self._source, str(self.path))
            except BaseException as exc:
                self._setup_error = exc
                raise
        return self._globals


class DanaItem(pytest.Item):
    def __init__(self, *, function: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.function = function

    def runtest(self) -> None:
        parent: DanaFile = self.parent  # type: ignore[assignment]
        g = parent.module_globals()
        if self.function is not None:
            g[self.function]()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from dana_poet.errors_report import format_runtime_error

        debug = bool(self.config.getoption("verbose", 0) > 1)
        return format_runtime_error(excinfo.value, debug=debug)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}::{self.name}"
