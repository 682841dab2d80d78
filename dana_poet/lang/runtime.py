"""The Dana runtime: one `Program` per run, module globals, and the helpers compiled code calls.

A `Program` owns the program-wide scopes (`private`, `public`, `system`), the
cache of imported modules and the module search path. Each Dana module runs
in its own globals dict whose `__builtins__` is the Dana builtins table.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import types
import typing
from pathlib import Path
from typing import Any

from dana_poet.lang import helpers as H
from dana_poet.lang.modules import ModuleLoader
from dana_poet.lang.source import is_dana_filename, read_source
from dana_poet.lang.structs import (
    NO_DEFAULT,
    DanaStruct,
    exact_method,
    inherited_plain,
    lend,
    make_struct,
    set_field,
)

_PIPE_ARGS: contextvars.ContextVar[tuple[Any, ...] | None] = contextvars.ContextVar(
    "dana_pipeline_args", default=None
)


class ScopeDict(dict):
    """A program-wide scope; a missing key falls back to the other scopes, then errors."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.scope_name = name
        self.fallbacks: list[ScopeDict] = []

    def __missing__(self, key: str) -> Any:
        for other in self.fallbacks:
            if key in other:
                return dict.__getitem__(other, key)
        raise NameError(f"name '{self.scope_name}:{key}' is not defined")


class DanaAssertionError(AssertionError):
    """A failed Dana `assert`; for comparisons it carries both sides."""

    def __init__(
        self, message: Any, source: str, left: Any = None, right: Any = None, op: str | None = None
    ) -> None:
        self.source = source
        self.left = left
        self.right = right
        self.op = op
        self.user_message = message
        text = str(message) if message is not None else f"assertion failed: {source}"
        if message is not None:
            self.message = text  # what `e.message` gives: the program's own words
        if op is not None:
            text += f" (left: {left!r}, right: {right!r})"
        super().__init__(text)


REITERABLE = frozenset({list, tuple, range, dict, set, frozenset, str})


def _is_singleton_agent(value: Any, name: str) -> bool:
    """`agent Roy` binds an instance of its own type `Roy`: as a type, the name means that type
    (so `def (r: Roy) greet()` adds a method to the agent)."""
    return isinstance(value, DanaStruct) and type(value).__name__ == name


def type_value(base: Any, *args: Any) -> Any:
    """A type given as a value (a struct declared in a function), optionally generic."""
    if _is_singleton_agent(base, getattr(type(base), "__name__", "")):
        return type(base)
    if args and isinstance(base, type) and not any(isinstance(a, str) for a in args):
        try:
            return _subscript(base, args)
        except TypeError:
            return base
    return base


def _subscript(generic: Any, args: tuple[Any, ...]) -> Any:
    """`generic[args]`, or `generic[arg]` for one argument."""
    return generic[args if len(args) > 1 else args[0]]


_BUILTIN_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "set": set,
    "bytes": bytes,
    "any": typing.Any,
    "Any": typing.Any,
    "None": type(None),
}


def dana_add(a: Any, b: Any) -> Any:
    """`+` with Dana's one extra rule: a string and a number or bool concatenate."""
    try:
        return a + b
    except TypeError:
        if isinstance(a, str) and isinstance(b, int | float):
            return a + _word(b)
        if isinstance(b, str) and isinstance(a, int | float):
            return _word(a) + b
        raise


def _word(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


_AUG = {
    "+": dana_add,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


class DanaNamespace(dict):
    """A dict whose keys read and write as attributes; made by `private:cfg.x = 1`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def vivify(container: Any, name: str) -> Any:
    """The member `name` of a scope or namespace, created as a namespace when missing."""
    if isinstance(container, dict):
        if dict.__contains__(container, name):  # this scope only, no fallback to the others
            return dict.__getitem__(container, name)
        made = container[name] = DanaNamespace()
        return made
    try:
        return getattr(container, name)
    except AttributeError:
        made = DanaNamespace()
        setattr(container, name, made)
        return made


def aug_item(obj: Any, key: Any, op: str, value: Any) -> Any:
    """`(obj[key] += value)` as an expression: store and return the new value."""
    new = _AUG[op](obj[key], value)
    obj[key] = new
    return new


def aug_attr(obj: Any, name: str, op: str, value: Any) -> Any:
    new = _AUG[op](getattr(obj, name), value)
    setattr(obj, name, new)
    return new


def dana_attr(obj: Any, name: str) -> Any:
    """`obj.name` in Dana: a dict's key when it has no such attribute; on a struct, a
    visible function `name` as a method."""
    try:
        return getattr(obj, name)
    except AttributeError:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if isinstance(obj, DanaStruct) and not name.startswith("__"):
            program = type(obj).__dana_program__
            fn = program.find_function(name) if program is not None else None
            if fn is not None:
                return types.MethodType(fn, obj)
        raise


def dana_exc(value: Any) -> BaseException:
    if isinstance(value, BaseException):
        return value
    if isinstance(value, type) and issubclass(value, BaseException):
        return value()
    return RuntimeError(str(value))


def _dana_frames(exc: BaseException) -> list[tuple[str, int, str, Any]]:
    """(file, line, function, traceback entry) of each Dana frame the error passed,
    outermost first (frames of Python code and of generated helpers are left out)."""
    frames: list[tuple[str, int, str, Any]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if is_dana_filename(code.co_filename):
            frames.append((code.co_filename, tb.tb_lineno, code.co_name, tb))
        tb = tb.tb_next
    return frames


def _column(tb: types.TracebackType) -> int | None:
    """The 1-based column of the instruction a traceback entry stopped at."""
    index = tb.tb_lasti // 2  # one position per 2-byte code unit
    if index < 0:
        return None
    for _line, _end, column, _end_column in itertools.islice(
        tb.tb_frame.f_code.co_positions(), index, index + 1
    ):
        return None if column is None else column + 1
    return None


def dana_caught(exc: BaseException) -> BaseException:
    """Give a caught exception the fields Dana programs read: `type`, `message`, `line`,
    `column`, `filename`, `source_line` (of the innermost Dana line) and `traceback`."""
    try:
        d = exc.__dict__
        d.setdefault("type", type(exc).__name__)
        d.setdefault("message", str(exc))
        frames = _dana_frames(exc)
        if frames:
            import linecache

            filename, line, _, tb = frames[-1]
            d.setdefault("line", line)
            d.setdefault("filename", filename)
            d.setdefault("column", _column(tb))
            d.setdefault("source_line", linecache.getline(filename, line).strip())
        d.setdefault(
            "traceback",
            [
                f'File "{f}", line {n}, in {"top level" if fn == "<module>" else fn}'
                for f, n, fn, _ in frames
            ],
        )
    except AttributeError:
        pass
    return exc


def assert_failed(message: Any, source: str, *rest: Any) -> DanaAssertionError:
    if rest:
        return DanaAssertionError(message, source, rest[0], rest[1], rest[2])
    return DanaAssertionError(message, source)


def type_union(*options: Any) -> Any:
    if any(isinstance(o, str) for o in options):
        return " | ".join(
            o if isinstance(o, str) else getattr(o, "__name__", str(o)) for o in options
        )
    return typing.Union[tuple(options)]  # noqa: UP007 - built from runtime values


_FUNCTION_VALUES = (types.FunctionType, types.MethodType)


def pipe_call(args: tuple[Any, ...], thunk: Any) -> Any:
    """Run a single-call declarative stage with its arguments visible to `case`; when the
    call gives a function (`def f(x) = make_adder(10)`), that function gets the arguments."""
    token = _PIPE_ARGS.set(args)
    try:
        result = thunk()
        if isinstance(result, _FUNCTION_VALUES):
            return result(*args)
        return result
    finally:
        _PIPE_ARGS.reset(token)


_STAGE_ARITY: dict[Any, int | None] = {}


def call_stage(fn: Any, *args: Any) -> Any:
    """Call a named pipeline stage with the flowing value(s), dropping those it cannot take
    (`def f(x: int = 0) = get_constant | add_five` calls `get_constant()`)."""
    try:
        limit = _STAGE_ARITY[fn]
    except (KeyError, TypeError):
        limit = _positional_limit(fn)
        try:
            _STAGE_ARITY[fn] = limit
        except TypeError:
            pass
    if limit is not None and len(args) > limit:
        args = args[:limit]
    return fn(*args)


def _positional_limit(fn: Any) -> int | None:
    try:
        import inspect

        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    count = 0
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def current_pipe_args() -> tuple[Any, ...]:
    return _PIPE_ARGS.get() or ()


_TRUE_WORDS = frozenset(
    "true yes y on enabled active yeah yep sure absolutely certainly indeed 1 positive good ok okay fine correct right".split()
    + ["of course"]
)
_FALSE_WORDS = frozenset(
    "false no n off disabled inactive nah nope never hardly 0 0.0 0.00 zero none null empty blank".split()
    + ["definitely not", "no way", "not really"]
)


def semantic_bool(value: Any) -> bool:
    """Dana's `bool()`: strings by the exact word table of §6.1 (no substring guessing);
    other non-empty text is true; everything else by Python truth."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_WORDS:
            return True
        if text in _FALSE_WORDS:
            return False
        return bool(text)
    return bool(value)


def strip_fences(text: str) -> str:
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()


def coerce_assignment(value: Any, annotation: Any, name: str) -> Any:
    """Typed assignment `x: T = v` (§5.1): convert where the table says so."""
    annotation = getattr(annotation, "__dana_python_type__", annotation)
    if isinstance(annotation, str) and annotation in _BUILTIN_TYPES:
        annotation = _BUILTIN_TYPES[annotation]
    if value is None or annotation is typing.Any or isinstance(annotation, str):
        return value
    target = typing.get_origin(annotation) or annotation
    try:
        if target is int:
            if isinstance(value, int):
                return value
            if isinstance(value, float):
                return int(value)
            if isinstance(value, str):
                return int(value.strip())
        elif target is float:
            if isinstance(value, float):
                return value
            if isinstance(value, int | str):
                return float(value)
        elif target is str:
            if isinstance(value, bool):
                return "true" if value else "false"
            return value if isinstance(value, str) else str(value)
        elif target is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float):
                return value != 0
            if isinstance(value, str):
                return semantic_bool(value)
        elif target in (list, dict):
            if isinstance(value, target):
                return value
            if isinstance(value, str):
                import json

                parsed = json.loads(strip_fences(value))
                if isinstance(parsed, target):
                    return parsed
        elif target in (tuple, set):
            if isinstance(value, target):
                return value
        elif isinstance(target, type) and issubclass(target, DanaStruct):
            return value  # §5.1: no conversion for struct targets (reason() builds them itself)
        else:
            return value
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"Assignment to '{name}' failed: cannot coerce value {value!r} to type "
            f"'{getattr(target, '__name__', target)}': {exc}"
        ) from None
    raise TypeError(
        f"Assignment to '{name}' failed: cannot coerce value {value!r} to type "
        f"'{getattr(target, '__name__', target)}'"
    )


def struct_from_json(value: Any, target: type) -> Any:
    """A struct built from an LLM's JSON answer (text or dict)."""
    if isinstance(value, target):
        return value
    if isinstance(value, str):
        import json

        value = json.loads(strip_fences(value))
    if not isinstance(value, dict):
        raise TypeError(f"cannot build {target.__name__} from {value!r}")
    fields = target.__dana_fields__  # type: ignore[attr-defined]
    return target(**{k: _field_value(v, fields[k]) for k, v in value.items() if k in fields})


def _field_value(value: Any, annotation: Any) -> Any:
    """A JSON value for a struct field: nested structs are built, numbers widened."""
    target = typing.get_origin(annotation) or annotation
    if isinstance(target, type) and issubclass(target, DanaStruct) and isinstance(value, dict):
        return struct_from_json(value, target)
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class Program:
    """One running Dana program: scopes, loaded modules, search path."""

    def __init__(
        self,
        main_path: str | os.PathLike[str] | None = None,
        extra_builtins: dict[str, Any] | None = None,
        ast_transform: Any = None,
        cache_token: Any = None,
    ) -> None:
        from dana_poet.lang import builtins as dana_builtins

        self.private = ScopeDict("private")
        self.public = ScopeDict("public")
        self.system = ScopeDict("system")
        order = [self.private, self.public, self.system]
        for scope in order:
            scope.fallbacks = [s for s in order if s is not scope]
        self.fsm_class: type | None = None
        self.builtins = dana_builtins.make_builtins(self)
        self.builtins.update(extra_builtins or {})
        self.ast_transform = (
            ast_transform  # (module, filename, source) -> module, run before compiling
        )
        self.builtin_names = frozenset(self.builtins)
        # (filename, source) -> str describing the inputs of ast_transform, or None when the
        # transformed module must not be cached (see codecache.py)
        self.cache_token = cache_token
        self._builtins_digest = ""
        self.loader = ModuleLoader(self)
        self.module_globals: list[dict[str, Any]] = []
        self.declared_types: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        # a declaration run again exactly as before gives the same type, receivers included
        self.declared_structs: dict[tuple[str, str], tuple[Any, type]] = {}
        self.main_dir = Path(main_path).resolve().parent if main_path else Path.cwd()
        self.search_path = self._search_path()

    def _search_path(self) -> list[Path]:
        paths = [self.main_dir, Path.cwd(), Path.cwd() / "dana", Path.home() / ".dana" / "libs"]
        for entry in os.environ.get("DANAPATH", "").split(os.pathsep):
            if entry:
                paths.append(Path(entry))
        seen: list[Path] = []
        for p in paths:
            if p not in seen:
                seen.append(p)
        return seen

    # ------------------------------------------------------------ functions visible program-wide
    def find_function(self, name: str) -> Any:
        for g in reversed(self.module_globals):
            fn = g.get(name)
            if callable(fn) and not isinstance(fn, type):
                return fn
        return None

    # ------------------------------------------------------------ module globals
    def new_globals(self, filename: str, module_name: str, package: str = "") -> dict[str, Any]:
        g: dict[str, Any] = {
            "__builtins__": self.builtins,
            "__name__": module_name,
            "__file__": filename,
            "__dana_package__": package,
        }
        g.update(self._helpers(g, filename, package))
        self.module_globals.append(g)
        return g

    def _helpers(self, g: dict[str, Any], filename: str, package: str) -> dict[str, Any]:
        program = self
        builtins = self.builtins
        scopes = (self.private, self.public, self.system)

        def lookup(name: str) -> Any:
            if name in g:
                return g[name]
            for scope in scopes:
                if name in scope:
                    return dict.__getitem__(scope, name)
            if name in builtins:
                return builtins[name]
            raise NameError(f"name '{name}' is not defined")

        def type_of(name: str, *args: Any) -> Any:
            base = _BUILTIN_TYPES.get(name)
            if base is None:
                try:
                    base = lookup(name) if "." not in name else None
                except NameError:
                    base = None
                if _is_singleton_agent(base, name):
                    return type(base)
                if base is None or not isinstance(base, type):
                    return name
            if args and base is not typing.Any and isinstance(base, type):
                if any(isinstance(a, str) for a in args):
                    return base
                try:
                    return _subscript(base, args)
                except TypeError:
                    return base
            return base

        def struct(
            kind: str, name: str, fields: list[tuple[str, Any, Any]], doc: Any, base: Any
        ) -> type:
            base_cls = lookup(base) if base else None
            shape = tuple((f[0], repr(f[1])) for f in fields)
            key = (filename, name)
            if program.declared_types.setdefault(key, shape) != shape:
                raise TypeError(f"{kind} '{name}' is already declared with different fields")
            try:
                exact = (kind, shape, tuple(repr(f[2]) for f in fields), doc, base_cls)
                hash(exact)
            except TypeError:
                exact = None
            known = program.declared_structs.get(key)
            if exact is not None and known is not None and known[0] == exact:
                return known[1]
            cls = make_struct(kind, name, fields, doc, base_cls, program)
            if exact is not None:
                program.declared_structs[key] = (exact, cls)
            return cls

        loader = self.loader

        def method_of(obj: Any, name: str) -> Any:
            """`obj.name` for a call; on a struct without it, the visible function `name`."""
            try:
                return getattr(obj, name)
            except AttributeError:
                fn = g.get(name) if isinstance(obj, DanaStruct) else None
                if fn is None and isinstance(obj, DanaStruct):
                    fn = program.find_function(name)
                if callable(fn) and not isinstance(fn, type):
                    return types.MethodType(fn, obj)
                raise

        def importer(module: str, is_python: bool, bind_leaf: bool) -> Any:
            return loader.import_(module, is_python, bind_leaf, filename, package)

        def import_from(module: str, level: int, is_python: bool, name: str) -> Any:
            return loader.import_from(module, level, is_python, name, filename, package)

        def import_star(module: str, level: int, is_python: bool) -> None:
            g.update(loader.import_star(module, level, is_python, filename, package))

        return {
            H.H_LOOKUP: lookup,
            H.H_ADD: dana_add,
            H.H_ATTR: dana_attr,
            H.H_COERCE: coerce_assignment,
            H.H_EXC: dana_exc,
            H.H_CAUGHT: dana_caught,
            H.H_ASSERT: assert_failed,
            H.H_TYPE: type_of,
            H.H_UNION: type_union,
            H.H_STRUCT: struct,
            H.H_RECEIVER: register_receiver,
            H.H_AGENT: make_agent,
            H.H_INTERFACE: lambda name, methods, embeds, doc: make_interface(
                name, methods, embeds, doc, lookup
            ),
            H.H_IMPORT: importer,
            H.H_IMPORT_FROM: import_from,
            H.H_IMPORT_STAR: import_star,
            H.H_PIPE_ARGS: pipe_call,
            H.H_STAGE: call_stage,
            H.H_AUG_ITEM: aug_item,
            H.H_AUG_ATTR: aug_attr,
            H.H_VIVIFY: vivify,
            H.H_SET_FIELD: set_field,
            H.H_METHOD: method_of,
            **{
                f"__dana_{t.__name__}_t": t for t in (int, float, str, bool, list, dict, tuple, set)
            },
            H.H_PYTYPE: type,
            H.H_PYSTR: str,
            H.H_REITERABLE: REITERABLE,
            H.H_TYPE_VALUE: type_value,
            H.H_GLOBALS: g,
            "__dana_NO_DEFAULT": NO_DEFAULT,
            H.SCOPE_DICTS["private"]: self.private,
            H.SCOPE_DICTS["public"]: self.public,
            H.SCOPE_DICTS["system"]: self.system,
        }

    # ------------------------------------------------------------ running code
    def compile_source(self, source: str, filename: str) -> types.CodeType:
        """The module's code object, from the compiled-code cache when it is current."""
        from dana_poet.lang import codecache

        return codecache.cached_compile(
            source,
            filename,
            lambda: self._cache_salt(source, filename),
            lambda: self._compile(source, filename),
        )

    def _cache_salt(self, source: str, filename: str) -> str | None:
        from dana_poet.lang import codecache

        token = ""
        if self.ast_transform is not None:
            rewrite_token = self.cache_token(filename, source) if self.cache_token else None
            if rewrite_token is None:
                return None
            token = rewrite_token
        if not self._builtins_digest:
            self._builtins_digest = codecache.digest("\n".join(sorted(self.builtin_names)))
        return "\0".join((codecache.language_fingerprint(), self._builtins_digest, token))

    def _compile(self, source: str, filename: str) -> types.CodeType:
        from dana_poet.lang import compiler as C
        from dana_poet.lang.parser import parse

        module = parse(source, filename)
        if self.ast_transform is not None:
            module = self.ast_transform(module, filename, source)
        try:
            return C.Compiler(filename, self.builtin_names, source).compile_module(module)
        except (RecursionError, SyntaxError) as exc:  # CPython's limits on nesting
            from dana_poet.lang import ast as A
            from dana_poet.lang.deep import too_deep

            def fails(stmt: Any) -> bool:
                try:
                    C.Compiler(filename, self.builtin_names, source).compile_module(
                        A.Module((stmt,), filename)
                    )
                except (RecursionError, SyntaxError):
                    return True
                except Exception:  # noqa: BLE001 - only the same failure locates it
                    return False
                return False

            raise too_deep(exc, filename, source, module.body, fails) from None

    def run_source(
        self, source: str, filename: str, g: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        code = self.compile_source(source, filename)
        if g is None:
            g = self.new_globals(filename, "__main__")
        remember_source(filename, source)
        exec(code, g)
        return g

    def run_file(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        p = Path(path)
        return self.run_source(read_source(p), str(p))


def register_receiver(fn: Any, receiver_type: Any, implicit: bool) -> None:
    """Make `fn` a method of the receiver's struct type(s)."""
    options = (
        typing.get_args(receiver_type)
        if typing.get_origin(receiver_type)
        in (
            typing.Union,
            types.UnionType,
        )
        else (receiver_type,)
    )
    name = getattr(fn, "__name__", None)
    if not name:
        return
    for cls in options:
        if isinstance(cls, type) and issubclass(cls, DanaStruct):
            own = cls.__dict__.get(name)
            if (
                implicit
                and own is not None
                and not getattr(own, "__dana_delegated__", False)
                and not inherited_plain(cls, name, own)
            ):
                continue
            method = exact_method(fn) if len(options) == 1 else fn
            inheriting = [
                sub
                for sub in _subclasses(cls)
                if name not in sub.__dict__ or inherited_plain(sub, name, sub.__dict__[name])
            ]
            setattr(cls, name, method)
            for sub in inheriting:  # a subclass's receiver is not exactly `cls`
                if method is not fn:
                    setattr(sub, name, fn)
                elif name in sub.__dict__:
                    delattr(sub, name)
            for holder, field in cls.__dana_holders__:
                lend(holder, field, name)
        elif not implicit and isinstance(cls, str):
            raise TypeError(f"Unknown struct type '{cls}' for receiver function '{name}'")


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    stack: list[type] = list(cls.__subclasses__())
    while stack:
        sub = stack.pop()
        found.append(sub)
        stack.extend(sub.__subclasses__())
    return found


def make_agent(name: str, blueprint: Any, overrides: dict[str, Any]) -> Any:
    if blueprint is None:
        # `agent Name:` with `field = value` lines and no blueprint: the lines are its fields
        own = [(k, typing.Any, NO_DEFAULT) for k in overrides if k != "name"]
        cls: Any = make_struct("agent_blueprint", name, own, None, None, None)
        return cls(**{"name": name, **overrides})
    fields = getattr(blueprint, "__dana_fields__", {})
    defaults = getattr(blueprint, "__dana_defaults__", {})
    # a `name` the blueprint declares is kept (`agent Jimmy(Person)` is named "Person", as in
    # the reference); a blueprint without one names the singleton after itself
    named = "name" in fields and defaults.get("name", "unnamed_agent") != "unnamed_agent"
    values = {} if named or "name" not in fields else {"name": name}
    values.update(overrides)
    return blueprint(**values)


class DanaInterface:
    def __init__(
        self,
        name: str,
        methods: list[str],
        embeds: list[str],
        doc: str | None,
        resolve: Any = None,
    ) -> None:
        self.__name__ = name
        self.methods = methods
        self.embeds = embeds
        self.__doc__ = doc
        self._resolve = resolve  # finds an embedded interface by name, where it was declared

    def __repr__(self) -> str:
        return f"Interface[{self.__name__}]"

    def all_methods(self, seen: frozenset[str] = frozenset()) -> list[str]:
        """Its own methods and those of the interfaces it embeds (transitively)."""
        found = list(self.methods)
        for embed in self.embeds:
            try:
                other = self._resolve(embed) if self._resolve is not None else None
            except NameError:
                other = None
            if isinstance(other, DanaInterface) and other.__name__ not in seen:
                found.extend(other.all_methods(seen | {self.__name__}))
        return found

    def __instancecheck__(self, obj: Any) -> bool:
        """Structural: every method, embedded interfaces' too, is defined on the value's type
        (receivers count; the `obj.f()` fallback to any visible function does not)."""
        mro = type(obj).__mro__
        return all(any(callable(c.__dict__.get(m)) for c in mro) for m in self.all_methods())


def make_interface(
    name: str, methods: list[str], embeds: list[str], doc: str | None, resolve: Any = None
) -> DanaInterface:
    return DanaInterface(name, methods, embeds, doc, resolve)


_SOURCES: dict[str, str] = {}


def remember_source(filename: str, source: str) -> None:
    import linecache

    _SOURCES[filename] = source
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def source_line(filename: str, line: int) -> str:
    src = _SOURCES.get(filename)
    if src is None:
        try:
            src = Path(filename).read_text(encoding="utf-8")
        except OSError:
            return ""
    lines = src.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def call_with_context_args(fn: Any, select: bool = False) -> Any:
    """Call `fn` with no arguments, or with the enclosing declarative call's arguments if it
    needs them. With `select` (a branch `case` chose), a function that needs arguments when
    there are none to give is returned uncalled, for the caller to call:
    `handler = case((kind == "csv", parse_csv), parse_text)` then `handler(raw)`."""
    try:
        import inspect

        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn()
    required = [
        p
        for p in sig.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not required:
        return fn()
    args = current_pipe_args()
    if select and not args:
        return fn
    return fn(*args)
