"""Pieces shared by the segmentation networks: the contracting path, size arithmetic, cropping (notes §3.5.1).

* :class:`DoubleConv` — two 3×3 convolutions, each followed by an activation
  (ReLU): the block of every level of the U-Net (Ronneberger et al. 2015).
* :class:`ContractingPath` — the encoder: a :class:`DoubleConv` at each
  level and a 2×2 max pooling between levels, the channels doubling at each
  level.  It exposes the feature-map interface of the zoo (``feature_info``,
  ``forward_intermediates``), so that the U-Net, the plain encoder–decoder
  and the FCN decoders all read the same encoder.
* :class:`SegmentationNet` — the contract of every segmentation network of the
  package: ``forward(x) -> logits [B, K, H', W']``, ``output_size(H)``,
  ``check_input_size(H, W)`` and ``valid_input_size(H)``.
* :class:`UShapedNet` — the layers the U-Net and the plain encoder–decoder
  share: the contracting path, an expanding path of ``up`` layers
  (:func:`up_layer`) and :class:`DoubleConv` blocks, the 1×1 head.  The two
  differ only in what each decoder block reads (the skip concatenated or not).
* :func:`center_crop` — the U-Net's cropping of a skip connection (or of a
  target) to a smaller map, aligned on the centre.

Padding.  ``"valid"`` convolutions (the paper's) lose 2 pixels per 3×3
convolution, so the output is smaller than the input (572 → 388 for the
paper's four poolings) and the encoder's maps are cropped before they are
concatenated; each pooling needs an even side.  ``"same"`` convolutions
(padding 1) keep the sizes, so the input's sides must be multiples of
``2**depth`` and the output has the input's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...nn.upsampling import NearestUpsample, TransposeConv2d
from .._checks import check_positive_int
from ..vision._base import FeatureMapsMixin, make_feature_info

__all__ = ["DoubleConv", "ContractingPath", "SegmentationNet", "UShapedNet", "center_crop", "PADDINGS",
           "UPSAMPLINGS", "up_layer", "valid_sizes_around", "level_channels"]

#: the two padding modes of the 3×3 convolutions
PADDINGS = ("valid", "same")
#: the upsampling layers of the expanding path
UPSAMPLINGS = ("transpose", "nearest")


def center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """The centred ``size = (h, w)`` window of ``x [..., H, W]`` (the extra pixel of an odd margin goes to the top/left crop).

    Raises:
        ValueError: ``size`` is larger than the map.
    """
    h, w = int(size[0]), int(size[1])
    big_h, big_w = int(x.shape[-2]), int(x.shape[-1])
    if h > big_h or w > big_w:
        raise ValueError(f"center_crop cannot crop a {big_h}x{big_w} map to a larger {h}x{w}")
    top, left = (big_h - h) // 2, (big_w - w) // 2
    return x[..., top:top + h, left:left + w]


def level_channels(base_channels: int, depth: int) -> list[int]:
    """Channels of each level: ``base · 2^l`` for ``l = 0 … depth`` (64, 128, 256, 512, 1024 in the paper)."""
    return [base_channels * 2 ** level for level in range(depth + 1)]


def up_layer(kind: str) -> Callable[[int, int], nn.Module]:
    """Factory ``up(c_in, c_out)`` doubling the map's sides: the paper's 2×2 up-convolution or nearest + 1×1 conv."""
    if kind == "transpose":
        return lambda c_in, c_out: TransposeConv2d(c_in, c_out, 2, stride=2)
    if kind == "nearest":
        return lambda c_in, c_out: nn.Sequential(NearestUpsample(2), nn.Conv2d(c_in, c_out, 1))
    raise ConfigError(f"upsampling must be one of {UPSAMPLINGS}; got {kind!r}")


class DoubleConv(nn.Sequential):
    """Two 3×3 convolutions, each followed by ``norm_layer`` (if any) and the activation.

    Args:
        in_channels, out_channels: channels in and out.
        padding: ``"valid"`` (no padding: each convolution trims one pixel per side) or ``"same"``.
        activation: factory of the activation (ReLU in the paper).
        norm_layer: ``norm_layer(channels)`` after each convolution, or ``None`` (the paper has none).

    Shape:
        ``[B, C_in, H, W] -> [B, C_out, H − 4, W − 4]`` (valid) or ``[B, C_out, H, W]`` (same).
    """

    def __init__(self, in_channels: int, out_channels: int, *, padding: str = "valid",
                 activation: Callable[[], nn.Module] = nn.ReLU,
                 norm_layer: Callable[[int], nn.Module] | None = None) -> None:
        if padding not in PADDINGS:
            raise ConfigError(f"padding must be one of {PADDINGS}; got {padding!r}")
        pad = 1 if padding == "same" else 0
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=norm_layer is None))
            if norm_layer is not None:
                layers.append(norm_layer(out_channels))
            layers.append(activation())
        super().__init__(*layers)


class ContractingPath(nn.Module, FeatureMapsMixin):
    """The U-Net encoder: a :class:`DoubleConv` per level, 2×2 max pooling (stride 2) between levels.

    Args:
        in_channels: channels of the input image.
        channels: channels of each level, e.g. ``[64, 128, 256, 512, 1024]``;
            ``len(channels) − 1`` poolings (the depth).
        padding, activation, norm_layer: see :class:`DoubleConv`.

    Feature stages (``feature_info``): the output of each level's
    :class:`DoubleConv` (before the pooling), reductions ``1, 2, 4, …``; the
    last stage is the bottleneck.

    Shape:
        ``forward_intermediates(x)``: one map per level, ``[B, channels[l], h_l, w_l]``;
        ``forward(x)``: the bottleneck map.
    """

    def __init__(self, *, in_channels: int, channels: Sequence[int], padding: str = "valid",
                 activation: Callable[[], nn.Module] = nn.ReLU,
                 norm_layer: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        check_positive_int("ContractingPath", "in_channels", in_channels)
        if not channels or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
            raise ConfigError(f"ContractingPath channels must be a non-empty list of positive integers; got {channels!r}")
        self.in_channels, self.channels, self.padding = in_channels, list(channels), padding
        self.depth = len(channels) - 1
        self.pool = nn.MaxPool2d(2, 2)
        c_in = in_channels
        levels = []
        for c in channels:
            levels.append(DoubleConv(c_in, c, padding=padding, activation=activation, norm_layer=norm_layer))
            c_in = c
        self.levels = nn.ModuleList(levels)
        self.feature_info = make_feature_info(*((f"levels.{i}", c, 2 ** i) for i, c in enumerate(channels)))

    def _check_stage_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ContractingPath expects input of shape [B, {self.in_channels}, H, W]; got {list(x.shape)}")

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        for i, level in enumerate(self.levels):
            if i > 0:
                x = self.pool(x)
            x = level(x)
            yield x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_intermediates(x)[-1]


def _valid_output(size: int, depth: int) -> int | None:
    """Output side of a valid-padding U-Net of ``depth`` poolings for input side ``size``, or ``None`` if invalid."""
    s = size
    for _ in range(depth):
        s -= 4
        if s < 2 or s % 2:
            return None
        s //= 2
    s -= 4
    if s < 1:
        return None
    for _ in range(depth):
        s = 2 * s - 4
        if s < 1:
            return None
    return s


def valid_sizes_around(size: int, is_valid: Callable[[int], bool], *, limit: int = 4096) -> tuple[int | None, int | None]:
    """The largest valid side ``<= size`` and the smallest valid side ``>= size`` (``None`` where there is none)."""
    below = next((s for s in range(size, 0, -1) if is_valid(s)), None)
    above = next((s for s in range(max(size, 1), size + limit + 1) if is_valid(s)), None)
    return below, above


class SegmentationNet(nn.Module):
    """Base class of the networks that map an image to per-pixel class scores (notes §3.5.1).

    Contract (the :class:`~an2dl.tasks.SegmentationTask` and ``an2dl predict``
    rely on it): ``forward(x [B, C, H, W]) -> logits [B, K, H', W']`` where
    ``(H', W') = (output_size(H), output_size(W))`` is centred on the input
    (``H' = H`` for ``"same"`` padding, smaller for ``"valid"``);
    :meth:`check_input_size` refuses sizes the arithmetic does not allow,
    naming the nearest valid ones; :meth:`valid_input_size` is the smallest
    valid side at least as large as a given one.

    Subclasses set ``in_channels``, ``num_classes``, ``depth`` (poolings) and ``padding``.
    """

    in_channels: int
    num_classes: int
    depth: int
    padding: str = "same"

    def output_size(self, size: int) -> int:
        """Output side for an input side ``size`` (raises :class:`ConfigError` for an invalid one)."""
        out = self._output(size)
        if out is None:
            self._refuse(size, "side")
        return out

    def _output(self, size: int) -> int | None:
        if self.padding == "same":
            return size if size >= 1 and size % 2 ** self.depth == 0 else None
        return _valid_output(size, self.depth)

    def is_valid_size(self, size: int) -> bool:
        return self._output(size) is not None

    def valid_input_size(self, size: int) -> int:
        """The smallest valid input side ``>= size``."""
        _, above = valid_sizes_around(size, self.is_valid_size)
        if above is None:
            raise ConfigError(f"{type(self).__name__} has no valid input size near {size}")
        return above

    def context(self) -> int:
        """Pixels the output loses on each side compared with the input (0 with ``"same"`` padding)."""
        size = self.valid_input_size(1 + 2 ** (self.depth + 3))
        return (size - self.output_size(size)) // 2

    def _refuse(self, size: int, what: str) -> None:
        below, above = valid_sizes_around(size, self.is_valid_size)
        rule = (f"that are multiples of 2**depth = {2 ** self.depth}" if self.padding == "same" else
                "that leave an even map before every pooling (each level's two unpadded 3x3 convolutions take "
                "4 pixels)")
        near = " or ".join(str(s) for s in (below, above) if s is not None)
        raise ConfigError(f"{type(self).__name__}(depth={self.depth}, padding={self.padding!r}) takes input {what}s "
                          f"{rule}; got {size}; the nearest valid {what}s are {near}")

    def check_input_size(self, height: int, width: int) -> None:
        """Raise :class:`ConfigError` unless both sides are valid; the message names the nearest valid sides."""
        for side in (height, width):
            if not self.is_valid_size(int(side)):
                self._refuse(int(side), "side")

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects images of shape [B, {self.in_channels}, H, W]; got {got}")
        self.check_input_size(int(x.shape[-2]), int(x.shape[-1]))


class UShapedNet(SegmentationNet):
    """Contracting path, expanding path and 1×1 head: the layers of the U-Net and of the plain encoder–decoder.

    Builds, with ``c_l = base_channels · 2^l``:

    * ``encoder`` — a :class:`ContractingPath` over ``c_0 … c_depth``;
    * ``ups[j]``, ``decoders[j]`` for ``j = 0 … depth − 1`` (level ``l = depth − 1 − j``,
      bottom to top) — ``up(c_{l+1}, c_l)``, then a :class:`DoubleConv` from
      ``2·c_l`` channels (``concat_skips``: the encoder's map of level ``l``
      concatenated to the upsampled one) or ``c_l`` channels to ``c_l``;
    * ``head`` — a 1×1 convolution to the K class scores.

    Subclasses set ``concat_skips`` (whether the decoder blocks read the skip
    connections) and define ``forward``.

    Args:
        in_channels: channels of the input image.
        num_classes: K, class scores per pixel.
        base_channels: channels of the first level (64 in the paper); level ``l`` has ``base · 2^l``.
        depth: poolings (4 in the paper).
        padding: ``"valid"`` (the paper: output smaller than input, skips cropped) or ``"same"``.
        up: ``up(c_in, c_out)`` building each upsampling layer (default: the
            paper's 2×2 up-convolution, :class:`~an2dl.nn.TransposeConv2d`).
        activation, norm_layer: see :class:`DoubleConv`.
    """

    concat_skips: bool

    def __init__(self, *, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64, depth: int = 4,
                 padding: str = "valid", up: Callable[[int, int], nn.Module] | None = None,
                 activation: Callable[[], nn.Module] = nn.ReLU,
                 norm_layer: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        self.num_classes = check_positive_int(name, "num_classes", num_classes)
        check_positive_int(name, "base_channels", base_channels)
        self.depth = check_positive_int(name, "depth", depth)
        if padding not in PADDINGS:
            raise ConfigError(f"{name} padding must be one of {PADDINGS}; got {padding!r}")
        self.padding = padding
        up = up if up is not None else up_layer("transpose")
        channels = level_channels(base_channels, depth)
        self.encoder = ContractingPath(in_channels=in_channels, channels=channels, padding=padding,
                                       activation=activation, norm_layer=norm_layer)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        reads = 2 if self.concat_skips else 1
        for level in range(depth - 1, -1, -1):
            c_below, c = channels[level + 1], channels[level]
            self.ups.append(up(c_below, c))
            self.decoders.append(DoubleConv(reads * c, c, padding=padding, activation=activation,
                                            norm_layer=norm_layer))
        self.head = nn.Conv2d(channels[0], num_classes, 1)
