"""Semantic segmentation networks (notes §3.5.1): FCNs, the U-Net and a plain encoder–decoder.

* :mod:`.convolutionalize` — a trained classifier made fully convolutional
  (dense layers as convolutions), heat maps, direct upsampling and shift and stitch;
* :mod:`.fcn` — FCN-32s/16s/8s: learned upsampling with skip fusion (Long et al. 2015);
* :mod:`.unet` — the U-Net (Ronneberger et al. 2015) and its overlap-tile prediction;
* :mod:`.encoder_decoder` — the U-Net without its skip connections;
* :mod:`._blocks` — what they share: the contracting path, the U-shaped layout, size arithmetic.

Every network maps ``[B, C, H, W]`` images to logits ``[B, K, H', W']``
(:class:`SegmentationNet`); :func:`segment` gives the full-resolution scores
of an image of any size.
"""

from ._blocks import ContractingPath, DoubleConv, SegmentationNet, UShapedNet, center_crop
from .convolutionalize import (
    DenseFCN,
    FullyConvolutional,
    PatchClassifier,
    convolutionalize,
    dense_to_conv,
    shift_and_stitch,
    sliding_window_scores,
    upsample_heatmap,
)
from .encoder_decoder import EncoderDecoder
from .fcn import FCN
from .inference import segment
from .unet import UNet, overlap_tile_predict

__all__ = [
    "FCN", "ContractingPath", "DenseFCN", "DoubleConv", "EncoderDecoder", "FullyConvolutional", "PatchClassifier",
    "SegmentationNet", "UNet", "UShapedNet", "center_crop", "convolutionalize", "dense_to_conv", "overlap_tile_predict", "segment",
    "shift_and_stitch", "sliding_window_scores", "upsample_heatmap",
]

