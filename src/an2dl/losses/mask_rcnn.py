"""The mask loss of Mask R-CNN (notes §3.5.5.1; He et al., 2017, "Mask R-CNN").

The mask branch predicts, for every positive RoI ``r``, one ``M × M`` map of
logits *per class* (``L`` maps, the background's included in torchvision's
layout).  Only the map of the RoI's ground-truth class ``u_r`` enters the
loss — "the per-pixel sigmoid and binary loss" without competition between
the classes, which the paper finds decouples mask and class prediction::

    L_mask = 1 / (R · M²) Σ_r Σ_{i,j} BCE(σ(z_r^{u_r}[i, j]), m*_r[i, j])

with ``m*_r`` the ground-truth mask of the RoI's object cut out by RoIAlign
(values in [0, 1]).  The binary cross-entropy is
:func:`~an2dl.losses.basic.bce_with_logits`.
"""

from __future__ import annotations

import torch

from .basic import bce_with_logits

__all__ = ["mask_loss"]


def mask_loss(mask_logits: torch.Tensor, labels: torch.Tensor, mask_targets: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel binary cross-entropy of the ground-truth class's mask of each positive RoI.

    Args:
        mask_logits: ``z``, the mask logits of every class.
        labels: ``u_r`` in ``1..L-1``, the class of each RoI's object.
        mask_targets: ``m*_r`` in [0, 1].

    Returns:
        the scalar ``L_mask`` (zero, with a gradient path, when ``R = 0``).

    Shape:
        ``mask_logits [R, L, M, M]``, ``labels [R]``, ``mask_targets [R, M, M]``.
    """
    if mask_logits.dim() != 4 or mask_logits.shape[-1] != mask_logits.shape[-2]:
        raise ValueError(f"mask_logits must be [R, L, M, M]; got {list(mask_logits.shape)}")
    r, num_classes, m, _ = mask_logits.shape
    if labels.shape != (r,) or labels.is_floating_point():
        raise ValueError(f"labels must be an integer tensor [{r}] (one class per RoI); got {labels.dtype} "
                         f"{list(labels.shape)}")
    if mask_targets.shape != (r, m, m):
        raise ValueError(f"mask_targets must be [{r}, {m}, {m}] (one M x M mask per RoI); got "
                         f"{list(mask_targets.shape)}")
    if r == 0:
        return mask_logits.sum() * 0.0
    if int(labels.min()) < 1 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels must lie in 1..{num_classes - 1} (the RoIs' object classes); got "
                         f"{labels.tolist()}")
    chosen = mask_logits[torch.arange(r, device=labels.device), labels]  # (R, M, M): the true class's map only
    return bce_with_logits(chosen, mask_targets.to(chosen.dtype))
