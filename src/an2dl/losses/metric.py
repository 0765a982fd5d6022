"""Metric-learning losses: contrastive (Siamese pairs) and triplet (notes §3.5.6).

The notes train a Siamese network — one embedding net ``f_w`` applied with
shared weights to both images of a pair — by

    w = argmin_ω Σ_{i,j} L(I_i, I_j, y_{i,j})

and leave the pair loss ``L`` undefined.  :func:`contrastive_loss` fills it
with the loss of Hadsell, Chopra & LeCun (2006), *Dimensionality Reduction by
Learning an Invariant Mapping*, with ``d = ‖f(I_i) − f(I_j)‖₂``::

    L = ½ · y · d²  +  ½ · (1 − y) · max(0, m − d)²

Here ``y = 1`` marks a genuine pair (same identity) and ``y = 0`` an impostor
pair; Hadsell et al. write the label the other way round (``Y = 0`` for
similar pairs).  Genuine pairs are pulled together; impostor pairs are pushed
apart until they are at least ``m`` away, then they stop contributing.

The triplet loss is the notes' equation, with squared distances::

    L_q(I, P, N) = max(0, m + ‖f(I) − f(P)‖²₂ − ‖f(I) − f(N)‖²₂)

(Schroff, Kalenichenko & Philbin 2015, FaceNet).  ``squared=False`` uses the
plain distances instead, the variant of Hermans et al. (2017) that
pytorch-metric-learning's ``TripletMarginLoss`` computes by default.

:class:`ContrastiveLoss` and :class:`TripletLoss` apply these to a whole
batch of embeddings and class labels: every pair of the batch, or the
triplets a mining strategy picks (:mod:`an2dl.losses.mining`).

Reductions: ``"mean"`` (over all pairs/triplets), ``"sum"``, ``"none"``
(one value each) and ``"mean_nonzero"`` (the mean over the terms that are
positive, 0 when none is — the reduction Hermans et al. use for batch-all,
so easy triplets do not dilute the gradient).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .mining import MINING_STRATEGIES, all_pairs, mine_triplets

__all__ = ["contrastive_loss", "triplet_loss", "ContrastiveLoss", "TripletLoss", "REDUCTIONS"]

#: accepted ``reduction`` values
REDUCTIONS = ("mean", "sum", "none", "mean_nonzero")


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        # the mean of no term is 0, not NaN: a batch without a pair to learn from gives no gradient
        return losses.mean() if losses.numel() else losses.sum()
    if reduction == "mean_nonzero":
        active = losses > 0
        return losses.sum() / active.sum().clamp(min=1)
    raise ConfigError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")


def _check_margin(margin: float) -> None:
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin > 0:
        raise ConfigError(f"margin must be a positive number; got {margin!r}")


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    first = next(iter(shapes.values()))
    if len(first) != 2 or any(s != first for s in shapes.values()):
        raise ConfigError(f"{', '.join(shapes)} must be embeddings of the same shape [B, D]; got "
                          + ", ".join(f"{k}={list(s)}" for k, s in shapes.items()))


def contrastive_loss(x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor, *, margin: float = 1.0,
                     reduction: str = "mean") -> torch.Tensor:
    """Hadsell et al.'s contrastive loss of embedding pairs: ``½ y d² + ½ (1 − y) max(0, m − d)²``.

    Args:
        x1, x2: the two embeddings of each pair ``f(I_i)``, ``f(I_j)``, ``[B, D]``.
        same: ``y_{i,j}`` ``[B]``, 1 for a genuine pair (same class), 0 for an impostor pair.
        margin: ``m > 0``, the distance beyond which impostor pairs stop contributing.
        reduction: one of :data:`REDUCTIONS`.

    Returns:
        A scalar, or ``[B]`` with ``reduction="none"``.
    """
    _check_margin(margin)
    _check_same_shape(x1=x1, x2=x2)
    if same.shape != x1.shape[:1]:
        raise ConfigError(f"same must hold one 0/1 label per pair, shape [{x1.shape[0]}]; got {list(same.shape)}")
    y = same.to(x1.dtype)
    d = (x1 - x2).norm(dim=1)
    losses = 0.5 * y * d.square() + 0.5 * (1 - y) * (margin - d).clamp(min=0).square()
    return _reduce(losses, reduction)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, *, margin: float = 1.0,
                 squared: bool = True, reduction: str = "mean") -> torch.Tensor:
    """The notes' triplet loss ``max(0, m + ‖f(I) − f(P)‖²₂ − ‖f(I) − f(N)‖²₂)``.

    Args:
        anchor, positive, negative: ``f(I)``, ``f(P)``, ``f(N)``, each ``[B, D]``.
        margin: ``m > 0``.
        squared: squared distances as the notes write them (default); ``False`` uses ``‖·‖₂``.
        reduction: one of :data:`REDUCTIONS`.

    Returns:
        A scalar, or ``[B]`` with ``reduction="none"``.
    """
    _check_margin(margin)
    _check_same_shape(anchor=anchor, positive=positive, negative=negative)
    d_ap = (anchor - positive).norm(dim=1)
    d_an = (anchor - negative).norm(dim=1)
    if squared:
        d_ap, d_an = d_ap.square(), d_an.square()
    return _reduce((margin + d_ap - d_an).clamp(min=0), reduction)


def _check_batch(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        raise ConfigError(f"embeddings must be a tensor [B, D]; got {list(getattr(embeddings, 'shape', []))}")
    if not isinstance(labels, torch.Tensor) or labels.shape != embeddings.shape[:1]:
        raise ConfigError(f"labels must be a tensor [{embeddings.shape[0]}] of class ids; got "
                          f"{list(getattr(labels, 'shape', []))}")


class ContrastiveLoss(nn.Module):
    """The contrastive loss over every pair ``i < j`` of a batch of embeddings with class labels.

    A batch of ``B`` images is ``B(B−1)/2`` Siamese pairs: the shared-weight
    network is run once per image, and each pair is scored by
    :func:`contrastive_loss` with ``y = [y_i = y_j]``.

    Args:
        margin: ``m``.
        reduction: ``"mean"`` over all pairs (default), ``"sum"``, ``"mean_nonzero"``.

    Shape:
        embeddings ``[B, D]``, labels ``[B]`` -> scalar.
    """

    def __init__(self, *, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        _check_margin(margin)
        if reduction not in REDUCTIONS or reduction == "none":
            raise ConfigError(f"reduction must be one of mean, sum, mean_nonzero; got {reduction!r}")
        self.margin, self.reduction = float(margin), reduction

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_batch(embeddings, labels)
        i, j, same = all_pairs(labels)
        return contrastive_loss(embeddings[i], embeddings[j], same, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class TripletLoss(nn.Module):
    """The triplet loss over the triplets a mining strategy picks from a batch.

    Args:
        margin: ``m``.
        mining: one of :data:`~an2dl.losses.mining.MINING_STRATEGIES`
            (``"batch_hard"`` by default).
        squared: squared distances, as the notes write the loss.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"mean_nonzero"``.

    Shape:
        embeddings ``[B, D]``, labels ``[B]`` -> scalar (0 when the batch holds no valid triplet).
    """

    def __init__(self, *, margin: float = 1.0, mining: str = "batch_hard", squared: bool = True,
                 reduction: str = "mean") -> None:
        super().__init__()
        _check_margin(margin)
        if mining not in MINING_STRATEGIES:
            raise ConfigError(f"mining must be one of {', '.join(MINING_STRATEGIES)}; got {mining!r}")
        if reduction not in REDUCTIONS or reduction == "none":
            raise ConfigError(f"reduction must be one of mean, sum, mean_nonzero; got {reduction!r}")
        self.margin, self.mining, self.squared, self.reduction = float(margin), mining, squared, reduction

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(embeddings, labels)
        a, p, n = mine_triplets(self.mining, embeddings, labels, margin=self.margin, squared=self.squared,
                                generator=generator)
        if a.numel() == 0:
            return embeddings.sum() * 0.0  # keeps the graph: a step on it changes nothing
        return triplet_loss(embeddings[a], embeddings[p], embeddings[n], margin=self.margin, squared=self.squared,
                            reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, squared={self.squared}, reduction={self.reduction!r}"
