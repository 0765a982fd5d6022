"""VGG-11/13/16/19, with and without batch norm (Simonyan & Zisserman, ICLR 2015), notes §3.4.2.

Depth through stacks of small 3×3 convolutions: two stacked 3×3 layers see a
5×5 field, three see 7×7, with fewer parameters and more non-linearities
than one large filter.  Five stages of 3×3 convolutions (padding 1, ReLU),
each followed by 2×2 max-pooling, then three fully connected layers::

    configuration   convolutions per stage (channels 64, 128, 256, 512, 512)
    A  (vgg11)      1, 1, 2, 2, 2
    B  (vgg13)      2, 2, 2, 2, 2
    D  (vgg16)      2, 2, 3, 3, 3
    E  (vgg19)      2, 2, 4, 4, 4

    avgpool     adaptive average pooling to 7×7
    classifier  FC 25088→4096 → ReLU → dropout → FC 4096→4096 → ReLU → dropout → FC 4096→K

State-dict compatible with torchvision's ``vgg11`` … ``vgg19_bn`` (VGG-16:
138,357,544 parameters; with batch norm 138,365,992).  Departures from the
paper: the ``_bn`` variants insert batch normalisation after every
convolution (Ioffe & Szegedy 2015; not in the paper), the adaptive pooling
layer accepts inputs other than 224×224, and configurations A-LRN and C
(1×1 convolutions) are not built.

Small inputs (``small_input=True``): the max-pools round up (``ceil_mode``)
so that 28×28 digits survive five halvings, the adaptive pooling goes to
1×1 and the hidden FC layers default to 512 units (the usual CIFAR VGG).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_positive_int, check_probability, make_feature_info

__all__ = ["VGG", "VGG_CONFIGS", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

#: convolutions per stage of configurations A, B, D, E (Table 1 of the paper)
VGG_CONFIGS: dict[str, tuple[int, ...]] = {"A": (1, 1, 2, 2, 2), "B": (2, 2, 2, 2, 2), "D": (2, 2, 3, 3, 3), "E": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)


class VGG(ImageClassifier):
    """VGG classifier.

    Args:
        config: ``"A"``, ``"B"``, ``"D"`` or ``"E"`` (VGG-11, -13, -16, -19).
        batch_norm: batch normalisation after every convolution.
        num_classes: output units K.
        in_channels: input channels.
        dropout: dropout probability after the two hidden FC layers.
        small_input: rounding max-pools, 1×1 pooling and 512 hidden units.
        hidden_features: width of the hidden FC layers (default 4096, or 512 with ``small_input``).

    Feature stages (``feature_info``): the ReLU before each of the five
    max-pools (64, 128, 256, 512, 512 channels; reductions 1, 2, 4, 8, 16)
    and the last max-pool (512 channels, reduction 32), the trunk's output.

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= 32`` (any size with
        ``small_input``); output ``[B, K]``.
    """

    top_modules = ("avgpool", "classifier")

    def __init__(
        self,
        *,
        config: str = "D",
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        small_input: bool = False,
        hidden_features: int | None = None,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        if config not in VGG_CONFIGS:
            raise ConfigError(f"VGG config must be one of {sorted(VGG_CONFIGS)}; got {config!r}")
        dropout = check_probability("VGG", "dropout", dropout)
        hidden = 512 if small_input else 4096
        if hidden_features is not None:
            hidden = check_positive_int("VGG", "hidden_features", hidden_features)
        layers: list[nn.Module] = []
        self._stage_names: list[tuple[str, ...]] = []
        taps: list[tuple[str, int, int]] = []  # the ReLU before each max-pool
        channels = in_channels
        for repeats, width in zip(VGG_CONFIGS[config], _WIDTHS):
            names = []
            for _ in range(repeats):
                names.append(f"features.{len(layers)}")
                layers.append(nn.Conv2d(channels, width, 3, padding=1))
                if batch_norm:
                    names.append(f"features.{len(layers)}")
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                channels = width
            taps.append((f"features.{len(layers) - 1}", width, 2 ** len(taps)))
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=small_input))
            self._stage_names.append(tuple(names))
        self.features = nn.Sequential(*layers)
        # ... and the last max-pool, the trunk's output
        self.feature_info = make_feature_info(*taps, (f"features.{len(layers) - 1}", 512, 2 ** len(taps)))
        pooled = 1 if small_input else 7
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.hidden_features = hidden
        self.classifier = nn.Sequential(
            nn.Linear(512 * pooled * pooled, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self.num_features = 512
        # five 2×2 max-pools: 32 px reach 1×1; rounding up, any size does
        self.min_input_size = 1 if small_input else 32
        self._init_weights()

    def _init_weights(self) -> None:
        # as torchvision: He initialisation (fan-out) for convolutions, N(0, 0.01) for the FC layers
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        layer = nn.Linear(self.hidden_features, num_classes)
        nn.init.normal_(layer.weight, 0.0, 0.01)
        nn.init.zeros_(layer.bias)
        self.classifier[6] = layer

    def stages(self) -> list[tuple[str, ...]]:
        return list(self._stage_names)


@register_model("vgg11", input_shape=(3, 224, 224))
def vgg11(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
          hidden_features: int | None = None) -> VGG:
    """VGG-11 (configuration A), 132.9M parameters."""
    return VGG(config="A", batch_norm=False, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg11_bn", input_shape=(3, 224, 224))
def vgg11_bn(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
             hidden_features: int | None = None) -> VGG:
    """VGG-11 with batch normalisation, 132.9M parameters."""
    return VGG(config="A", batch_norm=True, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg13", input_shape=(3, 224, 224))
def vgg13(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
          hidden_features: int | None = None) -> VGG:
    """VGG-13 (configuration B), 133.0M parameters."""
    return VGG(config="B", batch_norm=False, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg13_bn", input_shape=(3, 224, 224))
def vgg13_bn(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
             hidden_features: int | None = None) -> VGG:
    """VGG-13 with batch normalisation, 133.1M parameters."""
    return VGG(config="B", batch_norm=True, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg16", input_shape=(3, 224, 224))
def vgg16(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
          hidden_features: int | None = None) -> VGG:
    """VGG-16 (configuration D), 138.4M parameters."""
    return VGG(config="D", batch_norm=False, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg16_bn", input_shape=(3, 224, 224))
def vgg16_bn(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
             hidden_features: int | None = None) -> VGG:
    """VGG-16 with batch normalisation, 138.4M parameters."""
    return VGG(config="D", batch_norm=True, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg19", input_shape=(3, 224, 224))
def vgg19(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
          hidden_features: int | None = None) -> VGG:
    """VGG-19 (configuration E), 143.7M parameters."""
    return VGG(config="E", batch_norm=False, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)


@register_model("vgg19_bn", input_shape=(3, 224, 224))
def vgg19_bn(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
             hidden_features: int | None = None) -> VGG:
    """VGG-19 with batch normalisation, 143.7M parameters."""
    return VGG(config="E", batch_norm=True, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                small_input=small_input, hidden_features=hidden_features)
