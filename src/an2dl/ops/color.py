"""Colour conversions (parameter-free)."""

from __future__ import annotations

import torch

__all__ = ["LUMA", "rgb_to_grey"]

#: ITU-R BT.601 luma weights of R, G, B (the grey level of PIL's "L" mode)
LUMA = (0.299, 0.587, 0.114)


def rgb_to_grey(images: torch.Tensor) -> torch.Tensor:
    """Grey levels ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601 luma) of RGB images.

    Shape:
        ``[N, 3, H, W]`` in [0, 1] -> ``[N, 1, H, W]`` in [0, 1].
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        got = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"rgb_to_grey expects RGB images of shape [N, 3, H, W]; got {got}")
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)
