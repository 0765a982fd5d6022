"""Shared pieces of the chapter 1–2 recipes: toy data and plotting helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ...data.core import ArrayDataset, ClassificationInfo, DatasetInfo, DataSplits

__all__ = ["logic_gate", "xor_splits", "sine_splits", "decision_surface", "LOGIC_INPUTS"]

#: the four inputs of a two-input Boolean function
LOGIC_INPUTS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])

_GATES = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
}


def logic_gate(name: str) -> torch.Tensor:
    """0/1 outputs of Boolean function ``name`` on :data:`LOGIC_INPUTS`."""
    from ...errors import ConfigError

    if name not in _GATES:
        raise ConfigError(f"logic function must be one of {sorted(_GATES)}; got {name!r}")
    return torch.tensor(_GATES[name], dtype=torch.float32)


def xor_splits() -> DataSplits:
    """XOR's four points as training, validation and test set (the function itself is the data)."""
    ds = ArrayDataset(LOGIC_INPUTS.clone(), logic_gate("xor"))
    return DataSplits(ds, ds, ds, ClassificationInfo("xor", class_names=["0", "1"], input_shape=(2,)))


def sine_splits(*, n_train: int, n_val: int, n_test: int, noise: float, seed: int) -> DataSplits:
    """``t = sin(x) + ε`` on ``[-π, π]``: random training/validation points, a noiseless test grid."""
    g = torch.Generator().manual_seed(seed)

    def draw(n: int) -> ArrayDataset:
        x = (torch.rand(n, 1, generator=g) * 2 - 1) * math.pi
        return ArrayDataset(x, torch.sin(x) + noise * torch.randn(n, 1, generator=g))

    grid = torch.linspace(-math.pi, math.pi, n_test).unsqueeze(1)
    info = DatasetInfo("sine", input_shape=(1,), extra={"function": "sin(x) on [-pi, pi]", "noise": noise})
    return DataSplits(draw(n_train), draw(n_val), ArrayDataset(grid, torch.sin(grid)), info)


def decision_surface(
    ax: Any,
    score: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    positive: torch.Tensor,
    *,
    lim: tuple[float, float] = (-0.5, 1.5),
    title: str = "",
    levels: Sequence[float] | None = None,
) -> None:
    """Shade ``score`` on a grid, draw its zero (or ``levels``) contour and the labelled points."""
    xs = np.linspace(*lim, 201)
    gx, gy = np.meshgrid(xs, xs)
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        z = score(grid).reshape(gx.shape).cpu().numpy()
    ax.contourf(gx, gy, z, levels=30, cmap="RdBu_r", alpha=0.55)
    ax.contour(gx, gy, z, levels=list(levels) if levels is not None else [0.0], colors="k", linewidths=1.5)
    pos = positive.bool().numpy()
    pts = x.numpy()
    ax.scatter(pts[pos, 0], pts[pos, 1], c="tab:red", marker="o", s=60, edgecolors="k", label="positive")
    ax.scatter(pts[~pos, 0], pts[~pos, 1], c="tab:blue", marker="s", s=60, edgecolors="k", label="negative")
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)

