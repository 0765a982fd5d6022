"""The detection head of Fast and Faster R-CNN: RoI pooling, two FC layers, L scores and 4L − 4 corrections.

Fast R-CNN (notes §3.5.4.3; Girshick, 2015): the proposals are "mapped onto
the extracted feature maps", each is cut into a fixed grid by RoI pooling
(:func:`~an2dl.ops.roi_pool`, the notes' max pooling, or
:func:`~an2dl.ops.roi_align`, the bilinear version torchvision's Faster R-CNN
uses), "the output is vectorized and passed to subsequent layers", and
"Fully Connected layers predict both object classes and bounding box
locations".  In Faster R-CNN (§3.5.4.4) the proposals come from the RPN and
"the detection head produces L classification scores (one per class,
including background) and 4L − 4 bounding box corrections"::

    x_r = RoIPool(features, proposal_r)           [R, C, P, P]
    h_r = ReLU(fc7(ReLU(fc6(flatten(x_r)))))      [R, D]
    s_r = cls_score(h_r)                           [R, L]        (class 0 = background)
    t_r = bbox_pred(h_r)                           [R, 4(L-1)]   (class c >= 1: columns 4(c-1) .. 4c-1)

**4L − 4 versus torchvision's 4L.**  torchvision's ``bbox_pred`` has ``4L``
outputs and never reads the background's first four.  :func:`bbox_pred_to_torchvision`
inserts four zero rows in front of our layer, :func:`bbox_pred_from_torchvision`
drops them: the boxes of every object class are identical.

**Training** (:meth:`RoIHeads.select_training_samples`): the ground-truth
boxes are added to the proposals (so that every object has a perfect
positive from the first step), proposals are matched to the objects at IoU
0.5 (below: background), 512 per image are sampled with at most 25 %
positives, and the loss is :func:`~an2dl.losses.rcnn.fast_rcnn_loss` with the
:class:`~an2dl.ops.BoxCoder` targets of weights ``(10, 10, 5, 5)``.
**Inference** (:meth:`RoIHeads.postprocess_detections`): softmax over the L
scores, one decoded box per object class, clipped; boxes scored below
``score_thresh`` or smaller than 0.01 px are dropped, NMS per class at
``nms_thresh``, the ``detections_per_img`` best are kept.  Module names are
torchvision's (``box_head.fc6``, ``box_head.fc7``, ``box_predictor.cls_score``,
``box_predictor.bbox_pred``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...losses.rcnn import fast_rcnn_loss
from ...ops.box_coder import BoxCoder
from ...ops.boxes import box_iou, clip_boxes_to_image, remove_small_boxes
from ...ops.multiscale_roi import MultiScaleRoIAlign
from ...ops.nms import batched_nms
from ...ops.roi import roi_align, roi_pool
from .._checks import check_positive_int
from .matching import match_boxes, sample_balanced

__all__ = ["RoIPooler", "TwoMLPHead", "FastRCNNPredictor", "RoIHeads", "bbox_pred_to_torchvision",
           "bbox_pred_from_torchvision", "ROI_POOL_MODES"]

#: how :class:`RoIPooler` reads a proposal from the map: Fast R-CNN's max pooling or Mask R-CNN's RoIAlign
ROI_POOL_MODES = ("max", "align")


def bbox_pred_to_torchvision(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Our ``4(L-1)``-output ``bbox_pred`` as torchvision's ``4L`` layer (four zero rows for the background).

    Shape:
        ``[4(L-1), D]``, ``[4(L-1)]`` in; ``[4L, D]``, ``[4L]`` out.
    """
    if weight.dim() != 2 or bias.dim() != 1 or weight.shape[0] != bias.shape[0] or weight.shape[0] % 4:
        raise ValueError(f"expected bbox_pred weight [4(L-1), D] and bias [4(L-1)]; got {list(weight.shape)} and "
                         f"{list(bias.shape)}")
    return (torch.cat([weight.new_zeros(4, weight.shape[1]), weight]), torch.cat([bias.new_zeros(4), bias]))


def bbox_pred_from_torchvision(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's ``4L``-output ``bbox_pred`` without the background's four rows: ``[4(L-1), D]``, ``[4(L-1)]``."""
    if weight.dim() != 2 or bias.dim() != 1 or weight.shape[0] != bias.shape[0] or weight.shape[0] % 4 or \
            weight.shape[0] < 8:
        raise ValueError(f"expected torchvision's bbox_pred weight [4L, D] (L >= 2) and bias [4L]; got "
                         f"{list(weight.shape)} and {list(bias.shape)}")
    return weight[4:], bias[4:]


class RoIPooler(nn.Module):
    """Pool each proposal from a single feature map into a ``P × P`` grid (notes §3.5.4.3).

    The map's scale ``1 / stride`` is the power of two closest to ``map size / padded image
    size``, as torchvision infers it.

    Args:
        output_size: P.
        mode: ``"max"`` (RoI max pooling, Fast R-CNN) or ``"align"`` (RoIAlign, torchvision's choice).
        sampling_ratio: bilinear samples per bin side for ``"align"`` (torchvision's 2).

    Shape:
        ``forward(features [B, C, h, w], boxes list of [N_i, 4], padded_size (H, W))`` returns
        ``[ΣN_i, C, P, P]``.
    """

    def __init__(self, output_size: int = 7, *, mode: str = "align", sampling_ratio: int = 2) -> None:
        super().__init__()
        self.output_size = check_positive_int("RoIPooler", "output_size", output_size)
        if mode not in ROI_POOL_MODES:
            raise ConfigError(f"RoIPooler mode must be one of {ROI_POOL_MODES}; got {mode!r}")
        self.mode = mode
        self.sampling_ratio = int(sampling_ratio)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, mode={self.mode!r}, sampling_ratio={self.sampling_ratio}"

    def forward(self, features: torch.Tensor, boxes: Sequence[torch.Tensor], padded_size: tuple[int, int]
                ) -> torch.Tensor:
        scale = 2.0 ** round(math.log2(features.shape[-1] / padded_size[1]))
        boxes = [b.to(features.dtype) for b in boxes]
        if self.mode == "max":
            return roi_pool(features, boxes, self.output_size, spatial_scale=scale)
        return roi_align(features, boxes, self.output_size, spatial_scale=scale, sampling_ratio=self.sampling_ratio)


class TwoMLPHead(nn.Module):
    """``flatten → fc6 → ReLU → fc7 → ReLU``: the two FC layers after RoI pooling (torchvision's names).

    Shape:
        ``[R, C, P, P] -> [R, representation_size]``.
    """

    def __init__(self, in_features: int, representation_size: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(check_positive_int("TwoMLPHead", "in_features", in_features),
                             check_positive_int("TwoMLPHead", "representation_size", representation_size))
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))


class FastRCNNPredictor(nn.Module):
    """``L`` class scores and ``4L − 4`` box corrections per RoI (notes §3.5.4.4).

    Args:
        in_features: D, width of the RoI features.
        num_classes: L, the classes including the background (``>= 2``).

    Shape:
        ``[R, D] -> ([R, L], [R, 4(L-1)])``.
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        check_positive_int("FastRCNNPredictor", "in_features", in_features)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"FastRCNNPredictor num_classes must be an integer >= 2 (the object classes and the "
                              f"background); got {num_classes!r}")
        self.num_classes = num_classes
        self.cls_score = nn.Linear(in_features, num_classes)
        self.bbox_pred = nn.Linear(in_features, 4 * (num_classes - 1))
        # Fast R-CNN's initialisation: N(0, 0.01²) scores, N(0, 0.001²) corrections, zero biases
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)


class RoIHeads(nn.Module):
    """Proposal sampling, RoI pooling, the two FC layers, the predictor, its loss and the post-processing.

    Args:
        box_roi_pool: a :class:`RoIPooler`.
        box_head: features of the pooled RoIs (:class:`TwoMLPHead`).
        box_predictor: :class:`FastRCNNPredictor`.
        fg_iou_thresh, bg_iou_thresh: a proposal with IoU ``>= fg`` with an object takes its class,
            below ``bg`` it is background (both 0.5: no ignored band).
        batch_size_per_image, positive_fraction: proposals sampled per image (512) and the largest
            share of objects among them (25 %).
        bbox_reg_weights: the :class:`~an2dl.ops.BoxCoder` weights of the corrections.
        score_thresh, nms_thresh, detections_per_img: inference (module docstring).

    Shape:
        ``forward(features [B, C, h, w], proposals list of [P_i, 4], image_sizes, padded_size,
        targets=None)`` returns ``(detections, losses)``: per image ``{"boxes": [K_i, 4], "labels":
        [K_i] in 1..L-1, "scores": [K_i]}`` (empty lists in training) and
        ``{"loss_classifier", "loss_box_reg"}`` (empty without targets).
    """

    def __init__(self, box_roi_pool: RoIPooler, box_head: nn.Module, box_predictor: FastRCNNPredictor, *,
                 fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.5, batch_size_per_image: int = 512,
                 positive_fraction: float = 0.25, bbox_reg_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 100) -> None:
        super().__init__()
        if not 0.0 <= bg_iou_thresh <= fg_iou_thresh <= 1.0:
            raise ConfigError(f"RoIHeads needs 0 <= bg_iou_thresh <= fg_iou_thresh <= 1; got {bg_iou_thresh!r} and "
                              f"{fg_iou_thresh!r}")
        self.box_roi_pool = box_roi_pool
        self.box_head = box_head
        self.box_predictor = box_predictor
        self.box_coder = BoxCoder(tuple(bbox_reg_weights))
        self.fg_iou_thresh = float(fg_iou_thresh)
        self.bg_iou_thresh = float(bg_iou_thresh)
        self.batch_size_per_image = check_positive_int("RoIHeads", "batch_size_per_image", batch_size_per_image)
        self.positive_fraction = float(positive_fraction)
        self.score_thresh = float(score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.detections_per_img = check_positive_int("RoIHeads", "detections_per_img", detections_per_img)

    @staticmethod
    def pool(pooler: nn.Module, features: torch.Tensor | Mapping[str, torch.Tensor], boxes: Sequence[torch.Tensor],
             padded_size: tuple[int, int]) -> torch.Tensor:
        """Pool ``boxes`` from one map (:class:`RoIPooler`) or from a pyramid (a ``{name: map}`` dict,
        :class:`~an2dl.ops.multiscale_roi.MultiScaleRoIAlign`, each RoI from the level its size selects)."""
        if isinstance(features, Mapping):
            if not isinstance(pooler, MultiScaleRoIAlign):
                raise ConfigError(f"RoIHeads got a feature pyramid (maps {list(features)}) but its pooler is a "
                                  f"{type(pooler).__name__}; a pyramid needs MultiScaleRoIAlign")
            return pooler(features, list(boxes), [tuple(padded_size)] * len(boxes))
        return pooler(features, boxes, padded_size)

    @property
    def num_classes(self) -> int:
        return self.box_predictor.num_classes

    def select_training_samples(self, proposals: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]],
                                *, return_matched: bool = False) -> tuple:
        """Proposals + ground truth, matched at IoU 0.5, sampled 512 per image with up to 25 % objects.

        Returns:
            the sampled proposals per image (``[S_i, 4]``), their classes (``[ΣS_i]``, 0 =
            background) and their regression targets (``[ΣS_i, 4]``); with ``return_matched``
            also, per image, the index of the object each sampled proposal is matched to
            (``[S_i]``, meaningful where the class is not 0; Mask R-CNN's mask targets).
        """
        sampled_boxes, labels_out, targets_out, matched_out = [], [], [], []
        for props, t in zip(proposals, targets):
            gt_boxes = t["boxes"].to(props.dtype)
            gt_labels = t["labels"].to(torch.int64)
            props = torch.cat([props, gt_boxes])
            idx = match_boxes(box_iou(gt_boxes, props), self.fg_iou_thresh, self.bg_iou_thresh)
            if gt_boxes.shape[0]:
                labels = gt_labels[idx.clamp(min=0)]
                matched = gt_boxes[idx.clamp(min=0)]
            else:
                labels = torch.zeros(props.shape[0], dtype=torch.int64, device=props.device)
                matched = torch.zeros_like(props)
            labels[idx == -1] = 0
            labels[idx == -2] = -1
            pos, neg = sample_balanced(labels, self.batch_size_per_image, self.positive_fraction)
            keep = torch.cat([pos, neg])
            sampled_boxes.append(props[keep])
            labels_out.append(labels[keep])
            targets_out.append(self.box_coder.encode_single(matched[keep], props[keep]))
            matched_out.append(idx.clamp(min=0)[keep])
        if return_matched:
            return sampled_boxes, torch.cat(labels_out), torch.cat(targets_out), matched_out
        return sampled_boxes, torch.cat(labels_out), torch.cat(targets_out)

    def postprocess_detections(self, class_logits: torch.Tensor, box_regression: torch.Tensor,
                               proposals: Sequence[torch.Tensor], image_sizes: Sequence[tuple[int, int]]
                               ) -> list[dict[str, torch.Tensor]]:
        """Softmax, per-class boxes, clip, score threshold, per-class NMS, top detections (module docstring)."""
        num_classes = class_logits.shape[1]
        counts = [p.shape[0] for p in proposals]
        boxes_all = self.box_coder.decode(box_regression, list(proposals))  # (R, L-1, 4)
        scores_all = torch.softmax(class_logits, dim=1)[:, 1:]  # (R, L-1): the object classes
        out = []
        for boxes, scores, size in zip(boxes_all.split(counts), scores_all.split(counts), image_sizes):
            boxes = clip_boxes_to_image(boxes, size)
            labels = torch.arange(1, num_classes, device=boxes.device).expand_as(scores)
            boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
            keep = torch.nonzero(scores > self.score_thresh).flatten()
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = remove_small_boxes(boxes, 1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": boxes[keep], "labels": labels[keep], "scores": scores[keep]})
        return out

    def forward(self, features: torch.Tensor | Mapping[str, torch.Tensor], proposals: Sequence[torch.Tensor],
                image_sizes: Sequence[tuple[int, int]], padded_size: tuple[int, int],
                targets: Sequence[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if targets is not None:
            proposals, labels, regression_targets = self.select_training_samples(proposals, targets)
            return [], self.box_losses(features, proposals, labels, regression_targets, padded_size)
        x = self.pool(self.box_roi_pool, features, proposals, padded_size)  # (R, C, P, P)
        class_logits, box_regression = self.box_predictor(self.box_head(x))  # (R, L), (R, 4(L-1))
        return self.postprocess_detections(class_logits, box_regression, proposals, image_sizes), {}

    def box_losses(self, features: torch.Tensor | Mapping[str, torch.Tensor], proposals: Sequence[torch.Tensor],
                   labels: torch.Tensor, regression_targets: torch.Tensor, padded_size: tuple[int, int]
                   ) -> dict[str, torch.Tensor]:
        """``loss_classifier`` and ``loss_box_reg`` of the sampled proposals (:func:`~an2dl.losses.rcnn.fast_rcnn_loss`)."""
        x = self.pool(self.box_roi_pool, features, proposals, padded_size)  # (R, C, P, P)
        class_logits, box_regression = self.box_predictor(self.box_head(x))  # (R, L), (R, 4(L-1))
        loss_cls, loss_box = fast_rcnn_loss(class_logits, box_regression, labels, regression_targets)
        return {"loss_classifier": loss_cls, "loss_box_reg": loss_box}
