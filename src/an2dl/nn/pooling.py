"""Pooling layers: max and average pooling with any stride, global average and global max (notes §3.3.3).

Pooling reduces the height and width of every channel separately.  A window
of ``k × k`` pixels slides with stride ``s``; each output pixel is the
maximum (max pooling) or the mean (average pooling) of its window.  With
``s = k`` the windows tile the input without overlap (the usual case); with
``s < k`` (e.g. the unit stride of the notes) they overlap.

:func:`pool2d_reference` writes the operation out — gather every window with
``unfold`` and reduce it — and the tests prove it equals ``F.max_pool2d`` /
``F.avg_pool2d``, which :class:`~torch.nn.MaxPool2d` and
:class:`~torch.nn.AvgPool2d` use (use those layers in models: they are the
same function, faster).

Global pooling (Lin, Chen & Yan 2014, "Network in Network") reduces each
whole feature map to one number: global average pooling replaces the
flatten + dense layers of a classifier by a parameter-free average of each
map, so that a network ending in ``L`` maps (one per class) feeds a softmax
directly; :class:`GlobalMaxPool2d` takes the maximum instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .cnn_layers import pool_output_size

__all__ = ["pool2d_reference", "global_avg_pool2d", "global_max_pool2d", "GlobalAvgPool2d", "GlobalMaxPool2d"]


def _check_maps(x: torch.Tensor, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a tensor [B, C, H, W]; got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{who} expects feature maps of shape [B, C, H, W]; got {list(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a floating-point tensor; got {x.dtype}")


def pool2d_reference(x: torch.Tensor, kernel_size: int, *, stride: int | None = None, mode: str = "max") -> torch.Tensor:
    """Max or average pooling written out: every ``k × k`` window, reduced (no padding).

    Args:
        x: ``[B, C, H, W]`` float.
        kernel_size: window side ``k``.
        stride: step ``s`` between windows (default ``k``: no overlap).
        mode: ``"max"`` or ``"avg"``.

    Returns:
        ``[B, C, H', W']`` with ``H' = floor((H − k) / s) + 1`` (and ``W'`` likewise).
    """
    _check_maps(x, "pool2d_reference")
    if mode not in ("max", "avg"):
        raise ConfigError(f"mode must be 'max' or 'avg'; got {mode!r}")
    stride = kernel_size if stride is None else stride
    b, c, h, w = x.shape
    out_h = pool_output_size(h, kernel_size, stride=stride)
    out_w = pool_output_size(w, kernel_size, stride=stride)
    # (B, C·k·k, H'·W'): column j holds the window of output pixel j, channel by channel
    windows = F.unfold(x, kernel_size, stride=stride).view(b, c, kernel_size * kernel_size, out_h * out_w)
    pooled = windows.amax(dim=2) if mode == "max" else windows.mean(dim=2)
    return pooled.view(b, c, out_h, out_w)


def global_avg_pool2d(x: torch.Tensor) -> torch.Tensor:
    """Mean of each feature map: ``[B, C, H, W] -> [B, C]``."""
    _check_maps(x, "global_avg_pool2d")
    return x.mean(dim=(2, 3))


def global_max_pool2d(x: torch.Tensor) -> torch.Tensor:
    """Maximum of each feature map: ``[B, C, H, W] -> [B, C]``."""
    _check_maps(x, "global_max_pool2d")
    return x.amax(dim=(2, 3))


class _GlobalPool2d(nn.Module):
    """A global pooling of each feature map; subclasses set ``_pool``."""

    def __init__(self, *, flatten: bool = True) -> None:
        super().__init__()
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._pool(x)
        return y if self.flatten else y[:, :, None, None]

    def extra_repr(self) -> str:
        return f"flatten={self.flatten}"


class GlobalAvgPool2d(_GlobalPool2d):
    """Global average pooling (Lin et al. 2014; notes §3.3.3).

    Args:
        flatten: return ``[B, C]`` (default) instead of ``[B, C, 1, 1]``.

    Shape:
        input ``[B, C, H, W]``; output ``[B, C]`` or ``[B, C, 1, 1]``.
    """

    _pool = staticmethod(global_avg_pool2d)


class GlobalMaxPool2d(_GlobalPool2d):
    """Global max pooling: the largest activation of each feature map.

    Args:
        flatten: return ``[B, C]`` (default) instead of ``[B, C, 1, 1]``.

    Shape:
        input ``[B, C, H, W]``; output ``[B, C]`` or ``[B, C, 1, 1]``.
    """

    _pool = staticmethod(global_max_pool2d)
