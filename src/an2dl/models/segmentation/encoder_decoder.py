"""A plain encoder–decoder without skip connections (notes §3.5.1.2), the U-Net less what its skips add.

The encoder is the U-Net's contracting path and the decoder its expanding
path, level for level, with one difference: the decoder never sees the
encoder's maps.  Everything the decoder draws at full resolution must pass
through the bottleneck at ``1 / 2**depth`` of the input's resolution, so
fine details and sharp contours are lost — the notes' reason for skip
connections ("these direct connections pass features from the encoder to the
decoder, ensuring that fine-grained details are preserved"), which
``encoder-decoder-vs-unet`` measures.

Layout::

    encoder: as the U-Net's contracting path (DoubleConv per level, 2×2 max pooling)
    decoder, level l = depth − 1 … 0: upsample ×2 (2×2 up-convolution) -> DoubleConv(c_l, c_l)
    1×1 convolution to the K class scores

With the same ``base_channels``, ``depth`` and ``padding`` it has the
U-Net's sizes and fewer parameters (each decoder block reads ``c_l`` rather
than ``2·c_l`` channels).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int
from .._registry import register_model
from ._blocks import PADDINGS, ContractingPath, DoubleConv, SegmentationNet, level_channels
from .unet import up_layer

__all__ = ["EncoderDecoder", "encoder_decoder"]


class EncoderDecoder(SegmentationNet):
    """Encoder and decoder of the U-Net's shape, without skip connections.

    Args:
        in_channels, num_classes, base_channels, depth, padding, up, activation, norm_layer:
            as :class:`~an2dl.models.segmentation.UNet`.

    Shape:
        as :class:`~an2dl.models.segmentation.UNet`: ``[B, C, H, W] -> [B, K, H', W']``.
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64, depth: int = 4,
                 padding: str = "valid", up: Callable[[int, int], nn.Module] | None = None,
                 activation: Callable[[], nn.Module] = nn.ReLU,
                 norm_layer: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        self.in_channels = check_positive_int("EncoderDecoder", "in_channels", in_channels)
        self.num_classes = check_positive_int("EncoderDecoder", "num_classes", num_classes)
        check_positive_int("EncoderDecoder", "base_channels", base_channels)
        self.depth = check_positive_int("EncoderDecoder", "depth", depth)
        if padding not in PADDINGS:
            raise ConfigError(f"EncoderDecoder padding must be one of {PADDINGS}; got {padding!r}")
        self.padding = padding
        up = up if up is not None else up_layer("transpose")
        channels = level_channels(base_channels, depth)
        self.encoder = ContractingPath(in_channels=in_channels, channels=channels, padding=padding,
                                       activation=activation, norm_layer=norm_layer)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(depth - 1, -1, -1):
            self.ups.append(up(channels[level + 1], channels[level]))
            self.decoders.append(DoubleConv(channels[level], channels[level], padding=padding,
                                            activation=activation, norm_layer=norm_layer))
        self.head = nn.Conv2d(channels[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        y = self.encoder(x)  # the bottleneck: (B, base·2^depth, H / 2^depth, W / 2^depth) with "same" padding
        for up, decode in zip(self.ups, self.decoders):
            y = decode(up(y))
        return self.head(y)


@register_model("encoder_decoder", input_shape=(1, 188, 188))
def encoder_decoder(*, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64, depth: int = 4,
                    padding: str = "valid", upsampling: str = "transpose", batch_norm: bool = False) -> EncoderDecoder:
    """The U-Net's encoder and decoder without skip connections (see :class:`EncoderDecoder`)."""
    return EncoderDecoder(in_channels=in_channels, num_classes=num_classes, base_channels=base_channels, depth=depth,
                          padding=padding, up=up_layer(upsampling), norm_layer=nn.BatchNorm2d if batch_norm else None)
