"""The losses of Fast and Faster R-CNN: objectness, proposal regression, classification, box regression (notes §3.5.4.3–4).

"Training involves optimizing a multi-task loss that combines: objectness
loss, regression loss, final classification loss, and final bounding box
regression loss" (notes §3.5.4.4).  Written out (Ren et al., 2015; Girshick,
2015), for the ``S`` anchors sampled by the RPN and the ``R`` proposals
sampled by the detection head of a batch::

    L = 1/S Σ_a CE(p_a, p*_a)                       objectness: 2-way softmax cross-entropy
      + 1/S Σ_{a: p*_a = 1} smoothL1_β(t_a - t*_a)  RPN box regression, positives only
      + 1/R Σ_r CE(s_r, u_r)                        classification over the L classes (0 = background)
      + 1/R Σ_{r: u_r >= 1} smoothL1_β(t_r^{u_r} - t*_r)   box regression of the true class only

with ``smoothL1_β(x) = Σ_j 0.5 x_j² / β`` where ``|x_j| < β``, ``|x_j| - 0.5 β``
elsewhere (summed over the four coordinates).  ``t*`` are the
:class:`~an2dl.ops.BoxCoder` targets.  Regression sums over the positives
but divides by the whole sample (``S`` or ``R``), which weighs the terms as
torchvision does (the paper's ``λ = 10`` with its own normalisers is about
the same balance); ``β = 1/9`` as torchvision's.  The detection head
predicts ``4(L - 1)`` corrections — none for the background, the notes'
``4L - 4`` — so the true class ``u >= 1`` reads columns ``4(u-1) … 4u-1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SMOOTH_L1_BETA", "objectness_loss", "box_regression_loss", "fast_rcnn_loss", "class_deltas"]

#: the smooth-L1 transition point of both regression terms (torchvision's 1/9)
SMOOTH_L1_BETA = 1.0 / 9.0


def _check(t: object, name: str, dims: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dim() != dims:
        got = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a {dims}-D tensor; got {got}")
    return t


def objectness_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean 2-way softmax cross-entropy of the sampled anchors (object / not object).

    Args:
        logits: per sampled anchor, the scores ``(not object, object)``.
        labels: 1 for a positive anchor, 0 for a negative one.

    Returns:
        scalar ``1/S Σ_a -log softmax(logits_a)[label_a]`` (0 when nothing is sampled).

    Shape:
        ``logits``: ``[S, 2]``; ``labels``: ``[S]``.
    """
    _check(logits, "logits", 2)
    _check(labels, "labels", 1)
    if logits.shape[1] != 2 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"logits must be [S, 2] with one label per row; got {list(logits.shape)} and "
                         f"{list(labels.shape)} labels")
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels.long())


def box_regression_loss(deltas: torch.Tensor, targets: torch.Tensor, normalizer: int,
                        beta: float = SMOOTH_L1_BETA) -> torch.Tensor:
    """``Σ smoothL1_β(deltas - targets) / normalizer``: the regression term of the positives.

    Args:
        deltas: predicted corrections ``(dx, dy, dw, dh)`` of the positive boxes.
        targets: their :class:`~an2dl.ops.BoxCoder` targets.
        normalizer: the number of sampled boxes (positives and negatives) of the batch.
        beta: the smooth-L1 transition point.

    Shape:
        ``deltas``, ``targets``: ``[P, 4]``; output a scalar.
    """
    _check(deltas, "deltas", 2)
    if targets.shape != deltas.shape:
        raise ValueError(f"targets must match deltas' shape {list(deltas.shape)}; got {list(targets.shape)}")
    return F.smooth_l1_loss(deltas, targets, beta=beta, reduction="sum") / max(int(normalizer), 1)


def class_deltas(box_regression: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The four corrections of class ``labels[r]`` (``>= 1``) from the ``4(L-1)`` columns of row ``r``.

    Shape:
        ``box_regression``: ``[R, 4(L-1)]``; ``labels``: ``[R]`` in ``1..L-1``; output ``[R, 4]``.
    """
    per_class = box_regression.reshape(box_regression.shape[0], box_regression.shape[1] // 4, 4)  # (R, L-1, 4)
    return per_class[torch.arange(per_class.shape[0], device=labels.device), labels - 1]


def fast_rcnn_loss(class_logits: torch.Tensor, box_regression: torch.Tensor, labels: torch.Tensor,
                   regression_targets: torch.Tensor, beta: float = SMOOTH_L1_BETA) -> tuple[torch.Tensor, torch.Tensor]:
    """The detection head's multitask loss: classification + smooth-L1 on the true class's corrections.

    Notes §3.5.4.3 ("a multitask loss function, combining classification and
    regression losses") and §3.5.4.4 (``L`` scores and ``4L - 4`` corrections).

    Args:
        class_logits: scores of the ``L`` classes (0 = background) per sampled proposal.
        box_regression: ``4(L-1)`` corrections per proposal, class-major (class 1 first).
        labels: the class of each proposal's matched object, 0 for background.
        regression_targets: the :class:`~an2dl.ops.BoxCoder` targets of each proposal
            (used only where ``labels >= 1``).

    Returns:
        ``(classification, box_regression)``: ``1/R Σ CE`` and ``1/R Σ_{u>=1} smoothL1``.

    Shape:
        ``class_logits``: ``[R, L]``; ``box_regression``: ``[R, 4(L-1)]``; ``labels``: ``[R]``;
        ``regression_targets``: ``[R, 4]``.
    """
    _check(class_logits, "class_logits", 2)
    _check(box_regression, "box_regression", 2)
    num_rois, num_classes = class_logits.shape
    if box_regression.shape != (num_rois, 4 * (num_classes - 1)):
        raise ValueError(f"box_regression must be [R, 4(L-1)] = {[num_rois, 4 * (num_classes - 1)]} for class_logits "
                         f"{list(class_logits.shape)}; got {list(box_regression.shape)}")
    if labels.shape != (num_rois,) or regression_targets.shape != (num_rois, 4):
        raise ValueError(f"labels must be [R] and regression_targets [R, 4] with R = {num_rois}; got "
                         f"{list(labels.shape)} and {list(regression_targets.shape)}")
    if num_rois == 0:
        zero = class_logits.sum() * 0.0 + box_regression.sum() * 0.0
        return zero, zero
    classification = F.cross_entropy(class_logits, labels.long())
    positive = torch.nonzero(labels > 0).flatten()
    deltas = class_deltas(box_regression[positive], labels[positive].long())
    return classification, box_regression_loss(deltas, regression_targets[positive], num_rois, beta)
