"""MobileNet v1, v2 and v3 (notes §3.4.2: separable convolutions to cut parameters and computation).

**v1** (Howard et al., arXiv:1704.04861, 2017).  A k×k convolution from M to
N channels costs ``k²·M·N`` multiplications per pixel; a *depthwise
separable* convolution splits it into a depthwise k×k convolution (one
filter per input channel, ``k²·M``) and a pointwise 1×1 convolution
(``M·N``), about ``1/N + 1/k²`` of the cost.  Layout (Table 1 of the paper,
input 3×224×224): conv 3×3/2, 32, then 13 depthwise-separable layers
(64, 128/2, 128, 256/2, 256, 512/2, 5×512, 1024/2, 1024), global average
pooling, FC.  The width multiplier α thins every layer to ``α·channels``.
Parameter counts (ours, K = 1000, batch-norm γ/β included) against Table 6
of the paper: α = 1: 4,231,976 (paper 4.2M); 0.75: 2,585,560 (2.6M);
0.5: 1,331,592 (1.3M); 0.25: 470,072 (0.5M).  Departures: the last
depthwise layer has stride 1 (Table 1 prints "s2", but its input and output
are both 7×7); no model is registered for the resolution multiplier ρ,
which is just the input size.

**v2** (Sandler et al., CVPR 2018).  *Inverted residual* blocks with *linear
bottlenecks*: a 1×1 expansion by t (ReLU6), a 3×3 depthwise convolution
(ReLU6) and a linear 1×1 projection back to a narrow bottleneck; the
shortcut joins the narrow ends.  ``mobilenet_v2`` is state-dict compatible
with torchvision (3,504,872 parameters).

**v3** (Howard et al., ICCV 2019).  v2 blocks found by architecture search,
some with squeeze-and-excitation, the hard-swish activation
``x·ReLU6(x+3)/6`` in the deeper half, and a slimmer last stage.
``mobilenet_v3_large`` / ``mobilenet_v3_small`` are state-dict compatible
with torchvision (5,483,032 / 2,542,856 parameters).  Departure from the
paper, torchvision's: the squeeze width is rounded with :func:`make_divisible`.

Feature stages (``feature_info``, every version): the last block at each
resolution (the block before each stride-2 block) and the last layer (the
trunk's output), reductions 2, 4, 8, 16, 32: v1 ``features.1, 3, 5, 11, 13``;
v2 ``features.1, 3, 6, 13, 18``; v3 large ``features.1, 3, 6, 12, 16``; v3
small ``features.0, 1, 3, 8, 12``.  With ``small_input`` the same modules,
at half the reductions.

Small inputs (``small_input=True``, every version): the first convolution
has stride 1, so 28–32 pixel images end with a 2×2 map instead of 1×1; v3
also uses batch-norm momentum 0.1 instead of the ImageNet setting's 0.01,
whose running averages lag so far behind a few hundred training steps that
the evaluation-mode accuracy collapses (``mobilenet_v3_small``, 3,000 MNIST
images, 2 epochs of Adam: test accuracy 10 % with 0.01, 86 % with 0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_probability, feature_info_of_chain
from ._layers import ConvNormAct, SqueezeExcitation, make_divisible

__all__ = [
    "DepthwiseSeparable",
    "MobileNetV1",
    "InvertedResidual",
    "MobileNetV2",
    "BlockConfig",
    "InvertedResidualV3",
    "MobileNetV3",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]


def _check_width(owner: str, width_mult: object) -> float:
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise ConfigError(f"{owner} width_mult must be a positive number; got {width_mult!r}")
    return float(width_mult)


def _init_mobile(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


# ============================================================================ v1
class DepthwiseSeparable(nn.Module):
    """Depthwise 3×3 convolution (one filter per channel) → BN → ReLU, then pointwise 1×1 → BN → ReLU.

    Shape:
        ``[B, in_channels, H, W] -> [B, out_channels, H / stride, W / stride]``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.dw = ConvNormAct(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pw = ConvNormAct(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


# (output channels, stride) of the 13 depthwise-separable layers of Table 1
_V1_LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
              (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1(ImageClassifier):
    """MobileNet v1 with width multiplier α.

    Args:
        num_classes: output units K.
        in_channels: input channels.
        width_mult: α, the width multiplier (1, 0.75, 0.5, 0.25 in the paper).
        dropout: dropout before the classifier (0: none, as in the paper).
        small_input: stride-1 first convolution.

    Shape:
        input ``[B, in_channels, H, W]``; output ``[B, K]``.
    """

    top_modules = ("avgpool", "classifier")

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.0, small_input: bool = False) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        alpha = _check_width("MobileNetV1", width_mult)
        dropout = check_probability("MobileNetV1", "dropout", dropout)
        self.width_mult = alpha
        width = max(1, int(32 * alpha))
        layers: list[nn.Module] = [ConvNormAct(in_channels, width, 3, 1 if small_input else 2)]
        chain = [("features.0", 1 if small_input else 2, width)]
        for channels, stride in _V1_LAYERS:
            out = max(1, int(channels * alpha))
            chain.append((f"features.{len(layers)}", stride, out))
            layers.append(DepthwiseSeparable(width, out, stride))
            width = out
        self.features = nn.Sequential(*layers)
        self.feature_info = feature_info_of_chain(chain)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = width
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))
        self.min_input_size = 1
        _init_mobile(self)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        self.classifier[1] = nn.Linear(self.num_features, num_classes)

    def stages(self) -> list[tuple[str, ...]]:
        return [(f"features.{i}",) for i in range(len(self.features))]


# ============================================================================ v2
class InvertedResidual(nn.Module):
    """MobileNet v2 block: 1×1 expand ×t (ReLU6) → 3×3 depthwise (ReLU6) → linear 1×1 projection.

    The shortcut joins input and output when ``stride == 1`` and the widths agree.

    Shape:
        ``[B, inp, H, W] -> [B, oup, H / stride, W / stride]``.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(inp, hidden, 1, activation=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, bias=False),  # the linear bottleneck: no activation
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


# (t expansion, c channels, n repeats, s stride of the first) — Table 2 of the paper
_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(ImageClassifier):
    """MobileNet v2.

    Args:
        num_classes: output units K.
        in_channels: input channels.
        width_mult: width multiplier (channels rounded to multiples of ``round_nearest``).
        round_nearest: channel rounding multiple.
        dropout: dropout before the classifier.
        small_input: stride-1 first convolution.

    Shape:
        input ``[B, in_channels, H, W]``; output ``[B, K]``.
    """

    top_modules = ("classifier",)

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 round_nearest: int = 8, dropout: float = 0.2, small_input: bool = False) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        wm = _check_width("MobileNetV2", width_mult)
        dropout = check_probability("MobileNetV2", "dropout", dropout)
        width = make_divisible(32 * wm, round_nearest)
        last = make_divisible(1280 * max(1.0, wm), round_nearest)
        layers: list[nn.Module] = [ConvNormAct(in_channels, width, 3, 1 if small_input else 2, activation=nn.ReLU6)]
        chain = [("features.0", 1 if small_input else 2, width)]
        for t, c, n, s in _V2_SETTINGS:
            out = make_divisible(c * wm, round_nearest)
            for i in range(n):
                chain.append((f"features.{len(layers)}", s if i == 0 else 1, out))
                layers.append(InvertedResidual(width, out, s if i == 0 else 1, t))
                width = out
        chain.append((f"features.{len(layers)}", 1, last))
        layers.append(ConvNormAct(width, last, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.feature_info = feature_info_of_chain(chain)
        self.num_features = last
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        self.min_input_size = 1
        _init_mobile(self)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(features, 1), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        layer = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(layer.weight, 0.0, 0.01)
        nn.init.zeros_(layer.bias)
        self.classifier[1] = layer

    def stages(self) -> list[tuple[str, ...]]:
        return [(f"features.{i}",) for i in range(len(self.features))]


# ============================================================================ v3
@dataclass(frozen=True)
class BlockConfig:
    """One MobileNet v3 block (a row of Tables 1–2 of the paper), before the width multiplier."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str  # "RE" (ReLU) or "HS" (hard-swish)
    stride: int

    def scaled(self, width_mult: float) -> BlockConfig:
        """The block with every channel count multiplied by ``width_mult`` and rounded by :func:`make_divisible`."""
        return BlockConfig(
            make_divisible(self.input_channels * width_mult), self.kernel,
            make_divisible(self.expanded_channels * width_mult), make_divisible(self.out_channels * width_mult),
            self.use_se, self.activation, self.stride,
        )


_V3_LARGE = (
    BlockConfig(16, 3, 16, 16, False, "RE", 1),
    BlockConfig(16, 3, 64, 24, False, "RE", 2),
    BlockConfig(24, 3, 72, 24, False, "RE", 1),
    BlockConfig(24, 5, 72, 40, True, "RE", 2),
    BlockConfig(40, 5, 120, 40, True, "RE", 1),
    BlockConfig(40, 5, 120, 40, True, "RE", 1),
    BlockConfig(40, 3, 240, 80, False, "HS", 2),
    BlockConfig(80, 3, 200, 80, False, "HS", 1),
    BlockConfig(80, 3, 184, 80, False, "HS", 1),
    BlockConfig(80, 3, 184, 80, False, "HS", 1),
    BlockConfig(80, 3, 480, 112, True, "HS", 1),
    BlockConfig(112, 3, 672, 112, True, "HS", 1),
    BlockConfig(112, 5, 672, 160, True, "HS", 2),
    BlockConfig(160, 5, 960, 160, True, "HS", 1),
    BlockConfig(160, 5, 960, 160, True, "HS", 1),
)
_V3_SMALL = (
    BlockConfig(16, 3, 16, 16, True, "RE", 2),
    BlockConfig(16, 3, 72, 24, False, "RE", 2),
    BlockConfig(24, 3, 88, 24, False, "RE", 1),
    BlockConfig(24, 5, 96, 40, True, "HS", 2),
    BlockConfig(40, 5, 240, 40, True, "HS", 1),
    BlockConfig(40, 5, 240, 40, True, "HS", 1),
    BlockConfig(40, 5, 120, 48, True, "HS", 1),
    BlockConfig(48, 5, 144, 48, True, "HS", 1),
    BlockConfig(48, 5, 288, 96, True, "HS", 2),
    BlockConfig(96, 5, 576, 96, True, "HS", 1),
    BlockConfig(96, 5, 576, 96, True, "HS", 1),
)
_V3_ARCHS = {"large": (_V3_LARGE, 1280), "small": (_V3_SMALL, 1024)}


class InvertedResidualV3(nn.Module):
    """MobileNet v3 block: optional 1×1 expansion → k×k depthwise → optional SE → linear 1×1 projection.

    Shape:
        ``[B, input_channels, H, W] -> [B, out_channels, H / stride, W / stride]``.
    """

    def __init__(self, cnf: BlockConfig, norm_layer: Callable[[int], nn.Module]) -> None:
        super().__init__()
        act = nn.Hardswish if cnf.activation == "HS" else nn.ReLU
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(ConvNormAct(cnf.input_channels, cnf.expanded_channels, 1, norm_layer=norm_layer, activation=act))
        layers.append(ConvNormAct(cnf.expanded_channels, cnf.expanded_channels, cnf.kernel, cnf.stride,
                                  groups=cnf.expanded_channels, norm_layer=norm_layer, activation=act))
        if cnf.use_se:
            squeeze = make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(SqueezeExcitation(cnf.expanded_channels, squeeze, scale_activation=nn.Hardsigmoid))
        layers.append(ConvNormAct(cnf.expanded_channels, cnf.out_channels, 1, norm_layer=norm_layer, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_res_connect else out


class MobileNetV3(ImageClassifier):
    """MobileNet v3, large or small.

    Args:
        arch: ``"large"`` or ``"small"``.
        num_classes: output units K.
        in_channels: input channels.
        width_mult: width multiplier (channels rounded to multiples of 8).
        dropout: dropout before the last FC layer.
        small_input: stride-1 first convolution.

    Shape:
        input ``[B, in_channels, H, W]``; output ``[B, K]``.
    """

    top_modules = ("avgpool", "classifier")

    def __init__(self, *, arch: str = "large", num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.2, small_input: bool = False) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        if arch not in _V3_ARCHS:
            raise ConfigError(f"MobileNetV3 arch must be 'large' or 'small'; got {arch!r}")
        wm = _check_width("MobileNetV3", width_mult)
        dropout = check_probability("MobileNetV3", "dropout", dropout)
        blocks, last_channel = _V3_ARCHS[arch]
        blocks = tuple(b.scaled(wm) for b in blocks)
        # the ImageNet setting's slow running averages (momentum 0.01) lag behind a short run on small
        # images, and the evaluation-mode accuracy collapses: small inputs use PyTorch's default 0.1
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.1 if small_input else 0.01)
        layers: list[nn.Module] = [
            ConvNormAct(in_channels, blocks[0].input_channels, 3, 1 if small_input else 2, norm_layer=norm,
                        activation=nn.Hardswish)
        ]
        layers += [InvertedResidualV3(b, norm) for b in blocks]
        last_conv = 6 * blocks[-1].out_channels
        layers.append(ConvNormAct(blocks[-1].out_channels, last_conv, 1, norm_layer=norm, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        chain = [("features.0", 1 if small_input else 2, blocks[0].input_channels)]
        chain += [(f"features.{i + 1}", b.stride, b.out_channels) for i, b in enumerate(blocks)]
        chain.append((f"features.{len(layers) - 1}", 1, last_conv))
        self.feature_info = feature_info_of_chain(chain)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = last_conv
        self.last_channel = last_channel
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )
        self.min_input_size = 1
        _init_mobile(self)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        layer = nn.Linear(self.last_channel, num_classes)
        nn.init.normal_(layer.weight, 0.0, 0.01)
        nn.init.zeros_(layer.bias)
        self.classifier[3] = layer

    def stages(self) -> list[tuple[str, ...]]:
        return [(f"features.{i}",) for i in range(len(self.features))]


# ---------------------------------------------------------------------- builders
@register_model("mobilenet_v1", input_shape=(3, 224, 224))
def mobilenet_v1(*, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.0,
                 small_input: bool = False) -> MobileNetV1:
    """MobileNet v1 (Howard et al. 2017), depthwise-separable convolutions, 4.2M parameters at α = 1."""
    return MobileNetV1(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult, dropout=dropout,
                       small_input=small_input)


@register_model("mobilenet_v2", input_shape=(3, 224, 224))
def mobilenet_v2(*, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.2,
                 small_input: bool = False) -> MobileNetV2:
    """MobileNet v2 (Sandler et al. 2018), inverted residuals and linear bottlenecks, 3.5M parameters."""
    return MobileNetV2(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult, dropout=dropout,
                       small_input=small_input)


@register_model("mobilenet_v3_large", input_shape=(3, 224, 224))
def mobilenet_v3_large(*, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                       dropout: float = 0.2, small_input: bool = False) -> MobileNetV3:
    """MobileNet v3 large (Howard et al. 2019), 5.5M parameters."""
    return MobileNetV3(arch="large", num_classes=num_classes, in_channels=in_channels, width_mult=width_mult,
                       dropout=dropout, small_input=small_input)


@register_model("mobilenet_v3_small", input_shape=(3, 224, 224))
def mobilenet_v3_small(*, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                       dropout: float = 0.2, small_input: bool = False) -> MobileNetV3:
    """MobileNet v3 small (Howard et al. 2019), 2.5M parameters."""
    return MobileNetV3(arch="small", num_classes=num_classes, in_channels=in_channels, width_mult=width_mult,
                       dropout=dropout, small_input=small_input)
