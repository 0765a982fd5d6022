"""Benchmarks (``an2dl bench [NAME]``, ``make bench``; DESIGN §11).

Each benchmark measures a candidate against a baseline in the same process
and prints the ratio, the absolute figures and the machine.  Benchmarks
register with :func:`register_benchmark`; modules of this package are
imported on first use.
"""

from __future__ import annotations

import platform
from collections.abc import Callable

from ..registry import Registry

__all__ = ["BENCHMARKS", "register_benchmark", "run_benchmarks", "machine"]

BENCHMARKS: Registry[Callable[..., dict]] = Registry("benchmark", "an2dl.bench")


def register_benchmark(name: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register ``fn(quick: bool) -> dict`` as benchmark ``name``."""
    return BENCHMARKS.register(name)


def machine() -> str:
    import os

    import torch

    return f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, torch {torch.__version__}, {torch.get_num_threads()} threads".replace("  ", " ")


def run_benchmarks(name: str | None = None, *, quick: bool = False) -> dict[str, dict]:
    """Run benchmark ``name`` (all when ``None``), print and return their results."""
    names = [name] if name else BENCHMARKS.names()
    results = {}
    for n in names:
        fn = BENCHMARKS.get(n)
        print(f"== {n}  ({machine()})", flush=True)
        results[n] = fn(quick=quick)
    return results
