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
from ...nn.frozen_batchnorm import FrozenBatchNorm2d

__all__ = ["FeaturePyramidNetwork", "BackboneWithFPN", "resnet_fpn_backbone", "zoo_trunk", "LegacyKeys"]

_EXTRA_BLOCKS = (None, "maxpool")


_RESNET_LAYERS = ("layer4", "layer3", "layer2", "layer1", "conv1")


def zoo_trunk(name: str, *, in_channels: int = 3, frozen_bn: bool = True, trainable_layers: int = 5,
              backbone_kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """A zoo classifier's convolutional trunk (its top removed), its last map as the detection feature map.

    Args:
        name: registry name of a zoo classifier with ``forward_features`` (``"resnet18"``, ...).
        in_channels: image channels.
        frozen_bn: build a ResNet with :class:`~an2dl.nn.FrozenBatchNorm2d`.
        trainable_layers: for a ResNet, how many of ``layer4, layer3, layer2, layer1, conv1``
            (counted from the top) train; the others are frozen (torchvision's rule).
        backbone_kwargs: more arguments of the zoo builder (e.g. ``{"small_input": True}``).

    Returns:
        the classifier without its top; ``out_channels`` and ``stride`` are set on it.
    """
    from .._registry import get_model
    from ..vision._base import ImageClassifier

    if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, int) or not 0 <= trainable_layers <= 5:
        raise ConfigError(f"Faster R-CNN trainable_layers must be an integer in 0..5; got {trainable_layers!r}")
    kwargs = dict(backbone_kwargs or {})
    is_resnet = name.startswith(("resnet", "wide_resnet", "resnext"))
    if frozen_bn and is_resnet:
        kwargs.setdefault("norm_layer", FrozenBatchNorm2d)
    net = get_model(name, num_classes=1, in_channels=in_channels, **kwargs)
    if not isinstance(net, ImageClassifier):
        raise ConfigError(f"Faster R-CNN backbone {name!r} must be 'small_cnn' or a zoo image classifier "
                          f"(resnet18, resnet50, ...); got a {type(net).__name__}")
    net.replace_head(nn.Identity(), num_classes=1)  # the trunk only: no unused classifier parameters
    if is_resnet and trainable_layers < 5:
        train = _RESNET_LAYERS[:trainable_layers]
        for pname, p in net.named_parameters():
            if not train or not pname.startswith(train):
                p.requires_grad_(False)
    net.out_channels = int(net.num_features)
    net.stride = int(net.feature_info[-1].reduction)
    return net


class LegacyKeys:
    """Mixin of a module whose older state dicts (no ``version`` 2 in their metadata) used other keys.

    The module lists ``(old, new)`` key pairs relative to itself in :meth:`legacy_keys`; a state dict
    written before ``_version = 2`` has them renamed on load (torchvision's rule for the FPN, the RPN
    head and the mask head).
    """

    _version = 2

    def legacy_keys(self) -> list[tuple[str, str]]:
        return []

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        version = local_metadata.get("version")
        if version is None or version < 2:
            for old, new in self.legacy_keys():
                if prefix + old in state_dict:
                    state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,  # type: ignore[misc]
                                      unexpected_keys, error_msgs)


class FeaturePyramidNetwork(LegacyKeys, nn.Module):
    """Top-down pathway with lateral connections over a list of feature maps, coarsest last.

    Args:
        in_channels_list: channels of the input maps, finest first (a 0 leaves that map out).
        out_channels: channels of every output level.
        extra_blocks: ``None`` or ``"maxpool"`` — add a level ``"pool"``: ``max_pool2d(P_last, 1, stride 2)``.

    Shape:
        a mapping ``{name: [B, C_i, H_i, W_i]}`` (or a sequence) with ``H_i`` decreasing ->
        ``OrderedDict`` of the same names (plus ``"pool"``), each ``[B, out_channels, H_i, W_i]``.
    """

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

    def legacy_keys(self) -> list[tuple[str, str]]:
        """The older flat keys: ``inner_blocks.i.weight`` -> ``inner_blocks.i.0.weight``."""
        return [(f"{block}.{i}.{kind}", f"{block}.{i}.0.{kind}") for block in ("inner_blocks", "layer_blocks")
                for i in range(len(self.inner_blocks)) for kind in ("weight", "bias")]

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
    body = zoo_trunk(name, in_channels=in_channels, frozen_bn=frozen_bn, trainable_layers=trainable_layers,
                     backbone_kwargs=backbone_kwargs)
    return BackboneWithFPN(body, stages, out_channels, extra_blocks=extra_blocks)
