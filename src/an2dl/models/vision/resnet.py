"""ResNet, Wide ResNet and ResNeXt (notes §3.4.2), and the CIFAR ResNets of He et al.

Residual learning (He, Zhang, Ren & Sun, CVPR 2016): a block learns a
residual ``F(x)`` and outputs ``relu(F(x) + shortcut(x))``; the identity
shortcut lets gradients pass unchanged through very deep stacks.

ImageNet layout (``resnet18`` … ``resnet152``, input 3×224×224)::

    conv1 7×7/2, 64 → bn1 → ReLU → maxpool 3/2         224 → 56
    layer1 … layer4: stages of residual blocks          56, 28, 14, 7 (stride 2 at the first block
                     with 64, 128, 256, 512 base widths        of layers 2–4)
    avgpool (global) → fc (512·expansion → K)

    blocks per stage   18: 2,2,2,2 (basic)   34: 3,4,6,3 (basic)   50: 3,4,6,3
                       101: 3,4,23,3         152: 3,8,36,3 (bottleneck, expansion 4)

* :class:`BasicBlock`: two 3×3 convolutions; :class:`Bottleneck`: 1×1 reduce,
  3×3, 1×1 expand (×4).  A 1×1 convolution with batch norm projects the
  shortcut where the shape changes (the paper's option B).
* Wide ResNet (Zagoruyko & Komodakis, BMVC 2016): ``wide_resnet50_2`` and
  ``wide_resnet101_2`` double the inner width of every bottleneck
  (``width_per_group=128``); the expanded output keeps its width.
* ResNeXt (Xie et al., CVPR 2017): the 3×3 convolution of every bottleneck
  is split into ``groups`` parallel paths ("cardinality") of
  ``width_per_group`` channels: ``resnext50_32x4d``, ``resnext101_32x8d``,
  ``resnext101_64x4d``.

State-dict compatible with torchvision (ResNet-50: 25,557,032 parameters).
Departures from the paper, as torchvision's "ResNet v1.5": the stride of a
downsampling bottleneck is on its 3×3 convolution, not the first 1×1.
``zero_init_residual=True`` starts each block's last batch norm at zero
(Goyal et al. 2017), so every block begins as the identity.

Options are injected, as in torchvision: ``norm_layer`` builds every
normalisation of the trunk (:class:`~an2dl.nn.FrozenBatchNorm2d` gives the
state dict of torchvision's Faster R-CNN backbone), ``block`` takes the block
class, and ``replace_stride_with_dilation`` trades the stride of layer2–4 for
dilation (output stride 16 or 8, for segmentation; Yu & Koltun 2016), also
for the basic blocks of ResNet-18/34 (a departure: torchvision's
BasicBlock refuses dilation).  Every builder passes its other keyword
arguments to :class:`ResNet`.  The feature
maps of ``forward_intermediates`` are the stem's ReLU and layer1–layer4.

Small inputs (``small_input=True``): a 3×3/1 stem without the max-pool, the
usual CIFAR adaptation of these networks.  The CIFAR ResNets of §4.2 of the
paper (``resnet20`` … ``resnet110``, 6n+2 layers, 16/32/64 filters,
parameter-free zero-padding shortcuts: option A) are :class:`CifarResNet`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._base import ImageClassifier, check_positive_int, make_feature_info

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "CifarResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
]

#: ``norm_layer(num_features) -> nn.Module``: how every block normalises (``nn.BatchNorm2d``, ``FrozenBatchNorm2d``, ...)
_NormLayer = Callable[[int], nn.Module]


def _conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    # padding = dilation keeps the size for a dilated 3×3 kernel (its field spans 2·dilation + 1 pixels)
    return nn.Conv2d(cin, cout, 3, stride, padding=dilation, groups=groups, dilation=dilation, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity (or projected) shortcut.

    ``y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Args:
        inplanes: input channels.
        planes: output channels (``expansion = 1``).
        stride: stride of the first convolution.
        downsample: the shortcut projection (``None``: identity).
        groups, base_width: must be 1 and 64 (ResNeXt and wide variants use :class:`Bottleneck`).
        dilation: dilation of both 3×3 convolutions (torchvision's BasicBlock accepts 1 only).
        norm_layer: ``norm_layer(channels)`` after each convolution (default ``nn.BatchNorm2d``).

    Shape:
        ``[B, inplanes, H, W] -> [B, planes, ceil(H / stride), ceil(W / stride)]``.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: _NormLayer | None = None) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ConfigError(f"BasicBlock supports groups=1 and width_per_group=64 only; got {groups} and {base_width}")
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.conv1 = _conv3x3(inplanes, planes, stride, dilation=dilation)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, dilation=dilation)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def last_norm(self) -> nn.Module:
        """The normalisation before the addition (zeroed by ``zero_init_residual``)."""
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (grouped for ResNeXt, dilated on request) → 1×1 expand ×4, with a shortcut.

    The inner width is ``planes * base_width / 64 * groups``: 64 and 1 give
    ResNet, ``base_width=128`` Wide ResNet-2, ``groups=32, base_width=4``
    ResNeXt 32×4d.  ``dilation`` and ``norm_layer`` as in :class:`BasicBlock`
    (only the 3×3 convolution is dilated).

    Shape:
        ``[B, inplanes, H, W] -> [B, 4·planes, ceil(H / stride), ceil(W / stride)]``.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: _NormLayer | None = None) -> None:
        super().__init__()
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = _conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = _conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def last_norm(self) -> nn.Module:
        """The normalisation before the addition (zeroed by ``zero_init_residual``)."""
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _init_resnet(model: nn.Module, zero_init_residual: bool) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, (BasicBlock, Bottleneck)) and getattr(m.last_norm(), "weight", None) is not None:
                nn.init.zeros_(m.last_norm().weight)


def _resolve_block(block: object) -> type[BasicBlock] | type[Bottleneck]:
    if isinstance(block, str) and block in _BLOCKS:
        return _BLOCKS[block]
    if isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck)):
        return block
    raise ConfigError(
        f"ResNet block must be one of {sorted(_BLOCKS)} or a BasicBlock/Bottleneck class; got {block!r}"
    )


def _resolve_dilation(value: object) -> tuple[bool, bool, bool]:
    if value is None:
        return (False, False, False)
    if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3
            or not all(isinstance(v, bool) for v in value)):
        raise ConfigError(
            "ResNet replace_stride_with_dilation must be None or 3 booleans (for layer2, layer3, layer4); "
            f"got {value!r}"
        )
    return (value[0], value[1], value[2])


def _resolve_norm_layer(value: object) -> _NormLayer:
    if value is None:
        return nn.BatchNorm2d
    if isinstance(value, nn.Module):
        raise TypeError(
            "ResNet norm_layer must be a factory num_features -> nn.Module (a class such as nn.BatchNorm2d or a "
            f"function), not a module instance; got {type(value).__name__}"
        )
    if not callable(value):
        raise TypeError(
            "ResNet norm_layer must be a callable num_features -> nn.Module (e.g. nn.BatchNorm2d or "
            f"FrozenBatchNorm2d); got {value!r} ({type(value).__name__})"
        )
    return value  # type: ignore[return-value]


class ResNet(ImageClassifier):
    """ResNet / Wide ResNet / ResNeXt on ImageNet-sized inputs.

    Args:
        block: the residual block, :class:`BasicBlock` or :class:`Bottleneck`
            (or a subclass), or its name ``"basic"`` / ``"bottleneck"``.
        layers: blocks in each of the four stages, e.g. ``(3, 4, 6, 3)``.
        num_classes: output units K.
        in_channels: input channels.
        groups: cardinality of the grouped 3×3 convolutions (ResNeXt).
        width_per_group: channels per group of the bottleneck (64: ResNet; 128: Wide ResNet-2).
        zero_init_residual: start every block's last normalisation at γ = 0.
        small_input: 3×3/1 stem without max-pool (CIFAR/MNIST-sized images).
        replace_stride_with_dilation: three booleans for ``layer2``–``layer4``
            (default none): such a stage keeps the resolution of the previous
            one, its first block has stride 1, and the 3×3 convolutions from
            its second block on (and of every later stage) are dilated by the
            stride they lost, so that the receptive field grows as before
            (Yu & Koltun 2016; DeepLab's output stride 8 or 16).  As
            torchvision's ResNet; the state dict does not change.
        norm_layer: ``norm_layer(num_features) -> nn.Module`` used for every
            normalisation of the trunk (default ``nn.BatchNorm2d``;
            :class:`~an2dl.nn.FrozenBatchNorm2d` for detection backbones,
            ``functools.partial(nn.GroupNorm, 32)`` for group norm).

    Feature stages (``feature_info``): ``relu`` (the stem, 64 channels),
    ``layer1`` … ``layer4``; reductions 2, 4, 8, 16, 32 (1, 1, 2, 4, 8 with
    ``small_input``; a dilated stage keeps the reduction of the one before).

    Shape:
        input ``[B, in_channels, H, W]``; output ``[B, K]``.
    """

    top_modules = ("avgpool", "fc")

    def __init__(
        self,
        *,
        block: str | type[BasicBlock] | type[Bottleneck] = "bottleneck",
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_channels: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        zero_init_residual: bool = False,
        small_input: bool = False,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        norm_layer: _NormLayer | None = None,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=small_input)
        block_cls = _resolve_block(block)
        if len(layers) != 4:
            raise ConfigError(f"ResNet layers must give the blocks of 4 stages; got {list(layers)}")
        for n in layers:
            check_positive_int("ResNet", "layers[i]", n)
        self.groups = check_positive_int("ResNet", "groups", groups)
        self.base_width = check_positive_int("ResNet", "width_per_group", width_per_group)
        dilate = _resolve_dilation(replace_stride_with_dilation)
        self._norm_layer = _resolve_norm_layer(norm_layer)
        self.inplanes = 64
        self.dilation = 1
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = self._norm_layer(64)
        if not isinstance(self.bn1, nn.Module):
            raise TypeError(f"ResNet norm_layer(64) must return an nn.Module; got {type(self.bn1).__name__}")
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block_cls, 64, layers[0])
        self.layer2 = self._make_layer(block_cls, 128, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block_cls, 256, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block_cls, 512, layers[3], stride=2, dilate=dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512 * block_cls.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        # every stride-2 layer pads, so a single pixel survives to layer4
        self.min_input_size = 1
        self.replace_stride_with_dilation = dilate
        reduction = 1 if small_input else 2
        stages = [("relu", 64, reduction)]
        if not small_input:
            reduction *= 2  # the max-pool
        for i, planes in enumerate((64, 128, 256, 512)):
            if i > 0 and not dilate[i - 1]:
                reduction *= 2
            stages.append((f"layer{i + 1}", planes * block_cls.expansion, reduction))
        self.feature_info = make_feature_info(*stages)
        _init_resnet(self, zero_init_residual)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int = 1,
                    dilate: bool = False) -> nn.Sequential:
        norm_layer = self._norm_layer
        first_dilation = self.dilation
        if dilate:
            # keep the resolution: the lost stride dilates the 3×3 convolutions after this stage's first block
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, first_dilation,
                        norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, 1, None, self.groups, self.base_width, self.dilation,
                                norm_layer))
        return nn.Sequential(*layers)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        yield x
        x = self.layer1(self.maxpool(x))
        yield x
        for layer in (self.layer2, self.layer3, self.layer4):
            x = layer(x)
            yield x

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.num_features, num_classes)

    def stages(self) -> list[tuple[str, ...]]:
        return [("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",)]


class _PadShortcut(nn.Module):
    """Option A shortcut of the CIFAR ResNets: subsample by 2 and zero-pad the new channels."""

    def __init__(self, extra_channels: int) -> None:
        super().__init__()
        self.extra = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class CifarResNet(ImageClassifier):
    """The CIFAR-10 ResNets of He et al. (2016, §4.2): 6n+2 layers on 32×32 images.

    A 3×3 convolution with 16 filters, three stages of ``n`` basic blocks with
    16, 32 and 64 filters (feature maps 32, 16, 8), global average pooling
    and a fully connected layer.  Shortcuts that change shape subsample and
    zero-pad (option A: no parameters), as in the paper.  Parameter counts
    (Table 6 of the paper): ResNet-20 0.27M, -32 0.46M, -44 0.66M, -56 0.85M,
    -110 1.7M.

    Args:
        depth: 6n+2 (20, 32, 44, 56, 110, ...).
        num_classes: output units K.
        in_channels: input channels.
        width: filters of the first stage (16 in the paper; the later stages double it).
        zero_init_residual: start every block's last batch norm at γ = 0.

    Feature stages (``feature_info``): ``relu`` (the stem), ``layer1``,
    ``layer2``, ``layer3``; reductions 1, 1, 2, 4.

    Shape:
        input ``[B, in_channels, H, W]`` (32×32 in the paper; any size works); output ``[B, K]``.
    """

    top_modules = ("avgpool", "fc")
    default_input_size = 32

    def __init__(
        self,
        *,
        depth: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        width: int = 16,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, small_input=True)
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"CifarResNet depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110); got {depth!r}")
        width = check_positive_int("CifarResNet", "width", width)
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = _conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = width
        self.layer1 = self._make_layer(width, n, 1)
        self.layer2 = self._make_layer(2 * width, n, 2)
        self.layer3 = self._make_layer(4 * width, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 4 * width
        self.fc = nn.Linear(self.num_features, num_classes)
        self.min_input_size = 1
        self.feature_info = make_feature_info(
            ("relu", width, 1), ("layer1", width, 1), ("layer2", 2 * width, 2), ("layer3", 4 * width, 4)
        )
        _init_resnet(self, zero_init_residual)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        shortcut = _PadShortcut(planes - self.inplanes) if stride != 1 or planes != self.inplanes else None
        layers = [BasicBlock(self.inplanes, planes, stride, shortcut)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        yield x
        for layer in (self.layer1, self.layer2, self.layer3):
            x = layer(x)
            yield x

    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(features), 1))

    def _reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.num_features, num_classes)

    def stages(self) -> list[tuple[str, ...]]:
        return [("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",)]


# ---------------------------------------------------------------------- builders
def _resnet(block: str, layers: tuple[int, int, int, int], **kwargs: Any) -> ResNet:
    return ResNet(block=block, layers=layers, **kwargs)


# Every builder passes its other keyword arguments to ResNet: norm_layer, replace_stride_with_dilation, ...
@register_model("resnet18", input_shape=(3, 224, 224))
def resnet18(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-18 (He et al. 2016), 11.7M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("basic", (2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnet34", input_shape=(3, 224, 224))
def resnet34(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-34 (He et al. 2016), 21.8M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("basic", (3, 4, 6, 3), num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnet50", input_shape=(3, 224, 224))
def resnet50(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
             small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-50 (He et al. 2016), 25.6M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 6, 3), num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnet101", input_shape=(3, 224, 224))
def resnet101(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
              small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-101 (He et al. 2016), 44.5M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 23, 3), num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnet152", input_shape=(3, 224, 224))
def resnet152(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
              small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-152 (He et al. 2016), 60.2M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 8, 36, 3), num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("wide_resnet50_2", input_shape=(3, 224, 224))
def wide_resnet50_2(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
                    small_input: bool = False, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): bottlenecks twice as wide, 68.9M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 6, 3), width_per_group=128, num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("wide_resnet101_2", input_shape=(3, 224, 224))
def wide_resnet101_2(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
                     small_input: bool = False, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2 (Zagoruyko & Komodakis 2016), 126.9M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 23, 3), width_per_group=128, num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnext50_32x4d", input_shape=(3, 224, 224))
def resnext50_32x4d(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
                    small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32×4d (Xie et al. 2017): 32 parallel paths of width 4, 25.0M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4, num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnext101_32x8d", input_shape=(3, 224, 224))
def resnext101_32x8d(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
                     small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32×8d (Xie et al. 2017), 88.8M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 23, 3), groups=32, width_per_group=8, num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


@register_model("resnext101_64x4d", input_shape=(3, 224, 224))
def resnext101_64x4d(*, num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False,
                     small_input: bool = False, **kwargs: Any) -> ResNet:
    """ResNeXt-101 64×4d (Xie et al. 2017), 83.5M parameters.

    ``kwargs`` go to :class:`ResNet` (``norm_layer``, ``replace_stride_with_dilation``, ...).
    """
    return _resnet("bottleneck", (3, 4, 23, 3), groups=64, width_per_group=4, num_classes=num_classes, in_channels=in_channels,
                   zero_init_residual=zero_init_residual, small_input=small_input, **kwargs)


def _cifar(depth: int, num_classes: int, in_channels: int, width: int, zero_init_residual: bool) -> CifarResNet:
    return CifarResNet(depth=depth, num_classes=num_classes, in_channels=in_channels, width=width,
                       zero_init_residual=zero_init_residual)


@register_model("resnet20", input_shape=(3, 32, 32))
def resnet20(*, num_classes: int = 10, in_channels: int = 3, width: int = 16, zero_init_residual: bool = False) -> CifarResNet:
    """CIFAR ResNet-20 (He et al. 2016, §4.2), 0.27M parameters."""
    return _cifar(20, num_classes, in_channels, width, zero_init_residual)


@register_model("resnet32", input_shape=(3, 32, 32))
def resnet32(*, num_classes: int = 10, in_channels: int = 3, width: int = 16, zero_init_residual: bool = False) -> CifarResNet:
    """CIFAR ResNet-32 (He et al. 2016, §4.2), 0.46M parameters."""
    return _cifar(32, num_classes, in_channels, width, zero_init_residual)


@register_model("resnet44", input_shape=(3, 32, 32))
def resnet44(*, num_classes: int = 10, in_channels: int = 3, width: int = 16, zero_init_residual: bool = False) -> CifarResNet:
    """CIFAR ResNet-44 (He et al. 2016, §4.2), 0.66M parameters."""
    return _cifar(44, num_classes, in_channels, width, zero_init_residual)


@register_model("resnet56", input_shape=(3, 32, 32))
def resnet56(*, num_classes: int = 10, in_channels: int = 3, width: int = 16, zero_init_residual: bool = False) -> CifarResNet:
    """CIFAR ResNet-56 (He et al. 2016, §4.2), 0.85M parameters."""
    return _cifar(56, num_classes, in_channels, width, zero_init_residual)


@register_model("resnet110", input_shape=(3, 32, 32))
def resnet110(*, num_classes: int = 10, in_channels: int = 3, width: int = 16, zero_init_residual: bool = False) -> CifarResNet:
    """CIFAR ResNet-110 (He et al. 2016, §4.2), 1.7M parameters."""
    return _cifar(110, num_classes, in_channels, width, zero_init_residual)
