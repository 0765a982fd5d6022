"""Mean average precision of object detection, COCO style (notes §3.5.4).

The notes judge a detector by "how well the detections match the ground
truth annotations", with the Intersection over Union as the measure of a
match (§3.5.4.2)::

    IoU(A, B) = area of overlap / area of union

The standard summary built on it is the mean average precision of the PASCAL
VOC challenge (Everingham et al., 2010, "The PASCAL Visual Object Classes
(VOC) Challenge") in the form of the COCO benchmark (Lin et al., 2014,
"Microsoft COCO: Common Objects in Context"), which this module computes
exactly as the reference evaluator of COCO (``pycocotools``' ``COCOeval``,
``iouType="bbox"``) does:

1. **Matching**, per image and class.  Detections are ranked by score
   (a stable sort, so ties keep their input order) and only the first
   ``max(max_detection_thresholds)`` are kept.  For every IoU threshold
   ``t``, each detection in rank order is matched greedily to the ground-truth
   box of highest IoU ``>= t`` that is still free; a regular box is preferred
   over an *ignored* one (a crowd region, or a box whose area lies outside the
   area range being evaluated).  A crowd region may absorb any number of
   detections and its IoU is ``|A ∩ B| / |detection|``.  A detection matched
   to an ignored box, or unmatched and itself outside the area range, is
   ignored: it is neither a true nor a false positive.
2. **Precision-recall curve**, per class, area range and maximum number of
   detections per image: detections of all images ranked by score, running
   counts of true and false positives, ``recall = TP / #regular objects`` and
   ``precision = TP / (TP + FP)``.  The precision is made non-increasing from
   the right (the interpolated precision of VOC) and read at the 101 recall
   levels ``0, 0.01, ..., 1``; a level beyond the highest recall reached
   reads 0.
3. **Averages.**  ``AP`` is the mean of those 101 values; ``map`` averages it
   over IoU thresholds ``0.50:0.05:0.95`` and classes.  ``AR`` is the final
   recall, averaged likewise.  Any (threshold, class, area range) cell without
   a regular ground-truth box is left out of the means; a mean over no cell is
   ``-1``, as in COCOeval.

Area ranges (squared pixels): all ``[0, 1e10]``, small ``[0, 32²]``, medium
``[32², 96²]``, large ``[96², 1e10]``, bounds included.  The area of a
ground-truth box is its ``area`` entry when given (COCO gives the mask area)
and the box area otherwise; the area of a detection is its box area.

Results have the keys and the meaning of ``torchmetrics.detection.MeanAveragePrecision``
(which wraps ``pycocotools``; that class needs torchvision, which an2dl does not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities.distributed import gather_all_tensors

from ..ops import BOX_FORMATS, box_convert, box_iou, check_boxes

__all__ = ["MeanAveragePrecision", "AREA_RANGES", "IOU_TYPES"]

#: ``(name, smallest area, largest area)`` in squared pixels, bounds included (COCO's ranges)
AREA_RANGES: tuple[tuple[str, float, float], ...] = (
    ("all", 0.0, 1e5**2),
    ("small", 0.0, 32.0**2),
    ("medium", 32.0**2, 96.0**2),
    ("large", 96.0**2, 1e5**2),
)

# np.linspace, not torch.linspace: the thresholds must be the very doubles COCOeval compares with
_DEFAULT_IOU_THRESHOLDS = tuple(np.linspace(0.5, 0.95, 10).tolist())
_RECALL_LEVELS = tuple(np.linspace(0.0, 1.0, 101).tolist())
_DEFAULT_MAX_DETECTIONS = (1, 10, 100)
# the precision denominator of COCOeval, TP + FP + eps, keeps 0/0 away
_EPS = float(np.spacing(1))
# COCOeval caps a threshold just below 1 so that an IoU of exactly 1 still matches at t = 1
_MAX_THRESHOLD = 1 - 1e-10


#: the list states: name -> (dtype, trailing shape) of the tensors they hold
_STATES: dict[str, tuple[torch.dtype, tuple[int, ...]]] = {
    "det_boxes": (torch.float64, (4,)),  # xyxy, every detection of every image
    "det_scores": (torch.float64, ()),
    "det_labels": (torch.long, ()),
    "det_counts": (torch.long, ()),  # detections per image
    "gt_boxes": (torch.float64, (4,)),
    "gt_labels": (torch.long, ()),
    "gt_crowd": (torch.long, ()),  # 0/1
    "gt_area": (torch.float64, ()),
    "gt_counts": (torch.long, ()),  # ground-truth boxes per image
    # iou_type="segm" only: the binary masks, each image's [N, H, W] flattened, and each image's (H, W)
    "det_masks": (torch.bool, ()),
    "gt_masks": (torch.bool, ()),
    "mask_sizes": (torch.long, (2,)),
}

#: what the IoU of a detection and an object is computed on: boxes, or instance masks (COCOeval's iouType)
IOU_TYPES = ("bbox", "segm")


# --------------------------------------------------------------------------------------------- input checks
def _box_tensor(value: Any, name: str, box_format: str) -> torch.Tensor:
    """Validate boxes given in ``box_format`` and return them as float64 ``xyxy`` ``[N, 4]``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, 4]; got {type(value).__name__}")
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must hold real coordinates (a float or integer tensor); got {value.dtype}")
    if value.dim() == 1 and value.numel() == 0:  # torch.tensor([]) is a common spelling of "no boxes"
        value = value.reshape(0, 4)
    if value.dim() != 2 or value.shape[1] != 4:
        raise ValueError(f"{name} must be a tensor of shape [N, 4] in {box_format} format; got shape {list(value.shape)}")
    boxes = value.detach().to(torch.float64)
    if box_format != "xyxy":
        boxes = box_convert(boxes, box_format, "xyxy")
        name = f"{name} (converted from {box_format})"
    return check_boxes(boxes, name=name)


def _per_box(value: Any, name: str, count: int, *, integer: bool) -> torch.Tensor:
    """Validate a 1-D tensor with one entry per box (class ids when ``integer``, else real numbers)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a 1-D torch.Tensor with one entry per box; got {type(value).__name__}")
    if integer and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor of class ids; got {value.dtype}")
    if not integer and (value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} must be a real-valued tensor; got {value.dtype}")
    if value.dim() != 1 or value.shape[0] != count:
        raise ValueError(f"{name} must have shape [{count}] (one entry per box); got shape {list(value.shape)}")
    return value.detach()


def _finite(value: torch.Tensor, name: str, *, non_negative: bool = False) -> torch.Tensor:
    bad = ~torch.isfinite(value)
    if non_negative:
        bad |= value < 0
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        what = "finite and non-negative" if non_negative else "finite"
        raise ValueError(f"{name} must be {what}; entry {i} is {value[i].item()}")
    return value


def _entries(item: Any, name: str, required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise TypeError(f"{name} must be a dict with keys {', '.join(map(repr, required))}; got {type(item).__name__}")
    missing = [k for k in required if k not in item]
    if missing:
        raise ValueError(f"{name} is missing {', '.join(map(repr, missing))}; expected keys {', '.join(map(repr, required))}")
    return item


# --------------------------------------------------------------------------------------------- matching
def _crowd_overlap(det: torch.Tensor, crowd: torch.Tensor) -> torch.Tensor:
    """``|d ∩ c| / |d|`` for every detection ``d`` and crowd region ``c``, ``[D, C]`` (COCO's crowd rule)."""
    width = (torch.minimum(det[:, None, 2], crowd[None, :, 2]) - torch.maximum(det[:, None, 0], crowd[None, :, 0]))
    height = (torch.minimum(det[:, None, 3], crowd[None, :, 3]) - torch.maximum(det[:, None, 1], crowd[None, :, 1]))
    inter = width.clamp(min=0) * height.clamp(min=0)  # (D, C)
    det_area = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
    return inter / det_area[:, None]


def _match_iou(det: torch.Tensor, gt: torch.Tensor, crowd: torch.Tensor) -> torch.Tensor:
    """The ``[D, G]`` IoU used for matching: regular IoU, crowd columns by the detection's area, 0 for 0/0."""
    iou = box_iou(det, gt)
    if bool(crowd.any()):
        iou[:, crowd] = _crowd_overlap(det, gt[crowd])
    # COCOeval scores a pair without a positive-width and positive-height overlap 0, also for degenerate boxes
    return iou.nan_to_num(nan=0.0)


def _mask_iou(det: torch.Tensor, gt: torch.Tensor, crowd: torch.Tensor) -> torch.Tensor:
    """``[D, G]`` IoU of binary masks ``[D, P]`` and ``[G, P]`` (pixels flattened): ``|A ∩ B| / |A ∪ B|``; a crowd
    column by the detection's area ``|A ∩ B| / |A|``; 0 where the denominator is 0 (pycocotools' ``maskUtils.iou``)."""
    d, g = det.to(torch.float64), gt.to(torch.float64)
    inter = d @ g.T
    det_area, gt_area = d.sum(1), g.sum(1)
    union = det_area[:, None] + gt_area[None, :] - inter
    union = torch.where(crowd[None, :], det_area[:, None].expand_as(union), union)
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def _mask_tensor(value: Any, name: str, count: int, size: tuple[int, int] | None) -> torch.Tensor:
    """``[N, H, W]`` (or ``[N, 1, H, W]``) masks as bool: bools and 0/1 integers as they are, probabilities ``>= 0.5``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a tensor [{count}, H, W] of masks; got {type(value).__name__}")
    if value.dim() == 4 and value.shape[1] == 1:
        value = value[:, 0]
    if value.dim() != 3 or value.shape[0] != count or (size is not None and tuple(value.shape[-2:]) != size):
        want = f"[{count}, H, W]" if size is None else f"[{count}, {size[0]}, {size[1]}] (the size of the other masks of the image)"
        raise ValueError(f"{name} must be {want}, one mask per box; got {list(value.shape)}")
    if value.dtype == torch.bool:
        return value
    if value.is_floating_point():
        return value >= 0.5
    return value != 0


def _greedy_match(
    iou: torch.Tensor, crowd: torch.Tensor, gt_ignored: torch.Tensor, limit: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """COCOeval's greedy matching of one image, for every area range and IoU threshold at once.

    Args:
        iou: ``[D, G]`` match IoU of the image's detections (rows in rank order) and
            ground-truth boxes; ``-1`` for pairs of different classes, which never match.
        crowd: ``[G]`` bool, crowd regions (free again after every match).
        gt_ignored: ``[A, G]`` bool, per area range, boxes that are crowd or outside the range.
        limit: ``[T]`` the IoU thresholds, capped just below 1.

    Returns:
        ``matched`` and ``matched_ignored``, ``[A, T, D]`` bool: whether each detection found a
        box, and whether that box is an ignored one.
    """
    D, G = iou.shape
    A, T = gt_ignored.shape[0], limit.numel()
    matched = torch.zeros(A, T, D, dtype=torch.bool)
    matched_ignored = torch.zeros(A, T, D, dtype=torch.bool)
    if D == 0 or G == 0:
        return matched, matched_ignored
    regular = ~gt_ignored[:, None, :]  # (A, 1, G)
    taken = torch.zeros(A, T, G, dtype=torch.bool)
    columns = torch.arange(G)
    # a detection below the lowest threshold with every box can match nothing and changes no state
    for d in (iou.amax(dim=1) >= limit.min()).nonzero().flatten().tolist():
        row = iou[d]  # (G,)
        candidate = (~taken | crowd) & (row >= limit[:, None])  # (A, T, G)
        # COCOeval walks the boxes regular-first and stops at the ignored ones once a regular box matched
        preferred = candidate & regular
        pool = torch.where(preferred.any(dim=-1, keepdim=True), preferred, candidate)
        found = pool.any(dim=-1)  # (A, T)
        # the best IoU in the pool; on a tie the later box wins, as with COCOeval's `>=` update
        best = G - 1 - torch.where(pool, row, -1.0).flip(-1).argmax(dim=-1)  # (A, T)
        hit = found[..., None] & (columns == best[..., None])  # (A, T, G)
        taken |= hit
        matched[..., d] = found
        matched_ignored[..., d] = found & gt_ignored.gather(1, best)
    return matched, matched_ignored


def _precision_recall(
    true_pos: torch.Tensor, counted: torch.Tensor, regular: torch.Tensor, levels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolated precision at the recall ``levels`` and final recall of ranked detections.

    Shape:
        ``true_pos``, ``counted``: ``[A, T, n]`` bool in rank order; ``regular``: ``[A]``
        ground-truth counts; ``levels``: ``[R]``.  Returns ``precision [A, T, R]`` and
        ``recall [A, T]``, ``-1`` where an area range has no regular ground truth.
    """
    A, T, n = true_pos.shape
    R = levels.numel()
    tp = torch.cumsum(true_pos, dim=-1, dtype=torch.float64)  # (A, T, n)
    fp = torch.cumsum(counted & ~true_pos, dim=-1, dtype=torch.float64)
    total = regular.to(torch.float64)[:, None, None]
    recall_curve = tp / total
    precision_curve = tp / (fp + tp + _EPS)
    # the envelope: precision at rank i becomes the best precision at any rank >= i
    envelope = precision_curve.flip(-1).cummax(dim=-1).values.flip(-1)
    if n:
        # row by row: a batched searchsorted costs milliseconds of fixed overhead per call
        rows = recall_curve.reshape(A * T, n)
        at = torch.stack([torch.searchsorted(row, levels, side="left") for row in rows]).reshape(A, T, R)
        precision = torch.where(at < n, envelope.gather(-1, at.clamp(max=n - 1)), 0.0)
        recall = recall_curve[..., -1]
    else:
        precision = torch.zeros(A, T, R, dtype=torch.float64)
        recall = torch.zeros(A, T, dtype=torch.float64)
    absent = regular == 0
    precision[absent] = -1.0
    recall[absent] = -1.0
    return precision, recall


def _mean_valid(values: torch.Tensor) -> torch.Tensor:
    """Mean of the entries ``> -1``; ``-1`` when there is none (COCOeval's summary rule)."""
    valid = values[values > -1]
    return valid.mean() if valid.numel() else torch.tensor(-1.0, dtype=torch.float64)


# --------------------------------------------------------------------------------------------- the metric
class MeanAveragePrecision(Metric):
    """COCO mean average precision and recall of box detections (notes §3.5.4; Lin et al., 2014).

    The algorithm and every key of the result are COCOeval's (module docstring);
    AP is the 101-point interpolated average precision of PASCAL VOC
    (Everingham et al., 2010) averaged over IoU thresholds.

    Args:
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``, the format of every
            box given to :meth:`update`; boxes are converted to ``xyxy`` on entry.
        iou_thresholds: the IoU thresholds ``t`` (each in ``[0, 1]``); default
            ``0.50, 0.55, ..., 0.95``.  ``map_50`` / ``map_75`` are ``-1`` when 0.5 / 0.75 is not among them.
        max_detection_thresholds: the numbers of top-scoring detections per image and
            class that ``mar_<k>`` counts (sorted ascending, distinct, positive); default
            ``(1, 10, 100)``.  The largest one also caps every ``map*`` and the per-range recalls.
        class_metrics: also return ``map_per_class`` and ``mar_<max>_per_class`` per class
            of ``classes``; when ``False`` (default) both are ``tensor(-1.)``, as in torchmetrics.
        curves: also return ``pr_precision``, float32 ``[T, 101, K]``: the interpolated precision
            of each IoU threshold and class of ``classes`` at the recall levels ``0, 0.01, ..., 1``
            (area range ``all``, the largest ``max_detection_thresholds``; ``-1`` where the class
            has no ground truth), the precision-recall curves whose means are the APs of ``map``.
        iou_type: ``"bbox"`` (default) or ``"segm"``: mask AP (notes §3.5.5.1, Mask R-CNN), COCOeval's
            ``iouType="segm"``.  Then every ``preds[i]`` and ``target[i]`` also carries ``masks``
            ``[N, H, W]`` (or ``[N, 1, H, W]``; bool, 0/1, or probabilities read as ``>= 0.5``), the IoU
            is that of the masks' pixels (a crowd region's by the detection's mask area), a detection's
            area is its mask's pixel count and an object's its ``area`` or else its mask's.  The boxes are
            still validated but do not decide any match.
        **kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``, ...).

    :meth:`update` takes ``preds`` and ``target``, lists with one dict per image (torchvision's
    detection convention):

    * ``preds[i]``: ``boxes`` float ``[N, 4]`` in absolute pixels, ``scores`` float ``[N]``,
      ``labels`` int ``[N]``;
    * ``target[i]``: ``boxes`` ``[M, 4]``, ``labels`` int ``[M]``, optionally ``iscrowd``
      ``[M]`` (0/1 or bool; a crowd region is never a missed object and absorbs the detections
      that fall on it) and ``area`` ``[M]`` (squared pixels; default the box area), which only
      decides the area range of the box.

    :meth:`compute` returns a dict of tensors: scalars ``map``, ``map_50``, ``map_75``,
    ``map_small``, ``map_medium``, ``map_large``, ``mar_<k>`` for each ``k`` of
    ``max_detection_thresholds``, ``mar_small``, ``mar_medium``, ``mar_large`` (float32, in
    ``[0, 1]`` or ``-1`` where no ground truth exists); ``map_per_class`` and
    ``mar_<max>_per_class`` (``[K]`` or ``tensor(-1.)``); ``classes`` (int64 ``[K]``, the sorted
    class ids seen in predictions or targets).  torchmetrics hands back one-element results
    as 0-d tensors, so with a single class ``classes`` is ``tensor(c)``.

    Shape:
        per image: ``preds`` boxes ``[N, 4]``, scores ``[N]``, labels ``[N]``;
        ``target`` boxes ``[M, 4]``, labels ``[M]``, iscrowd ``[M]``, area ``[M]``.

    Departures from COCOeval: ``map`` uses the largest of ``max_detection_thresholds``
    (COCOeval always looks for 100, the default's largest); thresholds are found with a
    1e-9 tolerance for ``map_50`` / ``map_75`` (COCOeval requires exact equality).
    State: list states (``cat``) holding one tensor per :meth:`update` call (the batch's images
    one after the other) and the number of boxes of each image, so the gathered states of
    processes that saw different numbers of images, or none, still split into images.

    Example:
        >>> m = MeanAveragePrecision()
        >>> box = torch.tensor([[10.0, 10.0, 50.0, 50.0]])
        >>> m.update([{"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}],
        ...          [{"boxes": box, "labels": torch.tensor([0])}])
        >>> float(m.compute()["map"])
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        *,
        box_format: str = "xyxy",
        iou_thresholds: Sequence[float] | None = None,
        max_detection_thresholds: Sequence[int] | None = None,
        class_metrics: bool = False,
        curves: bool = False,
        iou_type: str = "bbox",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if iou_type not in IOU_TYPES:
            raise ValueError(f"iou_type must be one of {IOU_TYPES}; got {iou_type!r}")
        self.iou_type = iou_type
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}; got {box_format!r}")
        thresholds = _DEFAULT_IOU_THRESHOLDS if iou_thresholds is None else iou_thresholds
        if (
            isinstance(thresholds, (str, bytes))
            or not isinstance(thresholds, Sequence)
            or not thresholds
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1 for t in thresholds)
        ):
            raise ValueError(f"iou_thresholds must be a non-empty sequence of numbers in [0, 1]; got {iou_thresholds!r}")
        max_dets = _DEFAULT_MAX_DETECTIONS if max_detection_thresholds is None else max_detection_thresholds
        if (
            isinstance(max_dets, (str, bytes))
            or not isinstance(max_dets, Sequence)
            or not max_dets
            or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in max_dets)
            or len(set(max_dets)) != len(max_dets)
        ):
            raise ValueError(
                f"max_detection_thresholds must be a non-empty sequence of distinct positive integers; got {max_detection_thresholds!r}"
            )
        if not isinstance(class_metrics, bool):
            raise TypeError(f"class_metrics must be a bool; got {type(class_metrics).__name__}")
        self.box_format = box_format
        self.iou_thresholds = [float(t) for t in thresholds]
        self.max_detection_thresholds = sorted(max_dets)
        self.class_metrics = class_metrics
        if not isinstance(curves, bool):
            raise TypeError(f"curves must be a bool; got {type(curves).__name__}")
        self.curves = curves
        # one tensor per update call in each list (the images of the batch one after the other);
        # the *_counts lists say how many rows each image owns
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    # ------------------------------------------------------------------------------------------ update
    def update(self, preds: Sequence[Mapping[str, torch.Tensor]], target: Sequence[Mapping[str, torch.Tensor]]) -> None:
        """Add the detections and ground truth of a batch of images (see the class docstring)."""
        for arg, value in (("preds", preds), ("target", target)):
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{arg} must be a list with one dict per image; got {type(value).__name__}")
        if len(preds) != len(target):
            raise ValueError(f"preds and target must have one entry per image each; got {len(preds)} and {len(target)}")
        det: list[tuple[torch.Tensor, ...]] = []
        gt: list[tuple[torch.Tensor, ...]] = []
        masks: list[tuple[torch.Tensor, ...]] = []
        for i, (p, t) in enumerate(zip(preds, target)):
            p = _entries(p, f"preds[{i}]", ("boxes", "scores", "labels"))
            boxes = _box_tensor(p["boxes"], f"preds[{i}]['boxes']", self.box_format)
            n = boxes.shape[0]
            scores = _per_box(p["scores"], f"preds[{i}]['scores']", n, integer=False).to(torch.float64)
            _finite(scores, f"preds[{i}]['scores']")
            labels = _per_box(p["labels"], f"preds[{i}]['labels']", n, integer=True).long()
            det.append((boxes, scores, labels))
            if self.iou_type == "segm":
                _entries(p, f"preds[{i}]", ("masks",))
                _entries(t, f"target[{i}]", ("masks",))
                gt_masks = _mask_tensor(t["masks"], f"target[{i}]['masks']", len(t["masks"]), None)
                size = (int(gt_masks.shape[-2]), int(gt_masks.shape[-1]))
                det_masks = _mask_tensor(p["masks"], f"preds[{i}]['masks']", n, size)
                masks.append((det_masks.reshape(-1), gt_masks.reshape(-1), torch.tensor([size], dtype=torch.long)))

            t = _entries(t, f"target[{i}]", ("boxes", "labels"))
            boxes = _box_tensor(t["boxes"], f"target[{i}]['boxes']", self.box_format)
            m = boxes.shape[0]
            labels = _per_box(t["labels"], f"target[{i}]['labels']", m, integer=True).long()
            if t.get("iscrowd") is None:
                crowd = torch.zeros(m, dtype=torch.long)
            else:
                crowd = _per_box(t["iscrowd"], f"target[{i}]['iscrowd']", m, integer=True).long()
                if bool(((crowd != 0) & (crowd != 1)).any()):
                    raise ValueError(f"target[{i}]['iscrowd'] must hold 0 or 1 (or bools); got {crowd.unique().tolist()}")
            if masks and masks[-1][1].numel() != m * int(masks[-1][2].prod()):
                raise ValueError(f"target[{i}]['masks'] must hold one mask per box ({m}); got "
                                 f"{masks[-1][1].numel() // max(1, int(masks[-1][2].prod()))}")
            if t.get("area") is None and masks:  # the mask's area, as COCO's annotations give it
                area = masks[-1][1].reshape(m, int(masks[-1][2].prod())).sum(1).to(torch.float64)
            elif t.get("area") is None:
                area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            else:
                area = _per_box(t["area"], f"target[{i}]['area']", m, integer=False).to(torch.float64)
                _finite(area, f"target[{i}]['area']", non_negative=True)
            gt.append((boxes, labels, crowd, area))
        # everything was validated first: a bad image leaves the state as it was
        if not det:
            return
        device = self.device
        for name, parts in zip(("det_boxes", "det_scores", "det_labels"), zip(*det)):
            getattr(self, name).append(torch.cat(parts).to(device))
        for name, parts in zip(("gt_boxes", "gt_labels", "gt_crowd", "gt_area"), zip(*gt)):
            getattr(self, name).append(torch.cat(parts).to(device))
        self.det_counts.append(torch.tensor([d[1].numel() for d in det], dtype=torch.long, device=device))
        self.gt_counts.append(torch.tensor([g[1].numel() for g in gt], dtype=torch.long, device=device))
        for name, parts in zip(("det_masks", "gt_masks", "mask_sizes"), zip(*masks)):
            getattr(self, name).append(torch.cat(parts).to(device))

    # ------------------------------------------------------------------------------------------ state
    def _state(self, name: str) -> torch.Tensor:
        """A list state as one tensor of its own dtype and trailing shape (empty when nothing was added)."""
        dtype, shape = _STATES[name]
        parts = getattr(self, name)
        if isinstance(parts, torch.Tensor):  # a state loaded from elsewhere as one tensor
            parts = [parts]
        if not parts:
            return torch.zeros((0, *shape), dtype=dtype, device=self.device)
        return torch.cat([p.reshape(-1, *shape).to(dtype) for p in parts])

    def _sync_dist(self, dist_sync_fn: Any = None, process_group: Any = None) -> None:
        """Gather every state from all processes, in rank order, as one tensor per state.

        torchmetrics' generic gather stands in an empty *float32* tensor for a process
        that saw no image, which a float64 or int64 gather of the others cannot be
        combined with; here each process sends a typed (possibly empty) tensor.  The
        per-image counts travel the same way, so each process may hold any number of
        images.
        """
        gather = gather_all_tensors if dist_sync_fn is None else dist_sync_fn
        group = process_group or self.process_group
        for name in _STATES:
            setattr(self, name, [torch.cat(gather(self._state(name), group=group))])

    # ------------------------------------------------------------------------------------------ compute
    def compute(self) -> dict[str, torch.Tensor]:
        """The COCO summary (keys in the class docstring) over every image seen since the last reset."""
        # the matching loops over images and detections: plain CPU tensors are fastest for that
        state = {name: self._state(name).cpu() for name in _STATES}
        det_counts, gt_counts = state["det_counts"], state["gt_counts"]
        if det_counts.numel() != gt_counts.numel():
            raise RuntimeError(f"state holds {det_counts.numel()} prediction and {gt_counts.numel()} target images")
        images = torch.arange(det_counts.numel())
        classes = torch.cat([state["det_labels"], state["gt_labels"]]).unique(sorted=True)
        thresholds = torch.tensor(self.iou_thresholds, dtype=torch.float64)
        levels = torch.tensor(_RECALL_LEVELS, dtype=torch.float64)
        area_lo = torch.tensor([r[1] for r in AREA_RANGES], dtype=torch.float64)[:, None]  # (A, 1)
        area_hi = torch.tensor([r[2] for r in AREA_RANGES], dtype=torch.float64)[:, None]
        max_dets = self.max_detection_thresholds
        T, R, K, A, M = thresholds.numel(), levels.numel(), classes.numel(), len(AREA_RANGES), len(max_dets)

        # detections ranked within each image by score, ties in input order (COCOeval's stable sort) ...
        det_image = images.repeat_interleave(det_counts)
        order = torch.sort(state["det_scores"], descending=True, stable=True).indices
        order = order[torch.sort(det_image[order], stable=True).indices]
        det_orig = order.clone()  # each ranked detection's row in the state (to find its mask)
        det_image, det_boxes = det_image[order], state["det_boxes"][order]
        det_scores, det_labels = state["det_scores"][order], state["det_labels"][order]
        # ... and within each (image, class): only the first max(max_dets) of a class take part
        det_class = torch.searchsorted(classes, det_labels)
        group = det_image * K + det_class
        by_group = torch.sort(group, stable=True).indices
        rank = torch.empty_like(group)
        rank[by_group] = torch.arange(group.numel()) - torch.searchsorted(group[by_group], group[by_group])
        keep = rank < max_dets[-1]
        det_image, det_boxes, det_scores = det_image[keep], det_boxes[keep], det_scores[keep]
        det_labels, det_class, rank = det_labels[keep], det_class[keep], rank[keep]
        det_orig = det_orig[keep]
        segm = self.iou_type == "segm"
        if segm:
            if state["mask_sizes"].shape[0] != images.numel():
                raise RuntimeError(f"state holds masks of {state['mask_sizes'].shape[0]} images for "
                                   f"{images.numel()} images")
            pixels = state["mask_sizes"].prod(1)
            det_row0 = torch.cumsum(det_counts, 0) - det_counts  # first state row of each image's detections
            det_pix0 = torch.cumsum(det_counts * pixels, 0) - det_counts * pixels
            gt_pix0 = torch.cumsum(gt_counts * pixels, 0) - gt_counts * pixels
            det_mask_area = torch.zeros(det_scores.numel(), dtype=torch.float64)

        gt_crowd = state["gt_crowd"].bool()
        gt_area = state["gt_area"]
        gt_ignored = gt_crowd | (gt_area < area_lo) | (gt_area > area_hi)  # (A, G)
        # regular boxes per class and area range: the recall denominators
        regular = torch.zeros(K, A, dtype=torch.long).index_add_(
            0, torch.searchsorted(classes, state["gt_labels"]), (~gt_ignored).T.long()
        )

        # matching, image by image (classes never compete with each other, so one pass serves all)
        matched = torch.zeros(A, T, det_scores.numel(), dtype=torch.bool)
        matched_ignored = torch.zeros_like(matched)
        limit = thresholds.clamp(max=_MAX_THRESHOLD)
        det_start = torch.cumsum(torch.bincount(det_image, minlength=images.numel()), 0).tolist()
        gt_start = torch.cumsum(gt_counts, 0).tolist()
        for i in images.tolist():
            d0, d1 = (det_start[i - 1] if i else 0), det_start[i]
            g0, g1 = (gt_start[i - 1] if i else 0), gt_start[i]
            if segm:
                p = int(pixels[i])
                image_det = state["det_masks"][int(det_pix0[i]):int(det_pix0[i]) + int(det_counts[i]) * p].reshape(-1, p)
                det_m = image_det[det_orig[d0:d1] - det_row0[i]]
                det_mask_area[d0:d1] = det_m.sum(1).to(torch.float64)
            if d0 == d1 or g0 == g1:
                continue
            if segm:
                gt_m = state["gt_masks"][int(gt_pix0[i]):int(gt_pix0[i]) + (g1 - g0) * p].reshape(-1, p)
                iou = _mask_iou(det_m, gt_m, gt_crowd[g0:g1])
            else:
                iou = _match_iou(det_boxes[d0:d1], state["gt_boxes"][g0:g1], gt_crowd[g0:g1])
            iou = torch.where(det_labels[d0:d1, None] == state["gt_labels"][None, g0:g1], iou, -1.0)
            matched[..., d0:d1], matched_ignored[..., d0:d1] = _greedy_match(
                iou, gt_crowd[g0:g1], gt_ignored[:, g0:g1], limit
            )
        det_area = det_mask_area if segm else (det_boxes[:, 2] - det_boxes[:, 0]) * (det_boxes[:, 3] - det_boxes[:, 1])
        outside = (det_area < area_lo) | (det_area > area_hi)  # (A, D)
        ignored = matched_ignored | (~matched & outside[:, None, :])
        true_pos, counted = matched & ~ignored, ~ignored

        precision = torch.full((T, R, K, A, M), -1.0, dtype=torch.float64)
        recall = torch.full((T, K, A, M), -1.0, dtype=torch.float64)
        for k in range(K):
            for j, max_det in enumerate(max_dets):
                # COCOeval's order: images one after the other, each ranked; then a stable sort by score
                chosen = ((det_class == k) & (rank < max_det)).nonzero().flatten()
                chosen = chosen[torch.sort(det_scores[chosen], descending=True, stable=True).indices]
                p, r = _precision_recall(true_pos[..., chosen], counted[..., chosen], regular[k], levels)
                precision[:, :, k, :, j] = p.permute(1, 2, 0)  # (A, T, R) -> (T, R, A)
                recall[:, k, :, j] = r.T
        return self._summary(precision, recall, classes)

    def _summary(self, precision: torch.Tensor, recall: torch.Tensor, classes: torch.Tensor) -> dict[str, torch.Tensor]:
        """COCOeval's ``summarize`` over ``precision [T, R, K, A, M]`` and ``recall [T, K, A, M]``."""
        last = len(self.max_detection_thresholds) - 1

        def at_threshold(value: float) -> list[int]:
            return [i for i, t in enumerate(self.iou_thresholds) if math.isclose(t, value, rel_tol=0.0, abs_tol=1e-9)]

        out: dict[str, torch.Tensor] = {
            "map": _mean_valid(precision[..., 0, last]),
            "map_50": _mean_valid(precision[at_threshold(0.5)][..., 0, last]),
            "map_75": _mean_valid(precision[at_threshold(0.75)][..., 0, last]),
        }
        for a, (name, _, _) in enumerate(AREA_RANGES[1:], start=1):
            out[f"map_{name}"] = _mean_valid(precision[..., a, last])
        for j, max_det in enumerate(self.max_detection_thresholds):
            out[f"mar_{max_det}"] = _mean_valid(recall[..., 0, j])
        for a, (name, _, _) in enumerate(AREA_RANGES[1:], start=1):
            out[f"mar_{name}"] = _mean_valid(recall[..., a, last])
        out = {key: value.float() for key, value in out.items()}
        per_class_key = f"mar_{self.max_detection_thresholds[-1]}_per_class"
        if self.class_metrics:
            out["map_per_class"] = torch.stack(
                [_mean_valid(precision[:, :, k, 0, last]) for k in range(classes.numel())]
            ).float() if classes.numel() else torch.zeros(0)
            out[per_class_key] = torch.stack(
                [_mean_valid(recall[:, k, 0, last]) for k in range(classes.numel())]
            ).float() if classes.numel() else torch.zeros(0)
        else:
            out["map_per_class"] = torch.tensor(-1.0)
            out[per_class_key] = torch.tensor(-1.0)
        out["classes"] = classes
        if self.curves:
            out["pr_precision"] = precision[..., 0, last].float()  # (T, R, K)
        return out
