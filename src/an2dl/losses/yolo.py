"""The YOLO box parameterisation, target assignment and loss (notes §3.5.4.5).

The notes' single-shot detector divides the image "into a coarse grid"; each
cell holds ``B`` anchor boxes ("base bounding boxes"), and for each anchor the
network predicts "the adjustments to the base bounding box" and the class
scores, all "in a single forward pass".  The adjustments are those of YOLOv2
(Redmon & Farhadi, 2017, "YOLO9000: Better, Faster, Stronger"): for the
anchor of shape ``(p_w, p_h)`` in the cell of row ``i`` and column ``j`` of a
grid of stride ``s`` pixels, the raw outputs ``(t_x, t_y, t_w, t_h)`` give
the box (centre ``b_x, b_y``, size ``b_w, b_h``, in pixels)::

    b_x = (j + σ(t_x)) · s          b_w = p_w · exp(t_w)
    b_y = (i + σ(t_y)) · s          b_h = p_h · exp(t_h)

The sigmoid keeps the centre inside its cell; the exponential scales the
anchor (:func:`decode_yolo_boxes`).  :func:`encode_yolo_boxes` is the
inverse used for the regression targets: a ground-truth box of centre
``(g_x, g_y)`` and size ``(g_w, g_h)`` in the cell ``(i, j)`` of its centre
asks for ``σ(t_x) = g_x / s − j``, ``σ(t_y) = g_y / s − i``,
``t_w = log(g_w / p_w)``, ``t_h = log(g_h / p_h)``.

**Assignment** (:func:`assign_yolo_targets`).  Each ground-truth box is
given to one prediction: the cell containing its centre, and among that
cell's anchors the one of best *shape* IoU (the IoU of the two boxes
centred on the same point, :func:`shape_iou`).  When two boxes of one image
claim the same cell and anchor, the one that fits the anchor better keeps it
(ties: the lower index); the other is left unmatched.

**Loss** (:class:`YoloLoss`).  The notes single out "defining the loss
function to balance matched and unmatched predictions".  With ``M`` the
matched predictions, ``U`` the unmatched ones whose predicted box overlaps
no ground-truth box of its image by more than ``ignore_iou`` (YOLOv2's rule:
a good box that merely was not chosen is not punished), ``o`` the
objectness logit and ``B`` the number of images::

    loss_coord = λ_coord / B · Σ_M [(σ(t_x) − ô_x)² + (σ(t_y) − ô_y)² + (t_w − t̂_w)² + (t_h − t̂_h)²]
    loss_obj   =       1 / B · Σ_M BCE(o, 1)
    loss_noobj = λ_noobj / B · Σ_U BCE(o, 0)
    loss_class =       1 / B · Σ_M CE(class scores, true class)

``λ_coord = 5`` and ``λ_noobj = 0.5`` are the weights of YOLO (Redmon et
al., 2016): most predictions are unmatched, and without ``λ_noobj < 1`` their
"no object" gradient would swamp the few matched ones, while ``λ_coord > 1``
makes the box the matched predictions' main concern.  Departures from the
papers, each said out loud: the objectness and class terms are the binary
and categorical cross-entropies of YOLOv3 (Redmon & Farhadi, 2018) rather
than YOLOv1/v2's squared errors, and the objectness target is 1, not the
IoU of the predicted box.  The sums are divided by the number of images, so
an image without objects contributes only to ``loss_noobj`` (the other three
terms are exactly 0 for a batch of empty images).

**Classes.**  The notes count "C categories (including the background)"
per anchor; here the objectness is the background's score
(``P(background) = 1 − σ(o)``) and the ``C`` class scores are conditional on
an object, YOLOv2's factorisation: the detection score of class ``c`` is
``σ(o) · softmax(class scores)_c``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..ops.box_coder import BBOX_XFORM_CLIP
from ..ops.boxes import box_convert, box_iou

__all__ = [
    "check_anchors",
    "shape_iou",
    "encode_yolo_boxes",
    "decode_yolo_boxes",
    "YoloTargets",
    "assign_yolo_targets",
    "YoloLoss",
]


def check_anchors(anchors: torch.Tensor | Sequence[Sequence[float]], *, name: str = "anchors") -> torch.Tensor:
    """Anchors as a float32 ``[A, 2]`` tensor of ``(width, height)`` in pixels, all finite and positive.

    Raises:
        ConfigError: not ``A >= 1`` pairs, or a width or height that is not a positive finite number.
    """
    try:
        t = torch.as_tensor(anchors, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"{name} must be a list of (width, height) pairs in pixels; got {anchors!r}") from None
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] != 2:
        raise ConfigError(f"{name} must be a list of (width, height) pairs in pixels, shape [A, 2] with A >= 1; "
                          f"got shape {list(t.shape)}")
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise ConfigError(f"{name} must have positive, finite widths and heights (pixels); got {t.tolist()}")
    return t


def shape_iou(wh1: torch.Tensor, wh2: torch.Tensor) -> torch.Tensor:
    """IoU of boxes of sizes ``wh1`` and ``wh2`` placed on the same centre: the likeness of two shapes.

    ``min(w1, w2) · min(h1, h2) / (w1 h1 + w2 h2 − min(w1, w2) · min(h1, h2))``,
    computed as :func:`~an2dl.ops.boxes.box_iou` of the centred boxes.  The
    criterion of YOLOv2 for the anchor of a ground-truth box, and the
    distance ``1 − IoU`` of its k-means anchors.

    Shape:
        ``wh1``: ``[N, 2]``, ``wh2``: ``[M, 2]`` (widths, heights); output ``[N, M]``.
    """
    zeros1 = torch.zeros_like(wh1)
    zeros2 = torch.zeros_like(wh2)
    boxes1 = box_convert(torch.cat([zeros1, wh1], dim=1), "cxcywh", "xyxy")
    boxes2 = box_convert(torch.cat([zeros2, wh2], dim=1), "cxcywh", "xyxy")
    return box_iou(boxes1, boxes2)


def encode_yolo_boxes(boxes: torch.Tensor, anchors: torch.Tensor, stride: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The cell of each box's centre and its regression targets against each box's anchor.

    Args:
        boxes: ``(x1, y1, x2, y2)`` in pixels, positive sizes.
        anchors: the ``(p_w, p_h)`` of the anchor of each box, pixels.
        stride: ``s``, the side of a grid cell in pixels.

    Returns:
        ``cells`` int64 ``[N, 2]`` as ``(i, j)`` = (row, column) ``= ⌊g_y / s⌋, ⌊g_x / s⌋``,
        and ``targets`` ``[N, 4]`` = ``(σ(t_x), σ(t_y), t_w, t_h)`` the box asks for:
        ``(g_x / s − j, g_y / s − i, log(g_w / p_w), log(g_h / p_h))``, offsets in ``[0, 1)``.

    Shape:
        ``boxes``: ``[N, 4]``, ``anchors``: ``[N, 2]``.
    """
    cx, cy, w, h = box_convert(boxes, "xyxy", "cxcywh").unbind(-1)
    gx, gy = cx / stride, cy / stride
    cells = torch.stack([gy.floor(), gx.floor()], dim=-1).long()
    targets = torch.stack([gx - cells[:, 1], gy - cells[:, 0], torch.log(w / anchors[:, 0]),
                           torch.log(h / anchors[:, 1])], dim=-1)
    return cells, targets


def decode_yolo_boxes(t: torch.Tensor, anchors: torch.Tensor, stride: float) -> torch.Tensor:
    """Raw outputs ``(t_x, t_y, t_w, t_h)`` of every anchor of every cell -> ``(x1, y1, x2, y2)`` in pixels.

    ``b_x = (j + σ(t_x)) s``, ``b_y = (i + σ(t_y)) s``, ``b_w = p_w exp(t_w)``,
    ``b_h = p_h exp(t_h)`` (module docstring); ``t_w``, ``t_h`` are clamped from
    above at ``log(1000 / 16)`` before the exponential (as the box coder of
    Faster R-CNN does), so that an untrained head cannot overflow.

    Args:
        t: raw box outputs, the last dimension ``(t_x, t_y, t_w, t_h)``.
        anchors: ``[A, 2]`` anchor ``(p_w, p_h)`` in pixels.
        stride: ``s``, the side of a cell in pixels.

    Shape:
        ``t``: ``[B, A, S_h, S_w, 4]``; output the same shape.
    """
    if not isinstance(t, torch.Tensor) or t.dim() != 5 or t.shape[-1] != 4 or t.shape[1] != anchors.shape[0]:
        got = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"decode_yolo_boxes t must be a tensor [B, A={anchors.shape[0]}, S_h, S_w, 4]; got {got}")
    _, _, sh, sw, _ = t.shape
    rows = torch.arange(sh, dtype=t.dtype, device=t.device).view(1, 1, sh, 1)
    cols = torch.arange(sw, dtype=t.dtype, device=t.device).view(1, 1, 1, sw)
    pw = anchors[:, 0].to(t).view(1, -1, 1, 1)
    ph = anchors[:, 1].to(t).view(1, -1, 1, 1)
    cx = (cols + torch.sigmoid(t[..., 0])) * stride  # (B, A, S_h, S_w)
    cy = (rows + torch.sigmoid(t[..., 1])) * stride
    w = pw * torch.exp(t[..., 2].clamp(max=BBOX_XFORM_CLIP))
    h = ph * torch.exp(t[..., 3].clamp(max=BBOX_XFORM_CLIP))
    return box_convert(torch.stack([cx, cy, w, h], dim=-1), "cxcywh", "xyxy")


class YoloTargets(NamedTuple):
    """The matched predictions of a batch, one row per kept ground-truth box."""

    index: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # (image b, anchor a, row i, column j), [M] each
    coords: torch.Tensor  # [M, 4] (σ(t_x), σ(t_y), t_w, t_h) targets (encode_yolo_boxes)
    classes: torch.Tensor  # [M] int64 class index 0..C-1 (the label minus one)
    box_index: torch.Tensor  # [M] int64 index of the ground-truth box within its image


def assign_yolo_targets(boxes: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], anchors: torch.Tensor,
                        grid: tuple[int, int], stride: float) -> YoloTargets:
    """Give each ground-truth box to the cell of its centre and the anchor of best shape IoU (module docstring).

    Args:
        boxes: per image, ``[N_b, 4]`` ``(x1, y1, x2, y2)`` in pixels with positive sizes.
        labels: per image, ``[N_b]`` int64 labels in ``1..C`` (0 is the background, never a label).
        anchors: ``[A, 2]`` anchor ``(p_w, p_h)`` in pixels.
        grid: ``(S_h, S_w)``, the grid's rows and columns; a centre on the far border goes to the last cell.
        stride: the side of a cell in pixels.

    Returns:
        :class:`YoloTargets`; a box that loses its cell and anchor to a better-fitting box is left out.
    """
    sh, sw = grid
    out: list[tuple[torch.Tensor, ...]] = []
    for b, (bx, lb) in enumerate(zip(boxes, labels)):
        if bx.shape[0] == 0:
            continue
        bx = bx.to(anchors.dtype)
        wh = bx[:, 2:] - bx[:, :2]
        fit = shape_iou(wh, anchors)  # (N, A)
        best_iou, best = fit.max(dim=1)
        cells, coords = encode_yolo_boxes(bx, anchors[best], stride)
        i = cells[:, 0].clamp(0, sh - 1)
        j = cells[:, 1].clamp(0, sw - 1)
        # a centre on the far border belongs to the last cell: its offset is then 1, not 0
        coords = torch.stack([bx[:, 0::2].mean(1) / stride - j, bx[:, 1::2].mean(1) / stride - i, coords[:, 2],
                              coords[:, 3]], dim=1)
        slot = (best * sh + i) * sw + j  # (N,) one number per (anchor, cell)
        order = torch.sort(best_iou, descending=True, stable=True).indices
        _, inverse = torch.unique(slot[order], return_inverse=True)
        rank = torch.arange(order.numel(), device=order.device)
        first = torch.full((int(inverse.max()) + 1,), order.numel(), dtype=torch.long, device=order.device)
        first = first.scatter_reduce(0, inverse, rank, reduce="amin")  # best-fitting box of each slot
        keep = order[first].sort().values
        out.append((torch.full_like(keep, b), best[keep], i[keep], j[keep], coords[keep], lb[keep].long() - 1, keep))
    if not out:
        empty = torch.zeros(0, dtype=torch.long, device=anchors.device)
        return YoloTargets((empty, empty, empty, empty), anchors.new_zeros(0, 4), empty, empty)
    cols = list(zip(*out))
    return YoloTargets(tuple(torch.cat(c) for c in cols[:4]), torch.cat(cols[4]), torch.cat(cols[5]),  # type: ignore[arg-type]
                       torch.cat(cols[6]))


class YoloLoss(nn.Module):
    """The four-term YOLO loss of matched and unmatched predictions (module docstring).

    Args:
        lambda_coord: λ_coord, weight of the box term (YOLO: 5).
        lambda_noobj: λ_noobj, weight of the no-object term (YOLO: 0.5).
        ignore_iou: unmatched predictions whose box overlaps a ground-truth box by more than this are left
            out of the no-object term (YOLOv2: 0.6; 1 counts every unmatched prediction).

    Shape:
        ``raw``: ``[B, A, S_h, S_w, 5 + C]`` raw head outputs ``(t_x, t_y, t_w, t_h, o, class scores...)``;
        returns ``{"loss_coord", "loss_obj", "loss_noobj", "loss_class"}``, scalars already weighted.
    """

    def __init__(self, *, lambda_coord: float = 5.0, lambda_noobj: float = 0.5, ignore_iou: float = 0.6) -> None:
        super().__init__()
        for name, value in (("lambda_coord", lambda_coord), ("lambda_noobj", lambda_noobj)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"YoloLoss {name} must be a number >= 0; got {value!r}")
        if isinstance(ignore_iou, bool) or not isinstance(ignore_iou, (int, float)) or not 0 <= ignore_iou <= 1:
            raise ConfigError(f"YoloLoss ignore_iou must be a number in [0, 1]; got {ignore_iou!r}")
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)
        self.ignore_iou = float(ignore_iou)

    def forward(self, raw: torch.Tensor, anchors: torch.Tensor, stride: float, boxes: Sequence[torch.Tensor],
                labels: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss terms of a batch.

        Args:
            raw: ``[B, A, S_h, S_w, 5 + C]`` raw outputs.
            anchors: ``[A, 2]`` anchor sizes in pixels.
            stride: cell side in pixels.
            boxes, labels: per image, ``[N_b, 4]`` xyxy pixel boxes and ``[N_b]`` labels in ``1..C``.
        """
        b, a, sh, sw, d = raw.shape
        if len(boxes) != b or len(labels) != b:
            raise ValueError(f"YoloLoss needs one boxes and one labels tensor per image ({b}); got {len(boxes)} and "
                             f"{len(labels)}")
        num_classes = d - 5
        matched = assign_yolo_targets(boxes, labels, anchors, (sh, sw), stride)
        if matched.classes.numel() and int(matched.classes.max()) >= num_classes:
            raise ValueError(f"YoloLoss labels must lie in 1..{num_classes}; got {int(matched.classes.max()) + 1}")
        bi, ai, ii, ji = matched.index
        pred = raw[bi, ai, ii, ji]  # (M, 5 + C)
        xy = torch.sigmoid(pred[:, :2])
        coord = ((xy - matched.coords[:, :2]) ** 2).sum() + ((pred[:, 2:4] - matched.coords[:, 2:]) ** 2).sum()
        obj = F.binary_cross_entropy_with_logits(pred[:, 4], torch.ones_like(pred[:, 4]), reduction="sum")
        cls = F.cross_entropy(pred[:, 5:], matched.classes, reduction="sum") if pred.shape[0] else pred[:, 5:].sum()

        # unmatched predictions: every one, except the matched and those overlapping a box above ignore_iou
        negative = torch.ones(b, a, sh, sw, dtype=torch.bool, device=raw.device)
        negative[bi, ai, ii, ji] = False
        if self.ignore_iou < 1:
            with torch.no_grad():
                decoded = decode_yolo_boxes(raw[..., :4].detach(), anchors, stride)  # (B, A, S_h, S_w, 4)
                for k, gt in enumerate(boxes):
                    if gt.shape[0]:
                        best = box_iou(decoded[k].reshape(-1, 4), gt.to(decoded.dtype)).amax(dim=1)
                        negative[k] &= (best <= self.ignore_iou).view(a, sh, sw)
        logits = raw[..., 4][negative]
        noobj = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="sum")
        return {
            "loss_coord": self.lambda_coord * coord / b,
            "loss_obj": obj / b,
            "loss_noobj": self.lambda_noobj * noobj / b,
            "loss_class": cls / b,
        }
