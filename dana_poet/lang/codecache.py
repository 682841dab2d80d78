"""Compiled-code cache for `.na` files, as `__pycache__` is for `.py` files.

A module's code object is stored (marshal) in `__pycache__/<name>.na.<tag>.nac`
beside the source, under a key made of everything the code depends on:

* the source text (its SHA-256) and the file name compiled into the code;
* the dana-poet version and a fingerprint of the language's own files (so an
  edited checkout never runs code compiled by an older compiler);
* the program's builtin names (the compiler resolves names against them);
* a token from each active plugin describing the inputs of its AST rewrite
  (POET gives one for programs that use `@poet`; a plugin that cannot say
  what its output depends on returns None and the module is not cached).

A file whose key matches is loaded without being parsed. Writes go to a
temporary file renamed over the entry, so concurrent writers never leave a
torn file; an unreadable, damaged or foreign entry is recompiled and
replaced. Caching is off when `DANA_POET_NO_CACHE` is set (`dana-poet run
--no-cache` sets it), and silently skipped where the directory is not
writable.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

MAGIC = b"DNAC\x01\x00\r\n"
_KEY_SIZE = 32
NO_CACHE_ENV = "DANA_POET_NO_CACHE"


def enabled() -> bool:
    return not os.environ.get(NO_CACHE_ENV)


def cached_compile(
    source: str,
    filename: str,
    salt: Callable[[], str | None],
    compile_fn: Callable[[], CodeType],
) -> CodeType:
    """`compile_fn()`, or the cached result of an earlier call under the same key.

    `salt()` is asked again after compiling: a plugin's rewrite may itself have written
    the inputs its token describes (POET's stage-code cache), and the entry is stored
    under the state it was made from."""
    path = entry_path(filename) if enabled() else None
    if path is None:
        return _without_gc(compile_fn)
    before = salt()
    if before is not None:
        code = load(path, key_for(source, filename, before))
        if code is not None:
            return code
    code = _without_gc(compile_fn)
    after = salt()
    if after is not None:
        store(path, key_for(source, filename, after), code)
    return code


def _without_gc(compile_fn: Callable[[], CodeType]) -> CodeType:
    """Compile with the cyclic garbage collector paused: the front end allocates many
    long-lived objects and no cycles, and every collection would walk all of them (which
    made compile time grow faster than the file)."""
    if not gc.isenabled():
        return compile_fn()
    gc.disable()
    try:
        return compile_fn()
    finally:
        gc.enable()


def _hasher() -> Any:
    """BLAKE2b from the interpreter's own module: `hashlib` would first load OpenSSL, a
    tenth of the start-up of a cached hello-world."""
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter built without it
        from hashlib import blake2b
    return blake2b(digest_size=32)


def digest(text: str) -> str:
    h = _hasher()
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def entry_path(filename: str) -> Path | None:
    """Where the compiled form of `filename` is kept; None for sources that are not files."""
    if not filename or filename.startswith("<") or not os.path.isfile(filename):
        return None
    source = Path(filename)
    tag = sys.implementation.cache_tag or "python"
    if sys.pycache_prefix:  # PYTHONPYCACHEPREFIX: a mirror tree, as Python does for .pyc
        folder = Path(sys.pycache_prefix) / source.resolve().parent.relative_to("/")
        return folder / f"{source.name}.{tag}.nac"
    return source.parent / "__pycache__" / f"{source.name}.{tag}.nac"


def key_for(source: str, filename: str, salt: str) -> bytes:
    h = _hasher()
    for part in (salt, os.path.abspath(filename), filename, source):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def load(path: Path, key: bytes) -> CodeType | None:
    """The cached code object when the entry exists and was made for `key`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    header = MAGIC + key
    if not data.startswith(header):
        return None
    try:
        code = marshal.loads(memoryview(data)[len(header) :])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def store(path: Path, key: bytes, code: CodeType) -> bool:
    """Write the entry atomically; False (and nothing left behind) when that is not possible."""
    try:
        payload = MAGIC + key + marshal.dumps(code)
        path.parent.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError):
        return False
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


_FINGERPRINT: list[str] = []


def language_fingerprint() -> str:
    """The dana-poet version and the size and mtime of every file of the language pipeline."""
    if not _FINGERPRINT:
        from dana_poet import __version__
        from dana_poet.lang.parser import GRAMMAR_PATH

        parts = [__version__, sys.version]
        here = Path(__file__).resolve().parent
        for path in sorted([*here.glob("*.py"), GRAMMAR_PATH]):
            parts.append(file_signature(path))
        _FINGERPRINT.append(digest("\n".join(parts)))
    return _FINGERPRINT[0]


def file_signature(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path.name}:missing"
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def tree_fingerprint(directory: Path) -> str:
    """Size and mtime of every `.py` file under `directory` (for plugins' own code)."""
    parts = [file_signature(p) for p in sorted(directory.rglob("*.py"))]
    return digest("\n".join(parts))
