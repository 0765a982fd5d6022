"""Seeding: every random draw as a pure function of ``(seed, keys...)`` (DESIGN §6).

The trainer reseeds the global generators before every training batch with
:func:`seed_step`, so that dropout masks, noise and any other draw made inside
a step depend only on ``(seed, epoch, batch index, rank)``.  Resuming from a
checkpoint therefore needs no replay of earlier draws; the generator states are
still saved (:func:`get_rng_state`) for code that draws outside a step.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["derive_seed", "seed_everything", "seed_step", "get_rng_state", "set_rng_state", "generator"]


_MASK = (1 << 64) - 1


def _key(k: int | str) -> int:
    if isinstance(k, str):
        # stable across processes (unlike hash()): FNV-1a over the UTF-8 bytes
        h = 0xCBF29CE484222325
        for byte in k.encode("utf-8"):
            h = ((h ^ byte) * 0x100000001B3) & _MASK
        return h
    return int(k) & _MASK


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed that is a pure, well-mixed function of ``seed`` and ``keys``.

    Each key is folded in with the SplitMix64 finaliser (Steele et al., 2014), so
    nearby inputs such as epochs 1 and 2 give unrelated streams.  It runs before
    every training batch, hence a few integer operations rather than a hash object.
    """
    h = _splitmix64(_key(seed))
    for k in keys:
        h = _splitmix64(h ^ _key(k))
    return h >> 1


def generator(seed: int, *keys: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded with ``derive_seed(seed, *keys)``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *keys))
    return g


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_step(seed: int, *keys: int | str) -> None:
    """Reseed the global generators from ``derive_seed(seed, *keys)``.

    Called before every batch, so it avoids ``torch.manual_seed``, whose lazy
    CUDA bookkeeping records a stack trace on each call (about a millisecond):
    the CPU generator is seeded directly, CUDA generators only once CUDA is initialised.
    """
    s = derive_seed(seed, *keys)
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.default_generator.manual_seed(s)
    if torch.cuda.is_initialized():  # implies available; checked first as the cheaper call
        for i in range(torch.cuda.device_count()):
            torch.cuda.default_generators[i].manual_seed(s)


def get_rng_state() -> dict[str, Any]:
    """The global generator states: ``torch`` as a tensor, the rest JSON-compatible."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states returned by :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
