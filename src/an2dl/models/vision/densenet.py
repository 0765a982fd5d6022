"""DenseNet-121/161/169/201 (Huang, Liu, van der Maaten & Weinberger, CVPR 2017), notes §3.4.2.

Dense connectivity: inside a dense block, layer ℓ receives the
concatenation of the block input and the outputs of all earlier layers,
``x_ℓ = H_ℓ([x_0, x_1, …, x_{ℓ-1}])``, and adds only ``growth_rate`` (k)
new maps.  Features are reused instead of re-learned and every layer has a
short path to the loss, which eases the vanishing-gradient problem.

Layout (DenseNet-BC, input 3×224×224)::

    features.conv0 7×7/2, 2k → norm0 → relu0 → pool0 maxpool 3/2           224 → 56
    denseblock1 … denseblock4, layers per block (6,12,24,16) for 121,
        (6,12,36,24) for 161 (k = 48), (6,12,32,32) for 169, (6,12,48,32) for 201
        each layer: BN → ReLU → 1×1 conv, 4k ("bottleneck") → BN → ReLU → 3×3 conv, k
    transition1 … 3 between blocks: BN → ReLU → 1×1 conv halving the channels → avgpool 2/2
    norm5 → relu5 → global average pooling → classifier (FC → K)

State-dict compatible with torchvision's ``densenet121`` … ``densenet201``
(DenseNet-121: 7,978,856 parameters).  Pretrained checkpoints from
torchvision's download links use the old key names
(``denselayer1.norm.1.weight`` for ``denselayer1.norm1.weight``);
:func:`an2dl.models.weights.load_weights` renames them.  Departures from the
paper: none in the architecture; ``memory_efficient=True`` recomputes the
bottleneck activations in the backward pass (gradient checkpointing,
Pleiss et al. 2017) to save memory at the cost of time.

Small inputs (``small_input=True``): ``conv0`` is 3×3/1 and ``pool0`` is
dropped, so 32×32 images reach the last block as a 4×4 map.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_positive_int, check_probability, make_feature_info

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "densenet121", "densenet161", "densenet169",
           "densenet201"]


class DenseLayer(nn.Module):
    """BN → ReLU → 1×1 conv (``bn_size·k``) → BN → ReLU → 3×3 conv (k), on the concatenated inputs.

    Shape:
        list of ``[B, C_i, H, W]`` with ``sum C_i = num_input_features`` -> ``[B, growth_rate, H, W]``.
    """

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def _bottleneck(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.relu1(self.norm1(torch.cat(inputs, 1))))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and any(t.requires_grad for t in inputs):
            bottleneck = cp.checkpoint(self._bottleneck, *inputs, use_reentrant=False)
        else:
            bottleneck = self._bottleneck(*inputs)
        new = self.conv2(self.relu2(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new = F.dropout(new, p=self.drop_rate, training=self.training)
        return new


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output concatenates the input and every layer's k new maps.

    Shape:
        ``[B, C, H, W] -> [B, C + num_layers·k, H, W]``.
    """

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int, drop_rate: float,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate, memory_efficient)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN → ReLU → 1×1 convolution → 2×2 average pooling (between dense blocks)."""

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(ImageClassifier):
    """DenseNet-BC.

    Args:
        growth_rate: k, new maps per layer.
        block_config: layers in each of the four dense blocks.
        num_init_features: channels of ``conv0``.
        bn_size: bottleneck width as a multiple of k.
        drop_rate: dropout after each dense layer.
        num_classes: output units K.
        in_channels: input channels.
        memory_efficient: gradient checkpointing of the bottlenecks.
        small_input: 3×3/1 ``conv0`` without ``pool0``.

    Feature stages (``feature_info``): ``features.relu0`` (the stem),
    ``features.denseblock1`` … ``denseblock{n-1}`` (each block's output,
    before its transition halves channels and resolution) and
    ``features.relu5`` (the trunk's output, after ``norm5``): reductions 2, 4,
    8, 16, 32 for four blocks (1, 1, 2, 4, 8 with ``small_input``).

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= 29`` (``>= 8`` with
        ``small_input``); output ``[B, K]``.
    """

    top_modules = ("classifier",)

    def __init__(
        self,
        *,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        memory_efficient: bool = False,
        small_input: bool = False,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        check_positive_int("DenseNet", "growth_rate", growth_rate)
        check_positive_int("DenseNet", "num_init_features", num_init_features)
        check_positive_int("DenseNet", "bn_size", bn_size)
        drop_rate = check_probability("DenseNet", "drop_rate", drop_rate)
        if len(block_config) == 0:
            raise ConfigError("DenseNet block_config must list at least one block")
        for n in block_config:
            check_positive_int("DenseNet", "block_config[i]", n)
        if small_input:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 3, 1, 1, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)), ("relu0", nn.ReLU(inplace=True))]
        else:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 7, 2, 3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)), ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(3, 2, 1))]
        self.features = nn.Sequential(OrderedDict(stem))
        channels = num_init_features
        self._stage_names: list[tuple[str, ...]] = [("features.conv0", "features.norm0")]
        # feature stages: the stem's ReLU, every dense block but the last (before its transition pools), and relu5
        reduction = 1 if small_input else 2
        taps = [("features.relu0", num_init_features, reduction)]
        if not small_input:
            reduction *= 2  # pool0
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, bn_size, growth_rate, drop_rate, memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            names = [f"features.denseblock{i + 1}"]
            if i != len(block_config) - 1:
                taps.append((f"features.denseblock{i + 1}", channels, reduction))
                self.features.add_module(f"transition{i + 1}", Transition(channels, channels // 2))
                names.append(f"features.transition{i + 1}")
                channels //= 2
                reduction *= 2
            else:
                self.features.add_module("norm5", nn.BatchNorm2d(channels))
                # the trunk's final ReLU, a module so that the last stage is a module's output
                self.features.add_module("relu5", nn.ReLU(inplace=True))
                names.append("features.norm5")
                taps.append(("features.relu5", channels, reduction))
            self._stage_names.append(tuple(names))
        self.feature_info = make_feature_info(*taps)
        self.num_features = channels
        self.classifier = nn.Linear(channels, num_classes)
        # each transition's 2×2 average pool needs a 2×2 map (found by shape propagation; checked by the tests)
        transitions = len(block_config) - 1
        self.min_input_size = 2 ** transitions if small_input else 2 ** (transitions + 2) - 3
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        self.classifier = nn.Linear(self.num_features, num_classes)
        nn.init.zeros_(self.classifier.bias)

    def stages(self) -> list[tuple[str, ...]]:
        return list(self._stage_names)


def _densenet(growth_rate: int, block_config: tuple[int, ...], num_init_features: int, **kwargs: object) -> DenseNet:
    return DenseNet(growth_rate=growth_rate, block_config=block_config, num_init_features=num_init_features,
                    **kwargs)  # type: ignore[arg-type]


@register_model("densenet121", input_shape=(3, 224, 224))
def densenet121(*, num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0,
                memory_efficient: bool = False, small_input: bool = False) -> DenseNet:
    """DenseNet-121 (Huang et al. 2017), k = 32, 8.0M parameters."""
    return _densenet(32, (6, 12, 24, 16), 64, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate,
                     memory_efficient=memory_efficient, small_input=small_input)


@register_model("densenet161", input_shape=(3, 224, 224))
def densenet161(*, num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0,
                memory_efficient: bool = False, small_input: bool = False) -> DenseNet:
    """DenseNet-161 (Huang et al. 2017), k = 48, 28.7M parameters."""
    return _densenet(48, (6, 12, 36, 24), 96, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate,
                     memory_efficient=memory_efficient, small_input=small_input)


@register_model("densenet169", input_shape=(3, 224, 224))
def densenet169(*, num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0,
                memory_efficient: bool = False, small_input: bool = False) -> DenseNet:
    """DenseNet-169 (Huang et al. 2017), k = 32, 14.1M parameters."""
    return _densenet(32, (6, 12, 32, 32), 64, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate,
                     memory_efficient=memory_efficient, small_input=small_input)


@register_model("densenet201", input_shape=(3, 224, 224))
def densenet201(*, num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0,
                memory_efficient: bool = False, small_input: bool = False) -> DenseNet:
    """DenseNet-201 (Huang et al. 2017), k = 32, 20.0M parameters."""
    return _densenet(32, (6, 12, 48, 32), 64, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate,
                     memory_efficient=memory_efficient, small_input=small_input)
