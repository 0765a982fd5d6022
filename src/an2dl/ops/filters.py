"""Local non-linear filters: median, minimum (erosion) and maximum (dilation) (notes §3.1.2).

The notes write a local transformation as ``G(r, c) = T_U[I](r, c)``: the
output pixel depends on the input pixels in a neighbourhood ``U`` of
``(r, c)``, and the same ``T_U`` is used everywhere (spatial invariance).
:mod:`an2dl.ops.correlation` holds the linear case (a weighted sum over
``U``); this module holds three classic non-linear ``T_U``::

    median_filter: G(r, c) = median { I(r + u, c + v) : (u, v) ∈ U }
    min_filter:    G(r, c) = min    { I(r + u, c + v) : (u, v) ∈ U }   (grey-level erosion)
    max_filter:    G(r, c) = max    { I(r + u, c + v) : (u, v) ∈ U }   (grey-level dilation)

``U`` is an ``h × w`` rectangle.  For odd sides it is centred,
``{-L..L}``; for an even side ``n`` it spans ``-n//2 .. n//2 - 1`` (the centre
is the element ``n // 2`` of the window), which is what
``scipy.ndimage`` does with ``origin=0``.  For a median over an even number of
values ``m`` we return the element of rank ``m // 2`` (0-based) of the sorted
window, the upper of the two middle values, again as ``scipy.ndimage`` does;
we never average the two middle values.

A median is robust to outliers: a window in which fewer than half of the
pixels were replaced by salt (1) or pepper (0) noise (:func:`salt_and_pepper`)
keeps a value from the clean image, whereas a box filter spreads every outlier
over its whole window.

Borders (``padding``), with the names and meanings of ``scipy.ndimage``
(for an axis ``a b c d``):

* ``"reflect"`` (default): half-sample symmetric, ``... b a | a b c d | d c b ...``;
* ``"mirror"``: whole-sample symmetric, ``... c b | a b c d | c b ...``
  (PyTorch's ``F.pad(mode="reflect")``);
* ``"nearest"``: the edge pixel repeated, ``... a a | a b c d | d d ...``;
* ``"wrap"``: periodic, ``... c d | a b c d | a b ...``;
* ``"constant"``: the value ``cval`` outside the image.

Implementation: the padded image is gathered with one index per row and per
column (so any window size works, also one larger than the image), every
window is exposed as a view with ``Tensor.unfold`` and reduced along its last
dimension: no Python loop over pixels.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

__all__ = [
    "PADDING_MODES",
    "median_filter",
    "min_filter",
    "max_filter",
    "salt_and_pepper",
]

#: border modes understood by the filters of this module (``scipy.ndimage`` names)
PADDING_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def _as_nchw(image: torch.Tensor, name: str) -> tuple[torch.Tensor, int]:
    """``[H, W]``, ``[C, H, W]`` or ``[N, C, H, W]`` -> ``[N, C, H, W]`` and the original rank."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(image).__name__}")
    if image.dtype == torch.bool or image.is_complex():
        raise TypeError(f"{name} must hold real numbers (floating point or integer); got {image.dtype}")
    if image.dim() not in (2, 3, 4):
        raise ValueError(f"{name} must have shape [H, W], [C, H, W] or [N, C, H, W]; got {list(image.shape)}")
    if image.shape[-1] == 0 or image.shape[-2] == 0:
        raise ValueError(f"{name} must have at least one pixel; got shape {list(image.shape)}")
    rank = image.dim()
    while image.dim() < 4:
        image = image.unsqueeze(0)
    return image, rank


def _window(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair)
    ):
        raise ConfigError(f"size must be a positive integer or a pair (h, w) of them; got {size!r}")
    return int(pair[0]), int(pair[1])


def _source_index(n: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """For each position ``-before .. n + after - 1`` of a padded axis, the input index it copies."""
    p = torch.arange(-before, n + after, device=device)
    if mode == "reflect":  # period 2n: a b c d | d c b a
        m = p.remainder(2 * n)
        return torch.where(m < n, m, 2 * n - 1 - m)
    if mode == "mirror":  # period 2n - 2: a b c d | c b
        if n == 1:
            return torch.zeros_like(p)
        m = p.remainder(2 * n - 2)
        return torch.where(m < n, m, 2 * n - 2 - m)
    if mode == "wrap":
        return p.remainder(n)
    # "nearest", and "constant" before its out-of-image positions are overwritten
    return p.clamp(0, n - 1)


def _pad(x: torch.Tensor, kh: int, kw: int, mode: str, cval: float) -> torch.Tensor:
    """Pad ``[N, C, H, W]`` so that every pixel has a full ``kh × kw`` window (scipy's origin 0)."""
    h, w = x.shape[-2:]
    top, left = kh // 2, kw // 2
    bottom, right = kh - 1 - top, kw - 1 - left
    rows = _source_index(h, top, bottom, mode, x.device)
    cols = _source_index(w, left, right, mode, x.device)
    xp = x.index_select(-2, rows).index_select(-1, cols)  # (N, C, H + kh - 1, W + kw - 1)
    if mode == "constant":
        r = torch.arange(-top, h + bottom, device=x.device)
        c = torch.arange(-left, w + right, device=x.device)
        outside = ((r < 0) | (r >= h))[:, None] | ((c < 0) | (c >= w))[None, :]
        xp = xp.masked_fill(outside, cval)
    return xp


def _windows(image: torch.Tensor, size: int | tuple[int, int], padding: str, cval: float,
             name: str) -> tuple[torch.Tensor, int]:
    """Every ``h × w`` window of the image, flattened: ``[N, C, H, W, h·w]``, and the input rank."""
    x, rank = _as_nchw(image, name)
    kh, kw = _window(size)
    if padding not in PADDING_MODES:
        raise ConfigError(f"padding must be one of {PADDING_MODES}; got {padding!r}")
    if isinstance(cval, bool) or not isinstance(cval, (int, float)):
        raise ConfigError(f"cval must be a number; got {cval!r}")
    xp = _pad(x, kh, kw, padding, cval)
    win = xp.unfold(2, kh, 1).unfold(3, kw, 1)  # (N, C, H, W, kh, kw), a view
    return win.reshape(*win.shape[:4], kh * kw), rank


def _restore(out: torch.Tensor, rank: int) -> torch.Tensor:
    while out.dim() > rank:
        out = out.squeeze(0)
    return out


def median_filter(image: torch.Tensor, size: int | tuple[int, int] = 3, *, padding: str = "reflect",
                  cval: float = 0.0) -> torch.Tensor:
    """Median of every ``h × w`` neighbourhood, channel by channel (notes §3.1.2, a non-linear ``T_U``).

    Equal to ``scipy.ndimage.median_filter(image, size=(h, w), mode=padding, cval=cval)``
    applied to each channel; for windows of an even number ``m`` of pixels
    the element of rank ``m // 2`` of the sorted window (scipy's choice).

    Args:
        image: ``[H, W]``, ``[C, H, W]`` or ``[N, C, H, W]``, real dtype (float images in [0, 1]).
        size: window side ``k`` (``k × k``) or ``(h, w)``; any positive size, odd or even.
        padding: border mode, one of :data:`PADDING_MODES` (default ``"reflect"``, scipy's default).
        cval: the value outside the image with ``padding="constant"``.

    Returns:
        a tensor of the input's shape and dtype.

    Raises:
        TypeError: not a tensor, or a bool/complex one; ValueError: wrong rank or
        an empty image; ConfigError: bad ``size``, ``padding`` or ``cval``.
    """
    win, rank = _windows(image, size, padding, cval, "image")
    k = win.shape[-1] // 2 + 1  # kthvalue counts from 1: rank m // 2 of the sorted window
    return _restore(win.kthvalue(k, dim=-1).values, rank)


def min_filter(image: torch.Tensor, size: int | tuple[int, int] = 3, *, padding: str = "reflect",
               cval: float = 0.0) -> torch.Tensor:
    """Minimum of every ``h × w`` neighbourhood: grey-level erosion with a flat rectangle (notes §3.1.2).

    Equal to ``scipy.ndimage.minimum_filter(image, size=(h, w), mode=padding, cval=cval)``
    per channel.  Arguments, shapes and errors as in :func:`median_filter`.
    """
    win, rank = _windows(image, size, padding, cval, "image")
    return _restore(win.amin(dim=-1), rank)


def max_filter(image: torch.Tensor, size: int | tuple[int, int] = 3, *, padding: str = "reflect",
               cval: float = 0.0) -> torch.Tensor:
    """Maximum of every ``h × w`` neighbourhood: grey-level dilation with a flat rectangle (notes §3.1.2).

    Equal to ``scipy.ndimage.maximum_filter(image, size=(h, w), mode=padding, cval=cval)``
    per channel.  Arguments, shapes and errors as in :func:`median_filter`.
    """
    win, rank = _windows(image, size, padding, cval, "image")
    return _restore(win.amax(dim=-1), rank)


def salt_and_pepper(image: torch.Tensor, amount: float = 0.05, *, salt_vs_pepper: float = 0.5,
                    seed: int = 0) -> torch.Tensor:
    """Impulse noise: replace a fraction ``amount`` of the values by 1 (salt) or 0 (pepper).

    Each value (every channel of every pixel) is hit independently with
    probability ``amount``; a hit value becomes 1 with probability
    ``salt_vs_pepper`` and 0 otherwise.  The draws come from a CPU generator
    seeded with ``seed``, so the noise is the same on every device.

    Args:
        image: floating tensor of any shape, values in [0, 1].
        amount: probability that a value is replaced, in [0, 1].
        salt_vs_pepper: fraction of the replaced values set to 1, in [0, 1].
        seed: seed of the draws.

    Returns:
        a new tensor of the input's shape, dtype and device.
    """
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise TypeError(
            f"image must be a floating-point tensor with values in [0, 1]; got {getattr(image, 'dtype', type(image).__name__)}"
        )
    for name, value in (("amount", amount), ("salt_vs_pepper", salt_vs_pepper)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"{name} must be a number in [0, 1]; got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer; got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    hit = torch.rand(image.shape, generator=gen) < amount
    salt = torch.rand(image.shape, generator=gen) < salt_vs_pepper
    hit, salt = hit.to(image.device), salt.to(image.device)
    return torch.where(hit, salt.to(image.dtype), image)
