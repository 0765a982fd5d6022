"""SqueezeNet 1.0 and 1.1 (Iandola et al., arXiv:1602.07360, 2016), a descendant of Network in Network (§3.4.2).

AlexNet-level accuracy with 50× fewer parameters, from three choices: most
3×3 filters become 1×1, the inputs of the remaining 3×3 filters are cut by
"squeeze" layers, and downsampling comes late.  The *fire module* squeezes
with 1×1 filters and expands with parallel 1×1 and 3×3 filters whose
outputs are concatenated.  As in NiN, there is no fully connected layer: a
1×1 convolution gives one map per class, averaged globally.

Layout of 1.0 (input 3×224×224)::

    conv 7×7/2, 96 → maxpool 3/2 → fire2, fire3, fire4 → maxpool 3/2
    → fire5 … fire8 → maxpool 3/2 → fire9 → dropout 0.5 → conv 1×1, K → ReLU → global average pooling

1.1 uses a 3×3/2, 64 first convolution and pools earlier (2.4× less
computation, same accuracy).  State-dict compatible with torchvision's
``squeezenet1_0`` (1,248,424 parameters) and ``squeezenet1_1`` (1,235,496).
Departure from the paper: no bypass connections (the paper's plain model).
``small_input=True`` makes the first convolution 3×3/1 and drops the first
max-pool.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_probability, make_feature_info

__all__ = ["Fire", "SqueezeNet", "squeezenet1_0", "squeezenet1_1"]


class Fire(nn.Module):
    """Fire module: 1×1 squeeze → ReLU, then concatenated 1×1 and 3×3 expansions → ReLU.

    Shape:
        ``[B, inplanes, H, W] -> [B, expand1x1 + expand3x3, H, W]``.
    """

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(ImageClassifier):
    """SqueezeNet.

    Args:
        version: ``"1_0"`` or ``"1_1"``.
        num_classes: output units K.
        in_channels: input channels.
        dropout: dropout before the classifier convolution.
        small_input: 3×3/1 first convolution without the first max-pool.

    Feature stages (``feature_info``): the stem's ReLU, the last fire module
    before each max-pool and the last fire module (the trunk's output):
    reductions 2, 4, 8, 16 (1, 1, 2, 4 with ``small_input``).

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= min_input_size``; output ``[B, K]``.
    """

    top_modules = ("classifier",)

    def __init__(self, *, version: str = "1_0", num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 small_input: bool = False) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        dropout = check_probability("SqueezeNet", "dropout", dropout)
        first_pool: nn.Module = nn.Identity() if small_input else nn.MaxPool2d(3, 2, ceil_mode=True)
        if version == "1_0":
            stem = nn.Conv2d(in_channels, 96, 3, 1, 1) if small_input else nn.Conv2d(in_channels, 96, 7, 2)
            layers = [stem, nn.ReLU(inplace=True), first_pool,
                      Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128),
                      nn.MaxPool2d(3, 2, ceil_mode=True),
                      Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                      nn.MaxPool2d(3, 2, ceil_mode=True),
                      Fire(512, 64, 256, 256)]
            self.min_input_size = 4 if small_input else 21
            taps = (("features.1", 96), ("features.5", 256), ("features.10", 512), ("features.12", 512))
        elif version == "1_1":
            stem = nn.Conv2d(in_channels, 64, 3, 1, 1) if small_input else nn.Conv2d(in_channels, 64, 3, 2)
            layers = [stem, nn.ReLU(inplace=True), first_pool,
                      Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
                      nn.MaxPool2d(3, 2, ceil_mode=True),
                      Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
                      nn.MaxPool2d(3, 2, ceil_mode=True),
                      Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256)]
            self.min_input_size = 4 if small_input else 17
            taps = (("features.1", 64), ("features.4", 128), ("features.7", 256), ("features.12", 512))
        else:
            raise ConfigError(f"SqueezeNet version must be '1_0' or '1_1'; got {version!r}")
        self.features = nn.Sequential(*layers)
        self.num_features = 512
        # the small-input variant drops the first max-pool: its stem and first fire modules share a resolution
        reductions = (1, 1, 2, 4) if small_input else (2, 4, 8, 16)
        self.feature_info = make_feature_info(*((m, c, r) for (m, c), r in zip(taps, reductions)))
        self.classifier = self._make_classifier(num_classes, dropout)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is self.classifier[1]:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_classifier(self, num_classes: int, dropout: float) -> nn.Sequential:
        return nn.Sequential(nn.Dropout(dropout), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True),
                             nn.AdaptiveAvgPool2d(1))

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(features), 1)

    def _reset_classifier(self, num_classes: int) -> None:
        self.classifier = self._make_classifier(num_classes, self.classifier[0].p)
        nn.init.normal_(self.classifier[1].weight, mean=0.0, std=0.01)
        nn.init.zeros_(self.classifier[1].bias)

    def stages(self) -> list[tuple[str, ...]]:
        return [(f"features.{i}",) for i, m in enumerate(self.features) if isinstance(m, (nn.Conv2d, Fire))]


@register_model("squeezenet1_0", input_shape=(3, 224, 224))
def squeezenet1_0(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                  small_input: bool = False) -> SqueezeNet:
    """SqueezeNet 1.0 (Iandola et al. 2016), fire modules, 1.2M parameters."""
    return SqueezeNet(version="1_0", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                      small_input=small_input)


@register_model("squeezenet1_1", input_shape=(3, 224, 224))
def squeezenet1_1(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                  small_input: bool = False) -> SqueezeNet:
    """SqueezeNet 1.1 (Iandola et al. 2016), 2.4× cheaper than 1.0, 1.2M parameters."""
    return SqueezeNet(version="1_1", num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                      small_input=small_input)
