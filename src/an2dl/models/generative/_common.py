"""Argument checks and shape arithmetic shared by the generative model families."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int

__all__ = [
    "check_latent_dim",
    "check_positive_ints",
    "check_positive_int",
    "check_image_shape",
    "check_batch",
    "upsampled_base",
    "downsampled_size",
    "ACTIVATIONS",
    "activation_factory",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
}


def activation_factory(owner: str, name: str) -> Callable[[], nn.Module]:
    """The activation factory called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"{owner} activation must be one of {sorted(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]


def check_latent_dim(owner: str, latent_dim: object) -> int:
    """``latent_dim`` if it is a positive integer, else a :class:`ConfigError` naming ``owner``."""
    return check_positive_int(owner, "latent_dim", latent_dim)


def check_positive_ints(owner: str, name: str, values: object, *, allow_empty: bool = False) -> tuple[int, ...]:
    """``values`` as a tuple of positive integers (layer widths, channel counts)."""
    if isinstance(values, int) and not isinstance(values, bool):
        values = (values,)
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ConfigError(f"{owner} {name} must be a sequence of positive integers; got {values!r}")
    out = tuple(values)
    if (not out and not allow_empty) or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in out):
        need = "a sequence of positive integers" + ("" if allow_empty else " (at least one)")
        raise ConfigError(f"{owner} {name} must be {need}; got {values!r}")
    return out


def check_image_shape(owner: str, shape: object) -> tuple[int, int, int]:
    """``shape`` as ``(C, H, W)`` of positive integers."""
    if not isinstance(shape, Sequence) or len(shape) != 3 or any(
        isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in shape
    ):
        raise ConfigError(f"{owner} image shape must be three positive integers (C, H, W); got {shape!r}")
    c, h, w = shape
    return int(c), int(h), int(w)


def check_batch(owner: str, what: str, x: object, shape: Sequence[int]) -> None:
    """Raise a :class:`ValueError` unless ``x`` is a tensor ``[B, *shape]``.

    The message names ``owner``, ``what`` the tensor holds (images, codes,
    noise), the expected shape and the shape (or type) received.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
        got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        dims = ", ".join(str(d) for d in shape)
        raise ValueError(f"{owner} expects {what} of shape [B, {dims}]; got {got}")


def _pair(owner: str, image_size: object) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, Sequence)
        or len(image_size) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in image_size)
    ):
        raise ConfigError(f"{owner} image_size must be a positive integer or a pair (H, W); got {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def upsampled_base(owner: str, image_size: object, stages: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The base resolution that ``stages`` doublings turn into ``image_size``.

    A transpose convolution with kernel 4, stride 2 and padding 1 maps ``n``
    pixels to exactly ``2n``, so a decoder of ``stages`` such layers produces
    the sizes ``b·2**stages`` and nothing else.

    Returns:
        ``((H, W), (h0, w0))``: the image size and the base size.

    Raises:
        ConfigError: a side is not a multiple of ``2**stages``; the message
            lists the nearest sizes that work.
    """
    h, w = _pair(owner, image_size)
    f = 2**stages
    for side in (h, w):
        if side % f:
            lower, upper = max(f, side // f * f), (side // f + 1) * f
            raise ConfigError(
                f"{owner} cannot produce {h}x{w} images: its decoder has {stages} stride-2 transpose "
                f"convolution(s), each doubling the size, so every side must be a multiple of {f} "
                f"(e.g. {lower} or {upper}; sizes that work: {f}, {2 * f}, {3 * f}, ...)"
            )
    return (h, w), (h // f, w // f)


def downsampled_size(owner: str, image_size: object, stages: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Size after ``stages`` convolutions with kernel 4, stride 2, padding 1 (``n -> floor(n / 2)``).

    Raises:
        ConfigError: the image is too small to leave at least one pixel.
    """
    h, w = _pair(owner, image_size)
    bh, bw = h, w
    for _ in range(stages):
        bh, bw = bh // 2, bw // 2
    if bh < 1 or bw < 1:
        raise ConfigError(
            f"{owner} needs images of at least {2**stages}x{2**stages} for {stages} stride-2 stage(s); got {h}x{w}"
        )
    return (h, w), (bh, bw)
