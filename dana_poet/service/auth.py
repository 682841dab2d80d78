"""Who may call the service, and which project each key belongs to.

Keys come from `AITOMATIC_API_KEY` (one key, project `default`) and/or a key file
named by `DANA_POET_API_KEYS_FILE`: one key per line as `<project> <key>`, `#` starts
a comment. A request presents `Authorization: Bearer <key>`; every key is compared
in constant time, so the answer's timing says nothing about which key was close.
With no key configured the service is open, and `dana-poet serve` binds 127.0.0.1 only.
"""

from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROJECT = "default"
_PROJECT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeyFileError(ValueError):
    """The key file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[bytes, str], ...]  # (key, project)

    @property
    def open(self) -> bool:
        return not self.keys

    def project_for(self, presented: str) -> str | None:
        """The project of the presented key, or None. Compares against every key."""
        given = presented.encode("utf-8", "surrogatepass")
        found: str | None = None
        for key, project in self.keys:
            if hmac.compare_digest(key, given) and found is None:
                found = project
        return found


def parse_key_file(path: Path) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror or exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise KeyFileError(f"{path}:{number}: expected '<project> <key>', got {raw.strip()!r}")
        project, key = parts
        if not _PROJECT.match(project):
            raise KeyFileError(
                f"{path}:{number}: project names are letters, digits, '_', '.', '-' (got {project!r})"
            )
        if len(key) < 8:
            raise KeyFileError(f"{path}:{number}: a key needs at least 8 characters")
        pairs.append((project, key))
    return pairs


def load_keys(environ: dict[str, str] | None = None) -> KeyRing:
    env = os.environ if environ is None else environ
    pairs: list[tuple[str, str]] = []
    single = env.get("AITOMATIC_API_KEY", "").strip()
    if single:
        pairs.append((DEFAULT_PROJECT, single))
    key_file = env.get("DANA_POET_API_KEYS_FILE", "").strip()
    if key_file:
        pairs.extend(parse_key_file(Path(key_file)))
    return KeyRing(tuple((key.encode(), project) for project, key in pairs))
