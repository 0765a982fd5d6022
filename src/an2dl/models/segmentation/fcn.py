"""Fully convolutional networks with learned upsampling and skip fusion: FCN-32s, -16s, -8s (notes §3.5.1.1).

Long, Shelhamer & Darrell (2015), "Fully Convolutional Networks for Semantic
Segmentation", §4.2.  A backbone's coarsest map (total stride ``R``, 32 for
VGG16) is scored by a 1×1 convolution into ``K`` class heat maps, which a
transpose convolution upsamples back to the input's resolution ("learned
upsampling").  The coarse scores are imprecise; the finer maps of earlier
stages hold the detail, so the skip architecture fuses them:

* **FCN-32s** (``skips=0``): the ``R``-strided scores upsampled by ``R`` at once;
* **FCN-16s** (``skips=1``): the scores upsampled ×2 and *added* to a 1×1
  scoring of the stage at stride ``R/2``, then upsampled by ``R/2``;
* **FCN-8s** (``skips=2``): once more with the stage at stride ``R/4``.

Every upsampling is a :class:`~an2dl.nn.TransposeConv2d` initialised to
bilinear interpolation (:func:`~an2dl.nn.bilinear_kernel`) and learned; the
scoring layers of the skips start at zero, so that a net starts as its
coarser parent (the paper's initialisation).  Departure: the paper fixes the
final upsampling to bilinear interpolation; here it is learned like the
others.  Inputs of any size are padded (zeros, bottom and right) to a
multiple of ``R`` and the scores cropped back, which replaces the paper's
100-pixel padding and crop layers.

The backbone is the U-Net's contracting path with ``"same"`` padding by
default (so that FCN, U-Net and the plain encoder–decoder compared in
``encoder-decoder-vs-unet`` share one encoder), or any zoo classifier with
``feature_info``/``forward_intermediates`` (``backbone="vgg16"`` gives the
paper's networks; its top layers are removed).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...nn.upsampling import TransposeConv2d
from .._checks import check_positive_int
from .._registry import get_model, register_model
from ._blocks import ContractingPath, SegmentationNet, level_channels

__all__ = ["FCN", "fcn", "fcn32s", "fcn16s", "fcn8s"]


class FCN(SegmentationNet):
    """A fully convolutional network with learned upsampling and ``skips`` fused finer stages (Long et al. 2015).

    Args:
        encoder: a module with ``feature_info`` (stages with their reductions)
            and ``forward_intermediates(x)`` (one map per stage), e.g.
            :class:`~an2dl.models.segmentation._blocks.ContractingPath` or a zoo classifier.
        num_classes: K.
        in_channels: channels of the input image.
        skips: 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s): finer stages fused, each
            at half the stride of the one before (the last stage with that reduction).
        min_input_size: the smallest side the encoder accepts (inputs are padded up to it).

    Shape:
        ``[B, in_channels, H, W]`` (any size) -> logits ``[B, K, H, W]``.
    """

    def __init__(self, *, encoder: nn.Module, num_classes: int, in_channels: int, skips: int = 2,
                 min_input_size: int = 1) -> None:
        super().__init__()
        self.num_classes = check_positive_int("FCN", "num_classes", num_classes)
        self.in_channels = check_positive_int("FCN", "in_channels", in_channels)
        if skips not in (0, 1, 2) or isinstance(skips, bool):
            raise ConfigError(f"FCN skips must be 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s); got {skips!r}")
        info = getattr(encoder, "feature_info", None)
        if not info:
            raise ConfigError(f"FCN encoder {type(encoder).__name__} has no feature_info (feature stages)")
        self.encoder = encoder
        self.skips = skips
        self.min_input_size = int(min_input_size)
        reductions = [s.reduction for s in info]
        self.reduction = reductions[-1]
        if self.reduction & (self.reduction - 1):
            raise ConfigError(f"FCN needs an encoder whose total stride is a power of 2; got {self.reduction}")
        self.depth = int(math.log2(self.reduction))
        self.stage_indices = [len(info) - 1]
        for j in range(1, skips + 1):
            want = self.reduction // 2 ** j
            found = [i for i, r in enumerate(reductions) if r == want]
            if not found or want < 1:
                raise ConfigError(f"FCN skips={skips} needs a stage at stride {want}; the encoder's stages have "
                                  f"strides {reductions}")
            self.stage_indices.append(found[-1])
        self.scores = nn.ModuleList(nn.Conv2d(info[i].num_chs, num_classes, 1) for i in self.stage_indices)
        for layer in list(self.scores)[1:]:  # skips start silent: the net begins as its coarser parent
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.ups = nn.ModuleList(TransposeConv2d(num_classes, num_classes, 4, stride=2, padding=1, init="bilinear")
                                 for _ in range(skips))
        final = self.reduction // 2 ** skips
        self.final_factor = final
        self.final_up = (TransposeConv2d(num_classes, num_classes, 2 * final, stride=final, padding=final // 2,
                                         init="bilinear") if final > 1 else nn.Identity())

    def _output(self, size: int) -> int | None:
        return size if size >= 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        h, w = x.shape[-2:]
        r = self.reduction
        hh = max(-(-h // r) * r, -(-self.min_input_size // r) * r)
        ww = max(-(-w // r) * r, -(-self.min_input_size // r) * r)
        x = F.pad(x, (0, ww - w, 0, hh - h))
        maps = self.encoder.forward_intermediates(x, self.stage_indices)
        y = self.scores[0](maps[0])  # (B, K, H / R, W / R)
        for up, score, fmap in zip(self.ups, list(self.scores)[1:], maps[1:]):
            y = up(y) + score(fmap)  # fuse the finer stage at twice the resolution
        return self.final_up(y)[..., :h, :w]


def _encoder(in_channels: int, base_channels: int, depth: int, backbone: str | None,
             backbone_kwargs: dict[str, Any] | None, num_classes: int, batch_norm: bool) -> tuple[nn.Module, int]:
    if backbone is None:
        return ContractingPath(in_channels=in_channels, channels=level_channels(base_channels, depth), padding="same",
                               norm_layer=nn.BatchNorm2d if batch_norm else None), 1
    net = get_model(backbone, in_channels=in_channels, **(backbone_kwargs or {}))
    if not hasattr(net, "forward_intermediates"):
        raise ConfigError(f"FCN backbone {backbone!r} has no feature maps (forward_intermediates)")
    if hasattr(net, "replace_head"):  # the classifier's top layers are not part of the FCN
        net.replace_head(nn.Identity(), num_classes=num_classes)
    return net, int(getattr(net, "min_input_size", 1))


@register_model("fcn", input_shape=(1, 32, 32))
def fcn(*, in_channels: int = 1, num_classes: int = 2, skips: int = 2, base_channels: int = 16, depth: int = 4,
        batch_norm: bool = False, backbone: str | None = None, backbone_kwargs: dict[str, Any] | None = None) -> FCN:
    """An FCN on the U-Net's contracting path (``"same"`` padding; ``base_channels``, ``depth``, ``batch_norm``
    after each convolution) or a zoo ``backbone``.

    ``skips`` 0/1/2 gives the -32s/-16s/-8s fusion relative to the encoder's stride ``2**depth``.
    """
    encoder, min_size = _encoder(in_channels, base_channels, depth, backbone, backbone_kwargs, num_classes, batch_norm)
    return FCN(encoder=encoder, num_classes=num_classes, in_channels=in_channels, skips=skips, min_input_size=min_size)


def _vgg_fcn(skips: int, num_classes: int, in_channels: int, backbone: str,
             backbone_kwargs: dict[str, Any] | None) -> FCN:
    return fcn(in_channels=in_channels, num_classes=num_classes, skips=skips, backbone=backbone,
               backbone_kwargs=backbone_kwargs)


@register_model("fcn32s", input_shape=(3, 32, 32))
def fcn32s(*, num_classes: int = 21, in_channels: int = 3, backbone: str = "vgg16",
           backbone_kwargs: dict[str, Any] | None = None) -> FCN:
    """FCN-32s of Long et al. (2015): VGG16's trunk, its 1/32 scores upsampled ×32 (21 PASCAL VOC classes)."""
    return _vgg_fcn(0, num_classes, in_channels, backbone, backbone_kwargs)


@register_model("fcn16s", input_shape=(3, 32, 32))
def fcn16s(*, num_classes: int = 21, in_channels: int = 3, backbone: str = "vgg16",
           backbone_kwargs: dict[str, Any] | None = None) -> FCN:
    """FCN-16s of Long et al. (2015): FCN-32s fused with the 1/16 stage."""
    return _vgg_fcn(1, num_classes, in_channels, backbone, backbone_kwargs)


@register_model("fcn8s", input_shape=(3, 32, 32))
def fcn8s(*, num_classes: int = 21, in_channels: int = 3, backbone: str = "vgg16",
          backbone_kwargs: dict[str, Any] | None = None) -> FCN:
    """FCN-8s of Long et al. (2015): FCN-16s fused with the 1/8 stage."""
    return _vgg_fcn(2, num_classes, in_channels, backbone, backbone_kwargs)
