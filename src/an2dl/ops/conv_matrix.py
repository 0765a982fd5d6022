"""A convolutional layer written as the weight matrix of a dense layer (notes §3.3.5).

A convolution is linear in its input, so for a fixed input size it is a
matrix: flattening the input volume ``x ∈ R^{C_in × H × W}`` and the output
volume ``a ∈ R^{C_out × H' × W'}``::

    a.flatten() = M · x.flatten() (+ bias),   M ∈ R^{(C_out·H'·W') × (C_in·H·W)}

with, for output ``(o, r, c)`` and input ``(i, r_in, c_in)``::

    M[(o, r, c), (i, r_in, c_in)] = w[o, i, u, v]   if r_in = s_r·r − p_r + δ_r·u
                                                    and c_in = s_c·c − p_c + δ_c·v
                                    0               otherwise

(``F.conv2d``'s correlation, no kernel flip; ``s`` stride, ``p`` padding,
``δ`` dilation).  The notes contrast this matrix with the one of a dense
layer of the same input and output sizes:

* **sparse connectivity**: row ``(o, r, c)`` has at most ``C_in·h·w``
  non-zero entries, those of the inputs under the filter's window; all the
  other entries are zero;
* **weight sharing**: every row of output channel ``o`` holds the same
  ``C_in·h·w`` numbers ``w[o]``, shifted: the whole matrix uses only
  ``C_out·C_in·h·w`` distinct weights, where the dense layer has one free
  weight per entry;
* **circular structure**: with circular padding and stride 1, each
  ``(o, i)`` block is doubly block-circulant, so ``M`` commutes with cyclic
  shifts of the image — the matrix form of translation equivariance.

:func:`conv2d_as_matrix` builds ``M`` with every index computed at once
(no loop over pixels), :func:`matrix_sharing` counts its non-zero entries
and distinct weights, :func:`conv_vs_dense_parameters` compares the
parameter counts of the two layers and :func:`translation_equivariance_error`
measures how far a layer is from commuting with a shift of the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..nn.cnn_layers import conv2d_output_shape, conv2d_parameter_count, dense_parameter_count

__all__ = [
    "PADDING_MODES",
    "conv2d_as_matrix",
    "matrix_sharing",
    "conv_vs_dense_parameters",
    "translation_equivariance_error",
    "MatrixSharing",
    "ConvDenseParameters",
]

#: ``"zeros"``: F.conv2d's zero padding; ``"circular"``: nn.Conv2d(padding_mode="circular"), the image wraps around
PADDING_MODES = ("zeros", "circular")


def _pair(value: int | tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in pair)
    ):
        raise ConfigError(f"{name} must be an integer >= {minimum} or a pair of them; got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_input_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if (
        not isinstance(input_shape, (tuple, list, torch.Size))
        or len(input_shape) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in input_shape)
    ):
        raise ConfigError(f"input_shape must be (C_in, H, W) with positive integers; got {input_shape!r}")
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


def _entries(
    weight_shape: tuple[int, int, int, int],
    input_shape: tuple[int, int, int] | torch.Size,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    padding_mode: str,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Row, column and flat weight index of every weight occurrence in ``M``, and the matrix shape."""
    c_out, c_in, kh, kw = weight_shape
    ci, h, w = _check_input_shape(input_shape)
    if ci != c_in:
        raise ConfigError(f"input_shape has {ci} channels but the weight expects C_in={c_in}")
    if padding_mode not in PADDING_MODES:
        raise ConfigError(f"padding_mode must be one of {PADDING_MODES}; got {padding_mode!r}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    _, ho, wo = conv2d_output_shape((c_in, h, w), filters=c_out, kernel_size=(kh, kw), stride=(sh, sw),
                                    padding=(ph, pw), dilation=(dh, dw))

    def axis(n: int, dim: int) -> torch.Tensor:
        shape = [1] * 6
        shape[dim] = n
        return torch.arange(n, device=device).view(shape)

    # one axis per index of the sum: (o, r, c, i, u, v) -> (C_out, H', W', C_in, kh, kw)
    o, r, c, i, u, v = axis(c_out, 0), axis(ho, 1), axis(wo, 2), axis(c_in, 3), axis(kh, 4), axis(kw, 5)
    r_in = r * sh - ph + u * dh  # (1, H', 1, 1, kh, 1)
    c_in_ = c * sw - pw + v * dw  # (1, 1, W', 1, 1, kw)
    full = (c_out, ho, wo, c_in, kh, kw)
    if padding_mode == "circular":
        r_in, c_in_ = r_in.remainder(h), c_in_.remainder(w)
        keep = torch.ones(full, dtype=torch.bool, device=device)
    else:  # zero padding: taps that fall outside the image contribute nothing
        keep = ((r_in >= 0) & (r_in < h) & (c_in_ >= 0) & (c_in_ < w)).expand(full)
    rows = ((o * ho + r) * wo + c).expand(full)[keep]
    cols = ((i * h + r_in) * w + c_in_).expand(full)[keep]
    widx = (((o * c_in + i) * kh + u) * kw + v).expand(full)[keep]
    return rows, cols, widx, (c_out * ho * wo, c_in * h * w)


def _check_weight(weight: torch.Tensor) -> None:
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor; got {getattr(weight, 'dtype', type(weight).__name__)}")
    if weight.dim() != 4:
        raise ValueError(f"weight must have shape [C_out, C_in, h, w]; got {list(weight.shape)}")


def conv2d_as_matrix(
    weight: torch.Tensor,
    input_shape: tuple[int, int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
    dense: bool = False,
) -> torch.Tensor:
    """The matrix ``M`` with ``M @ x.flatten() == F.conv2d(x, weight, ...).flatten()`` (notes §3.3.5).

    Rows are the output volume flattened in ``(C_out, H', W')`` order, columns
    the input volume in ``(C_in, H, W)`` order (PyTorch's ``flatten`` of one
    sample).  The bias is not part of ``M``: add it to the product.  The
    entries are taken from ``weight`` by indexing, so gradients flow back to it.

    Args:
        weight: ``[C_out, C_in, h, w]`` float, as in ``nn.Conv2d.weight``.
        input_shape: ``(C_in, H, W)`` of one sample.
        stride, padding, dilation: as in ``F.conv2d`` (int or pair; padding ≥ 0).
        padding_mode: ``"zeros"`` (``F.conv2d``) or ``"circular"`` (the image
            wraps around, ``nn.Conv2d(padding_mode="circular")``).
        dense: return a dense tensor instead of a coalesced ``torch.sparse_coo`` one.

    Returns:
        ``[C_out·H'·W', C_in·H·W]`` with the weight's dtype and device; with
        circular padding on a tiny image a tap that wraps onto the same input
        twice adds both weights into one entry.

    Shape:
        a batch ``x [B, C_in, H, W]`` maps to ``(M @ x.flatten(1).T).T``, ``[B, C_out·H'·W']``.

    Raises:
        TypeError / ValueError: a weight that is not a float ``[C_out, C_in, h, w]`` tensor;
        ConfigError: bad ``input_shape``, channel mismatch, bad stride/padding/dilation,
        a window larger than the padded input, unknown ``padding_mode``.
    """
    _check_weight(weight)
    rows, cols, widx, shape = _entries(tuple(weight.shape), input_shape, stride, padding, dilation, padding_mode,
                                       weight.device)
    values = weight.reshape(-1)[widx]
    if dense:
        m = weight.new_zeros(shape)
        return m.index_put((rows, cols), values, accumulate=True)
    # the indices are in range by construction, so the invariant check would only cost time
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, check_invariants=False).coalesce()


@dataclass(frozen=True)
class MatrixSharing:
    """How sparse a convolution's matrix is and how few weights fill it (see :func:`matrix_sharing`)."""

    shape: tuple[int, int]  # (C_out·H'·W', C_in·H·W)
    entries: int  # rows × columns: the free weights of a dense layer of the same sizes (bias aside)
    nonzero: int  # entries that hold a weight (structurally non-zero, whatever the weight's value)
    weight_uses: int  # occurrences of a weight in the matrix (= nonzero unless circular padding wraps a tap twice)
    distinct_weights: int  # different weights w[o, i, u, v] that occur at least once
    density: float  # nonzero / entries
    uses_per_weight: float  # weight_uses / distinct_weights: how many times each weight is shared


def matrix_sharing(
    weight_shape: tuple[int, int, int, int] | torch.Size | torch.Tensor,
    input_shape: tuple[int, int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
) -> MatrixSharing:
    """Count the non-zero entries of the convolution's matrix and the distinct weights they use (notes §3.3.5).

    Counts the structure, not values: a weight that happens to be 0 still
    counts as an entry that holds it.

    Args:
        weight_shape: ``(C_out, C_in, h, w)``, or the weight tensor itself.
        input_shape, stride, padding, dilation, padding_mode: as in :func:`conv2d_as_matrix`.
    """
    if isinstance(weight_shape, torch.Tensor):
        weight_shape = tuple(weight_shape.shape)
    if (
        not isinstance(weight_shape, (tuple, list, torch.Size))
        or len(weight_shape) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in weight_shape)
    ):
        raise ConfigError(f"weight_shape must be (C_out, C_in, h, w) with positive integers; got {weight_shape!r}")
    rows, cols, widx, shape = _entries(tuple(weight_shape), input_shape, stride, padding, dilation, padding_mode,
                                       torch.device("cpu"))
    entries = shape[0] * shape[1]
    nonzero = int(torch.unique(rows * shape[1] + cols).numel())
    distinct = int(torch.unique(widx).numel())
    uses = int(widx.numel())
    return MatrixSharing(shape=shape, entries=entries, nonzero=nonzero, weight_uses=uses, distinct_weights=distinct,
                         density=nonzero / entries, uses_per_weight=uses / distinct)


@dataclass(frozen=True)
class ConvDenseParameters:
    """Parameters of a convolutional layer and of the dense layer with the same input and output sizes."""

    conv: int  # (h·w·C_in)·C_out + C_out (notes §3.3.1)
    dense: int  # d_in·d_out + d_out with d_in = C_in·H·W, d_out = C_out·H'·W'
    in_features: int  # C_in·H·W
    out_features: int  # C_out·H'·W'
    output_shape: tuple[int, int, int]  # (C_out, H', W')

    @property
    def ratio(self) -> float:
        """How many times more parameters the dense layer has."""
        return self.dense / self.conv


def conv_vs_dense_parameters(
    c_in: int,
    c_out: int,
    k: int | tuple[int, int],
    input_hw: tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    bias: bool = True,
) -> ConvDenseParameters:
    """Parameter counts of a ``k × k`` convolution and of a dense layer mapping the same sizes (notes §3.3.5).

    The convolution's count does not depend on the image size; the dense
    layer's grows with the product of the input and output sizes.

    Args:
        c_in, c_out: input and output channels.
        k: kernel side or ``(h, w)``.
        input_hw: ``(H, W)`` of the input.
        stride, padding, dilation: of the convolution (they fix ``H' × W'``).
        bias: count one bias per output channel (conv) / per output unit (dense).
    """
    if (
        not isinstance(input_hw, (tuple, list))
        or len(input_hw) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in input_hw)
    ):
        raise ConfigError(f"input_hw must be (H, W) with positive integers; got {input_hw!r}")
    conv = conv2d_parameter_count(k, c_in, c_out, bias=bias)
    out_shape = conv2d_output_shape((c_in, *input_hw), filters=c_out, kernel_size=k, stride=stride, padding=padding,
                                    dilation=dilation)
    d_in = c_in * input_hw[0] * input_hw[1]
    d_out = out_shape[0] * out_shape[1] * out_shape[2]
    return ConvDenseParameters(conv=conv, dense=dense_parameter_count(d_in, d_out, bias=bias), in_features=d_in,
                               out_features=d_out, output_shape=out_shape)


def translation_equivariance_error(
    layer: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    shift: tuple[int, int],
) -> float:
    """How far ``layer`` is from commuting with a cyclic shift of the image: ``‖f(S x) − S f(x)‖ / ‖f(x)‖``.

    ``S`` rolls the rows by ``shift[0]`` and the columns by ``shift[1]``
    (``torch.roll``, the image wrapping around).  A stride-1 convolution with
    circular padding gives 0 up to rounding (translation equivariance, notes
    §3.3.5); a dense layer in general does not.

    Args:
        layer: maps ``[B, C, H, W]`` to ``[B, C', H, W]`` (the same ``H × W``,
            so that the output can be shifted like the input).
        x: ``[B, C, H, W]`` float.
        shift: ``(rows, columns)`` to roll by.

    Returns:
        the relative error (a Python float, 0 for an exactly equivariant layer).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor [B, C, H, W]; got {getattr(x, 'shape', type(x).__name__)}")
    dy, dx = _shift_pair(shift)
    with torch.no_grad():
        y = layer(x)
        if y.dim() != 4 or y.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"layer must map [B, C, H, W] to [B, C', H, W] with the input's H × W; "
                             f"got {list(x.shape)} -> {list(y.shape)}")
        shifted_then_layer = layer(torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))
        layer_then_shifted = torch.roll(y, shifts=(dy, dx), dims=(-2, -1))
        error = (shifted_then_layer - layer_then_shifted).norm() / y.norm().clamp(min=torch.finfo(y.dtype).tiny)
    return float(error)


def _shift_pair(shift: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(shift, (tuple, list))
        or len(shift) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in shift)
    ):
        raise ConfigError(f"shift must be a pair of integers (rows, columns); got {shift!r}")
    return int(shift[0]), int(shift[1])
