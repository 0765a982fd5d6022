"""Atomic file writes and SHA-256 digests (DESIGN §7).

Every file an2dl keeps — checkpoints, configurations, logs, reports, exported
models, vocabularies — is written the same way: into a temporary file beside
the target, optionally fsynced, then renamed over the target.  A reader sees
the old content or the new one, never a mix, and a process killed at any
instant leaves the old file intact.  ``durable=True`` also fsyncs the file and
its folder, so the new content survives a power cut; files rewritten often and
cheap to lose (epoch logs) skip it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "sha256_bytes",
    "sha256_file",
    "write_bytes",
]

_CHUNK = 1 << 20  # bytes read at a time when hashing a file


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where the platform cannot open folders."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` in place (not atomic); ``durable`` also fsyncs the file before returning.

    For files inside a temporary folder that is itself renamed into place
    (a checkpoint); anything else wants :func:`atomic_write_bytes`.
    """
    with open(path, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` by ``data`` via a temporary file in the same folder and a rename.

    Args:
        path: the file to write; its folder must exist.
        data: the new content.
        durable: fsync the file and its folder (survives a power cut), not only
            the atomic rename (survives a killed process).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write_bytes(tmp, data, durable=durable)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = True) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of the file at ``path`` (read in 1 MiB chunks) as 64 lowercase hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
