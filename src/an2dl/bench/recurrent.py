"""Recurrent layers: the written-out equations and the fast path against ``nn.LSTM`` / ``nn.GRU``."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from . import register_benchmark

__all__ = ["recurrent"]


def _train_step(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass of ``module`` on ``x`` (the work of a training step)."""

    def step() -> None:
        module.zero_grad(set_to_none=True)
        out = module(x)[0]
        out.sum().backward()

    return step


def _best_time(fn: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@register_benchmark("recurrent")
def recurrent(quick: bool = False) -> dict:
    """Tokens per second of a training step (forward + backward) of LSTM and GRU layers.

    For each cell, at the same sizes and with the same weights: an2dl's
    written-out path (``backend="cells"``), an2dl's fast path
    (``backend="fused"``: PyTorch's kernel driven by an2dl's parameters,
    behind an2dl's input checks and state handling) and the plain
    ``torch.nn.LSTM``/``nn.GRU``.  Candidates run interleaved, best of
    several repeats.  The fast path should cost at most 1.1× the plain module.
    """
    from ..nn.recurrent import GRU, LSTM

    B, T, D, H, L = (16, 50, 32, 128, 1) if quick else (32, 100, 64, 256, 2)
    repeats, rounds = (3, 2) if quick else (5, 3)
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    results: dict = {"batch": B, "steps": T, "input_size": D, "hidden_size": H, "num_layers": L}
    for name, ours_cls, ref_cls in (("lstm", LSTM, nn.LSTM), ("gru", GRU, nn.GRU)):
        ours = ours_cls(input_size=D, hidden_size=H, num_layers=L)
        ref = ref_cls(D, H, num_layers=L, batch_first=True)
        ref.load_state_dict(ours.state_dict())
        cells = ours_cls(input_size=D, hidden_size=H, num_layers=L, backend="cells")
        cells.load_state_dict(ours.state_dict())
        candidates = {"fused": _train_step(ours, x), "torch": _train_step(ref, x), "cells": _train_step(cells, x)}
        for fn in candidates.values():  # warm-up: allocator, kernels
            fn()
        times = {k: float("inf") for k in candidates}
        for _ in range(rounds):  # interleaved, so that load drifts hit every candidate alike
            for k, fn in candidates.items():
                times[k] = min(times[k], _best_time(fn, 1 if k == "cells" and not quick else repeats))
        tokens = B * T
        for k, t in times.items():
            label = {"fused": "an2dl fast path", "torch": f"torch.nn.{ref_cls.__name__}", "cells": "an2dl written-out"}[k]
            print(f"{name}: {label:<22} {t * 1e3:8.2f} ms/step  {tokens / t:10.0f} tokens/s")
        ratio = times["fused"] / times["torch"]
        print(f"{name}: ratio fast path / torch = {ratio:.3f}   written-out / torch = {times['cells'] / times['torch']:.2f}"
              f"   (B={B}, T={T}, D={D}, H={H}, layers={L}, forward + backward)")
        results[name] = {
            "fused_s": times["fused"],
            "torch_s": times["torch"],
            "cells_s": times["cells"],
            "fused_tokens_per_s": tokens / times["fused"],
            "torch_tokens_per_s": tokens / times["torch"],
            "cells_tokens_per_s": tokens / times["cells"],
            "ratio_fused_vs_torch": ratio,
            "ratio_cells_vs_torch": times["cells"] / times["torch"],
        }
    return results
