"""Non-maximum suppression: one detection per object (notes §3.5.4).

Region proposals "prioritize high recall" (notes §3.5.4.2), and an RPN or a
YOLO grid (§3.5.4.4–5) scores many overlapping boxes around every object.
The notes leave implicit the step that keeps one of them; detectors since
R-CNN (Girshick et al., 2014, "Rich feature hierarchies ...", after
Felzenszwalb et al., 2010) use greedy non-maximum suppression, here exactly
as torchvision computes it:

1. visit the boxes by decreasing score — a *stable* sort, so among equal
   scores the lower index comes first;
2. keep a box unless an already kept box overlaps it with
   ``IoU > iou_threshold`` (strict: at threshold 1 nothing is suppressed, not
   even an exact duplicate; at threshold 0 every overlapping box goes, touching
   boxes stay);
3. return the kept indices, highest score first.

The greedy pass is sequential by nature (whether box ``j`` survives depends on
which earlier boxes survived), but the IoUs are not: the sorted boxes are
processed in blocks of :data:`_BLOCK`.  Within a block the pairwise IoUs are
one ``[B, B]`` tensor operation and the greedy decisions a loop over that
block's surviving rows; the block's kept boxes then suppress every later
surviving box with one ``[kept, rest]`` IoU.  Work is about
``kept · N`` IoUs, as in torchvision's CPU kernel, memory ``O(B · N)``.

:func:`batched_nms` runs NMS per category with the coordinate-offset trick:
each box is shifted by ``category · span`` so that boxes of different
categories can never overlap, and one NMS call does all categories.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .boxes import _inter_union, box_area

__all__ = ["nms", "batched_nms"]

#: boxes per block of the greedy pass
_BLOCK = 256
#: IoUs computed at once when a block's kept boxes suppress later boxes (bounds memory)
_CHUNK_ELEMENTS = 1 << 18


def _check_inputs(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> None:
    if not isinstance(boxes, torch.Tensor) or not boxes.is_floating_point():
        raise TypeError(
            f"boxes must be a floating-point tensor [N, 4]; got {getattr(boxes, 'dtype', type(boxes).__name__)}"
        )
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be a tensor of shape [N, 4] in (x1, y1, x2, y2); got shape {list(boxes.shape)}")
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        shape = list(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"scores must be a 1-D tensor with one score per box ([{boxes.shape[0]}]); got {shape}")
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, numbers.Real) or iou_threshold != iou_threshold:
        raise ValueError(f"iou_threshold must be a number (usually in [0, 1]); got {iou_threshold!r}")


def _greedy_keep(boxes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Boolean keep mask of greedy NMS over boxes already sorted by decreasing score."""
    n = boxes.shape[0]
    device = boxes.device
    areas = box_area(boxes)
    suppressed = torch.zeros(n, dtype=torch.bool, device=device)
    keep = torch.zeros(n, dtype=torch.bool, device=device)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        cand = torch.nonzero(~suppressed[start:stop]).flatten() + start  # survivors of earlier blocks
        if cand.numel() == 0:
            continue
        inter, union = _inter_union(boxes[cand], boxes[cand], areas[cand], areas[cand])
        clear = (~(inter / union > iou_threshold)).cpu().numpy()  # (B, B): True = no suppression
        alive = np.ones(cand.numel(), dtype=bool)
        for i in range(cand.numel()):
            if alive[i]:  # box i is kept: it removes the later boxes of the block it overlaps
                alive[i + 1 :] &= clear[i, i + 1 :]
        kept = cand[torch.from_numpy(alive).to(device)]
        keep[kept] = True
        if stop < n:
            rest = torch.nonzero(~suppressed[stop:]).flatten() + stop
            # in column chunks of about _CHUNK_ELEMENTS IoUs: bounded memory, temporaries in cache
            step = max(1, _CHUNK_ELEMENTS // max(kept.numel(), 1))
            for part in rest.split(step):
                inter, union = _inter_union(boxes[kept], boxes[part], areas[kept], areas[part])
                hit = (inter / union > iou_threshold).any(dim=0)  # (part,)
                suppressed[part[hit]] = True
    return keep


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: keep the best box, drop the boxes overlapping it, repeat.

    Notes §3.5.4 (one box per detected object); greedy NMS of R-CNN
    (Girshick et al., 2014) with torchvision's exact rules: stable descending
    sort (ties: lower index first) and suppression when ``IoU > iou_threshold``.

    Args:
        boxes: ``(x1, y1, x2, y2)`` float boxes.
        scores: one score per box (higher is better).
        iou_threshold: boxes overlapping a kept box with IoU strictly above it are removed.

    Returns:
        int64 indices of the kept boxes, ordered by decreasing score.

    Shape:
        ``boxes``: ``[N, 4]``; ``scores``: ``[N]``; output ``[K]``, ``K <= N``.

    Raises:
        TypeError: non-float boxes; ValueError: wrong shapes or a non-numeric threshold.
    """
    _check_inputs(boxes, scores, iou_threshold)
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores.detach(), descending=True, stable=True).indices
    keep = _greedy_keep(boxes.detach()[order], float(iou_threshold))
    return order[keep]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS within each category independently (boxes of different categories never suppress each other).

    Notes §3.5.4 (a box and a label per object); per-class NMS as in R-CNN.
    Implemented by offsetting each box by ``idxs · span`` and running one
    :func:`nms` — torchvision's CPU strategy up to 1,000 boxes (beyond that
    torchvision loops over the categories, which agrees up to float
    rounding).  torchvision uses ``span = max coordinate + 1``, which keeps
    the categories apart only when no coordinate is below -1; here
    ``span = max coordinate - min(min coordinate, 0) + 1``: identical for
    non-negative boxes, correct for negative ones.  The offsets cost float
    precision when ``idxs · span`` is large (float32 keeps about 7 digits).

    Args:
        boxes: ``(x1, y1, x2, y2)`` float boxes.
        scores: one score per box.
        idxs: integer category of each box.
        iou_threshold: as in :func:`nms`.

    Returns:
        int64 indices of the kept boxes, ordered by decreasing score.

    Shape:
        ``boxes``: ``[N, 4]``; ``scores``, ``idxs``: ``[N]``; output ``[K]``.

    Raises:
        TypeError: non-float boxes or non-integer ``idxs``; ValueError: wrong shapes.
    """
    _check_inputs(boxes, scores, iou_threshold)
    if not isinstance(idxs, torch.Tensor) or idxs.is_floating_point() or idxs.is_complex() or idxs.dtype == torch.bool:
        raise TypeError(f"idxs must be an integer tensor [N] of categories; got {getattr(idxs, 'dtype', type(idxs).__name__)}")
    if idxs.dim() != 1 or idxs.shape[0] != boxes.shape[0]:
        raise ValueError(f"idxs must be a 1-D tensor with one category per box ([{boxes.shape[0]}]); got {list(idxs.shape)}")
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    boxes = boxes.detach()
    span = boxes.max() - boxes.min().clamp(max=0) + torch.ones((), dtype=boxes.dtype, device=boxes.device)
    offsets = idxs.to(boxes.dtype) * span
    return nms(boxes + offsets[:, None], scores, iou_threshold)
