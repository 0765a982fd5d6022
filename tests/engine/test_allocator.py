"""The CPU allocator tuning: large blocks stay on the heap for reuse instead of being mmap-ed afresh."""

import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

_PROBE = """
import ctypes, ctypes.util
import torch
from an2dl.engine import tune_cpu_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
applied = tune_cpu_allocator()
before = libc.mallinfo2().hblkhd
block = torch.empty(4 << 20)  # 16 MiB of float32
print(applied, (libc.mallinfo2().hblkhd - before) >> 20)
"""


def _has_mallinfo2() -> bool:
    name = ctypes.util.find_library("c")
    return bool(name) and hasattr(ctypes.CDLL(name), "mallinfo2")


def _probe(tuning: str) -> tuple[str, int]:
    env = {**os.environ, "AN2DL_MALLOC_TUNING": tuning}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout
    applied, mmapped = out.split()
    return applied, int(mmapped)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _has_mallinfo2(), reason="glibc >= 2.33 only")
def test_tuned_allocator_serves_a_16_mib_tensor_from_the_heap_not_mmap():
    assert _probe("1") == ("True", 0)
    # the default glibc settings mmap a block this large: the tuning is what changes it
    assert _probe("0") == ("False", 16)
