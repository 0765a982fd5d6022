"""The Feature Pyramid Network (notes §3.5.5.2; Lin et al., 2017) and a ResNet backbone with it.

The bottom-up pathway is the backbone's stages ``C_2 … C_5`` (strides 4 … 32).
The top-down pathway starts from the coarsest: ``M_5 = lateral_5(C_5)``; each
finer level adds the lateral 1×1 convolution of its own stage to the
nearest-neighbour upsampled level above,

    M_l = lateral_l(C_l) + upsample(M_{l+1})          (l = 4, 3, 2)

and every merged map is smoothed by a 3×3 convolution, ``P_l = smooth_l(M_l)``,
all with the same number of channels.  An optional extra level ``P_6`` is a
max pooling of ``P_5`` with stride 2 (as Faster R-CNN with FPN uses for its
largest anchors).  Which level a region of interest is pooled from depends on
its scale: ``k = ⌊k₀ + log₂(√(wh) / 224)⌋`` (:class:`~an2dl.ops.multiscale_roi.LevelMapper`).

Module and parameter names are torchvision's (``inner_blocks.i.0`` the
lateral convolutions, ``layer_blocks.i.0`` the smoothing ones), so state dicts
load either way; files written with the older flat keys (``inner_blocks.i.weight``)
load too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

__all__ = ["FeaturePyramidNetwork", "BackboneWithFPN", "resnet_fpn_backbone"]

_EXTRA_BLOCKS = (None, "maxpool")


class FeaturePyramidNetwork(nn.Module):
    """Top-down pathway with lateral connections over a list of feature maps, coarsest last.

    Args:
        in_channels_list: channels of the input maps, finest first (a 0 leaves that map out).
        out_channels: channels of every output level.
        extra_blocks: ``None`` or ``"maxpool"`` — add a level ``"pool"``: ``max_pool2d(P_last, 1, stride 2)``.

    Shape:
        a mapping ``{name: [B, C_i, H_i, W_i]}`` (or a sequence) with ``H_i`` decreasing ->
        ``OrderedDict`` of the same names (plus ``"pool"``), each ``[B, out_channels, H_i, W_i]``.
    """

    _version = 2

    def __init__(self, in_channels_list: Sequence[int], out_channels: int, *,
                 extra_blocks: str | None = None) -> None:
        super().__init__()
        if not in_channels_list or any(isinstance(c, bool) or not isinstance(c, int) or c < 0
                                       for c in in_channels_list):
            raise ConfigError(f"FeaturePyramidNetwork in_channels_list must be non-negative integers; "
                              f"got {list(in_channels_list)!r}")
        if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
            raise ConfigError(f"FeaturePyramidNetwork out_channels must be a positive integer; got {out_channels!r}")
        if extra_blocks not in _EXTRA_BLOCKS:
            raise ConfigError(f"FeaturePyramidNetwork extra_blocks must be one of {list(_EXTRA_BLOCKS)}; "
                              f"got {extra_blocks!r}")
        self.inner_blocks = nn.ModuleList()
        self.layer_blocks = nn.ModuleList()
        for c in in_channels_list:
            if c == 0:
                continue
            self.inner_blocks.append(nn.Sequential(nn.Conv2d(c, out_channels, 1)))
            self.layer_blocks.append(nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                nn.init.zeros_(m.bias)
        self.in_channels_list = [int(c) for c in in_channels_list if c]
        self.out_channels = out_channels
        self.extra_blocks = extra_blocks

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        version = local_metadata.get("version")
        if version is None or version < 2:  # the older flat keys: inner_blocks.i.weight
            for block in ("inner_blocks", "layer_blocks"):
                for i in range(len(self.inner_blocks)):
                    for kind in ("weight", "bias"):
                        old, new = f"{prefix}{block}.{i}.{kind}", f"{prefix}{block}.{i}.0.{kind}"
                        if old in state_dict:
                            state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def forward(self, features: Mapping[str, torch.Tensor] | Sequence[torch.Tensor]) -> OrderedDict:
        if isinstance(features, Mapping):
            names, maps = list(features.keys()), list(features.values())
        else:
            maps = list(features)
            names = [str(i) for i in range(len(maps))]
        if len(maps) != len(self.inner_blocks):
            raise ValueError(f"FeaturePyramidNetwork was built for {len(self.inner_blocks)} maps; got {len(maps)}")
        for i, (x, c) in enumerate(zip(maps, self.in_channels_list)):
            if x.dim() != 4 or x.shape[1] != c:
                raise ValueError(f"FeaturePyramidNetwork map {names[i]!r} must be [B, {c}, H, W]; got "
                                 f"{list(x.shape)}")
        last = self.inner_blocks[-1](maps[-1])  # M_top
        results = [self.layer_blocks[-1](last)]
        for i in range(len(maps) - 2, -1, -1):
            lateral = self.inner_blocks[i](maps[i])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")  # M_l
            results.insert(0, self.layer_blocks[i](last))  # P_l
        if self.extra_blocks == "maxpool":
            results.append(F.max_pool2d(results[-1], 1, 2, 0))
            names = [*names, "pool"]
        return OrderedDict(zip(names, results))


class BackboneWithFPN(nn.Module):
    """A zoo classifier's stages (``body``) feeding a :class:`FeaturePyramidNetwork` (``fpn``).

    Args:
        body: a zoo image classifier with ``forward_intermediates`` and ``feature_info``.
        stages: the ``feature_info`` indices used (ResNet: 1–4 are ``layer1`` … ``layer4``).
        out_channels: the pyramid's channels.
        extra_blocks: as :class:`FeaturePyramidNetwork` (default ``"maxpool"``, as Faster R-CNN uses).

    Shape:
        ``[B, C, H, W]`` -> ``OrderedDict`` ``{"0": P_2, "1": P_3, ..., "pool": P_6}`` (torchvision's names).
    """

    def __init__(self, body: nn.Module, stages: Sequence[int], out_channels: int = 256, *,
                 extra_blocks: str | None = "maxpool") -> None:
        super().__init__()
        info = body.feature_info
        if not stages or any(not isinstance(s, int) or not 0 <= s < len(info) for s in stages):
            raise ConfigError(f"BackboneWithFPN stages must be indices of the body's {len(info)} feature stages; "
                              f"got {list(stages)!r}")
        self.body = body
        self.stages = [int(s) for s in stages]
        self.fpn = FeaturePyramidNetwork([int(info[s].num_chs) for s in self.stages], out_channels,
                                         extra_blocks=extra_blocks)
        self.out_channels = out_channels
        self.strides = [int(info[s].reduction) for s in self.stages]

    def forward(self, x: torch.Tensor) -> OrderedDict:
        maps = self.body.forward_intermediates(x, self.stages, stop_early=True)
        return self.fpn(OrderedDict((str(i), m) for i, m in enumerate(maps)))


def resnet_fpn_backbone(name: str = "resnet50", *, in_channels: int = 3, frozen_bn: bool = True,
                        trainable_layers: int = 3, stages: Sequence[int] = (1, 2, 3, 4), out_channels: int = 256,
                        extra_blocks: str | None = "maxpool",
                        backbone_kwargs: Mapping[str, Any] | None = None) -> BackboneWithFPN:
    """A zoo ResNet (frozen batch norm, the stages below ``trainable_layers`` frozen) with an FPN on ``layer1`` …
    ``layer4`` — the layout (and state-dict keys) of torchvision's ``fasterrcnn_resnet50_fpn`` backbone."""
    from .faster_rcnn import zoo_trunk

    body = zoo_trunk(name, in_channels=in_channels, frozen_bn=frozen_bn, trainable_layers=trainable_layers,
                     backbone_kwargs=backbone_kwargs)
    return BackboneWithFPN(body, stages, out_channels, extra_blocks=extra_blocks)
