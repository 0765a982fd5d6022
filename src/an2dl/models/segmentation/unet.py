"""U-Net (Ronneberger, Fischer & Brox 2015), notes §3.5.1.2, with the paper's overlap-tile prediction.

Layout (the paper's Figure 1 for ``base_channels=64, depth=4``)::

    contracting path, level l = 0 … depth (channels 64·2^l):
        [2×2 max pool, stride 2 — from level 1 on] -> 3×3 conv + ReLU -> 3×3 conv + ReLU
    expanding path, level l = depth − 1 … 0:
        up-convolution 2×2 (a transpose convolution, stride 2) halving the channels
        -> concatenate the contracting path's map of level l (cropped to the same size)
        -> 3×3 conv + ReLU -> 3×3 conv + ReLU
    1×1 convolution to the K class scores

With the paper's unpadded (``"valid"``) convolutions a 572×572 input gives a
388×388 map of scores for its centre; the missing context at the border of
a large image is extrapolated by mirroring (:func:`overlap_tile_predict`),
and the image is segmented tile by tile, each output tile seeing its full
context.  ``padding="same"`` pads every 3×3 convolution (output = input
size; sides must be multiples of ``2**depth``), the common modern variant.

Departures (each a keyword): the up-convolution can be replaced by nearest
neighbour upsampling followed by a 1×1 convolution (``upsampling="nearest"``);
a normalisation layer can follow each convolution (``norm_layer``; the paper
has none); the weights use PyTorch's default initialisation rather than the
paper's N(0, 2/N) (He et al.), which trains as well with Adam.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._blocks import UPSAMPLINGS, SegmentationNet, UShapedNet, center_crop, up_layer

__all__ = ["UNet", "unet", "up_layer", "UPSAMPLINGS", "overlap_tile_predict"]


class UNet(UShapedNet):
    """The U-Net: contracting path, expanding path with skip connections by concatenation, 1×1 output.

    Args:
        in_channels, num_classes, base_channels, depth, padding, up, activation, norm_layer:
            see :class:`~an2dl.models.segmentation._blocks.UShapedNet` (defaults: the paper's
            network, 64 base channels, depth 4, valid padding, 2×2 up-convolutions, no normalisation).

    Shape:
        input ``[B, in_channels, H, W]`` in [0, 1] with valid sides
        (:meth:`check_input_size`); output logits ``[B, K, H', W']``, ``H' =
        output_size(H)`` (``H`` with ``"same"``; ``H − 184`` for the paper's
        valid depth-4 network), aligned on the input's centre.
    """

    concat_skips = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        skips = self.encoder.forward_intermediates(x)  # level 0 … depth
        y = skips[-1]
        for up, decode, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
            y = up(y)
            y = decode(torch.cat([center_crop(skip, y.shape[-2:]), y], dim=1))  # (B, 2c, h, w)
        return self.head(y)


@register_model("unet", input_shape=(1, 188, 188))
def unet(*, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64, depth: int = 4,
         padding: str = "valid", upsampling: str = "transpose", batch_norm: bool = False) -> UNet:
    """The U-Net of Ronneberger et al. (2015): 64 channels, depth 4, valid padding by default (see :class:`UNet`).

    ``upsampling`` in {transpose, nearest}; ``batch_norm`` adds batch norm after each convolution.
    The registered example input (188×188) is the smallest the default network takes (output 4×4).
    """
    return UNet(in_channels=in_channels, num_classes=num_classes, base_channels=base_channels, depth=depth,
                padding=padding, up=up_layer(upsampling), norm_layer=nn.BatchNorm2d if batch_norm else None)


# ------------------------------------------------------------------------------------------- overlap tiles
@torch.no_grad()
def overlap_tile_predict(model: SegmentationNet, image: torch.Tensor, *, tile: int | None = None,
                         batch_size: int = 4) -> torch.Tensor:
    """Segment an image of any size tile by tile, the paper's overlap-tile strategy (Ronneberger et al. 2015, Fig. 2).

    The output is computed in square tiles of ``t`` pixels (``t = output_size(tile)``);
    each tile's input is the ``tile × tile`` window around it, so every
    output pixel sees its full context.  The image is mirrored at its
    borders to supply the context that lies outside it.  For a ``"valid"``
    network whose output tiles start at multiples of ``2**depth`` this is
    exactly the output of the network on the whole mirrored image (the
    tests check it); ``"same"`` networks are evaluated on the whole padded
    image at once, since their zero padding makes tiles differ at their seams.

    Args:
        model: a :class:`~an2dl.models.segmentation.SegmentationNet`.
        image: ``[B, C, H, W]`` (or ``[C, H, W]``) of any size ``>= 1``.
        tile: the input tile side (default: the smallest valid side giving an
            output tile of at least 64 pixels); must be valid for ``model``.
        batch_size: tiles per forward pass.

    Returns:
        logits ``[B, K, H, W]`` (``[K, H, W]`` for one image), in the network's dtype.
    """
    single = image.dim() == 3
    x = image.unsqueeze(0) if single else image
    if x.dim() != 4:
        raise ValueError(f"overlap_tile_predict expects an image [C, H, W] or [B, C, H, W]; got {list(image.shape)}")
    b, _, h, w = x.shape
    if model.padding == "same":
        hh, ww = model.valid_input_size(h), model.valid_input_size(w)
        padded = _mirror(x, 0, hh - h, 0, ww - w)
        out = model(padded)[..., :h, :w]
        return out[0] if single else out
    margin = model.context()
    align = 2 ** model.depth
    if tile is None:
        tile = model.valid_input_size(2 * margin + 64)
    model.check_input_size(tile, tile)
    t_out = model.output_size(tile)
    if t_out < align:
        raise ConfigError(f"overlap_tile_predict tile={tile} gives output tiles of {t_out} pixels, fewer than the "
                          f"{align} between aligned tiles; use a tile of at least {model.valid_input_size(2 * margin + align)}")
    # tiles start at multiples of 2**depth, where the network's pooling grid repeats: neighbouring
    # tiles then agree where they overlap, and together they equal one pass over the whole image
    stride = max(align, t_out // align * align)
    rows = [r * stride for r in range(max(1, -(-(h - t_out) // stride) + 1))]
    cols = [c * stride for c in range(max(1, -(-(w - t_out) // stride) + 1))]
    full_h, full_w = rows[-1] + t_out, cols[-1] + t_out
    padded = _mirror(x, margin, full_h - h + margin, margin, full_w - w + margin)
    windows = [(r, c) for r in rows for c in cols]
    per_pass = max(1, batch_size // b)
    out = None
    for i in range(0, len(windows), per_pass):
        chunk = windows[i:i + per_pass]
        inputs = torch.cat([padded[..., r:r + tile, c:c + tile] for r, c in chunk])  # (len(chunk)·B, C, tile, tile)
        scores = model(inputs).reshape(len(chunk), b, model.num_classes, t_out, t_out)
        if out is None:
            out = scores.new_zeros(b, model.num_classes, full_h, full_w)
        for (r, c), s in zip(chunk, scores):
            out[..., r:r + t_out, c:c + t_out] = s
    out = out[..., :h, :w]
    return out[0] if single else out


def _mirror(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Pad by mirroring (reflection), repeatedly when a margin exceeds the image."""
    while top > 0 or bottom > 0 or left > 0 or right > 0:
        h, w = x.shape[-2:]
        t, bt, lf, rt = min(top, h - 1), min(bottom, h - 1), min(left, w - 1), min(right, w - 1)
        if h == 1 or w == 1:  # a single row or column cannot be reflected: repeat it
            return F.pad(x, (left, right, top, bottom), mode="replicate")
        x = F.pad(x, (lf, rt, t, bt), mode="reflect")
        top, bottom, left, right = top - t, bottom - bt, left - lf, right - rt
    return x
