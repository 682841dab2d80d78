"""Finding and loading modules for a Dana program (spec §13).

A `ModuleLoader` belongs to one `Program`. Dana modules (`name.na`, packages
as directories with an optional `__init__.na`) are searched in the importing
file's directory and then the program's search path; each runs once, in its
own globals. Python modules (`import name.py`) are looked up first as a
`name.py` file beside the importing file or on the search path, then as an
installed Python module.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dana_poet.lang.errors import DanaImportError
from dana_poet.lang.source import read_source

if TYPE_CHECKING:
    from dana_poet.lang.runtime import Program


class DanaModule(types.ModuleType):
    """A loaded `.na` module; attributes are its top-level names."""


class ModuleLoader:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.modules: dict[str, DanaModule] = {}
        self.loading: dict[str, DanaModule] = {}  # by file, while its code runs
        self.python_modules: dict[Path, types.ModuleType] = {}

    # ------------------------------------------------------------ the statements
    def import_(
        self, module: str, is_python: bool, bind_leaf: bool, importer: str, package: str
    ) -> Any:
        """`import a.b` (binds `a`, with `a.b` reachable) or `import a.b as x` (binds `a.b`)."""
        if is_python:
            mod = self.python_module(module, importer)
            if not bind_leaf and "." in module:
                return self.python_module(module.split(".")[0], importer)
            return mod
        return self.import_module(module, 0, importer, package, bind_leaf)

    def import_from(
        self, module: str, level: int, is_python: bool, name: str, importer: str, package: str
    ) -> Any:
        if is_python:
            mod = self.python_module(module, importer)
            try:
                return getattr(mod, name)
            except AttributeError:
                return self.python_module(f"{module}.{name}", importer)
        if name.startswith("_"):
            raise DanaImportError(f"cannot import private name '{name}' from '{module}'")
        sub = f"{module}.{name}" if module else name
        path, _, _ = self.resolve(module, level, importer, package)
        partial = self.loading.get(_key(path))
        if partial is not None:
            # `from . import tax` in a package's __init__.na: the submodule, not the package
            # that is still running
            if name in partial.__dict__:
                return partial.__dict__[name]
            return self.import_module(sub, level, importer, package, True)
        mod = self.import_module(module, level, importer, package, True)
        if hasattr(mod, name):
            return getattr(mod, name)
        try:
            return self.import_module(sub, level, importer, package, True)
        except DanaImportError:
            raise DanaImportError(f"cannot import name '{name}' from '{module or '.'}'") from None

    def import_star(
        self, module: str, level: int, is_python: bool, importer: str, package: str
    ) -> dict[str, Any]:
        if is_python:
            mod = self.python_module(module, importer)
            names = getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")])
            return {n: getattr(mod, n) for n in names}
        mod = self.import_module(module, level, importer, package, True)
        return {n: v for n, v in vars(mod).items() if not n.startswith("_")}

    # ------------------------------------------------------------ Dana modules
    def resolve(
        self, module: str, level: int, importer_file: str, package: str
    ) -> tuple[Path, str, str]:
        """(file or package directory, qualified name, package of the module)."""
        parts = [x for x in module.split(".") if x]
        if level > 0:
            if not package:
                raise DanaImportError(
                    f"relative import '{'.' * level}{module}' attempted without package context"
                )
            base = Path(importer_file).resolve().parent
            for _ in range(level - 1):
                base = base.parent
            roots = [base]
            pkg_parts = package.split(".")[: len(package.split(".")) - (level - 1)]
            prefix = ".".join(pkg_parts)
        else:
            roots = list(
                dict.fromkeys([Path(importer_file).resolve().parent, *self.program.search_path])
            )
            prefix = ""
        for root in roots:
            candidate = root.joinpath(*parts) if parts else root
            as_file = candidate.with_suffix(".na") if parts else None
            qual = ".".join(p for p in [prefix, *parts] if p)
            if as_file is not None and as_file.is_file():
                return as_file, qual, qual.rpartition(".")[0]
            if candidate.is_dir() and (parts or level > 0):
                init = candidate / "__init__.na"
                if (
                    init.is_file()
                    or any(candidate.glob("*.na"))
                    or any(c.is_dir() for c in candidate.iterdir())
                ):
                    return init if init.is_file() else candidate, qual, qual
        where = ", ".join(str(r) for r in roots)
        raise DanaImportError(f"module '{'.' * level}{module}' not found (searched: {where})")

    def import_module(
        self, module: str, level: int, importer_file: str, package: str, bind_leaf: bool
    ) -> Any:
        """Load `module` (once per program) and return it, or its top package when
        `bind_leaf` is false. Parent packages load first, as in Python."""
        if "." in module and level == 0:
            root = self._package(module.split(".")[0], importer_file, package)
            parent_name, _, leaf = module.rpartition(".")
            parent = (
                self._package(parent_name, importer_file, package) if "." in parent_name else root
            )
            mod = self._load(module, level, importer_file, package)
            if leaf not in parent.__dict__:
                setattr(parent, leaf, mod)
            return mod if bind_leaf else root
        mod = self._load(module, level, importer_file, package)
        if "." in module or (level > 0 and module):
            parent_name, _, leaf = module.rpartition(".")
            try:
                parent = self._load(parent_name, level, importer_file, package)
            except DanaImportError:
                return mod
            if leaf not in parent.__dict__:
                setattr(parent, leaf, mod)
        return mod

    def _package(self, module: str, importer_file: str, package: str) -> Any:
        """The package that holds a submodule being imported; while the package's own
        `__init__.na` runs (`from utils.text import f` inside utils/__init__.na), the part of
        it loaded so far, as in Python."""
        path, _, _ = self.resolve(module, 0, importer_file, package)
        partial = self.loading.get(_key(path))
        if partial is not None and partial.__dict__.get("__path__"):
            return partial
        return self.import_module(module, 0, importer_file, package, True)

    def _load(self, module: str, level: int, importer_file: str, package: str) -> Any:
        path, qual, pkg = self.resolve(module, level, importer_file, package)
        key = _key(path)
        if key in self.modules:
            return self.modules[key]
        if key in self.loading:
            raise DanaImportError(f"circular import of module '{qual}'")
        mod = DanaModule(qual)
        is_package = path.is_dir() or path.name == "__init__.na"
        if is_package:
            mod.__dict__["__path__"] = str(path if path.is_dir() else path.parent)
            mod.__dict__["__dana_dir__"] = mod.__dict__["__path__"]
        if path.is_dir():
            self.modules[key] = mod
            return mod
        self.loading[key] = mod
        public = self.program.public
        before = {name: id(value) for name, value in public.items()}
        try:
            g = self.program.new_globals(str(path), qual, qual if is_package else pkg)
            source = read_source(path)
            self.program.run_source(source, str(path), g)
        finally:
            del self.loading[key]
        for name in _public_writes(public, before, source):
            setattr(mod, name, public[name])
        for name, value in g.items():
            if not name.startswith("__") or name == "__all__":
                setattr(mod, name, value)
        mod.__dict__["__file__"] = str(path)
        self.modules[key] = mod
        return mod

    # ------------------------------------------------------------ Python modules
    def python_module(self, module: str, importer_file: str) -> types.ModuleType:
        """`name.py` beside the importing file (or on the search path), else installed."""
        parts = module.split(".")
        roots = [Path(importer_file).resolve().parent, *self.program.search_path]
        for root in roots:
            for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts)):
                if candidate.is_dir():
                    candidate = candidate / "__init__.py"
                if candidate.is_file():
                    return self._python_file(module, candidate.resolve())
        return importlib.import_module(module)

    def _python_file(self, module: str, path: Path) -> types.ModuleType:
        found = self.python_modules.get(path)
        if found is not None:
            return found
        existing = sys.modules.get(module)
        if existing is not None and getattr(existing, "__file__", None) == str(path):
            self.python_modules[path] = existing
            return existing
        spec = importlib.util.spec_from_file_location(module, path)
        if spec is None or spec.loader is None:
            raise DanaImportError(f"cannot load Python module '{module}' from {path}")
        mod = importlib.util.module_from_spec(spec)
        self.python_modules[path] = mod
        if existing is None:
            sys.modules[module] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            self.python_modules.pop(path, None)
            if sys.modules.get(module) is mod:
                del sys.modules[module]
            raise
        return mod


_PUBLIC_WRITE = re.compile(r"\bpublic:\s*([A-Za-z_]\w*)\s*(?:[-+*/]?=)(?!=)")


def _public_writes(public: dict[str, Any], before: dict[str, int], source: str) -> list[str]:
    """The `public:` names a module set while it ran: those that are new or changed, and
    those its source assigns (a value set again to the very same object)."""
    written = {name for name, value in public.items() if before.get(name) != id(value)}
    written.update(n for n in _PUBLIC_WRITE.findall(source) if n in public)
    return sorted(n for n in written if not n.startswith("_"))


def _key(path: Path) -> str:
    return str(path.resolve())
