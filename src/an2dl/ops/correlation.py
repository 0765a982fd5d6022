"""Local linear filters: the correlation (I ⊗ w)(r, c) and classic kernels (notes §3.1.2, §3.3.1).

The notes define a local linear filter as a weighted sum over a neighbourhood
``U = {-L, ..., L}²`` of the pixel, the same weights everywhere (spatial
invariance)::

    (I ⊗ w)(r, c) = Σ_{u=-L..L} Σ_{v=-L..L} w(u, v) · I(r + u, c + v)

and, for a multi-channel image, the sum runs over the channels too::

    T_U[I](r, c) = Σ_i Σ_{(u,v) ∈ U} w(u, v, i) · I(r + u, c + v, i)

A convolutional layer (§3.3.1) is a bank of such filters plus a bias:
``a(r, c, l) = Σ_{u,v,k} w^l(u, v, k) · x(r + u, c + v, k) + b^l``.

:func:`correlate2d_reference` computes exactly those sums, one shifted copy
of the image per filter offset ``(u, v)`` (vectorised over pixels, channels
and the batch).  :func:`correlate2d` is the fast path: ``F.conv2d``, which —
despite its name — computes this correlation (no kernel flip); the tests
prove both equal in float64.  :func:`filter2d` applies one 2-D kernel to every
channel separately (the notes' "each colour channel is processed separately").

Kernels: :func:`box_kernel` (moving average), :func:`gaussian_kernel`
(Gaussian blur), :func:`sobel_kernels` (image derivatives, Sobel & Feldman
1968) and :func:`sobel_magnitude` (edge strength).

Borders: ``padding="same"`` pads the image by ``L`` on each side so the output
has the input's size (zeros by default; ``"reflect"`` or ``"replicate"``
avoid dark frames when blurring); ``padding="valid"`` keeps only the pixels
whose whole neighbourhood lies inside the image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "correlate2d",
    "correlate2d_reference",
    "filter2d",
    "box_kernel",
    "gaussian_kernel",
    "sobel_kernels",
    "sobel_magnitude",
]

_PADDINGS = ("same", "valid")
_BORDERS = ("zeros", "reflect", "replicate")


def _as_batch(image: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, bool]:
    """``[C, H, W]`` or ``[B, C, H, W]`` floating tensor -> ``[B, C, H, W]`` and whether it was batched."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (e.g. float32 in [0, 1]); got {image.dtype}")
    if image.dim() == 3:
        return image.unsqueeze(0), False
    if image.dim() == 4:
        return image, True
    raise ValueError(f"{name} must have shape [C, H, W] or [B, C, H, W]; got {list(image.shape)}")


def _check_weight(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """Filter bank ``[C, h, w]`` (one filter) or ``[F, C, h, w]`` -> ``[F, C, h, w]`` with odd ``h``, ``w``."""
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor; got {getattr(weight, 'dtype', type(weight).__name__)}")
    if weight.dim() == 3:
        weight = weight.unsqueeze(0)
    if weight.dim() != 4:
        raise ValueError(f"weight must have shape [C, h, w] or [F, C, h, w]; got {list(weight.shape)}")
    if weight.shape[1] != channels:
        raise ValueError(f"weight spans {weight.shape[1]} channels but the image has {channels}")
    h, w = weight.shape[-2:]
    if h % 2 == 0 or w % 2 == 0:
        raise ValueError(
            f"the filter needs odd height and width (a centre pixel, offsets -L..L); got {h}×{w}"
        )
    return weight


def _pad(x: torch.Tensor, lr: int, lc: int, padding: str, border: str) -> torch.Tensor:
    if padding not in _PADDINGS:
        raise ConfigError(f"padding must be one of {_PADDINGS}; got {padding!r}")
    if border not in _BORDERS:
        raise ConfigError(f"border must be one of {_BORDERS}; got {border!r}")
    if padding == "valid" or (lr == 0 and lc == 0):
        return x
    if border == "zeros":
        return F.pad(x, (lc, lc, lr, lr))
    if border == "reflect" and (lr >= x.shape[-2] or lc >= x.shape[-1]):
        raise ValueError(f"reflect padding by {lr}×{lc} needs an image larger than that; got {list(x.shape[-2:])}")
    return F.pad(x, (lc, lc, lr, lr), mode=border)


def correlate2d_reference(
    image: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    padding: str = "same",
    border: str = "zeros",
) -> torch.Tensor:
    """The correlation written as the notes' sum over filter offsets (slow, exact reference).

    ``out[b, l, r, c] = Σ_{u=-L_r..L_r} Σ_{v=-L_c..L_c} Σ_k w[l, k, L_r + u, L_c + v] · I[b, k, r + u, c + v] + bias[l]``
    (notes §3.1.2 and §3.3.1), with the border handled as in :func:`correlate2d`.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` float.
        weight: one filter ``[C, 2L_r+1, 2L_c+1]`` or a bank ``[F, C, 2L_r+1, 2L_c+1]``.
        bias: optional ``[F]``.
        padding: ``"same"`` or ``"valid"``; border: ``"zeros"``, ``"reflect"``, ``"replicate"``.

    Returns:
        ``[F, H', W']`` or ``[B, F, H', W']`` (batch dimension as given).
    """
    x, batched = _as_batch(image)
    w = _check_weight(weight, x.shape[1])
    n_f, _, kh, kw = w.shape
    lr, lc = kh // 2, kw // 2
    xp = _pad(x, lr, lc, padding, border)
    out_h, out_w = xp.shape[-2] - 2 * lr, xp.shape[-1] - 2 * lc
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"a {kh}×{kw} filter does not fit in a {x.shape[-2]}×{x.shape[-1]} image with padding='valid'")
    out = x.new_zeros(x.shape[0], n_f, out_h, out_w)
    for u in range(-lr, lr + 1):
        for v in range(-lc, lc + 1):
            # I(r + u, c + v) for every output pixel (r, c): a shifted window of the padded image
            shifted = xp[:, :, lr + u : lr + u + out_h, lc + v : lc + v + out_w]  # (B, C, H', W')
            w_uv = w[:, :, lr + u, lc + v]  # (F, C)
            out = out + torch.einsum("fc,bchw->bfhw", w_uv, shifted)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out if batched else out.squeeze(0)


def correlate2d(
    image: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    padding: str = "same",
    border: str = "zeros",
) -> torch.Tensor:
    """Correlation ``(I ⊗ w)(r, c)`` summed over channels, for a bank of filters (fast path: ``F.conv2d``).

    Same function as :func:`correlate2d_reference` (notes §3.1.2, §3.3.1);
    ``F.conv2d`` computes correlation, not a flipped convolution.

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` float.
        weight: ``[C, h, w]`` (one filter) or ``[F, C, h, w]`` (a bank), odd ``h`` and ``w``.
        bias: optional ``[F]``.
        padding: ``"same"`` (output ``H × W``) or ``"valid"`` (``(H - h + 1) × (W - w + 1)``).
        border: value outside the image with ``"same"``: ``"zeros"``, ``"reflect"`` or ``"replicate"``.

    Returns:
        ``[F, H', W']`` or ``[B, F, H', W']``.

    Raises:
        TypeError: non-float image or weight; ValueError: wrong ranks, channel
        mismatch, even-sized filters; ConfigError: unknown ``padding``/``border``.
    """
    x, batched = _as_batch(image)
    w = _check_weight(weight, x.shape[1]).to(x.dtype)
    kh, kw = w.shape[-2:]
    xp = _pad(x, kh // 2, kw // 2, padding, border)
    if xp.shape[-2] < kh or xp.shape[-1] < kw:
        raise ValueError(f"a {kh}×{kw} filter does not fit in a {x.shape[-2]}×{x.shape[-1]} image with padding='valid'")
    out = F.conv2d(xp, w, bias)
    return out if batched else out.squeeze(0)


def filter2d(image: torch.Tensor, kernel: torch.Tensor, *, padding: str = "same", border: str = "reflect") -> torch.Tensor:
    """Apply one 2-D kernel to every channel separately (notes §3.1.2, colour images).

    Args:
        image: ``[C, H, W]`` or ``[B, C, H, W]`` float.
        kernel: ``[h, w]`` with odd sides.
        padding, border: as in :func:`correlate2d` (default border ``"reflect"``,
            which keeps blurred borders from darkening).

    Returns:
        a tensor with the image's channels: ``[(B,) C, H', W']``.
    """
    x, batched = _as_batch(image)
    if not isinstance(kernel, torch.Tensor) or kernel.dim() != 2:
        raise ValueError(f"kernel must be a 2-D tensor [h, w]; got {getattr(kernel, 'shape', type(kernel).__name__)}")
    c = x.shape[1]
    w = _check_weight(kernel.to(x.dtype).expand(c, 1, *kernel.shape), 1)
    kh, kw = kernel.shape
    xp = _pad(x, kh // 2, kw // 2, padding, border)
    out = F.conv2d(xp, w, groups=c)  # one group per channel: no sum across channels
    return out if batched else out.squeeze(0)


def _odd_size(size: int, name: str) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size % 2 == 0:
        raise ConfigError(f"{name} size must be an odd positive integer (2L + 1); got {size!r}")


def box_kernel(size: int = 3, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Moving-average kernel ``[size, size]`` with all weights ``1 / size²`` (a low-pass filter)."""
    _odd_size(size, "box_kernel")
    return torch.full((size, size), 1.0 / (size * size), dtype=dtype)


def gaussian_kernel(size: int | None = None, sigma: float = 1.0, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised Gaussian kernel ``w(u, v) ∝ exp(-(u² + v²) / (2σ²))``, ``u, v ∈ {-L..L}``.

    Args:
        size: odd side ``2L + 1``; default ``2·ceil(3σ) + 1`` (covers ±3σ).
        sigma: standard deviation in pixels (> 0).
    """
    if not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ConfigError(f"gaussian_kernel sigma must be a positive number; got {sigma!r}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    _odd_size(size, "gaussian_kernel")
    ax = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    k = torch.outer(g, g)
    return (k / k.sum()).to(dtype)


def sobel_kernels(*, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The Sobel derivative kernels ``(g_x, g_y)``, each ``[3, 3]``.

    ``g_x`` responds to intensity increasing to the right (vertical edges),
    ``g_y`` to intensity increasing downwards (horizontal edges): smoothing
    ``[1, 2, 1]`` in one direction times central difference ``[-1, 0, 1]`` in
    the other.  Applied by correlation (no flip), as everywhere in this module.
    """
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=dtype)
    diff = torch.tensor([-1.0, 0.0, 1.0], dtype=dtype)
    return torch.outer(smooth, diff), torch.outer(diff, smooth)


def sobel_magnitude(image: torch.Tensor, *, border: str = "replicate") -> torch.Tensor:
    """Gradient magnitude ``sqrt(g_x² + g_y²)`` per channel (an edge map), same size as the input."""
    gx, gy = sobel_kernels(dtype=image.dtype if isinstance(image, torch.Tensor) and image.is_floating_point() else torch.float32)
    dx = filter2d(image, gx, border=border)
    dy = filter2d(image, gy, border=border)
    return torch.sqrt(dx * dx + dy * dy)
