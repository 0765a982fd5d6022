"""Network in Network (Lin, Chen & Yan, ICLR 2014), notes §3.4.2.

Two ideas: the *mlpconv* layer replaces a linear filter by a small
multilayer perceptron slid over the image — a k×k convolution followed by
two 1×1 convolutions, each with a ReLU — and *global average pooling*
replaces the fully connected classifier: the last mlpconv layer produces
one feature map per class and their spatial averages are the logits, so the
top has no fully connected parameters at all and is less prone to
overfitting.

``nin`` is the authors' ImageNet model (the 4-layer NIN of their Caffe
release, input 3×224×224)::

    mlpconv 11×11/4, 96 → 1×1, 96 → 1×1, 96      → maxpool 3/2     54 → 27
    mlpconv 5×5, 256    → 1×1, 256 → 1×1, 256    → maxpool 3/2     27 → 13
    mlpconv 3×3, 384    → 1×1, 384 → 1×1, 384    → maxpool 3/2     13 → 6
    dropout 0.5
    mlpconv 3×3, 1024   → 1×1, 1024 → 1×1, K     → ReLU → global average pooling

``nin(small_input=True)`` is the paper's CIFAR-10 model (input 3×32×32)::

    mlpconv 5×5, 192 → 1×1, 160 → 1×1, 96   → maxpool 3/2 → dropout 0.5     32 → 16
    mlpconv 5×5, 192 → 1×1, 192 → 1×1, 192  → avgpool 3/2 → dropout 0.5     16 → 8
    mlpconv 3×3, 192 → 1×1, 192 → 1×1, K    → ReLU → global average pooling (8×8)

Parameter counts.  The paper reports none; the ImageNet model has 7,595,176
parameters for K = 1000 (34,944 + 18,624 + 614,656 + 131,584 + 885,120 +
295,680 + 3,539,968 + 1,049,600 + 1,025,000), i.e. 29 MiB of float32,
the size of the authors' released 29 MB snapshot and one eighth of
AlexNet's; the CIFAR-10 model has 966,986 parameters for K = 10.
Departures: the convolutions are He-initialised (the authors used Gaussian
initialisation with hand-set scales); the layer widths and the pooling
(rounding up, as Caffe does) follow the authors' released definitions,
which the paper does not list.  The last 1×1 layer of the last mlpconv is the classifier
(``classifier``): ``forward_features`` stops before it.

Training note: the ReLU on the class maps (kept by default, as in the
released models) makes every logit non-negative, and a class whose map
becomes negative everywhere receives no gradient again — a dead class.  On
short runs this stalls training: the CIFAR-10 model on 3,000 MNIST digits
(5 epochs of Adam, lr 1e-3) ends at a training loss of 2.06 and 21 % test
accuracy with the ReLU, and at 0.15 and 96 % with ``final_relu=False``,
which feeds the averaged maps to the softmax as they are.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from .._registry import register_model
from ._base import ImageClassifier, check_probability, make_feature_info

__all__ = ["MLPConv", "NiN", "nin"]


class MLPConv(nn.Sequential):
    """The mlpconv layer: k×k convolution → ReLU, then 1×1 convolutions → ReLU.

    Args:
        in_channels: input channels.
        channels: output channels of the k×k convolution and of each 1×1 layer,
            e.g. ``(192, 160, 96)``.
        kernel_size, stride, padding: of the k×k convolution.

    Shape:
        ``[B, in_channels, H, W] -> [B, channels[-1], H', W']`` (H' as for the k×k convolution).
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], kernel_size, stride, padding), nn.ReLU(inplace=True)]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class NiN(ImageClassifier):
    """Network in Network: mlpconv layers and global average pooling.

    Args:
        num_classes: output units K (maps of the classifier layer).
        in_channels: input channels.
        dropout: dropout probability between mlpconv layers.
        small_input: the paper's CIFAR-10 model instead of the ImageNet one.
        final_relu: apply the ReLU to the class maps before averaging (see the training note).

    Feature stages (``feature_info``): the output of every mlpconv layer
    (the last is the trunk's output, before the classifier's 1×1 layer):
    96, 256, 384, 1024 channels at reductions 4, 8, 16, 32 (ImageNet model);
    96, 192, 192 channels at reductions 1, 2, 4 (CIFAR-10 model).

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= 39`` (``>= 4`` with
        ``small_input``); output ``[B, K]``.
    """

    top_modules = ("classifier",)

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 small_input: bool = False, final_relu: bool = True) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        dropout = check_probability("NiN", "dropout", dropout)
        self.final_relu = bool(final_relu)
        if small_input:
            self.features = nn.Sequential(
                MLPConv(in_channels, (192, 160, 96), 5, padding=2),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                nn.Dropout(dropout),
                MLPConv(96, (192, 192, 192), 5, padding=2),
                nn.AvgPool2d(3, 2, ceil_mode=True),
                nn.Dropout(dropout),
                MLPConv(192, (192, 192), 3, padding=1),
            )
            self.num_features = 192
            self.min_input_size = 4
            self.feature_info = make_feature_info(("features.0", 96, 1), ("features.3", 192, 2), ("features.6", 192, 4))
        else:
            self.features = nn.Sequential(
                MLPConv(in_channels, (96, 96, 96), 11, stride=4),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                MLPConv(96, (256, 256, 256), 5, padding=2),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                MLPConv(256, (384, 384, 384), 3, padding=1),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                nn.Dropout(dropout),
                MLPConv(384, (1024, 1024), 3, padding=1),
            )
            self.num_features = 1024
            self.min_input_size = 39
            self.feature_info = make_feature_info(
                ("features.0", 96, 4), ("features.2", 256, 8), ("features.4", 384, 16), ("features.7", 1024, 32)
            )
        self.classifier = self._make_classifier(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def _make_classifier(self, num_classes: int) -> nn.Sequential:
        act: nn.Module = nn.ReLU(inplace=True) if self.final_relu else nn.Identity()
        return nn.Sequential(nn.Conv2d(self.num_features, num_classes, 1), act, nn.AdaptiveAvgPool2d(1))

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(features), 1)

    def _reset_classifier(self, num_classes: int) -> None:
        self.classifier = self._make_classifier(num_classes)
        nn.init.kaiming_normal_(self.classifier[0].weight, nonlinearity="relu")
        nn.init.zeros_(self.classifier[0].bias)

    def stages(self) -> list[tuple[str, ...]]:
        return [(f"features.{i}",) for i, m in enumerate(self.features) if isinstance(m, MLPConv)]


@register_model("nin", input_shape=(3, 224, 224))
def nin(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, small_input: bool = False,
        final_relu: bool = True) -> NiN:
    """Network in Network (Lin et al. 2014): ImageNet model 7.6M parameters; small_input=True: CIFAR-10 model."""
    return NiN(num_classes=num_classes, in_channels=in_channels, dropout=dropout, small_input=small_input,
               final_relu=final_relu)
