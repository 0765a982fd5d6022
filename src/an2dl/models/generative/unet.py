"""A small U-Net-style image-to-image network for the inverse problems of §3.7
(super-resolution, inpainting, colourisation).

The notes (§3.7) list super-resolution, inpainting and colourisation as uses of
models that have learned the distribution of natural images: each maps a
degraded image ``x`` (low resolution, holes, no colour) to an estimate of the
clean image ``s``.  :class:`ImageUNet` is the encoder–decoder of Ronneberger et
al. (2015) at toy scale: an encoder that halves the resolution ``depth`` times,
a decoder that doubles it back, and a *skip connection* from every encoder
level to the decoder level of the same resolution, so that fine detail of the
input reaches the output without passing through the bottleneck::

    encoder level l = 0..depth:    [maxpool 2x2 if l > 0] -> (conv3x3 -> norm -> act) x 2    width·2**l channels
    decoder level l = depth-1..0:  convT 2x2/2 -> concatenate encoder level l -> (conv3x3 -> norm -> act) x 2
    output:                        conv1x1 -> sigmoid                                        [C_out, H, W]

The encoder is the segmentation U-Net's contracting path
(:class:`~an2dl.models.segmentation.ContractingPath`, padded) and every
``(conv3x3 -> norm -> act) x 2`` block its :class:`~an2dl.models.segmentation.DoubleConv`.

With ``skip=False`` the concatenations are left out and the network is a
convolutional autoencoder whose every output pixel is decoded from the
bottleneck (the §3.6 architecture, for comparison).

The known part of the input can be kept in the output (``keep``): for
inpainting (``keep="visible"``) the input is the holed image followed by the
mask (1 = hidden) and the output is ``visible + mask · net(x)``, so only the
hole comes from the network; for colourisation (``keep="luma"``) the input is
grey and the output's three channels are shifted equally so that their
BT.601 luma is the input, so the network supplies the chroma only (as
colourisation in the Lab space keeps L and predicts a, b).  Trained through
these, the loss only measures what the network has to supply.

Departures from the paper: "same" padding (the output has the input's size,
no cropping), batch normalisation after each convolution by default (a
``norm`` option), widths ``width·2**level`` instead of 64·2**level, and a
sigmoid output (images in [0, 1], DESIGN §4) unless ``out_activation="none"``.
An odd side that pooling floors (``7 -> 3``) is restored by zero-padding the
up-sampled map to the skip's size, so any image of at least ``2**depth``
pixels a side is accepted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...ops.color import rgb_to_grey
from .._registry import register_model
from ..segmentation import ContractingPath, DoubleConv
from ._common import activation_factory, check_positive_int

__all__ = ["ImageUNet", "KeepVisible", "KeepLuma", "image_unet", "NORMS", "KEEPS"]

#: normalisation layers selectable by name in the registered builder (``None``: no normalisation)
NORMS: dict[str, Callable[[int], nn.Module] | None] = {"batch": nn.BatchNorm2d, "none": None}


class KeepVisible(nn.Module):
    """Inpainting: keep the visible pixels of ``x = [image with holes, mask]`` and take the hole from ``y``.

    Shape:
        ``x`` ``[B, C + 1, H, W]`` (the last channel is the mask, 1 = hidden), ``y`` ``[B, C, H, W]`` -> ``[B, C, H, W]``.
    """

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        visible, mask = x[:, :-1], x[:, -1:]
        return visible + mask * y


class KeepLuma(nn.Module):
    """Colourisation: shift the channels of ``y`` equally so that its BT.601 luma is the grey input ``x``.

    Shape:
        ``x`` ``[B, 1, H, W]``, ``y`` ``[B, 3, H, W]`` -> ``[B, 3, H, W]``.
    """

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y + (x - rgb_to_grey(y))


#: what the registered builder's ``keep`` selects
KEEPS: dict[str, Callable[[], nn.Module] | None] = {"none": None, "visible": KeepVisible, "luma": KeepLuma}


class ImageUNet(nn.Module):
    """U-Net-style image-to-image network (Ronneberger et al. 2015), notes §3.5.1 / §3.7.

    Args:
        in_channels: channels of the input image (e.g. 1 for grey, 2 for an image plus its mask).
        out_channels: channels of the output image (e.g. 3 for colour).
        width: channels of the first level; level ``l`` has ``width·2**l``.
        depth: number of 2x down-samplings (and up-samplings); 0 gives a plain stack of convolutions.
        skip: concatenate each encoder level into the decoder (U-Net); ``False`` leaves the
            skips out (a convolutional autoencoder through the bottleneck).
        norm_layer: ``norm_layer(channels)`` after every 3x3 convolution, or ``None``.
        activation: hidden activation factory.
        out_activation: applied to the 1x1 output convolution: ``nn.Sigmoid`` for images in
            [0, 1], or ``None`` for a linear output.
        keep: ``keep(x, y)`` that puts what the input fixes back into the output ``y``
            (:class:`KeepVisible`, :class:`KeepLuma`), or ``None``.

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= 2**depth``; output
        ``[B, out_channels, H, W]`` (in (0, 1) with the sigmoid).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 16,
        depth: int = 2,
        skip: bool = True,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        activation: Callable[[], nn.Module] = nn.ReLU,
        out_activation: Callable[[], nn.Module] | None = nn.Sigmoid,
        keep: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("ImageUNet", "in_channels", in_channels)
        self.out_channels = check_positive_int("ImageUNet", "out_channels", out_channels)
        check_positive_int("ImageUNet", "width", width)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ConfigError(f"ImageUNet depth must be an integer >= 0; got {depth!r}")
        self.depth = depth
        self.skip = bool(skip)
        widths = [width * 2**level for level in range(depth + 1)]
        # the segmentation U-Net's contracting path, padded ("same"): max pooling floors odd sides
        self.encoder = ContractingPath(in_channels=in_channels, channels=widths, padding="same", activation=activation,
                                       norm_layer=norm_layer)
        # decoder level i (from the bottom): up-sample widths[i+1] -> widths[i], then (with the skip) merge 2·widths[i]
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(depth))
        merged = 2 if self.skip else 1
        self.merge = nn.ModuleList(DoubleConv(merged * widths[i], widths[i], padding="same", activation=activation,
                                              norm_layer=norm_layer) for i in range(depth))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.out_activation = out_activation() if out_activation is not None else nn.Identity()
        self.keep = keep

    @property
    def min_size(self) -> int:
        """The smallest side the network accepts: ``2**depth``."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"ImageUNet expects images of shape [B, {self.in_channels}, H, W]; got {got}")
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"ImageUNet with depth {self.depth} needs images of at least {self.min_size}x"
                             f"{self.min_size}; got {x.shape[-2]}x{x.shape[-1]}")
        skips = self.encoder.forward_intermediates(x)  # level l: [B, width·2**l, ⌊H/2**l⌋, ⌊W/2**l⌋]
        h = skips[-1]
        for i in reversed(range(self.depth)):
            target = skips[i]
            h = self.up[i](h)
            dh, dw = target.shape[-2] - h.shape[-2], target.shape[-1] - h.shape[-1]
            if dh or dw:
                h = F.pad(h, (0, dw, 0, dh))
            if self.skip:
                h = torch.cat([target, h], dim=1)  # [B, 2·width·2**i, H/2**i, W/2**i]
            h = self.merge[i](h)
        y = self.out_activation(self.head(h))
        return self.keep(x, y) if self.keep is not None else y


@register_model("image_unet", input_shape=(1, 28, 28))
def image_unet(
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    width: int = 16,
    depth: int = 2,
    skip: bool = True,
    norm: str = "batch",
    activation: str = "relu",
    out_activation: str = "sigmoid",
    keep: str = "none",
) -> ImageUNet:
    """Small U-Net for image-to-image problems (§3.7); ``norm`` in {batch, none},
    ``out_activation`` in {sigmoid, none}, ``keep`` in {none, visible (inpainting), luma (colourisation)}."""
    if norm not in NORMS:
        raise ConfigError(f"image_unet norm must be one of {sorted(NORMS)}; got {norm!r}")
    outs: dict[str, Callable[[], nn.Module] | None] = {"sigmoid": nn.Sigmoid, "none": None}
    if out_activation not in outs:
        raise ConfigError(f"image_unet out_activation must be one of {sorted(outs)}; got {out_activation!r}")
    if keep not in KEEPS:
        raise ConfigError(f"image_unet keep must be one of {sorted(KEEPS)}; got {keep!r}")
    if keep == "visible" and in_channels != out_channels + 1:
        raise ConfigError(f"image_unet keep='visible' needs in_channels = out_channels + 1 (the image and its mask); "
                          f"got in_channels={in_channels}, out_channels={out_channels}")
    if keep == "luma" and (in_channels, out_channels) != (1, 3):
        raise ConfigError(f"image_unet keep='luma' maps grey to RGB (in_channels=1, out_channels=3); "
                          f"got in_channels={in_channels}, out_channels={out_channels}")
    return ImageUNet(in_channels=in_channels, out_channels=out_channels, width=width, depth=depth, skip=skip,
                     norm_layer=NORMS[norm], activation=activation_factory("image_unet", activation),
                     out_activation=outs[out_activation], keep=KEEPS[keep]() if KEEPS[keep] is not None else None)
