"""Exceptions raised by an2dl.

Every error names the argument or file at fault, what was expected and what was
received, so that the command line can print it on one line.  The classes derive
from the built-in exception a Python user would catch (``ValueError``,
``FileNotFoundError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "An2dlError",
    "ConfigError",
    "UnknownNameError",
    "DataError",
    "DataNotFoundError",
    "ChecksumError",
    "CheckpointError",
    "RunDirLockedError",
    "TrainingDiverged",
]


class An2dlError(Exception):
    """Base class of every error raised on purpose by an2dl."""

    #: exit code of the command line for this kind of error (2: usage, 1: failure)
    exit_code = 1


class ConfigError(An2dlError, ValueError):
    """A setting, argument or override is invalid (a usage error)."""

    exit_code = 2


class UnknownNameError(An2dlError, KeyError):
    """A registry lookup failed; the message lists the closest known names."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(An2dlError, ValueError):
    """A data file is malformed, truncated or inconsistent."""


class DataNotFoundError(An2dlError, FileNotFoundError):
    """A dataset is not on disk and cannot be downloaded."""

    exit_code = 2


class ChecksumError(DataError):
    """A file's checksum differs from the expected one."""


class CheckpointError(An2dlError, RuntimeError):
    """A checkpoint or run directory is missing, corrupt or incompatible."""


class RunDirLockedError(An2dlError, RuntimeError):
    """A run directory is being written by another run (its lock file names the holder)."""


class TrainingDiverged(An2dlError, RuntimeError):
    """Training produced a non-finite loss; the last good checkpoint is kept."""
