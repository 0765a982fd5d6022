"""Arithmetic of convolutional and pooling layers: output sizes and parameter counts (notes §3.3).

The notes count the parameters of a convolutional layer with ``n_f`` filters
of size ``h_r × h_c`` over an input of depth ``c`` as::

    parameters = (h_r · h_c · c) · n_f + n_f

(one weight per filter tap and input channel, plus one bias per filter), and
contrast it with a dense layer, whose ``d_in · d_out + d_out`` parameters grow
with the image size (§3.3.5).  The spatial size of the output of a
convolution or pooling window sliding with stride ``s`` over ``n`` pixels
padded by ``p`` on each side, with dilation ``δ`` (Dumoulin & Visin 2016,
"A guide to convolution arithmetic for deep learning")::

    n_out = floor((n + 2p − δ·(k − 1) − 1) / s) + 1

which is what ``nn.Conv2d`` and ``nn.MaxPool2d`` compute (the tests check
both).  Pooling with ``ceil_mode=True`` rounds up instead, dropping a last
window that would start inside the right padding, as PyTorch does.
"""

from __future__ import annotations

import math

from ..errors import ConfigError

__all__ = [
    "conv_output_size",
    "conv2d_output_shape",
    "pool_output_size",
    "conv2d_parameter_count",
    "dense_parameter_count",
]


def _pair(value: int | tuple[int, int], name: str, *, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in pair)
    ):
        raise ConfigError(f"{name} must be an integer >= {minimum} or a pair of them; got {value!r}")
    return int(pair[0]), int(pair[1])


def conv_output_size(size: int, kernel_size: int, *, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis: ``floor((n + 2p − δ(k − 1) − 1) / s) + 1``.

    Args:
        size: input length ``n`` (pixels).
        kernel_size: window ``k``; stride ``s`` (> 0); padding ``p`` (≥ 0) on
            each side; dilation ``δ`` (> 0).

    Raises:
        ConfigError: non-positive arguments or a window larger than the padded input.
    """
    for name, v, low in (("size", size, 1), ("kernel_size", kernel_size, 1), ("stride", stride, 1),
                         ("padding", padding, 0), ("dilation", dilation, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ConfigError(f"{name} must be an integer >= {low}; got {v!r}")
    span = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < span:
        raise ConfigError(
            f"a window spanning {span} pixels does not fit in an input of {size} pixels padded by {padding}"
        )
    return (size + 2 * padding - span) // stride + 1


def conv2d_output_shape(
    input_shape: tuple[int, int, int],
    *,
    filters: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, int, int]:
    """Shape ``(n_f, H', W')`` of a convolution's output volume for an input ``(C, H, W)``."""
    if len(input_shape) != 3:
        raise ConfigError(f"input_shape must be (C, H, W); got {input_shape!r}")
    if not isinstance(filters, int) or filters < 1:
        raise ConfigError(f"filters must be a positive integer; got {filters!r}")
    k, s = _pair(kernel_size, "kernel_size", minimum=1), _pair(stride, "stride", minimum=1)
    p, d = _pair(padding, "padding", minimum=0), _pair(dilation, "dilation", minimum=1)
    _, h, w = input_shape
    return (
        filters,
        conv_output_size(h, k[0], stride=s[0], padding=p[0], dilation=d[0]),
        conv_output_size(w, k[1], stride=s[1], padding=p[1], dilation=d[1]),
    )


def pool_output_size(
    size: int, kernel_size: int, *, stride: int | None = None, padding: int = 0, ceil_mode: bool = False
) -> int:
    """Output length of a pooling window sliding over ``size`` pixels (notes §3.3.3).

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows, the usual
    case in the notes); a smaller stride gives overlapping windows.  With
    ``ceil_mode`` the division rounds up, but a last window that would start
    in the right padding is dropped (PyTorch's rule).
    """
    stride = kernel_size if stride is None else stride
    if not ceil_mode:
        return conv_output_size(size, kernel_size, stride=stride, padding=padding)
    conv_output_size(size, kernel_size, stride=stride, padding=padding)  # validates the arguments
    out = math.ceil((size + 2 * padding - kernel_size) / stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv2d_parameter_count(
    kernel_size: int | tuple[int, int], in_channels: int, filters: int, *, bias: bool = True, groups: int = 1
) -> int:
    """``(h_r · h_c · c) · n_f + n_f`` (notes §3.3.1); with ``groups`` each filter sees ``c / groups`` channels.

    Args:
        kernel_size: ``h_r`` (= ``h_c``) or ``(h_r, h_c)``.
        in_channels: input depth ``c``.
        filters: number of filters ``n_f`` (= output channels).
        bias: add the ``n_f`` biases.
        groups: grouped convolution (``groups = c``: depthwise); 1 in the notes.
    """
    h_r, h_c = _pair(kernel_size, "kernel_size", minimum=1)
    for name, v in (("in_channels", in_channels), ("filters", filters), ("groups", groups)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name} must be a positive integer; got {v!r}")
    if in_channels % groups or filters % groups:
        raise ConfigError(f"in_channels={in_channels} and filters={filters} must both be divisible by groups={groups}")
    c = in_channels // groups
    return (h_r * h_c * c) * filters + (filters if bias else 0)


def dense_parameter_count(in_features: int, out_features: int, *, bias: bool = True) -> int:
    """``d_in · d_out + d_out``: the parameters of a fully connected layer (notes §3.3.5)."""
    for name, v in (("in_features", in_features), ("out_features", out_features)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name} must be a positive integer; got {v!r}")
    return in_features * out_features + (out_features if bias else 0)
