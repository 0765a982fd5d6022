"""The user cache (``$AN2DL_CACHE`` or ``~/.cache/an2dl``) and tables computed once per installed version.

``an2dl list models`` shows the parameters and FLOPs of every registered
model; measuring them builds all the models (seconds), so the rows are kept
in ``$AN2DL_CACHE/tables/<kind>-<fingerprint>.json``.  The fingerprint covers
the an2dl sources (path, size and modification time of every ``.py`` file),
the an2dl, torch and Python versions: editing a model, upgrading torch or
installing another an2dl computes the rows again.  Reading a table imports
neither torch nor the models, so a cached answer takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .files import atomic_write_text

__all__ = ["cache_dir", "source_fingerprint", "table_path", "read_table", "write_table", "cached_rows"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_TABLE_FORMAT = 1
_KEEP_TABLES = 4


def cache_dir() -> Path:
    """``$AN2DL_CACHE`` or ``~/.cache/an2dl``."""
    return Path(os.environ.get("AN2DL_CACHE") or Path.home() / ".cache" / "an2dl")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def source_fingerprint(root: str | os.PathLike | None = None, *, extra: Iterable[str] = ()) -> str:
    """A short hash of the ``.py`` files under ``root`` (default: the an2dl package) and of ``extra`` strings.

    Each file contributes its relative path, size and modification time, so
    the hash changes when a source file is edited, added or removed.
    """
    base = Path(root) if root is not None else _PACKAGE_ROOT
    h = hashlib.sha256()
    for item in extra:
        h.update(f"{item}\0".encode())
    entries = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in filenames:
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                rel = os.path.relpath(os.path.join(dirpath, name), base)
                entries.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}")
    for entry in sorted(entries):
        h.update(entry.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def table_path(kind: str) -> Path:
    """Where the table ``kind`` of the installed an2dl, torch and Python lives."""
    from .._version import __version__

    key = source_fingerprint(extra=(__version__, _version("torch"), sys.version.split()[0]))
    return cache_dir() / "tables" / f"{kind}-{key}.json"


def read_table(kind: str) -> dict[str, Any] | None:
    """The cached table ``{"names": [...], "rows": {name: [cells]}}``, or ``None`` when absent or unreadable."""
    path = table_path(kind)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(doc, dict) or doc.get("format") != _TABLE_FORMAT or not isinstance(doc.get("names"), list)
            or not isinstance(doc.get("rows"), dict)):
        return None
    return doc


def write_table(kind: str, names: Sequence[str], rows: dict[str, Sequence[str]]) -> Path | None:
    """Store the rows of table ``kind`` (atomically); of the other fingerprints' tables, the newest few are kept.

    Returns the path written, or ``None`` when the cache folder is not writable
    (the table is then computed again next time; nothing else is lost).
    """
    path = table_path(kind)
    doc = {"format": _TABLE_FORMAT, "names": list(names), "rows": {k: list(v) for k, v in rows.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(doc), durable=False)  # a cache: recomputed when lost
        # keep the tables of a few installations (two virtual environments sharing the cache), not every edit's
        tables = sorted(path.parent.glob(f"{kind}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in tables[_KEEP_TABLES:]:
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        return None
    return path


def cached_rows(kind: str, pattern: str | None = None) -> list[tuple[str, ...]] | None:
    """The cached rows of table ``kind`` whose names match ``pattern`` (:func:`an2dl.registry.match_names`),
    or ``None`` when the table is absent or lacks one of them."""
    from ..registry import match_names

    doc = read_table(kind)
    if doc is None:
        return None
    names = match_names([str(n) for n in doc["names"]], pattern)
    if not all(n in doc["rows"] for n in names):
        return None
    return [tuple(str(c) for c in doc["rows"][n]) for n in names]
