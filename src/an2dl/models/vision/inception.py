"""Inception v3 (Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, CVPR 2016), notes §3.4.2.

The inception module of GoogLeNet (notes §3.4.2.1), refined: 5×5
convolutions factorised into two 3×3, n×n into 1×n followed by n×1,
grid reduction by parallel stride-2 convolution and pooling, batch norm
everywhere, and one auxiliary classifier used as a regulariser.

Network (input 3×299×299)::

    stem    3×3/2, 32 → 3×3, 32 → 3×3, 64 → maxpool 3/2 → 1×1, 80 → 3×3, 192 → maxpool 3/2   → 35×35
    Mixed_5b, 5c, 5d   InceptionA (1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avgpool→1×1)               35×35
    Mixed_6a           InceptionB (grid reduction)                                            → 17×17
    Mixed_6b … 6e      InceptionC (1×7 / 7×1 factorised branches)                             17×17
    AuxLogits          on Mixed_6e, training only: avgpool 5/3 → 1×1, 128 → 5×5, 768 → fc   (K)
    Mixed_7a           InceptionD (grid reduction)                                            → 8×8
    Mixed_7b, 7c       InceptionE (expanded 1×3 / 3×1 branches)                               8×8
    global average pooling → dropout 0.5 → fc 2048 → K

State-dict compatible with torchvision's ``inception_v3`` (27,161,264
parameters with the auxiliary head, 23,834,568 without).  Departure from
the paper, torchvision's: the auxiliary classifier has no batch norm after
its fully connected layer (the paper's "BN-auxiliary"); label smoothing
and RMSProp are training choices left to the user.  Our own departure: when the Mixed_6e map is
smaller than 17×17 (inputs under 299 pixels) the auxiliary head pools
adaptively to 5×5 instead of the 5×5/3 average pool, so that training with
the auxiliary head works on small images; at 299×299 and above it is
exactly the paper's pooling.

With ``aux_logits=True`` the model returns :class:`InceptionOutputs`
``(logits, aux_logits)`` in training mode and the logits in evaluation mode
(train it with :func:`~an2dl.models.vision.googlenet.auxiliary_loss`).  The
default is ``aux_logits=False``, as for GoogLeNet, so that the model trains
with a plain classification loss; this departs from torchvision's builder,
whose default is ``True``: pass ``aux_logits=True`` to load torchvision's
pretrained checkpoint, which contains the auxiliary head.

Small inputs (``small_input=True``): the stem convolutions are stride 1 with
padding and the two stem max-pools are dropped, so that 28–32 pixel images
reach Mixed_7c with a 6–7 pixel map.
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
from .googlenet import BasicConv2d

__all__ = [
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionAuxV3",
    "Inception3",
    "InceptionOutputs",
    "inception_v3",
]


class InceptionOutputs(NamedTuple):
    """Training-mode output with the auxiliary head: main logits first."""

    logits: torch.Tensor
    aux_logits: torch.Tensor | None


class InceptionA(nn.Module):
    """35×35 module: 1×1 | 1×1 → 5×5 | 1×1 → 3×3 → 3×3 | avgpool → 1×1 (``224 + pool_features`` channels)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 → 17: 3×3/2 | 1×1 → 3×3 → 3×3/2 | maxpool 3/2 (``480 + in_channels`` channels)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):
    """17×17 module with 7×7 filters factorised into 1×7 and 7×1 (768 channels out)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 → 8: 1×1 → 3×3/2 | 1×1 → 1×7 → 7×1 → 3×3/2 | maxpool 3/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(b7)))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, 2)], 1)


class InceptionE(nn.Module):
    """8×8 module with the 3×3 outputs expanded into parallel 1×3 and 3×1 filters (2048 channels out)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionAuxV3(nn.Module):
    """Auxiliary classifier on the 17×17 grid: avgpool 5/3 → 1×1, 128 → 5×5, 768 → global pool → fc."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, 1)
        self.conv1 = BasicConv2d(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= 17:
            x = F.avg_pool2d(x, 5, 3)  # the paper's pooling: 17×17 -> 5×5
        else:
            x = F.adaptive_avg_pool2d(x, 5)  # small inputs (see the module docstring)
        x = self.conv1(self.conv0(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception3(ImageClassifier):
    """Inception v3.

    Args:
        num_classes: output units K.
        in_channels: input channels (``transform_input`` needs 3).
        aux_logits: build the auxiliary classifier (part of the state dict).
        transform_input: re-normalise ImageNet-standardised inputs to ±1 (pretrained weights).
        dropout: dropout before the final FC layer.
        small_input: stride-1, padded stem without max-pools.

    Feature stages (``feature_info``): ``Conv2d_2b_3x3``, ``Conv2d_4a_3x3``,
    ``Mixed_5d``, ``Mixed_6e``, ``Mixed_7c`` (64, 192, 288, 768, 2048
    channels), reductions 2, 4, 8, 16, 32 (1, 1, 1, 2, 4 with
    ``small_input``).  The unpadded stem makes the maps a few pixels smaller
    than ``H / reduction`` (35×35 for 299×299 at reduction 8).

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= 75`` (``>= 7`` with
        ``small_input``); output ``[B, K]``, or
        :class:`InceptionOutputs` in training mode with ``aux_logits``.
    """

    top_modules = ("AuxLogits", "avgpool", "dropout", "fc")
    default_input_size = 299

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.5,
        small_input: bool = False,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        dropout = check_probability("Inception3", "dropout", dropout)
        if transform_input and in_channels != 3:
            raise ConfigError(f"Inception3 transform_input needs in_channels=3; got {in_channels}")
        self.aux_logits = bool(aux_logits)
        self.transform_input = bool(transform_input)
        pad = 1 if small_input else 0
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, 3, stride=1 if small_input else 2, padding=pad)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3, padding=pad)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool1: nn.Module = nn.Identity() if small_input else nn.MaxPool2d(3, 2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3, padding=pad)
        self.maxpool2: nn.Module = nn.Identity() if small_input else nn.MaxPool2d(3, 2)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.AuxLogits: InceptionAuxV3 | None = InceptionAuxV3(768, num_classes) if self.aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)
        self.num_features = 2048
        # unpadded 3×3 convolutions and stride-2 reductions: 75 px (7 px for the padded
        # stride-1 stem) reach a 1×1 map at Mixed_7a
        self.min_input_size = 7 if small_input else 75
        # the last map at each resolution (timm's choice); small inputs keep the stem at full resolution
        reductions = (1, 1, 1, 2, 4) if small_input else (2, 4, 8, 16, 32)
        taps = (("Conv2d_2b_3x3", 64), ("Conv2d_4a_3x3", 192), ("Mixed_5d", 288), ("Mixed_6e", 768), ("Mixed_7c", 2048))
        self.feature_info = make_feature_info(*((m, c, r) for (m, c), r in zip(taps, reductions)))
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision: truncated normal on [-2, 2], std 0.1 (0.01 for AuxLogits.conv1, 0.001 for its fc)
        special = {}
        if self.AuxLogits is not None:
            special = {id(self.AuxLogits.conv1.conv): 0.01, id(self.AuxLogits.fc): 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=special.get(id(m), 0.1), a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    _transform = staticmethod(imagenet_to_symmetric_range)

    def _trunk(self, x: torch.Tensor, aux: list[torch.Tensor] | None) -> torch.Tensor:
        if self.transform_input:
            x = self._transform(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))
        x = self.maxpool2(x)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        if aux is not None and self.AuxLogits is not None:
            aux.append(self.AuxLogits(x))
        x = self.Mixed_7a(x)
        return self.Mixed_7c(self.Mixed_7b(x))

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._trunk(x, None)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        if self.transform_input:
            x = self._transform(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        yield x
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))
        yield x
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(self.maxpool2(x))))
        yield x
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(x)))))
        yield x
        yield self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.dropout(self.avgpool(features)), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:  # type: ignore[override]
        if not (self.training and self.aux_logits):
            return super().forward(x)
        self.check_input(x)
        aux: list[torch.Tensor] = []
        logits = self.forward_head(self._trunk(x, aux))
        return InceptionOutputs(logits, aux[0])

    def _reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(2048, num_classes)
        nn.init.trunc_normal_(self.fc.weight, std=0.1, a=-2, b=2)
        if self.AuxLogits is not None:
            self.AuxLogits.fc = nn.Linear(768, num_classes)
            nn.init.trunc_normal_(self.AuxLogits.fc.weight, std=0.001, a=-2, b=2)

    def replace_head(self, head: nn.Module, *, num_classes: int) -> None:
        """Remove the main and auxiliary tops; see :meth:`ImageClassifier.replace_head`."""
        super().replace_head(head, num_classes=num_classes)
        self.aux_logits = False
        self.AuxLogits = None

    def stages(self) -> list[tuple[str, ...]]:
        stem = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
        mixed = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                 "Mixed_7a", "Mixed_7b", "Mixed_7c"]
        return [stem] + [(m,) for m in mixed]


@register_model("inception_v3", input_shape=(3, 299, 299))
def inception_v3(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.5,
    small_input: bool = False,
) -> Inception3:
    """Inception v3 (Szegedy et al. 2016), 23.8M parameters (27.2M with the auxiliary head)."""
    return Inception3(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits,
                      transform_input=transform_input, dropout=dropout, small_input=small_input)
