"""Which anchor or proposal learns which object: IoU matching and balanced sampling (notes §3.5.4.3–3.5.4.4).

Both stages of Faster R-CNN (Ren et al., 2015) train on boxes labelled by
their overlap with the ground truth, then on a fixed-size, class-balanced
sample of them (the notes leave both choices implicit; these are the
paper's and torchvision's):

* :func:`match_boxes` gives each candidate box the ground-truth box it
  overlaps most, or marks it *background* (best IoU below ``low``) or
  *ignored* (best IoU in ``[low, high)``).  The RPN uses ``high = 0.7,
  low = 0.3`` and keeps, for every ground-truth box, the anchors that
  overlap it most even below 0.7 (``allow_low_quality_matches``: otherwise a
  small or oddly shaped object may have no positive anchor at all); the
  detection head uses ``0.5 / 0.5`` (no ignored band).
* :func:`sample_balanced` draws at most ``batch_size · positive_fraction``
  positives and fills the rest of ``batch_size`` with negatives (256 anchors
  with up to 50 % positives in the RPN, 512 proposals with up to 25 %
  positives in the head): without it the thousands of easy background
  boxes would swamp the loss.  The draw uses torch's global generator, so a
  seeded run repeats it.
"""

from __future__ import annotations

import torch

from ...errors import ConfigError

__all__ = ["BELOW_LOW_THRESHOLD", "BETWEEN_THRESHOLDS", "match_boxes", "sample_balanced"]

#: :func:`match_boxes`'s mark of a box whose best IoU is below ``low`` (background)
BELOW_LOW_THRESHOLD = -1
#: :func:`match_boxes`'s mark of a box whose best IoU lies in ``[low, high)`` (ignored)
BETWEEN_THRESHOLDS = -2


def match_boxes(iou: torch.Tensor, high: float, low: float, *, allow_low_quality_matches: bool = False) -> torch.Tensor:
    """The ground-truth index matched to each candidate box, or -1 (background) / -2 (ignored).

    Args:
        iou: ``iou[g, a]``, IoU of ground-truth box ``g`` with candidate ``a`` (``box_iou(gt, candidates)``).
        high: a best IoU ``>= high`` is a match.
        low: a best IoU ``< low`` is background (-1); in ``[low, high)`` it is ignored (-2).
        allow_low_quality_matches: also match, for each ground-truth box, the candidates
            whose IoU with it equals its highest IoU (ties included), to their own best
            ground-truth box (which may be another one), even below ``high``.

    Returns:
        int64 ``[A]``: the index ``g`` of the best ground-truth box, or -1, -2.  With no
        ground-truth box every candidate is background.

    Shape:
        ``iou``: ``[G, A]``; output ``[A]``.
    """
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigError(f"match_boxes thresholds must satisfy 0 <= low <= high <= 1; got low={low!r}, high={high!r}")
    if not isinstance(iou, torch.Tensor) or iou.dim() != 2:
        raise ValueError(f"iou must be a [G, A] matrix of IoUs; got {getattr(iou, 'shape', type(iou).__name__)}")
    if iou.shape[0] == 0:
        return torch.full((iou.shape[1],), BELOW_LOW_THRESHOLD, dtype=torch.int64, device=iou.device)
    best, matches = iou.max(dim=0)  # (A,) best IoU and its ground-truth box
    original = matches.clone()
    matches[best < low] = BELOW_LOW_THRESHOLD
    matches[(best >= low) & (best < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality_matches:
        best_per_gt = iou.max(dim=1).values  # (G,)
        candidates = torch.nonzero(iou == best_per_gt[:, None])[:, 1]
        matches[candidates] = original[candidates]
    return matches


def sample_balanced(labels: torch.Tensor, batch_size: int, positive_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A random sample of at most ``batch_size`` boxes, at most ``positive_fraction`` of them positive.

    Args:
        labels: per box, ``>= 1`` positive (an object or its class), ``0`` negative,
            ``-1`` ignored (never sampled).
        batch_size: boxes sampled per image.
        positive_fraction: the largest share of positives; when there are fewer
            positives, negatives fill the sample.

    Returns:
        ``(positive, negative)`` int64 indices into ``labels``.

    Shape:
        ``labels``: ``[A]``; outputs ``[P]`` and ``[Q]`` with ``P + Q <= batch_size``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"sample_balanced batch_size must be a positive integer; got {batch_size!r}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ConfigError(f"sample_balanced positive_fraction must be in [0, 1]; got {positive_fraction!r}")
    positive = torch.nonzero(labels >= 1).flatten()
    negative = torch.nonzero(labels == 0).flatten()
    num_pos = min(int(batch_size * positive_fraction), positive.numel())
    num_neg = min(batch_size - num_pos, negative.numel())
    pos = positive[torch.randperm(positive.numel(), device=labels.device)[:num_pos]]
    neg = negative[torch.randperm(negative.numel(), device=labels.device)[:num_neg]]
    return pos, neg
