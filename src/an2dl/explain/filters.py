"""First-layer filters as an image (notes §3.5.2.2: "the filters in the first convolutional layer are
relatively straightforward to interpret").

Each filter ``w_k`` of the first ``nn.Conv2d`` (``[C_in, k_h, k_w]``) is shown as
a small image after min–max normalisation *per filter*,
``(w_k − min w_k) / (max w_k − min w_k)``, so that every filter uses the full
grey (or colour) range whatever its scale (AlexNet's figure 3, Krizhevsky et
al. 2012, draws them this way).  Three-channel filters are shown in colour,
other channel counts as one grey tile per filter and input channel.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..data.images import tile_images
from ..errors import ConfigError
from .gradcam import NoConvLayerError

__all__ = ["first_conv", "normalize_filters", "filter_grid", "plot_filters"]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """``(name, module)`` of the first ``nn.Conv2d`` of ``model`` in registration order.

    Raises:
        NoConvLayerError: the model has no ``nn.Conv2d``.
    """
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m
    raise NoConvLayerError(f"a filter grid shows the weights of a convolutional layer (nn.Conv2d); "
                           f"{type(model).__name__} has none")


def normalize_filters(weight: torch.Tensor) -> torch.Tensor:
    """Min–max normalise each filter of ``weight`` ``[K, C, kh, kw]`` to [0, 1] (a constant filter becomes 0.5)."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        got = list(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ConfigError(f"weight must be a convolution's weight [K, C, kh, kw]; got {got}")
    w = weight.detach().float().cpu()
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (w - lo) / span.clamp_min(1e-12), torch.full_like(w, 0.5))


def filter_grid(model_or_weight: nn.Module | torch.Tensor, *, nrow: int | None = None, padding: int = 1) -> torch.Tensor:
    """The first layer's filters tiled into one image.

    Args:
        model_or_weight: a model (its first ``nn.Conv2d`` is shown) or a weight ``[K, C, kh, kw]``.
        nrow: tiles per row (default ``ceil(√tiles)``).
        padding: white pixels between tiles.

    Returns:
        ``[3, H', W']`` for three-channel filters (one colour tile each), else ``[1, H', W']``
        with one grey tile per filter and input channel (filter-major order), values in [0, 1].
    """
    weight = first_conv(model_or_weight)[1].weight if isinstance(model_or_weight, nn.Module) else model_or_weight
    w = normalize_filters(weight)
    tiles = w if w.shape[1] == 3 else w.reshape(-1, 1, *w.shape[-2:])
    nrow = nrow or math.ceil(math.sqrt(len(tiles)))
    return tile_images(tiles, nrow=nrow, padding=padding, fill=1.0)


def plot_filters(model: nn.Module, run_dir: str | Path, *, name: str = "first_layer_filters",
                 caption: str | None = None) -> Path:
    """Save the filter grid of ``model``'s first convolution as ``run_dir/plots/<name>.png`` (one tile per filter)."""
    from ..report.plots import figure, save_figure

    layer, conv = first_conv(model)
    w = normalize_filters(conv.weight)
    k, c = w.shape[:2]
    colour = c == 3
    cols = min(k, 8)
    rows = math.ceil(k / cols) * (1 if colour else c)
    fig = figure(figsize=(cols * 0.9 + 0.4, rows * 0.9 + 0.6))
    for i in range(k):
        for ch in range(1 if colour else c):
            r = (i // cols) * (1 if colour else c) + ch
            ax = fig.add_subplot(rows, cols, r * cols + i % cols + 1)
            if colour:
                ax.imshow(w[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            else:
                ax.imshow(w[i, ch].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if ch == 0:
                ax.set_title(str(i), fontsize=7)
    text = caption or (f"The {k} filters of the first convolution ({layer}, {conv.kernel_size[0]}x{conv.kernel_size[1]}"
                       f"{', one row per input channel' if (not colour and c > 1) else ''}), each min-max normalised "
                       "on its own: bright = large positive weight")
    return save_figure(fig, run_dir, name, text)
