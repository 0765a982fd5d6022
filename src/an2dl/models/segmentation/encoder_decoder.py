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

import torch
from torch import nn

from .._registry import register_model
from ._blocks import UShapedNet, up_layer

__all__ = ["EncoderDecoder", "encoder_decoder"]


class EncoderDecoder(UShapedNet):
    """Encoder and decoder of the U-Net's shape, without skip connections.

    Args:
        in_channels, num_classes, base_channels, depth, padding, up, activation, norm_layer:
            as :class:`~an2dl.models.segmentation.UNet` (see :class:`~an2dl.models.segmentation._blocks.UShapedNet`).

    Shape:
        as :class:`~an2dl.models.segmentation.UNet`: ``[B, C, H, W] -> [B, K, H', W']``.
    """

    concat_skips = False

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
