"""Classification losses on class scores: multiclass hinge and soft-target cross-entropy (notes §3.2.1, §3.4.1).

* :func:`multiclass_hinge_loss` — the multiclass SVM loss of Weston & Watkins
  (1999): class scores ``s = K(x)`` (notes §3.2.1, ``K(x) = Wx``) are
  penalised when a wrong class comes within a margin ``Δ`` of the true one::

      L_i = Σ_{j ≠ y_i} max(0, s_j − s_{y_i} + Δ)

  PyTorch's ``F.multi_margin_loss`` computes the same sum divided by the
  number of classes; the tests check ``L = C · multi_margin_loss``.
* :func:`soft_target_cross_entropy` — cross-entropy against a probability
  vector instead of a class index, ``L_i = −Σ_k t_{ik} log softmax(s_i)_k``;
  what Mixup and CutMix need (Zhang et al. 2018; Yun et al. 2019), since their
  targets are convex combinations of one-hot vectors.  Equals
  ``F.cross_entropy`` with probability targets (checked in the tests).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["multiclass_hinge_loss", "soft_target_cross_entropy", "MulticlassHingeLoss", "SoftTargetCrossEntropy"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_scores(scores: torch.Tensor, who: str) -> None:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError(f"{who} expects float scores of shape [B, C]; got {getattr(scores, 'shape', type(scores).__name__)}")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def multiclass_hinge_loss(
    scores: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Weston–Watkins multiclass hinge loss ``Σ_{j≠y} max(0, s_j − s_y + Δ)`` per sample.

    Args:
        scores: ``[B, C]`` class scores (logits of a linear classifier, notes §3.2.1).
        target: ``[B]`` int64 class indices in ``[0, C)``.
        margin: ``Δ > 0``.
        reduction: ``"mean"`` over samples, ``"sum"`` or ``"none"`` (``[B]``).

    Returns:
        scalar (or ``[B]``).
    """
    _check_scores(scores, "multiclass_hinge_loss")
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    if not margin > 0:
        raise ConfigError(f"margin must be positive; got {margin!r}")
    if target.dtype != torch.long or target.shape != scores.shape[:1]:
        raise ValueError(f"target must be int64 class indices of shape [{scores.shape[0]}]; got {target.dtype} {list(target.shape)}")
    true_score = scores.gather(1, target[:, None])  # (B, 1)
    violations = (scores - true_score + margin).clamp(min=0)  # (B, C)
    # the true class contributes max(0, Δ) = Δ to the row; remove it
    per_sample = violations.sum(dim=1) - margin
    return _reduce(per_sample, reduction)


def soft_target_cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy ``−Σ_k t_k log softmax(s)_k`` with probability targets (hard indices also accepted).

    Args:
        logits: ``[B, C]``.
        target: ``[B, C]`` probabilities (rows summing to 1, e.g. Mixup targets)
            or ``[B]`` int64 class indices (ordinary cross-entropy).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    _check_scores(logits, "soft_target_cross_entropy")
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    if target.dim() == 1 and target.dtype == torch.long:
        return F.cross_entropy(logits, target, reduction=reduction)
    if target.shape != logits.shape or not target.is_floating_point():
        raise ValueError(
            f"target must be [B] class indices or [B, C] probabilities matching logits {list(logits.shape)}; "
            f"got {target.dtype} {list(target.shape)}"
        )
    per_sample = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
    return _reduce(per_sample, reduction)


class MulticlassHingeLoss(nn.Module):
    """Module form of :func:`multiclass_hinge_loss` (keyword-only ``margin``, ``reduction``)."""

    def __init__(self, *, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        if not margin > 0 or reduction not in _REDUCTIONS:
            raise ConfigError(f"MulticlassHingeLoss needs margin > 0 and reduction in {_REDUCTIONS}; got {margin!r}, {reduction!r}")
        self.margin, self.reduction = margin, reduction

    def forward(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return multiclass_hinge_loss(scores, target, margin=self.margin, reduction=self.reduction)


class SoftTargetCrossEntropy(nn.Module):
    """Module form of :func:`soft_target_cross_entropy`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_target_cross_entropy(logits, target, reduction=self.reduction)
