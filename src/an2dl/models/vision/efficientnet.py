"""EfficientNet-B0 … B7 (Tan & Le, ICML 2019), notes §3.4.2: compound scaling of depth, width and resolution.

EfficientNet-B0 is a mobile network found by architecture search, built
from *MBConv* blocks: the inverted residual of MobileNet v2 (1×1 expansion,
k×k depthwise convolution, linear 1×1 projection) with squeeze-and-excitation
and the SiLU ("swish") activation, and stochastic depth on the residual
branch.  Layout of B0 (input 3×224×224)::

    stage  operator           k   stride  channels  layers
    0      conv 3×3            3   2       32        1
    1      MBConv1             3   1       16        1
    2      MBConv6             3   2       24        2
    3      MBConv6             5   2       40        2
    4      MBConv6             3   2       80        3
    5      MBConv6             5   1       112       3
    6      MBConv6             5   2       192       4
    7      MBConv6             3   1       320       1
    8      conv 1×1            1   1       1280      1
    global average pooling → dropout → FC → K

Compound scaling: with a single coefficient φ, depth scales by α^φ, width
by β^φ and resolution by γ^φ (α = 1.2, β = 1.1, γ = 1.15, chosen so that
α·β²·γ² ≈ 2: each step of φ about doubles the FLOPs).  B1 … B7 use the
rounded (width, depth, resolution, dropout) of the reference
implementation::

    B0 (1.0, 1.0, 224, 0.2)   B1 (1.0, 1.1, 240, 0.2)   B2 (1.1, 1.2, 288, 0.3)   B3 (1.2, 1.4, 300, 0.3)
    B4 (1.4, 1.8, 380, 0.4)   B5 (1.6, 2.2, 456, 0.4)   B6 (1.8, 2.6, 528, 0.5)   B7 (2.0, 3.1, 600, 0.5)

Channels are ``make_divisible(c · width, 8)`` and layers per stage
``ceil(n · depth)``.  The stochastic-depth drop probability grows linearly
from 0 at the first block to ``0.2 · (N-1)/N`` at the last.

State-dict compatible with torchvision's ``efficientnet_b0`` … ``efficientnet_b7``
(B0: 5,288,548 parameters).  Departures from the paper, as torchvision's
implementation: the
resolutions are those of torchvision's weights (B2 288, B3 300, B6 528,
B7 600 instead of the paper's 260, 300, 528, 600); B5–B7 use the TensorFlow
batch-norm settings (ε = 0.001, momentum 0.01), which do not change the
state dict.

Small inputs (``small_input=True``): the stem convolution has stride 1, so
32×32 images reach the last stage as a 2×2 map, and B5–B7 keep PyTorch's
batch-norm settings (the slow running averages of the TensorFlow settings
lag behind short runs; see :mod:`an2dl.models.vision.mobilenet`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_probability, feature_info_of_chain
from ._layers import ConvNormAct, SqueezeExcitation, StochasticDepth, make_divisible

__all__ = ["MBConvConfig", "MBConv", "EfficientNet", "EFFICIENTNET_PARAMS"] + [f"efficientnet_b{i}" for i in range(8)]


@dataclass(frozen=True)
class MBConvConfig:
    """One stage of B0: expansion ratio, kernel, stride of the first block, channels in/out, layers."""

    expand_ratio: int
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int


_B0_STAGES = (
    MBConvConfig(1, 3, 1, 32, 16, 1),
    MBConvConfig(6, 3, 2, 16, 24, 2),
    MBConvConfig(6, 5, 2, 24, 40, 2),
    MBConvConfig(6, 3, 2, 40, 80, 3),
    MBConvConfig(6, 5, 1, 80, 112, 3),
    MBConvConfig(6, 5, 2, 112, 192, 4),
    MBConvConfig(6, 3, 1, 192, 320, 1),
)

#: (width multiplier, depth multiplier, resolution, dropout) of B0 … B7
EFFICIENTNET_PARAMS: dict[str, tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 288, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation (SiLU activations).

    1×1 expansion (skipped when the ratio is 1) → k×k depthwise → SE with a
    bottleneck of ``in_channels / 4`` → linear 1×1 projection; when stride is
    1 and the widths agree, ``x + StochasticDepth(branch)``.

    Shape:
        ``[B, in_channels, H, W] -> [B, out_channels, H / stride, W / stride]``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, expand_ratio: int, kernel: int, stride: int,
                 stochastic_depth_prob: float, norm_layer: type[nn.Module] | partial) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        expanded = make_divisible(in_channels * expand_ratio, 8)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(ConvNormAct(in_channels, expanded, 1, norm_layer=norm_layer, activation=nn.SiLU))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, norm_layer=norm_layer,
                                  activation=nn.SiLU))
        layers.append(SqueezeExcitation(expanded, max(1, in_channels // 4), activation=nn.SiLU))
        layers.append(ConvNormAct(expanded, out_channels, 1, norm_layer=norm_layer, activation=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = x + self.stochastic_depth(out)
        return out


class EfficientNet(ImageClassifier):
    """EfficientNet with compound scaling.

    Args:
        width_mult: channel multiplier β^φ.
        depth_mult: layer multiplier α^φ.
        dropout: dropout before the classifier.
        stochastic_depth_prob: drop probability reached at the last block.
        num_classes: output units K.
        in_channels: input channels.
        small_input: stride-1 stem.
        tf_batch_norm: ε = 0.001 and momentum 0.01 in every batch norm (B5–B7; not with ``small_input``).
        resolution: the input size of this scale (the registered example input).

    Feature stages (``feature_info``): the last MBConv stage at each
    resolution and the final 1×1 convolution: ``features.1, 2, 3, 5, 8`` (16,
    24, 40, 112, 1280 channels for B0), reductions 2, 4, 8, 16, 32 (1, 2, 4,
    8, 16 with ``small_input``).

    Shape:
        input ``[B, in_channels, H, W]``; output ``[B, K]``.
    """

    top_modules = ("avgpool", "classifier")

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
        in_channels: int = 3,
        small_input: bool = False,
        tf_batch_norm: bool = False,
        resolution: int = 224,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        for name, v in (("width_mult", width_mult), ("depth_mult", depth_mult)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"EfficientNet {name} must be a positive number; got {v!r}")
        dropout = check_probability("EfficientNet", "dropout", dropout)
        stochastic_depth_prob = check_probability("EfficientNet", "stochastic_depth_prob", stochastic_depth_prob)
        self.default_input_size = resolution
        # small inputs keep PyTorch's momentum 0.1 (see the note on MobileNet v3's small_input)
        norm: type[nn.BatchNorm2d] | partial = nn.BatchNorm2d
        if tf_batch_norm and not small_input:
            norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)

        def width(c: int) -> int:
            return make_divisible(c * width_mult, 8)

        stages = [(s, math.ceil(s.num_layers * depth_mult)) for s in _B0_STAGES]
        total_blocks = sum(n for _, n in stages)
        stem_out = width(_B0_STAGES[0].input_channels)
        layers: list[nn.Module] = [ConvNormAct(in_channels, stem_out, 3, 1 if small_input else 2, norm_layer=norm,
                                               activation=nn.SiLU)]
        block_id = 0
        for cfg, n in stages:
            blocks = []
            cin, cout = width(cfg.input_channels), width(cfg.out_channels)
            for i in range(n):
                p = stochastic_depth_prob * block_id / total_blocks
                blocks.append(MBConv(cin if i == 0 else cout, cout, expand_ratio=cfg.expand_ratio, kernel=cfg.kernel,
                                     stride=cfg.stride if i == 0 else 1, stochastic_depth_prob=p, norm_layer=norm))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        last_in = width(_B0_STAGES[-1].out_channels)
        last_out = 4 * last_in
        layers.append(ConvNormAct(last_in, last_out, 1, norm_layer=norm, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        chain = [("features.0", 1 if small_input else 2, stem_out)]
        chain += [(f"features.{i + 1}", cfg.stride, width(cfg.out_channels)) for i, (cfg, _) in enumerate(stages)]
        chain.append((f"features.{len(layers) - 1}", 1, last_out))
        self.feature_info = feature_info_of_chain(chain)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = last_out
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True), nn.Linear(last_out, num_classes))
        self.min_input_size = 1
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                self._init_linear(m)

    @staticmethod
    def _init_linear(layer: nn.Linear) -> None:
        bound = 1.0 / math.sqrt(layer.out_features)
        nn.init.uniform_(layer.weight, -bound, bound)
        nn.init.zeros_(layer.bias)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        layer = nn.Linear(self.num_features, num_classes)
        self._init_linear(layer)
        self.classifier[1] = layer

    def stages(self) -> list[tuple[str, ...]]:
        return [(f"features.{i}",) for i in range(len(self.features))]


def _efficientnet(variant: str, *, num_classes: int, in_channels: int, dropout: float | None,
                  stochastic_depth_prob: float, small_input: bool) -> EfficientNet:
    width, depth, resolution, default_dropout = EFFICIENTNET_PARAMS[variant]
    return EfficientNet(width_mult=width, depth_mult=depth, dropout=default_dropout if dropout is None else dropout,
                        stochastic_depth_prob=stochastic_depth_prob, num_classes=num_classes, in_channels=in_channels,
                        small_input=small_input, tf_batch_norm=variant in ("b5", "b6", "b7"), resolution=resolution)


@register_model("efficientnet_b0", input_shape=(3, 224, 224))
def efficientnet_b0(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B0 (Tan & Le 2019), 5.3M parameters at 224×224."""
    return _efficientnet("b0", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b1", input_shape=(3, 240, 240))
def efficientnet_b1(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B1 (Tan & Le 2019), 7.8M parameters at 240×240."""
    return _efficientnet("b1", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b2", input_shape=(3, 288, 288))
def efficientnet_b2(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B2 (Tan & Le 2019), 9.1M parameters at 288×288."""
    return _efficientnet("b2", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b3", input_shape=(3, 300, 300))
def efficientnet_b3(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B3 (Tan & Le 2019), 12.2M parameters at 300×300."""
    return _efficientnet("b3", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b4", input_shape=(3, 380, 380))
def efficientnet_b4(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B4 (Tan & Le 2019), 19.3M parameters at 380×380."""
    return _efficientnet("b4", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b5", input_shape=(3, 456, 456))
def efficientnet_b5(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B5 (Tan & Le 2019), 30.4M parameters at 456×456."""
    return _efficientnet("b5", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b6", input_shape=(3, 528, 528))
def efficientnet_b6(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B6 (Tan & Le 2019), 43.0M parameters at 528×528."""
    return _efficientnet("b6", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)


@register_model("efficientnet_b7", input_shape=(3, 600, 600))
def efficientnet_b7(*, num_classes: int = 1000, in_channels: int = 3, dropout: float | None = None,
                    stochastic_depth_prob: float = 0.2, small_input: bool = False) -> EfficientNet:
    """EfficientNet-B7 (Tan & Le 2019), 66.3M parameters at 600×600."""
    return _efficientnet("b7", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                         stochastic_depth_prob=stochastic_depth_prob, small_input=small_input)
