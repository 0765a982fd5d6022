"""Pixel-wise losses of semantic segmentation (notes §3.5.1.2–§3.5.1.3).

**Pixel-wise cross-entropy.**  The categorical cross-entropy of every pixel,
summed (or averaged) over the image or a region of interest::

    L = Σ_{x ∈ Ω} w(x) · (−log p_{ℓ(x)}(x)),     p(x) = softmax(z(x))

with ``ℓ(x)`` the label of pixel ``x`` and ``Ω`` the pixels whose label is
not ``ignore_index``.  The pixels of a batch are the mini-batch of the
gradient estimate (notes §3.5.1.2).  ``reduction="mean"`` divides by the
number of pixels in ``Ω`` — not by ``Σ w(x)`` as ``F.cross_entropy`` does
with class weights — so that the mean over a batch split between processes
averages exactly, whatever the weights.

**Class weights from label frequencies** (notes §3.5.1.3: full-image
training cannot resample pixels, so it weights the loss):
``w_k = 1 / (K' · f_k)`` with ``f_k`` the fraction of labelled pixels of
class ``k`` and ``K'`` the classes present (inverse frequency: the weighted
frequencies are equal and the mean weight per pixel is 1), or
``w_k = median(f) / f_k`` (median frequency balancing, Eigen & Fergus 2015).

**The U-Net weight map** (Ronneberger et al. 2015, eq. 2)::

    w(x) = w_c(x) + w0 · exp(−(d1(x) + d2(x))² / (2σ²))

``w_c`` balances the class frequencies, ``d1`` and ``d2`` are the distances
to the nearest and second nearest object (cell), ``w0 = 10`` and
``σ ≈ 5`` pixels: the thin separation borders between touching cells get a
large weight.  Distances come from scipy's Euclidean distance transform,
one object at a time.  The border term is applied to the pixels outside
every object (the borders between cells, as the paper's Fig. 3d shows), and
distances beyond ``4σ`` are capped at ``4σ``, where the term is below
``w0 · e⁻⁸``.

**Dice loss** (Milletari et al. 2016): ``1 − mean_k (2 Σ p_k g_k + s) / (Σ p_k + Σ g_k + s)``
over the labelled pixels, with ``g_k`` the one-hot labels and ``s`` a smoothing term.

Shape:
    logits ``[B, K, H, W]``; mask ``[B, H, W]`` integer class ids in ``[0, K)`` or ``ignore_index``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "pixel_cross_entropy",
    "class_frequencies",
    "class_weights_from_frequencies",
    "unet_weight_map",
    "dice_loss",
    "WEIGHTING_SCHEMES",
]

#: the schemes of :func:`class_weights_from_frequencies`
WEIGHTING_SCHEMES = ("inverse", "median")


def _check(logits: torch.Tensor, mask: torch.Tensor, who: str) -> None:
    if logits.dim() != 4:
        raise ValueError(f"{who} logits must be [B, K, H, W]; got {list(logits.shape)}")
    if mask.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"{who} mask must be [B, H, W] = {[logits.shape[0], *logits.shape[2:]]} like the logits "
                         f"{list(logits.shape)}; got {list(mask.shape)}")
    if mask.is_floating_point():
        raise TypeError(f"{who} mask must hold integer class ids; got {mask.dtype}")


def pixel_cross_entropy(logits: torch.Tensor, mask: torch.Tensor, *, weight: torch.Tensor | None = None,
                        pixel_weights: torch.Tensor | None = None, ignore_index: int | None = None,
                        reduction: str = "mean") -> torch.Tensor:
    """Pixel-wise cross-entropy over the region of interest (see the module docstring).

    Args:
        logits: ``[B, K, H, W]`` class scores.
        mask: ``[B, H, W]`` int class ids; pixels equal to ``ignore_index`` are left out.
        weight: ``[K]`` class weights ``w_c`` (default 1).
        pixel_weights: ``[B, H, W]`` weights per pixel (the U-Net weight map), multiplying the class weights.
        ignore_index: label of the pixels outside the region of interest, or ``None``.
        reduction: ``"mean"`` (divided by the number of pixels in the region), ``"sum"`` or ``"none"`` (``[B, H, W]``,
            0 outside the region).

    Returns:
        A scalar (``mean``/``sum``) or ``[B, H, W]``.
    """
    _check(logits, mask, "pixel_cross_entropy")
    if reduction not in ("mean", "sum", "none"):
        raise ConfigError(f"pixel_cross_entropy reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")
    keep = mask != ignore_index if ignore_index is not None else torch.ones_like(mask, dtype=torch.bool)
    target = torch.where(keep, mask, torch.zeros_like(mask)).long()
    log_p = F.log_softmax(logits, dim=1)  # (B, K, H, W)
    nll = -log_p.gather(1, target.unsqueeze(1)).squeeze(1)  # (B, H, W): −log p_{ℓ(x)}(x)
    w = keep.to(nll.dtype)
    if weight is not None:
        w = w * weight.to(nll)[target]
    if pixel_weights is not None:
        w = w * pixel_weights.to(nll)
    losses = w * nll
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / keep.sum().clamp_min(1)


def class_frequencies(masks: torch.Tensor, num_classes: int, *, ignore_index: int | None = None) -> torch.Tensor:
    """Fraction of the labelled pixels that belong to each class ``[K]`` (float64, sums to 1).

    Raises:
        ValueError: labels outside ``[0, K)`` other than ``ignore_index``, or no labelled pixel.
    """
    ids = masks.reshape(-1).long()
    if ignore_index is not None:
        ids = ids[ids != ignore_index]
    if ids.numel() == 0:
        raise ValueError("class_frequencies: the masks hold no labelled pixel")
    if int(ids.min()) < 0 or int(ids.max()) >= num_classes:
        raise ValueError(f"class_frequencies: masks must hold class ids in [0, {num_classes}); got values from "
                         f"{int(ids.min())} to {int(ids.max())}")
    counts = torch.bincount(ids, minlength=num_classes).double()
    return counts / counts.sum()


def class_weights_from_frequencies(frequencies: torch.Tensor, *, scheme: str = "inverse") -> torch.Tensor:
    """Class weights ``[K]`` (float32) from label frequencies ``[K]``; absent classes get weight 0.

    ``"inverse"``: ``w_k = 1 / (K' f_k)`` (``K'`` classes present; ``Σ_k f_k w_k = 1``);
    ``"median"``: ``w_k = median(f) / f_k`` over the present classes (Eigen & Fergus 2015).
    """
    if scheme not in WEIGHTING_SCHEMES:
        raise ConfigError(f"class weighting scheme must be one of {WEIGHTING_SCHEMES}; got {scheme!r}")
    f = frequencies.double()
    present = f > 0
    if not bool(present.any()):
        raise ValueError("class_weights_from_frequencies: every frequency is 0")
    w = torch.zeros_like(f)
    if scheme == "inverse":
        w[present] = 1.0 / (int(present.sum()) * f[present])
    else:
        w[present] = f[present].median() / f[present]
    return w.float()


def unet_weight_map(mask: torch.Tensor, *, object_classes: Sequence[int] = (1,), w0: float = 10.0, sigma: float = 5.0,
                    class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """The U-Net's weight map ``w(x) = w_c(x) + w0 · exp(−(d1 + d2)² / 2σ²)`` (Ronneberger et al. 2015, eq. 2).

    Args:
        mask: ``[H, W]`` or ``[B, H, W]`` integer class ids.
        object_classes: classes whose connected regions (4-connected) are the objects (cells).
        w0, sigma: the paper's ``w0 = 10``, ``σ ≈ 5`` pixels.
        class_weights: ``[K]`` class weights ``w_c`` (e.g. :func:`class_weights_from_frequencies`);
            default 1 for every class.

    Returns:
        float32 weights of ``mask``'s shape, on ``mask``'s device (computed on the CPU).
    """
    from scipy import ndimage

    if w0 < 0 or sigma <= 0:
        raise ConfigError(f"unet_weight_map needs w0 >= 0 and sigma > 0; got w0={w0}, sigma={sigma}")
    single = mask.dim() == 2
    m = (mask.unsqueeze(0) if single else mask).detach().cpu().long()
    if m.dim() != 3:
        raise ValueError(f"unet_weight_map mask must be [H, W] or [B, H, W]; got {list(mask.shape)}")
    out = torch.ones(m.shape, dtype=torch.float32) if class_weights is None else class_weights.float().cpu()[m]
    cap = 4.0 * sigma
    reach = int(np.ceil(cap))
    for b, image in enumerate(m.numpy()):
        objects = np.isin(image, list(object_classes))
        labels, n = ndimage.label(objects)
        if n < 2 or w0 == 0:
            continue
        d1 = np.full(image.shape, cap)
        d2 = np.full(image.shape, cap)
        for i, box in enumerate(ndimage.find_objects(labels), start=1):
            # distances to object i, computed in its bounding box grown by the cap: farther pixels keep the cap
            rows = slice(max(box[0].start - reach, 0), min(box[0].stop + reach, image.shape[0]))
            cols = slice(max(box[1].start - reach, 0), min(box[1].stop + reach, image.shape[1]))
            d = np.minimum(ndimage.distance_transform_edt(labels[rows, cols] != i), cap)
            near, second = d1[rows, cols], d2[rows, cols]
            d2[rows, cols] = np.minimum(second, np.maximum(near, d))
            d1[rows, cols] = np.minimum(near, d)
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2)) * ~objects
        out[b] += torch.from_numpy(border.astype(np.float32))
    out = out[0] if single else out
    return out.to(mask.device)


def dice_loss(logits: torch.Tensor, mask: torch.Tensor, *, ignore_index: int | None = None,
              smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss ``1 − mean_k (2 Σ p_k g_k + s) / (Σ p_k + Σ g_k + s)`` over the labelled pixels of the batch.

    Args:
        logits: ``[B, K, H, W]``.
        mask: ``[B, H, W]`` class ids (``ignore_index`` pixels left out).
        smooth: ``s`` (keeps classes absent from both prediction and labels at Dice 1).

    Returns:
        A scalar in [0, 1].
    """
    _check(logits, mask, "dice_loss")
    keep = (mask != ignore_index) if ignore_index is not None else torch.ones_like(mask, dtype=torch.bool)
    target = torch.where(keep, mask, torch.zeros_like(mask)).long()
    p = logits.softmax(dim=1) * keep.unsqueeze(1)  # (B, K, H, W)
    g = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(p) * keep.unsqueeze(1)
    inter = (p * g).sum(dim=(0, 2, 3))
    total = p.sum(dim=(0, 2, 3)) + g.sum(dim=(0, 2, 3))
    return 1 - ((2 * inter + smooth) / (total + smooth)).mean()
