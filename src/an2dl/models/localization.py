"""Localisation networks (notes §3.5.2) and the GAP/GMP + single-FC classifier of class activation maps (§3.5.2.1).

**Localisation.**  The notes map an image to its class and to the box around
its one object, ``I -> (x, y, h, w)``, with one network that has two heads on
a shared convolutional backbone::

    features = backbone(I)                                   [B, C, h, w]
    class head:  GAP(features) -> Linear(C, K)               class scores S
    box head:    AdaptiveAvgPool(s x s)(features) -> flatten
                 -> Linear(C s^2, hidden) -> ReLU -> Linear(hidden, 4) -> sigmoid
                                                             (x, y, h, w) in [0, 1]

The box head keeps an ``s × s`` grid of the map instead of its global average:
the average of a map says *what* is there but has lost *where*.  The four
outputs are the notes' box, normalised by the image size (the parameterisation
of :func:`an2dl.losses.localization.encode_boxes`): ``x = x1 / W``, ``y = y1 / H``
(the top-left corner), ``h = (y2 - y1) / H``, ``w = (x2 - x1) / W``; the sigmoid
keeps them in the image's range.  The backbone is a small CNN (``"small_cnn"``)
or any zoo classifier whose top is removed (``backbone="resnet18"``, ...), as in
transfer learning (§3.4.2).

**CamNet.**  The network Class Activation Mapping needs (Zhou et al. 2016,
"Learning Deep Features for Discriminative Localization"): a convolutional
trunk, a global pooling layer and one fully connected layer,
``S_c = Σ_k w_k^c · pool(f_k) + b_c``.  With ``pool="avg"`` (GAP) every
position of a map contributes to the score, so training spreads the evidence
over the whole object; with ``pool="max"`` (GMP) only the strongest position
counts, so the maps learn the most discriminative part (the notes, §3.5.2.1).
The trunk pools only twice, so its maps keep a quarter of the input's
resolution — CAM wants maps "with a resolution close to that of the input".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ._checks import check_positive_int
from ._registry import register_model

__all__ = ["LocalizationOutput", "LocalizationNet", "CamNet", "small_cnn_trunk", "localizer", "camnet"]


class LocalizationOutput(NamedTuple):
    """What a localisation network returns: class scores and normalised boxes."""

    logits: torch.Tensor  # [B, K] class scores
    boxes: torch.Tensor  # [B, 4] (x, y, h, w) as fractions of the image size, in [0, 1]


def small_cnn_trunk(in_channels: int, channels: Sequence[int], *, pool_last: bool = True) -> nn.Sequential:
    """Blocks of ``conv 3x3 -> batch norm -> ReLU`` (two per block), a 2×2 max pooling after each block.

    Args:
        in_channels: channels of the input image.
        channels: filters of each block (its length is the number of blocks).
        pool_last: pool after the last block too (``False`` keeps the last block's resolution).

    Shape:
        ``[B, in_channels, H, W] -> [B, channels[-1], H / 2^n, W / 2^n]`` (n poolings, floored).
    """
    if not channels:
        raise ConfigError("small_cnn_trunk channels must list at least one block; got []")
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, c in enumerate(channels):
        check_positive_int("small_cnn_trunk", "channels", c)
        for _ in range(2):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        if pool_last or i < len(channels) - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _zoo_trunk(backbone: str, in_channels: int, kwargs: dict[str, Any]) -> tuple[nn.Module, int]:
    """A zoo classifier without its top (``replace_head(Identity)``): its trunk and the trunk's channels."""
    from ._registry import get_model
    from .vision._base import ImageClassifier

    net = get_model(backbone, num_classes=1, in_channels=in_channels, **kwargs)
    if not isinstance(net, ImageClassifier):
        raise ConfigError(f"LocalizationNet backbone {backbone!r} must be a zoo image classifier with forward_features "
                          f"(resnet18, mobilenet_v2, ...); got a {type(net).__name__}")
    net.replace_head(nn.Identity(), num_classes=1)  # drops the original pooling and FC layers and their parameters
    return net, int(net.num_features)


class LocalizationNet(nn.Module):
    """A backbone with a class head and a box-regression head (notes §3.5.2; see the module docstring).

    Args:
        num_classes: K, the object classes (1 for a single-class data set: the class head is then trivial).
        in_channels: channels of the input image.
        backbone: ``"small_cnn"`` or the registry name of a zoo classifier (``"resnet18"``, ...).
        channels: the small CNN's filters per block.
        backbone_kwargs: extra arguments of the zoo backbone (e.g. ``{"small_input": true}``).
        box_grid: side ``s`` of the grid the box head reads from the feature map.
        box_hidden: width of the box head's hidden layer.

    Shape:
        input ``[B, in_channels, H, W]``; output :class:`LocalizationOutput` ``(logits [B, K], boxes [B, 4])``,
        the boxes as normalised ``(x, y, h, w)`` in [0, 1].
    """

    def __init__(self, *, num_classes: int, in_channels: int = 1, backbone: str = "small_cnn",
                 channels: Sequence[int] = (16, 32, 64), backbone_kwargs: dict[str, Any] | None = None,
                 box_grid: int = 4, box_hidden: int = 128) -> None:
        super().__init__()
        self.num_classes = check_positive_int("LocalizationNet", "num_classes", num_classes)
        self.in_channels = check_positive_int("LocalizationNet", "in_channels", in_channels)
        check_positive_int("LocalizationNet", "box_grid", box_grid)
        check_positive_int("LocalizationNet", "box_hidden", box_hidden)
        if not isinstance(backbone, str) or not backbone:
            raise ConfigError(f"LocalizationNet backbone must be 'small_cnn' or a zoo model name; got {backbone!r}")
        self.backbone_name = backbone
        if backbone == "small_cnn":
            if backbone_kwargs:
                raise ConfigError(f"LocalizationNet backbone_kwargs apply to zoo backbones; got {backbone_kwargs!r} "
                                  "with backbone='small_cnn'")
            self.backbone = small_cnn_trunk(in_channels, tuple(channels))
            self.num_features = int(channels[-1])
        else:
            self.backbone, self.num_features = _zoo_trunk(backbone, in_channels, dict(backbone_kwargs or {}))
        c = self.num_features
        self.classifier = nn.Linear(c, num_classes)
        self.box_pool = nn.AdaptiveAvgPool2d(box_grid)
        self.box_head = nn.Sequential(nn.Flatten(), nn.Linear(c * box_grid * box_grid, box_hidden), nn.ReLU(inplace=True),
                                      nn.Linear(box_hidden, 4))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The shared backbone: ``[B, C_in, H, W] -> [B, C, h, w]``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"LocalizationNet expects images of shape [B, {self.in_channels}, H, W]; got {got}")
        if self.backbone_name == "small_cnn":
            return self.backbone(x)
        return self.backbone.forward_features(x)

    def forward(self, x: torch.Tensor) -> LocalizationOutput:
        f = self.forward_features(x)  # (B, C, h, w)
        logits = self.classifier(f.mean(dim=(2, 3)))  # GAP -> (B, K)
        boxes = torch.sigmoid(self.box_head(self.box_pool(f)))  # (B, 4) normalised (x, y, h, w)
        return LocalizationOutput(logits, boxes)


class CamNet(nn.Module):
    """Convolutional trunk -> global average (or max) pooling -> one fully connected layer (notes §3.5.2.1).

    Args:
        num_classes: K.
        in_channels: channels of the input image.
        channels: filters of the trunk's blocks (two ``conv 3x3 -> BN -> ReLU`` each); a 2×2 max pooling
            follows every block but the last, so the maps are ``2^(n-1)`` times smaller than the input.
        pool: ``"avg"`` (GAP: the notes' CAM network, whole objects) or ``"max"`` (GMP: discriminative parts).

    Shape:
        input ``[B, in_channels, H, W]``; ``forward_features`` ``[B, channels[-1], h, w]``; output ``[B, K]``.
    """

    def __init__(self, *, num_classes: int, in_channels: int = 1, channels: Sequence[int] = (16, 32, 64),
                 pool: str = "avg") -> None:
        super().__init__()
        self.num_classes = check_positive_int("CamNet", "num_classes", num_classes)
        self.in_channels = check_positive_int("CamNet", "in_channels", in_channels)
        if pool not in ("avg", "max"):
            raise ConfigError(f"CamNet pool must be 'avg' (global average pooling) or 'max' (global max pooling); "
                              f"got {pool!r}")
        self.pool = pool
        self.features = small_cnn_trunk(in_channels, tuple(channels), pool_last=False)
        self.num_features = int(channels[-1])
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The maps ``f_k(x, y)``: ``[B, C_in, H, W] -> [B, C, h, w]``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CamNet expects images of shape [B, {self.in_channels}, H, W]; got {got}")
        return self.features(x)

    def global_pool(self, features: torch.Tensor) -> torch.Tensor:
        """``F_k``: the mean (GAP) or the maximum (GMP) of each map, ``[B, C, h, w] -> [B, C]``."""
        return features.mean(dim=(2, 3)) if self.pool == "avg" else features.amax(dim=(2, 3))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``S_c = Σ_k w_k^c F_k + b_c``: ``[B, C, h, w] -> [B, K]``."""
        return self.fc(self.global_pool(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("localizer", input_shape=(1, 64, 64))
def localizer(*, num_classes: int = 3, in_channels: int = 1, backbone: str = "small_cnn",
              channels: Sequence[int] = (16, 32, 64), backbone_kwargs: dict[str, Any] | None = None,
              box_grid: int = 4, box_hidden: int = 128) -> LocalizationNet:
    """:class:`LocalizationNet`: class scores and a normalised box ``(x, y, h, w)`` (notes §3.5.2)."""
    return LocalizationNet(num_classes=num_classes, in_channels=in_channels, backbone=backbone, channels=channels,
                           backbone_kwargs=backbone_kwargs, box_grid=box_grid, box_hidden=box_hidden)


@register_model("camnet", input_shape=(1, 64, 64))
def camnet(*, num_classes: int = 3, in_channels: int = 1, channels: Sequence[int] = (16, 32, 64),
           pool: str = "avg") -> CamNet:
    """:class:`CamNet`: conv trunk -> GAP (``pool="avg"``) or GMP (``"max"``) -> one linear layer (notes §3.5.2.1)."""
    return CamNet(num_classes=num_classes, in_channels=in_channels, channels=channels, pool=pool)
