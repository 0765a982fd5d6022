"""Ownership of run directories: one writer at a time (DESIGN §7).

A run holds ``RUN_DIR/.an2dl.lock`` while it writes the directory.  The file is
created with ``O_CREAT | O_EXCL`` (atomic: of two processes, exactly one
creates it) and holds the holder's pid, host, start time and command line.  It
is removed when the run ends, also through an exception or ``KeyboardInterrupt``.
A process killed outright leaves it behind: a lock whose pid is no longer alive
on this host is stale and is taken over with a warning.  A lock held by a live
process, or by a process on another host (whose liveness cannot be checked
from here), makes the second writer fail with :class:`RunDirLockedError`.

Locks are re-entrant within a process (the command line locks the run
directory and the trainer inside it locks it again).  Processes started by a
multi-process launcher for ranks other than 0 (see :func:`is_secondary_process`)
do not lock: the rank-0 process owns the directory for all of them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import RunDirLockedError

__all__ = [
    "LOCK_NAME",
    "REPLACED_PREFIX",
    "RunDirLock",
    "is_secondary_process",
    "run_dir_entries",
    "move_aside",
]

#: the lock file of a run directory
LOCK_NAME = ".an2dl.lock"
#: prefix of the folders ``an2dl run --force`` moves a directory's previous contents into
REPLACED_PREFIX = ".replaced-"

# run directories locked by this process: resolved path -> nesting depth
_HELD: dict[str, int] = {}


def is_secondary_process() -> bool:
    """Whether a multi-process launcher started this process for a rank other than 0.

    Lightning's launcher gives the processes it starts ``LOCAL_RANK`` (and
    ``NODE_RANK``), ``torchrun`` gives every process ``RANK``, and SLURM's
    ``srun`` gives every task ``SLURM_PROCID`` (read, as Fabric reads it, only
    when ``SLURM_NTASKS`` is set and the job is not an interactive one named
    ``bash`` or ``interactive``); the process of global rank 0 has all of them
    0 or unset.
    """
    names = ["RANK", "LOCAL_RANK", "NODE_RANK"]
    if os.environ.get("SLURM_NTASKS") and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        names.append("SLURM_PROCID")
    for var in names:
        value = os.environ.get(var, "").strip()
        if value and value != "0":
            return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return False
    return True


def _read_lock(path: Path) -> dict[str, Any] | None:
    """The holder recorded in a lock file; ``None`` when it is missing or unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process (the lock file is unreadable)"
    return f"pid {holder['pid']} on {holder.get('host', '?')}, started {holder.get('started', '?')}"


class RunDirLock:
    """The exclusive lock of a run directory (a context manager).

    Args:
        run_dir: the directory; created when missing.

    Raises:
        RunDirLockedError: from :meth:`acquire`, when another live process holds the lock.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._key = str(self.run_dir.resolve())
        self._held = False
        self._record: dict[str, Any] | None = None

    def acquire(self) -> RunDirLock:
        if self._held:
            return self
        if _HELD.get(self._key):
            _HELD[self._key] += 1
            self._held = True
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv),
        }
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._handle_existing()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._record = record
            _HELD[self._key] = 1
            self._held = True
            return self
        raise RunDirLockedError(f"run directory {self.run_dir}: could not create {self.path}; other processes keep taking it")

    def _handle_existing(self) -> None:
        """Raise for a live holder; move a stale lock out of the way (then the caller retries)."""
        holder = _read_lock(self.path)
        if holder is None:
            # created but not written yet by a process starting right now, or removed meanwhile
            for _ in range(20):
                time.sleep(0.05)
                if not self.path.exists():
                    return
                holder = _read_lock(self.path)
                if holder is not None:
                    break
        stale = (
            holder is not None
            and holder.get("host") == socket.gethostname()
            and (holder["pid"] == os.getpid() or not _pid_alive(holder["pid"]))
        )
        if not stale:
            raise RunDirLockedError(
                f"run directory {self.run_dir} is in use by {_describe(holder)} (lock file {self.path}); "
                "wait for that run to end or choose another directory"
            )
        # rename, then check that what was moved is the lock judged stale: of several processes taking
        # over at once, only one moves it, and a fresh lock moved by mistake is put back
        moved = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, moved)
        except FileNotFoundError:
            return
        if _read_lock(moved) != holder:
            try:
                os.link(moved, self.path)
            except OSError:
                pass
            moved.unlink(missing_ok=True)
            return
        moved.unlink(missing_ok=True)
        warnings.warn(
            f"run directory {self.run_dir}: took over the lock of {_describe(holder)}, which is no longer running",
            RuntimeWarning,
            stacklevel=3,
        )

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        depth = _HELD.get(self._key, 0) - 1
        if depth > 0:
            _HELD[self._key] = depth
            return
        _HELD.pop(self._key, None)
        if self._record is not None and _read_lock(self.path) == self._record:
            self.path.unlink(missing_ok=True)
        self._record = None

    @property
    def held(self) -> bool:
        return self._held

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def run_dir_entries(run_dir: str | os.PathLike) -> list[Path]:
    """What a run directory holds besides its lock and the folders of replaced contents (sorted)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(
        p for p in run_dir.iterdir() if not p.name.startswith(LOCK_NAME) and not p.name.startswith(REPLACED_PREFIX)
    )


def move_aside(run_dir: str | os.PathLike) -> Path | None:
    """Move the contents of ``run_dir`` (see :func:`run_dir_entries`) into ``run_dir/.replaced-<YYYYmmdd-HHMMSS>/``.

    Each entry is renamed (nothing is copied or deleted); earlier ``.replaced-*``
    folders stay where they are.

    Returns:
        The folder the contents went to, or ``None`` when there was nothing to move.
    """
    run_dir = Path(run_dir)
    entries = run_dir_entries(run_dir)
    if not entries:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, i = run_dir / f"{REPLACED_PREFIX}{stamp}", 1
    while True:
        try:
            target.mkdir()
            break
        except FileExistsError:
            i += 1
            target = run_dir / f"{REPLACED_PREFIX}{stamp}-{i}"
    for entry in entries:
        os.replace(entry, target / entry.name)
    return target
