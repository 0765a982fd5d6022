"""AlexNet (Krizhevsky, Sutskever & Hinton, NeurIPS 2012), notes §3.4.2.

The network that introduced, at ImageNet scale, ReLU activations, dropout in
the fully connected layers, weight decay and overlapping max-pooling.

Layout (``alexnet``, input 3×224×224)::

    features   conv 11×11/4, 64 → ReLU → maxpool 3/2          55 → 27
               conv 5×5, 192   → ReLU → maxpool 3/2           27 → 13
               conv 3×3, 384 → ReLU → conv 3×3, 256 → ReLU
               conv 3×3, 256 → ReLU → maxpool 3/2             13 → 6
    avgpool    adaptive average pooling to 6×6 (any input ≥ 63 px)
    classifier dropout → FC 9216→4096 → ReLU → dropout → FC 4096→4096 → ReLU → FC 4096→K

State-dict compatible with torchvision's ``alexnet`` (61,100,840 parameters
for K = 1000).  Departures from the 2012 paper, all those of torchvision's
model, which follows Krizhevsky's "One weird trick" single-tower variant
(arXiv:1404.5997): one tower instead of two GPU halves (so 64/192 filters in
the first two layers instead of 2×48/2×128, and every layer sees all maps),
no local response normalisation, and the adaptive pooling layer.

Small inputs (``small_input=True``): the first convolution is 3×3 with
stride 1 (28–32 pixel digits would shrink to nothing under an 11×11/4 stem),
the adaptive pooling goes to 1×1, and the hidden FC layers default to 512
units.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from .._registry import register_model
from ._base import ImageClassifier, check_positive_int, check_probability, make_feature_info

__all__ = ["AlexNet", "alexnet"]


class AlexNet(ImageClassifier):
    """AlexNet classifier (see the module docstring for the layout).

    Args:
        num_classes: output units K.
        in_channels: input channels.
        dropout: dropout probability before the two hidden FC layers.
        small_input: 3×3/1 stem, 1×1 pooling and 512 hidden units for 28–32 px images.
        hidden_features: width of the hidden FC layers (default 4096, or 512 with ``small_input``).

    Feature stages (``feature_info``): the ReLU before each max-pool and the
    last max-pool: ``features.1``, ``.4``, ``.11``, ``.12`` (64, 192, 256, 256
    channels), reductions 4, 8, 16, 32 (1, 2, 4, 8 with ``small_input``).

    Shape:
        input ``[B, in_channels, H, W]``, ``H, W >= 63`` (``>= 15`` with
        ``small_input``); output ``[B, K]``.
    """

    top_modules = ("avgpool", "classifier")

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        small_input: bool = False,
        hidden_features: int | None = None,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        dropout = check_probability("AlexNet", "dropout", dropout)
        hidden = 512 if small_input else 4096
        if hidden_features is not None:
            hidden = check_positive_int("AlexNet", "hidden_features", hidden_features)
        stem = nn.Conv2d(in_channels, 64, 3, 1, 1) if small_input else nn.Conv2d(in_channels, 64, 11, 4, 2)
        self.features = nn.Sequential(
            stem,
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        pooled = 1 if small_input else 6
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.hidden_features = hidden
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * pooled * pooled, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
        self.num_features = 256
        # three 3/2 max-pools need a 3×3 map each: 11×11/4 stem -> 63 px; 3×3/1 stem -> 15 px
        self.min_input_size = 15 if small_input else 63
        # the ReLU before each max-pool, and the last pool (the trunk's output)
        s = 1 if small_input else 4
        self.feature_info = make_feature_info(
            ("features.1", 64, s), ("features.4", 192, 2 * s), ("features.11", 256, 4 * s), ("features.12", 256, 8 * s)
        )

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        self.classifier[6] = nn.Linear(self.hidden_features, num_classes)

    def stages(self) -> list[tuple[str, ...]]:
        return [("features.0",), ("features.3",), ("features.6",), ("features.8",), ("features.10",)]


@register_model("alexnet", input_shape=(3, 224, 224))
def alexnet(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.5,
    small_input: bool = False,
    hidden_features: int | None = None,
) -> AlexNet:
    """AlexNet (Krizhevsky et al. 2012; torchvision's single-tower layout), 61.1M parameters."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                   small_input=small_input, hidden_features=hidden_features)
