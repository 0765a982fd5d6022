"""Building blocks shared by the zoo's families (MobileNet, EfficientNet, ...).

* :func:`make_divisible` — the channel-rounding rule of the MobileNet papers.
* :class:`ConvNormAct` — convolution, batch norm, activation as one
  ``nn.Sequential`` (children ``0``, ``1``, ``2``: the state-dict layout of
  torchvision's ``Conv2dNormActivation``).
* :class:`SqueezeExcitation` — channel attention of Hu et al. (2018).
* :class:`StochasticDepth` — drop a residual branch per sample (Huang et al. 2016).
* :func:`init_conv_bn_linear` — the common initialisation loop.
* :func:`imagenet_to_symmetric_range` — the ``transform_input`` of GoogLeNet and Inception v3.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ...errors import ConfigError

__all__ = [
    "make_divisible",
    "ConvNormAct",
    "SqueezeExcitation",
    "StochasticDepth",
    "init_conv_bn_linear",
    "imagenet_to_symmetric_range",
]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never losing more than 10 %.

    The rule of the MobileNet v2/v3 and EfficientNet reference code: width
    multipliers give channel counts that the hardware handles best as
    multiples of 8.

    Args:
        value: the scaled channel count (e.g. ``32 * width_mult``).
        divisor: the multiple to round to.
        min_value: smallest result (default ``divisor``).

    Returns:
        A multiple of ``divisor`` that is at least ``0.9 * value``.
    """
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvNormAct(nn.Sequential):
    """``Conv2d`` (no bias) → ``norm_layer`` → ``activation``; "same" padding for odd kernels.

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size, stride, groups, dilation: of the convolution
            (``groups=in_channels`` gives a depthwise convolution).
        norm_layer: factory called with ``out_channels`` (``None``: no
            normalisation, and the convolution gets a bias).
        activation: factory of the activation (``None``: linear output, as
            the projection of an inverted residual block).

    Shape:
        ``[B, in_channels, H, W] -> [B, out_channels, ceil(H / stride), ceil(W / stride)]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        groups: int = 1,
        dilation: int = 1,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        activation: Callable[[], nn.Module] | None = nn.ReLU,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                      dilation=dilation, groups=groups, bias=norm_layer is None)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu, Shen & Sun, CVPR 2018).

    ``s = scale(fc2(act(fc1(mean_hw(x)))))``, output ``x * s``: a global
    average ("squeeze"), a two-layer bottleneck MLP written as 1×1
    convolutions, and a gate in [0, 1] per channel ("excitation").

    Args:
        channels: channels C of the input.
        squeeze_channels: width of the bottleneck.
        activation: factory of the hidden activation (ReLU; SiLU in EfficientNet).
        scale_activation: factory of the gate (sigmoid; hard-sigmoid in MobileNet v3).

    Shape:
        ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        *,
        activation: Callable[[], nn.Module] = nn.ReLU,
        scale_activation: Callable[[], nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.avgpool(x)  # (B, C, 1, 1)
        s = self.scale_activation(self.fc2(self.activation(self.fc1(s))))
        return x * s


class StochasticDepth(nn.Module):
    """Randomly drop a residual branch per sample (Huang et al., ECCV 2016), as in EfficientNet.

    In training, each sample's branch output is multiplied by ``m / (1 - p)``
    with ``m ~ Bernoulli(1 - p)``, so that its expectation is unchanged; in
    evaluation it is the identity.  ``mode="batch"`` draws one ``m`` for the
    whole batch.

    Args:
        p: probability of dropping the branch, in [0, 1).
        mode: ``"row"`` (per sample) or ``"batch"``.

    Shape:
        ``[B, ...] -> [B, ...]``.
    """

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"StochasticDepth p must be in [0, 1); got {p!r}")
        if mode not in ("row", "batch"):
            raise ConfigError(f"StochasticDepth mode must be 'row' or 'batch'; got {mode!r}")
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


def init_conv_bn_linear(
    module: nn.Module,
    *,
    conv: Callable[[torch.Tensor], object] | None = None,
    linear: Callable[[nn.Linear], object] | None = None,
) -> None:
    """Initialise every sub-module: ``conv(weight)`` for convolutions (biases to 0),
    batch/group norm to weight 1 and bias 0, ``linear(layer)`` for linear layers.

    ``None`` keeps PyTorch's default for that kind of layer.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and conv is not None:
            conv(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear is not None:
            linear(m)


def imagenet_to_symmetric_range(x: torch.Tensor) -> torch.Tensor:
    """Re-normalise ImageNet-standardised images ``(x - mean) / std`` to ``(x - 0.5) / 0.5``, channel by channel.

    The ``transform_input`` of torchvision's GoogLeNet and Inception v3, whose
    pretrained weights expect inputs in [-1, 1].  ``x``: ``[B, 3, H, W]``.
    """
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * (std / 0.5) + (mean - 0.5) / 0.5
