"""The multi-task loss of localisation and the box parameterisation it regresses (notes §3.5.2).

The notes train classification and box regression together with a weighted sum::

    L(x) = α · S(x) + (1 − α) · R(x),      α ∈ [0, 1]

``S`` is the classification loss — the cross-entropy of the class scores — and
``R`` the regression loss of the box.  The notes do not name ``R``; an2dl uses
the smooth-L1 (Huber, δ = 1) loss of Fast R-CNN (Girshick 2015) by default,
which behaves as L2 near the target and as L1 far from it, and offers the
squared error (``"l2"``) as well.  ``R`` is the mean over the four
coordinates and the batch.

The box is the notes' ``(x, y, h, w)``, ``(x, y)`` the top-left corner, each
divided by the image size so that the four targets lie in [0, 1] whatever the
image size (:func:`encode_boxes`, :func:`decode_boxes`)::

    x = x1 / W,   y = y1 / H,   h = (y2 − y1) / H,   w = (x2 − x1) / W

The order ``(x, y, h, w)`` is the notes'; an2dl's boxes elsewhere are
``(x1, y1, x2, y2)`` in pixels (DESIGN §4), converted with
:func:`an2dl.ops.boxes.box_convert`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..ops.boxes import box_convert

__all__ = ["MultitaskLoss", "multitask_loss", "encode_boxes", "decode_boxes", "REGRESSION_LOSSES"]

#: the regression losses ``R`` of :func:`multitask_loss`
REGRESSION_LOSSES = ("smooth_l1", "l2")


def _size(image_size: Sequence[int], who: str) -> tuple[float, float]:
    try:
        h, w = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ConfigError(f"{who} image_size must be (H, W); got {image_size!r}") from None
    if not (h > 0 and w > 0):
        raise ConfigError(f"{who} image_size must be two positive numbers (H, W); got {image_size!r}")
    return h, w


def encode_boxes(boxes: torch.Tensor, image_size: Sequence[int]) -> torch.Tensor:
    """``(x1, y1, x2, y2)`` pixel boxes -> the notes' normalised ``(x, y, h, w)`` (see the module docstring).

    Args:
        boxes: corner boxes in pixels.
        image_size: ``(H, W)`` of the image the boxes lie in.

    Shape:
        ``[..., 4] -> [..., 4]``.
    """
    h, w = _size(image_size, "encode_boxes")
    x1, y1, bw, bh = box_convert(boxes, "xyxy", "xywh").unbind(-1)
    return torch.stack([x1 / w, y1 / h, bh / h, bw / w], dim=-1)


def decode_boxes(params: torch.Tensor, image_size: Sequence[int]) -> torch.Tensor:
    """The inverse of :func:`encode_boxes`: normalised ``(x, y, h, w)`` -> ``(x1, y1, x2, y2)`` in pixels.

    Shape:
        ``[..., 4] -> [..., 4]``.
    """
    h, w = _size(image_size, "decode_boxes")
    if not isinstance(params, torch.Tensor) or params.shape[-1:] != (4,):
        got = list(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__
        raise ValueError(f"decode_boxes params must be a tensor [..., 4] of (x, y, h, w); got {got}")
    x, y, bh, bw = params.unbind(-1)
    return box_convert(torch.stack([x * w, y * h, bw * w, bh * h], dim=-1), "xywh", "xyxy")


class MultitaskLoss(NamedTuple):
    """The combined loss and its two terms (each a scalar tensor)."""

    total: torch.Tensor  # α S + (1 − α) R
    classification: torch.Tensor  # S
    regression: torch.Tensor  # R


def multitask_loss(logits: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, target_boxes: torch.Tensor, *,
                   alpha: float = 0.5, regression: str = "smooth_l1", beta: float = 1.0) -> MultitaskLoss:
    """``L = α · S + (1 − α) · R`` of notes §3.5.2.

    Args:
        logits: class scores ``[B, K]``.
        boxes: predicted boxes ``[B, 4]`` (normalised ``(x, y, h, w)``).
        labels: class ids ``[B]`` in ``[0, K)``.
        target_boxes: true boxes ``[B, 4]`` in the same parameterisation as ``boxes``.
        alpha: the weight α of the classification loss, in [0, 1].
        regression: ``"smooth_l1"`` (default) or ``"l2"``, the regression loss ``R``, averaged over
            the coordinates and the batch.
        beta: the smooth-L1 threshold (L2 below it, L1 above).

    Returns:
        :class:`MultitaskLoss` ``(total, classification, regression)``.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"multitask_loss alpha must be a number in [0, 1]; got {alpha!r}")
    if regression not in REGRESSION_LOSSES:
        raise ConfigError(f"multitask_loss regression must be one of {list(REGRESSION_LOSSES)}; got {regression!r}")
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"multitask_loss logits must be [B, K] and labels [B]; got {list(logits.shape)} and "
                         f"{list(labels.shape)}")
    if boxes.shape != target_boxes.shape or boxes.shape != (logits.shape[0], 4):
        raise ValueError(f"multitask_loss boxes and target_boxes must both be [B, 4] with B = {logits.shape[0]}; got "
                         f"{list(boxes.shape)} and {list(target_boxes.shape)}")
    s = F.cross_entropy(logits, labels)
    if regression == "smooth_l1":
        r = F.smooth_l1_loss(boxes, target_boxes, beta=beta)
    else:
        r = F.mse_loss(boxes, target_boxes)
    a = float(alpha)
    return MultitaskLoss(a * s + (1.0 - a) * r, s, r)
