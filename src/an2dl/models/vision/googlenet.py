"""GoogLeNet / Inception v1 (Szegedy et al., "Going deeper with convolutions", CVPR 2015), notes §3.4.2.

The inception module (notes §3.4.2.1) runs 1×1, 3×3 and 5×5 convolutions
and a 3×3 max-pool in parallel and concatenates their outputs along the
channels; 1×1 "bottleneck" convolutions before the larger filters (and
after the pool) cut the number of input channels and hence the cost::

    branch1  1×1, c1
    branch2  1×1, r3 → 3×3, c3
    branch3  1×1, r5 → "5×5", c5
    branch4  3×3 max-pool /1 → 1×1, pool_proj
    output   concat → c1 + c3 + c5 + pool_proj channels

Network (input 3×224×224)::

    conv1 7×7/2, 64 → maxpool 3/2 → conv2 1×1, 64 → conv3 3×3, 192 → maxpool 3/2      → 28×28
    inception 3a, 3b → maxpool → 4a, 4b, 4c, 4d, 4e → maxpool → 5a, 5b               → 7×7
    global average pooling → dropout → fc 1024 → K
    auxiliary classifiers after 4a (aux1) and 4d (aux2), used in training only:
        adaptive avg-pool 4×4 → 1×1 conv, 128 → fc 2048→1024 → ReLU → dropout 0.7 → fc → K

State-dict compatible with torchvision's ``googlenet`` (6,624,904 parameters
without the auxiliary heads, 13,004,888 with them).  Departures from the
paper, all torchvision's, so that its pretrained weights load: every
convolution is followed by batch normalisation (ε = 0.001) and the ReLU;
local response normalisation is dropped; branch 3 uses a 3×3 convolution
where the paper has 5×5 (the pretrained weights were trained that way);
the auxiliary heads pool adaptively to 4×4 (the paper's 5×5/3 pool gives
4×4 on the 14×14 map); the final dropout is 0.2 (paper: 0.4).

Auxiliary heads: with ``aux_logits=True`` the model, in training mode,
returns :class:`GoogLeNetOutputs` ``(logits, aux2, aux1)``; the paper adds
their losses with weight 0.3 (see :func:`auxiliary_loss`).  In evaluation
mode it returns the logits only.  ``transform_input=True`` maps inputs
normalised with the ImageNet mean/std to the ±1 range the pretrained
weights expect.

Small inputs (``small_input=True``): ``conv1`` is 3×3/1 and the two stem
max-pools are dropped (CIFAR GoogLeNet).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_probability, make_feature_info
from ._layers import imagenet_to_symmetric_range

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs", "googlenet", "auxiliary_loss"]


class GoogLeNetOutputs(NamedTuple):
    """Training-mode output of a network with auxiliary heads: main logits first."""

    logits: torch.Tensor
    aux_logits2: torch.Tensor | None
    aux_logits1: torch.Tensor | None


def auxiliary_loss(outputs: torch.Tensor | tuple, target: torch.Tensor, *, aux_weight: float = 0.3) -> torch.Tensor:
    """Cross-entropy of the main logits plus ``aux_weight`` × that of each auxiliary head.

    Szegedy et al. (2015, §5) add the auxiliary classifiers' losses with weight 0.3
    during training.  ``outputs`` may be a plain logits tensor (evaluation).

    Shape:
        logits ``[B, K]`` each; ``target`` int64 ``[B]``.
    """
    if isinstance(outputs, torch.Tensor):
        return F.cross_entropy(outputs, target)
    main, *aux = outputs
    loss = F.cross_entropy(main, target)
    for a in aux:
        if a is not None:
            loss = loss + aux_weight * F.cross_entropy(a, target)
    return loss


class BasicConv2d(nn.Module):
    """Convolution without bias → batch norm (ε = 0.001) → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], **kwargs: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=False, **kwargs)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """The inception module: four parallel branches concatenated along the channels.

    Args:
        in_channels: input channels.
        ch1x1: output of the 1×1 branch.
        ch3x3red, ch3x3: bottleneck and output of the 3×3 branch.
        ch5x5red, ch5x5: bottleneck and output of the "5×5" branch (a 3×3 kernel, see the module docstring).
        pool_proj: output of the 1×1 projection after the 3×3 max-pool.

    Shape:
        ``[B, in_channels, H, W] -> [B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W]``.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(in_channels, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4×4 → 1×1 conv, 128 → FC 1024 → ReLU → dropout → FC K."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))  # (B, 128, 4, 4)
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(ImageClassifier):
    """GoogLeNet (Inception v1).

    Args:
        num_classes: output units K.
        in_channels: input channels (``transform_input`` needs 3).
        aux_logits: build the two auxiliary classifiers (part of the state dict).
        transform_input: re-normalise ImageNet-standardised inputs to ±1 (pretrained weights).
        dropout: dropout before the final FC layer.
        dropout_aux: dropout in the auxiliary heads.
        small_input: 3×3/1 stem without the stem max-pools.

    Feature stages (``feature_info``): ``conv1``, ``conv3``, ``inception3b``,
    ``inception4e``, ``inception5b`` (64, 192, 480, 832, 1024 channels),
    reductions 2, 4, 8, 16, 32 (1, 1, 1, 2, 4 with ``small_input``).

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= 15`` (``>= 2`` with
        ``small_input``); output ``[B, K]`` logits, or
        :class:`GoogLeNetOutputs` in training mode with ``aux_logits``.
    """

    top_modules = ("aux1", "aux2", "avgpool", "dropout", "fc")

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        small_input: bool = False,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        dropout = check_probability("GoogLeNet", "dropout", dropout)
        dropout_aux = check_probability("GoogLeNet", "dropout_aux", dropout_aux)
        if transform_input and in_channels != 3:
            raise ConfigError(f"GoogLeNet transform_input needs in_channels=3; got {in_channels}")
        self.aux_logits = bool(aux_logits)
        self.transform_input = bool(transform_input)
        if small_input:
            self.conv1 = BasicConv2d(in_channels, 64, 3, stride=1, padding=1)
            self.maxpool1: nn.Module = nn.Identity()
        else:
            self.conv1 = BasicConv2d(in_channels, 64, 7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2: nn.Module = nn.Identity() if small_input else nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if self.aux_logits:
            self.aux1: InceptionAux | None = InceptionAux(512, num_classes, dropout_aux)
            self.aux2: InceptionAux | None = InceptionAux(528, num_classes, dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        self.num_features = 1024
        # the ceil-mode max-pools need a 2×2 map (found by shape propagation; checked by the tests)
        self.min_input_size = 2 if small_input else 15
        # the last map before each max-pool, and the trunk's output; small inputs drop the stem's two pools
        reductions = (1, 1, 1, 2, 4) if small_input else (2, 4, 8, 16, 32)
        taps = (("conv1", 64), ("conv3", 192), ("inception3b", 480), ("inception4e", 832), ("inception5b", 1024))
        self.feature_info = make_feature_info(*((m, c, r) for (m, c), r in zip(taps, reductions)))
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision: truncated normal N(0, 0.01²) on [-2, 2] for convolutions and FC layers
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    _transform = staticmethod(imagenet_to_symmetric_range)

    def _trunk(self, x: torch.Tensor, aux: list[torch.Tensor] | None) -> torch.Tensor:
        if self.transform_input:
            x = self._transform(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        if aux is not None and self.aux1 is not None:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if aux is not None and self.aux2 is not None:
            aux.append(self.aux2(x))
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x))

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._trunk(x, None)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        if self.transform_input:
            x = self._transform(x)
        x = self.conv1(x)
        yield x
        x = self.conv3(self.conv2(self.maxpool1(x)))
        yield x
        x = self.inception3b(self.inception3a(self.maxpool2(x)))
        yield x
        x = self.inception4a(self.maxpool3(x))
        x = self.inception4e(self.inception4d(self.inception4c(self.inception4b(x))))
        yield x
        yield self.inception5b(self.inception5a(self.maxpool4(x)))

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(features), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:  # type: ignore[override]
        if not (self.training and self.aux_logits):
            return super().forward(x)
        self.check_input(x)
        aux: list[torch.Tensor] = []
        logits = self.forward_head(self._trunk(x, aux))
        return GoogLeNetOutputs(logits, aux[1], aux[0])

    def _reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(1024, num_classes)
        nn.init.trunc_normal_(self.fc.weight, std=0.01, a=-2, b=2)
        if self.aux_logits:
            self.aux1 = InceptionAux(512, num_classes, self.aux1.dropout.p)  # type: ignore[union-attr]
            self.aux2 = InceptionAux(528, num_classes, self.aux2.dropout.p)  # type: ignore[union-attr]

    def replace_head(self, head: nn.Module, *, num_classes: int) -> None:
        """Remove the main and auxiliary tops; see :meth:`ImageClassifier.replace_head`."""
        super().replace_head(head, num_classes=num_classes)
        self.aux_logits = False
        self.aux1 = self.aux2 = None

    def stages(self) -> list[tuple[str, ...]]:
        return [
            ("conv1", "conv2", "conv3"),
            ("inception3a",),
            ("inception3b",),
            ("inception4a",),
            ("inception4b",),
            ("inception4c",),
            ("inception4d",),
            ("inception4e",),
            ("inception5a",),
            ("inception5b",),
        ]


@register_model("googlenet", input_shape=(3, 224, 224))
def googlenet(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
    small_input: bool = False,
) -> GoogLeNet:
    """GoogLeNet / Inception v1 (Szegedy et al. 2015), 6.6M parameters (13.0M with aux heads)."""
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits,
                     transform_input=transform_input, dropout=dropout, dropout_aux=dropout_aux, small_input=small_input)
