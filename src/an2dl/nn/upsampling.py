"""Upsampling: nearest neighbour, bed of nails, max-unpooling and transpose convolution (notes §3.5.1.2).

A segmentation decoder brings coarse feature maps back to the input's
resolution.  The notes list three ways, and the U-Net and FCN papers add a
fourth that remembers where the maxima of the encoder were:

* **nearest neighbour** — every value is copied into an ``f × f`` block::

      [[1, 2],        [[1, 1, 2, 2],
       [3, 4]]   ->    [1, 1, 2, 2],
                       [3, 3, 4, 4],
                       [3, 3, 4, 4]]

* **bed of nails** — every value goes to one fixed position of its
  ``f × f`` block (the top-left corner by default), zeros elsewhere::

      [[1, 2],        [[1, 0, 2, 0],
       [3, 4]]   ->    [0, 0, 0, 0],
                       [3, 0, 4, 0],
                       [0, 0, 0, 0]]

* **max-unpooling** — like bed of nails, but each value goes back to the
  position where the matching max-pooling found its maximum
  (``F.max_pool2d(..., return_indices=True)``); SegNet's decoder (Badrinarayanan
  et al. 2017) and the notes' "remember which element was max";
* **transpose convolution** — learned upsampling (Long et al. 2015, "deconvolution";
  the U-Net's "up-convolution"): each input value scales the ``k × k`` filter,
  the scaled filters are placed ``s`` pixels apart and summed where they overlap.
  As the notes say, it is a standard upsampling followed by a convolution:
  bed of nails with stride ``s`` (zeros between the values), zero padding
  ``k − 1 − p`` on each side, then an ordinary convolution with the filter
  flipped in both directions and its input/output channels swapped
  (:func:`transpose_conv2d` does exactly that; the tests prove it equals
  ``F.conv_transpose2d``).  Output side ``(H − 1)·s − 2p + k + output_padding``.

:func:`bilinear_kernel` gives the transpose-convolution filter that performs
bilinear interpolation, the initialisation of FCN's learned upsampling.

Shape:
    every function takes ``[B, C, H, W]`` and returns ``[B, C', H', W']``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = [
    "nearest_upsample",
    "bed_of_nails",
    "max_unpool2d",
    "transpose_conv2d",
    "transpose_conv2d_output_size",
    "bilinear_kernel",
    "NearestUpsample",
    "BedOfNails",
    "MaxUnpool2d",
    "TransposeConv2d",
]


def _check_maps(x: torch.Tensor, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a tensor [B, C, H, W]; got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{who} expects feature maps of shape [B, C, H, W]; got {list(x.shape)}")


def _check_factor(factor: int, who: str) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ConfigError(f"{who} factor must be a positive integer; got {factor!r}")
    return factor


# ---------------------------------------------------------------------------------------------- functions
def nearest_upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Copy every value into an ``factor × factor`` block (notes §3.5.1.2, "nearest neighbour").

    Args:
        x: ``[B, C, H, W]``.
        factor: the upsampling factor ``f``.

    Returns:
        ``[B, C, f·H, f·W]`` with ``out[..., i, j] = x[..., i // f, j // f]``;
        equal to ``F.interpolate(x, scale_factor=f, mode="nearest")``.
    """
    _check_maps(x, "nearest_upsample")
    f = _check_factor(factor, "nearest_upsample")
    return x.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)


def bed_of_nails(x: torch.Tensor, factor: int = 2, *, position: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Put every value at one fixed ``position`` of its ``factor × factor`` block, zeros elsewhere (notes §3.5.1.2).

    Args:
        x: ``[B, C, H, W]``.
        factor: the upsampling factor ``f``.
        position: ``(row, column)`` inside each block, each in ``[0, f)``; the
            top-left corner by default.

    Returns:
        ``[B, C, f·H, f·W]`` with ``out[..., f·i + r, f·j + c] = x[..., i, j]`` and zeros elsewhere.
    """
    _check_maps(x, "bed_of_nails")
    f = _check_factor(factor, "bed_of_nails")
    r, c = position
    if not (0 <= r < f and 0 <= c < f):
        raise ConfigError(f"bed_of_nails position must lie in [0, {f}) x [0, {f}); got {tuple(position)}")
    b, ch, h, w = x.shape
    out = x.new_zeros(b, ch, h * f, w * f)
    out[:, :, r::f, c::f] = x
    return out


def max_unpool2d(x: torch.Tensor, indices: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """Put every value back where the matching max-pooling found its maximum, zeros elsewhere.

    Args:
        x: pooled values ``[B, C, h, w]``.
        indices: ``[B, C, h, w]`` int64, the flat position ``row · W + column`` of
            each maximum in its ``H × W`` input map, as
            ``F.max_pool2d(..., return_indices=True)`` returns them.
        output_size: ``(H, W)`` of the map before pooling.

    Returns:
        ``[B, C, H, W]``; equal to ``F.max_unpool2d(x, indices, k, output_size=...)``.
        Where two windows share a maximum (overlapping windows) the later value wins.
    """
    _check_maps(x, "max_unpool2d")
    if not isinstance(indices, torch.Tensor) or indices.shape != x.shape or indices.is_floating_point():
        got = f"{indices.dtype} {list(indices.shape)}" if isinstance(indices, torch.Tensor) else type(indices).__name__
        raise ValueError(f"max_unpool2d indices must be an integer tensor shaped like x {list(x.shape)}; got {got}")
    h, w = (int(v) for v in output_size)
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= h * w):
        raise ValueError(f"max_unpool2d indices must lie in [0, {h * w}) for output_size {(h, w)}; "
                         f"got values up to {int(indices.max())}")
    b, c = x.shape[:2]
    out = x.new_zeros(b, c, h * w)
    out.scatter_(2, indices.reshape(b, c, -1), x.reshape(b, c, -1))
    return out.reshape(b, c, h, w)


def transpose_conv2d_output_size(size: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                                 output_padding: int = 0, dilation: int = 1) -> int:
    """Side of a transpose convolution's output: ``(H − 1)·s − 2p + d·(k − 1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def transpose_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *, stride: int = 1,
                     padding: int = 0, output_padding: int = 0) -> torch.Tensor:
    """Transpose convolution written as "bed of nails, then a convolution" (notes §3.5.1.2).

    1. bed of nails with factor ``s`` (:func:`bed_of_nails`), trimmed to
       ``(H − 1)·s + 1`` so that no zeros follow the last value;
    2. zero padding of ``k − 1 − p`` on each side (plus ``output_padding`` at
       the bottom and right);
    3. an ordinary convolution with stride 1 and the filter flipped in both
       spatial directions, input and output channels swapped.

    Args:
        x: ``[B, C_in, H, W]``.
        weight: ``[C_in, C_out, k, k]``, the layout of ``nn.ConvTranspose2d``.
        bias: ``[C_out]`` or ``None``.
        stride, padding, output_padding: as in ``F.conv_transpose2d`` (no groups,
            no dilation); ``padding <= k − 1`` and ``output_padding < stride``.

    Returns:
        ``[B, C_out, H', W']``, ``H' = (H − 1)·s − 2p + k + output_padding``;
        equal to ``F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)``.
    """
    _check_maps(x, "transpose_conv2d")
    if weight.dim() != 4 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"transpose_conv2d weight must be [C_in={x.shape[1]}, C_out, k, k]; got {list(weight.shape)}")
    k_h, k_w = int(weight.shape[2]), int(weight.shape[3])
    if not 0 <= padding <= min(k_h, k_w) - 1:
        raise ConfigError(f"transpose_conv2d padding must lie in [0, k - 1 = {min(k_h, k_w) - 1}]; got {padding}")
    if not 0 <= output_padding < stride:
        raise ConfigError(f"transpose_conv2d output_padding must lie in [0, stride = {stride}); got {output_padding}")
    h, w = x.shape[-2:]
    nails = bed_of_nails(x, stride)[..., : (h - 1) * stride + 1, : (w - 1) * stride + 1]
    ph, pw = k_h - 1 - padding, k_w - 1 - padding
    padded = F.pad(nails, (pw, pw + output_padding, ph, ph + output_padding))
    flipped = weight.flip(2, 3).transpose(0, 1)  # [C_out, C_in, k, k]
    return F.conv2d(padded, flipped, bias)


def bilinear_kernel(factor: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The ``2f × 2f`` filter with which a transpose convolution of stride ``f`` interpolates bilinearly.

    ``K[i, j] = (1 − |i − c| / f') (1 − |j − c| / f')`` with ``f' = f`` and
    ``c = (2f − 1) / 2`` (Long et al. 2015's initialisation of FCN's upsampling
    layers).  With ``padding = f // 2`` and kernel ``2f`` (even ``f``) the
    transpose convolution maps ``H`` to ``f·H``.

    Returns:
        ``[2f, 2f]``.
    """
    f = _check_factor(factor, "bilinear_kernel")
    size = 2 * f
    center = (size - 1) / 2
    t = 1 - (torch.arange(size, dtype=torch.float64) - center).abs() / f
    return torch.outer(t, t).to(dtype)


# ---------------------------------------------------------------------------------------------- modules
class NearestUpsample(nn.Module):
    """:func:`nearest_upsample` as a layer.  Shape: ``[B, C, H, W] -> [B, C, f·H, f·W]``."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = _check_factor(factor, "NearestUpsample")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nearest_upsample(x, self.factor)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class BedOfNails(nn.Module):
    """:func:`bed_of_nails` as a layer.  Shape: ``[B, C, H, W] -> [B, C, f·H, f·W]``."""

    def __init__(self, factor: int = 2, *, position: tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        self.factor = _check_factor(factor, "BedOfNails")
        self.position = tuple(position)
        bed_of_nails(torch.zeros(1, 1, 1, 1), self.factor, position=self.position)  # validates position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bed_of_nails(x, self.factor, position=self.position)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, position={self.position}"


class MaxUnpool2d(nn.Module):
    """:func:`max_unpool2d` as a layer: ``unpool(x, indices, output_size)``.

    Shape: ``[B, C, h, w]`` values and indices -> ``[B, C, H, W]``.
    """

    def forward(self, x: torch.Tensor, indices: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        return max_unpool2d(x, indices, output_size)


class TransposeConv2d(nn.ConvTranspose2d):
    """A transpose convolution (learned upsampling, notes §3.5.1.2), ``nn.ConvTranspose2d`` with the written-out form.

    The parameters are ``nn.ConvTranspose2d``'s (``weight [C_in, C_out, k, k]``,
    ``bias [C_out]``; state dicts load into it and back) and ``forward`` uses
    PyTorch's fused kernel; :meth:`forward_reference` computes the same
    function as bed of nails plus a convolution (:func:`transpose_conv2d`).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, output_padding, bias:
            as ``nn.ConvTranspose2d`` (no groups or dilation).
        init: ``"default"`` (PyTorch's) or ``"bilinear"``: every channel ``c``
            interpolates bilinearly into output channel ``c`` (needs
            ``in_channels == out_channels``, ``kernel_size == 2·stride``), the
            FCN initialisation of Long et al. (2015).

    Shape:
        ``[B, C_in, H, W] -> [B, C_out, (H − 1)·s − 2p + k + output_padding, ...]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, bias: bool = True, init: str = "default") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         output_padding=output_padding, bias=bias)
        if init == "bilinear":
            if in_channels != out_channels or kernel_size != 2 * stride:
                raise ConfigError(f"TransposeConv2d init='bilinear' needs in_channels == out_channels and "
                                  f"kernel_size == 2 * stride; got {in_channels}, {out_channels}, {kernel_size}, {stride}")
            with torch.no_grad():
                self.weight.zero_()
                kernel = bilinear_kernel(stride, dtype=self.weight.dtype)
                for c in range(in_channels):
                    self.weight[c, c] = kernel
                if self.bias is not None:
                    self.bias.zero_()
        elif init != "default":
            raise ConfigError(f"TransposeConv2d init must be 'default' or 'bilinear'; got {init!r}")

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same output through :func:`transpose_conv2d` (bed of nails + convolution)."""
        return transpose_conv2d(x, self.weight, self.bias, stride=self.stride[0], padding=self.padding[0],
                                output_padding=self.output_padding[0])
