"""Scores for every pixel of an image of any size, whatever the segmentation network (notes §3.5.1).

The engine's evaluation, the recipes' figures and ``an2dl predict`` all go
through :func:`segment`, so a network is measured and used the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import SegmentationNet
from .convolutionalize import DenseFCN
from .fcn import FCN
from .unet import overlap_tile_predict

__all__ = ["segment"]


def segment(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Full-resolution logits ``[B, K, H, W]`` of ``image [B, C, H, W]`` (any size) for any segmentation network.

    A U-Net or encoder–decoder is evaluated by :func:`overlap_tile_predict`
    (mirrored context; unpadded networks tile by tile, padded ones on the
    image padded to a size they take); a network whose output is smaller
    than its input by a fixed margin (``context()``, e.g. a
    :class:`DenseFCN` without padding) gets the image mirrored by that
    margin; other models are called as they are.
    """
    if isinstance(model, SegmentationNet) and model.depth > 0 and not isinstance(model, (FCN, DenseFCN)):
        return overlap_tile_predict(model, image)
    margin = model.context() if isinstance(model, DenseFCN) else 0
    if margin:
        image = F.pad(image, (margin, margin, margin, margin), mode="reflect")
    return model(image)
