"""Grids of generated or reconstructed images, as arrays and as report figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...data.images import tile_images
from ...report.plots import figure, save_figure

__all__ = ["image_grid", "save_image_grid"]


def image_grid(images: torch.Tensor, *, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile ``[N, C, H, W]`` images into one ``[rows·(H+p)+p, nrow·(W+p)+p(, C)]`` array in [0, 1]."""
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"image_grid expects images of shape [N > 0, C, H, W]; got {list(images.shape)}")
    arr = tile_images(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding).numpy()
    return arr[0] if images.shape[1] == 1 else arr.transpose(1, 2, 0)


def save_image_grid(
    images: torch.Tensor, run_dir: str | Path, name: str, caption: str, *, nrow: int = 8, title: str | None = None
) -> Path:
    """Save a grid of ``images`` as ``run_dir/plots/<name>.png`` with ``caption`` for the report."""
    arr = image_grid(images, nrow=nrow)
    scale = 6.0 / max(arr.shape[0], arr.shape[1])
    fig = figure(figsize=(max(2.0, arr.shape[1] * scale * 1.2), max(2.0, arr.shape[0] * scale * 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, run_dir, name, caption)
