"""Memory-allocator settings for CPU training.

Training a network allocates and frees the same few megabytes of activations
every step.  glibc's ``malloc`` serves large blocks with ``mmap`` and hands
freed memory back to the system above an adaptive threshold, so depending on
what ran before, every step can page-fault thousands of fresh pages in again:
on a 2-core machine that made LeNet-5 steps up to a third slower, and made
timings depend on the history of the process.  Fixing the thresholds keeps the
freed blocks for reuse (the process keeps its peak memory instead of returning
it).  The command line applies this at start; library users may call
:func:`tune_cpu_allocator` themselves.  ``AN2DL_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_cpu_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_applied = False


def tune_cpu_allocator(*, mmap_threshold: int = 256 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Fix glibc's mmap and trim thresholds (process-wide); a no-op off glibc.

    Args:
        mmap_threshold: blocks at least this large are served by ``mmap`` (default 256 MiB).
        trim_threshold: free memory at the top of the heap above this is returned to the system.

    Returns:
        Whether the settings were applied (``False`` off Linux/glibc, or when
        ``AN2DL_MALLOC_TUNING=0``).
    """
    global _applied
    if _applied:
        return True
    if os.environ.get("AN2DL_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = (
        mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
        and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1
    )
    _applied = bool(ok)
    return _applied
