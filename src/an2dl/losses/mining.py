"""Pair and triplet mining from a batch of embeddings and labels (notes §3.5.6, metric learning).

The notes end the triplet loss with "the selection of triplets during
training is crucial".  A batch of ``B`` embeddings with class labels holds
``O(B³)`` triplets ``(I, P, N)`` (query/anchor, positive of the same class,
negative of another class); most of them already satisfy the margin and
give no gradient.  These functions pick which ones to train on:

* :func:`random_triplets` — one random positive and one random negative per anchor;
* :func:`batch_all_triplets` — every valid triplet of the batch (Hermans et al. 2017, "batch all");
* :func:`batch_hard_triplets` — per anchor the farthest positive and the closest negative
  (Hermans, Beyer & Leibe 2017, *In Defense of the Triplet Loss*);
* :func:`semi_hard_triplets` — every triplet whose negative is farther than the positive but
  inside the margin, ``d(a,p) < d(a,n) < d(a,p) + m`` (Schroff et al. 2015, FaceNet).

Distances are Euclidean (or squared Euclidean with ``squared=True``, the form
of the notes' triplet loss), computed exactly (no ``‖a‖² + ‖b‖² − 2ab``
expansion, which loses precision for close points).

Shape:
    embeddings ``[B, D]`` float, labels ``[B]`` integer class ids; every
    function returns a :class:`Triplets` of three ``[T]`` int64 index tensors
    into the batch (``T`` may be 0).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..errors import ConfigError

__all__ = [
    "Triplets",
    "pairwise_distances",
    "all_pairs",
    "random_triplets",
    "batch_all_triplets",
    "batch_hard_triplets",
    "semi_hard_triplets",
    "mine_triplets",
    "MINING_STRATEGIES",
]

#: names accepted by :func:`mine_triplets`
MINING_STRATEGIES = ("random", "batch_all", "batch_hard", "semi_hard")


class Triplets(NamedTuple):
    """Indices of anchors (queries ``I``), positives ``P`` and negatives ``N`` into a batch, each ``[T]`` int64."""

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor


def _check(embeddings: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
        raise ConfigError(f"labels must be a 1-D integer tensor [B] of class ids; got "
                          f"{getattr(labels, 'dtype', type(labels).__name__)} {list(getattr(labels, 'shape', []))}")
    if embeddings is not None:
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 or not embeddings.is_floating_point():
            raise ConfigError(f"embeddings must be a float tensor [B, D]; got "
                              f"{getattr(embeddings, 'dtype', type(embeddings).__name__)} {list(getattr(embeddings, 'shape', []))}")
        if embeddings.shape[0] != labels.shape[0]:
            raise ConfigError(f"embeddings [B, D] and labels [B] must have the same B; got {embeddings.shape[0]} "
                              f"and {labels.shape[0]}")
    return labels


def pairwise_distances(x: torch.Tensor, y: torch.Tensor | None = None, *, squared: bool = False) -> torch.Tensor:
    """Euclidean distances ``‖x_i − y_j‖₂`` (or their squares) ``[B, M]``, computed exactly.

    Args:
        x: ``[B, D]``.
        y: ``[M, D]``; default ``x``.
        squared: return ``‖x_i − y_j‖²₂``.
    """
    y = x if y is None else y
    # the difference form: exact for near-duplicate rows, where the matmul expansion can turn negative
    d = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    return d.square() if squared else d


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``positive[a, p]``: same class and ``a ≠ p``; ``negative[a, n]``: different class.  Both ``[B, B]`` bool."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def all_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every unordered pair ``i < j`` of the batch and whether it is a genuine pair (same class).

    The pairs a Siamese network is trained on with the contrastive loss.

    Returns:
        ``(i, j, same)``: ``[B(B−1)/2]`` int64, int64 and float (1 = same class, 0 = different).
    """
    labels = _check(None, labels)
    i, j = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
    return i, j, (labels[i] == labels[j]).float()


def batch_all_triplets(labels: torch.Tensor) -> Triplets:
    """Every valid triplet ``(a, p, n)``: ``y_a = y_p``, ``a ≠ p``, ``y_n ≠ y_a`` (in row-major order of ``a, p, n``)."""
    labels = _check(None, labels)
    pos, neg = _masks(labels)
    valid = pos[:, :, None] & neg[:, None, :]  # [a, p, n]
    a, p, n = valid.nonzero(as_tuple=True)
    return Triplets(a, p, n)


def random_triplets(labels: torch.Tensor, *, generator: torch.Generator | None = None) -> Triplets:
    """One triplet per anchor that has a positive and a negative: both drawn uniformly at random.

    Args:
        labels: ``[B]``.
        generator: the random source (seeded by the caller for reproducible mining).
    """
    labels = _check(None, labels)
    pos, neg = _masks(labels)
    ok = pos.any(1) & neg.any(1)
    anchors = ok.nonzero(as_tuple=True)[0]
    if len(anchors) == 0:
        empty = torch.empty(0, dtype=torch.long, device=labels.device)
        return Triplets(empty, empty, empty)
    p = torch.multinomial(pos[anchors].double().cpu(), 1, generator=generator).squeeze(1).to(labels.device)
    n = torch.multinomial(neg[anchors].double().cpu(), 1, generator=generator).squeeze(1).to(labels.device)
    return Triplets(anchors, p, n)


def batch_hard_triplets(embeddings: torch.Tensor, labels: torch.Tensor, *, squared: bool = False) -> Triplets:
    """Per anchor, its hardest positive (largest distance) and hardest negative (smallest distance).

    Anchors without a positive or without a negative in the batch are skipped;
    ties go to the lowest index.  The selection is made on detached distances.
    """
    labels = _check(embeddings, labels)
    pos, neg = _masks(labels)
    d = pairwise_distances(embeddings.detach(), squared=squared)
    ok = pos.any(1) & neg.any(1)
    anchors = ok.nonzero(as_tuple=True)[0]
    far = torch.where(pos, d, torch.full_like(d, -torch.inf)).argmax(1)
    near = torch.where(neg, d, torch.full_like(d, torch.inf)).argmin(1)
    return Triplets(anchors, far[anchors], near[anchors])


def semi_hard_triplets(embeddings: torch.Tensor, labels: torch.Tensor, *, margin: float,
                       squared: bool = False) -> Triplets:
    """Every triplet whose negative lies beyond the positive but inside the margin: ``d_ap < d_an < d_ap + m``.

    These triplets violate the margin (positive loss) without the negative
    being closer than the positive, which FaceNet found to avoid the collapse
    that the hardest negatives cause early in training.
    """
    labels = _check(embeddings, labels)
    if not margin > 0:
        raise ConfigError(f"margin must be a positive number; got {margin}")
    pos, neg = _masks(labels)
    d = pairwise_distances(embeddings.detach(), squared=squared)
    d_ap, d_an = d[:, :, None], d[:, None, :]
    valid = pos[:, :, None] & neg[:, None, :] & (d_an > d_ap) & (d_an < d_ap + margin)
    a, p, n = valid.nonzero(as_tuple=True)
    return Triplets(a, p, n)


def mine_triplets(strategy: str, embeddings: torch.Tensor, labels: torch.Tensor, *, margin: float = 1.0,
                  squared: bool = False, generator: torch.Generator | None = None) -> Triplets:
    """Dispatch to one of :data:`MINING_STRATEGIES` by name."""
    if strategy == "random":
        return random_triplets(labels, generator=generator)
    if strategy == "batch_all":
        return batch_all_triplets(labels)
    if strategy == "batch_hard":
        return batch_hard_triplets(embeddings, labels, squared=squared)
    if strategy == "semi_hard":
        return semi_hard_triplets(embeddings, labels, margin=margin, squared=squared)
    raise ConfigError(f"mining must be one of {', '.join(MINING_STRATEGIES)}; got {strategy!r}")
