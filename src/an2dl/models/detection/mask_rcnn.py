"""Mask R-CNN: Faster R-CNN on a Feature Pyramid Network with a mask branch (notes §3.5.5.1; He et al., 2017).

"Mask R-CNN extends Faster R-CNN by adding a branch for predicting an object
mask in parallel with the existing branch for bounding box recognition"::

    RoIAlign 14×14 ─ mask_head: 4 × (conv3x3 - ReLU)        [R, 256, 14, 14]
                   ─ conv5_mask: transposed conv 2×2, ReLU    [R, 256, 28, 28]
                   ─ mask_fcn_logits: conv1x1                 [R, L, 28, 28]  one mask per class

**Training.**  The mask branch sees the *positive* proposals sampled by the
box head (those matched to an object).  The target of proposal ``r``
matched to object ``o`` is the ground-truth mask of ``o`` cut out with
RoIAlign on the proposal's box at ``28 × 28`` (:func:`mask_targets`); the
loss is the per-pixel binary cross-entropy of the map of ``o``'s class only
(:func:`~an2dl.losses.mask_rcnn.mask_loss`), added to the four Faster R-CNN
terms as ``loss_mask``.

**Inference.**  The mask branch runs on the *detections* (after NMS); each
detection keeps the sigmoid of its predicted class's map, and
:func:`paste_masks_in_image` resamples it bilinearly into its box in the
image: ``masks`` ``[K, 1, H, W]`` probabilities (torchvision's contract;
threshold at 0.5 for a binary mask).

Module names are torchvision's (``roi_heads.mask_head.i.0``,
``roi_heads.mask_predictor.conv5_mask``/``mask_fcn_logits``), so
:func:`maskrcnn_resnet50_fpn` has the state dict of torchvision's
``maskrcnn_resnet50_fpn`` (after
:func:`~an2dl.models.detection.faster_rcnn.to_torchvision_state_dict`, which
converts the two box layers the notes shape differently; the mask layers
have torchvision's shapes already).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...losses.mask_rcnn import mask_loss
from ...ops.multiscale_roi import MultiScaleRoIAlign
from ...ops.roi import roi_align
from .._checks import check_positive_int
from .._registry import register_model
from .faster_rcnn import RESNET50_FPN, FasterRCNN, _example, faster_rcnn
from .fpn import LegacyKeys
from .roi_heads import RoIHeads, RoIPooler

__all__ = ["MaskRCNNHeads", "MaskRCNNPredictor", "MaskRoIHeads", "MaskRCNN", "mask_targets", "paste_masks_in_image",
           "mask_rcnn", "maskrcnn_resnet50_fpn"]


class MaskRCNNHeads(LegacyKeys, nn.Sequential):
    """``conv3x3 - ReLU`` layers on the pooled RoI features (torchvision's keys ``i.0.weight``).

    State dicts written with torchvision's older keys (``mask_fcn1.weight`` … for layer 0 …) load too.

    Shape:
        ``[R, in_channels, P, P] -> [R, layers[-1], P, P]``.
    """

    def legacy_keys(self) -> list[tuple[str, str]]:
        """torchvision's older names: ``mask_fcn{i+1}.weight`` -> ``{i}.0.weight``."""
        return [(f"mask_fcn{i + 1}.{kind}", f"{i}.0.{kind}") for i in range(len(self)) for kind in ("weight", "bias")]

    def __init__(self, in_channels: int, layers: Sequence[int] = (256, 256, 256, 256)) -> None:
        blocks = []
        c_in = check_positive_int("MaskRCNNHeads", "in_channels", in_channels)
        for c in layers:
            c = check_positive_int("MaskRCNNHeads", "layers", c)
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(inplace=True)))
            c_in = c
        super().__init__(*blocks)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)


class MaskRCNNPredictor(nn.Module):
    """2×2 transposed convolution (stride 2) + ReLU, then one ``1×1`` logit map per class.

    Shape:
        ``[R, in_channels, P, P] -> [R, num_classes, 2P, 2P]``.
    """

    def __init__(self, in_channels: int, dim_reduced: int, num_classes: int) -> None:
        super().__init__()
        self.conv5_mask = nn.ConvTranspose2d(check_positive_int("MaskRCNNPredictor", "in_channels", in_channels),
                                             check_positive_int("MaskRCNNPredictor", "dim_reduced", dim_reduced),
                                             2, 2)
        self.mask_fcn_logits = nn.Conv2d(dim_reduced, num_classes, 1)
        for m in (self.conv5_mask, self.mask_fcn_logits):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mask_fcn_logits(F.relu(self.conv5_mask(x)))


def mask_targets(gt_masks: torch.Tensor, boxes: torch.Tensor, matched: torch.Tensor, size: int) -> torch.Tensor:
    """The ground-truth mask of each proposal's object, RoIAlign-ed on the proposal's box (He et al., 2017).

    Args:
        gt_masks: the image's object masks in [0, 1].
        boxes: the positive proposals ``(x1, y1, x2, y2)`` in pixels.
        matched: the object each proposal is matched to.
        size: ``M``.

    Returns:
        ``roi_align(gt_masks[matched[r]], boxes[r], M × M)``, values in [0, 1].

    Shape:
        ``gt_masks [N, H, W]``, ``boxes [R, 4]``, ``matched [R]`` -> ``[R, M, M]``.
    """
    rois = torch.cat([matched.to(boxes.dtype)[:, None], boxes], dim=1)
    return roi_align(gt_masks[:, None].to(boxes.dtype), rois, size, spatial_scale=1.0)[:, 0]


def paste_masks_in_image(masks: torch.Tensor, boxes: torch.Tensor, image_size: Sequence[int]) -> torch.Tensor:
    """Resample each ``M × M`` mask into its box of an ``H × W`` image (bilinear, zero outside the mask).

    The mask's ``M`` cells tile the box exactly: the image pixel ``(x, y)`` (centre ``x + ½``)
    reads the mask at cell coordinate ``u = (x + ½ − x1) · M / (x2 − x1) − ½`` (and ``v`` from
    ``y``), interpolated bilinearly between the cell centres, with zeros beyond the mask's border
    (``F.grid_sample``, ``align_corners=False``).  Pixels farther than half a cell from the box
    are 0.  (torchvision pads the mask by one cell and resizes it to the box's whole pixels; the
    two agree away from the box border.)

    Shape:
        ``masks [K, M, M]``, ``boxes [K, 4]`` -> ``[K, H, W]``.
    """
    if masks.dim() != 3 or boxes.shape != (masks.shape[0], 4):
        raise ValueError(f"masks must be [K, M, M] and boxes [K, 4]; got {list(masks.shape)} and {list(boxes.shape)}")
    height, width = (int(v) for v in image_size)
    out = masks.new_zeros(masks.shape[0], height, width)
    m_h, m_w = masks.shape[-2:]
    for k in range(masks.shape[0]):
        x1, y1, x2, y2 = boxes[k].detach().tolist()
        bw, bh = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
        # the pixels a sample can reach: the box plus half a cell (and one pixel of slack), inside the image
        c0, c1 = max(int(math.floor(x1 - bw / m_w)) - 1, 0), min(int(math.ceil(x2 + bw / m_w)) + 1, width)
        r0, r1 = max(int(math.floor(y1 - bh / m_h)) - 1, 0), min(int(math.ceil(y2 + bh / m_h)) + 1, height)
        if c1 <= c0 or r1 <= r0:
            continue
        xs = (torch.arange(c0, c1, dtype=masks.dtype, device=masks.device) + 0.5 - x1) / bw * 2 - 1
        ys = (torch.arange(r0, r1, dtype=masks.dtype, device=masks.device) + 0.5 - y1) / bh * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None]
        out[k, r0:r1, c0:c1] = F.grid_sample(masks[k][None, None], grid, mode="bilinear", padding_mode="zeros",
                                             align_corners=False)[0, 0]
    return out


class MaskRoIHeads(RoIHeads):
    """:class:`~an2dl.models.detection.roi_heads.RoIHeads` with the mask branch (module docstring).

    Args:
        box_roi_pool, box_head, box_predictor: as :class:`RoIHeads`.
        mask_roi_pool: RoIAlign of the mask branch (14×14; a
            :class:`~an2dl.ops.multiscale_roi.MultiScaleRoIAlign` on a pyramid).
        mask_head: :class:`MaskRCNNHeads`.
        mask_predictor: :class:`MaskRCNNPredictor`.
        kwargs: the settings of :class:`RoIHeads`.

    Shape:
        as :class:`RoIHeads`, plus ``loss_mask`` in training and, per detection dict, ``masks``
        ``[K, 1, H, W]`` (probabilities, the image's own size) in evaluation.
    """

    def __init__(self, box_roi_pool: nn.Module, box_head: nn.Module, box_predictor: nn.Module,
                 mask_roi_pool: nn.Module, mask_head: nn.Module, mask_predictor: MaskRCNNPredictor,
                 **kwargs: Any) -> None:
        super().__init__(box_roi_pool, box_head, box_predictor, **kwargs)
        self.mask_roi_pool = mask_roi_pool
        self.mask_head = mask_head
        self.mask_predictor = mask_predictor

    def mask_logits(self, features: torch.Tensor | Mapping[str, torch.Tensor], boxes: Sequence[torch.Tensor],
                    padded_size: tuple[int, int]) -> torch.Tensor:
        """``[ΣK_i, L, M, M]`` mask logits of every class for the boxes."""
        x = self.pool(self.mask_roi_pool, features, boxes, padded_size)
        return self.mask_predictor(self.mask_head(x))

    def forward(self, features: torch.Tensor | Mapping[str, torch.Tensor], proposals: Sequence[torch.Tensor],
                image_sizes: Sequence[tuple[int, int]], padded_size: tuple[int, int],
                targets: Sequence[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if targets is not None:
            proposals, labels, regression_targets, matched = self.select_training_samples(
                proposals, targets, return_matched=True)
            losses = self.box_losses(features, proposals, labels, regression_targets, padded_size)
            positive = [lab > 0 for lab in labels.split([p.shape[0] for p in proposals])]
            pos_boxes = [p[keep] for p, keep in zip(proposals, positive)]
            logits = self.mask_logits(features, pos_boxes, padded_size)
            m = logits.shape[-1]
            gt = [mask_targets(t["masks"], b, idx[keep], m) if b.shape[0] else logits.new_zeros(0, m, m)
                  for t, b, idx, keep in zip(targets, pos_boxes, matched, positive)]
            losses["loss_mask"] = mask_loss(logits, labels[labels > 0], torch.cat(gt))
            return [], losses
        detections, _ = super().forward(features, proposals, image_sizes, padded_size)
        boxes = [d["boxes"] for d in detections]
        logits = self.mask_logits(features, boxes, padded_size)  # (ΣK, L, M, M)
        labels = torch.cat([d["labels"] for d in detections])
        probs = torch.sigmoid(logits[torch.arange(labels.shape[0], device=labels.device), labels])  # (ΣK, M, M)
        for d, p, size in zip(detections, probs.split([b.shape[0] for b in boxes]), image_sizes):
            d["masks"] = paste_masks_in_image(p, d["boxes"], size)[:, None]
        return detections, {}


class MaskRCNN(FasterRCNN):
    """Faster R-CNN with :class:`MaskRoIHeads` (notes §3.5.5.1): targets carry ``masks`` ``[N, H, W]``.

    Training returns the Faster R-CNN losses and ``loss_mask``; evaluation adds ``masks``
    ``[K, 1, H, W]`` (probabilities) to each image's detections.
    """

    needs_masks = True

    def __init__(self, backbone: nn.Module, rpn: nn.Module, roi_heads: MaskRoIHeads, **kwargs: Any) -> None:
        if not isinstance(roi_heads, MaskRoIHeads):
            raise TypeError(f"MaskRCNN roi_heads must be MaskRoIHeads; got {type(roi_heads).__name__}")
        super().__init__(backbone, rpn, roi_heads, **kwargs)


def _mask_example(batch: int) -> tuple[Any, ...]:
    """:func:`~an2dl.models.detection.faster_rcnn._example` with each box's mask an ellipse inscribed in it."""
    images, targets = _example(batch)
    yy, xx = torch.meshgrid(torch.arange(64.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    for t in targets:
        b = t["boxes"]
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        rx, ry = (b[:, 2] - b[:, 0]) / 2, (b[:, 3] - b[:, 1]) / 2
        t["masks"] = ((((xx - cx[:, None, None]) / rx[:, None, None]) ** 2
                       + ((yy - cy[:, None, None]) / ry[:, None, None]) ** 2) <= 1).to(torch.uint8)
    return images, targets


@register_model("mask_rcnn", example=_mask_example)
def mask_rcnn(*, num_classes: int = 4, backbone: str = "small_cnn", channels: Sequence[int] = (16, 32, 64, 64),
              fpn_channels: int = 64, anchor_sizes: Sequence[float] = (8, 16, 32, 64),
              fpn_canonical_scale: float = 56, representation_size: int = 256, mask_output_size: int = 14,
              mask_layers: Sequence[int] = (64, 64, 64, 64), mask_dim_reduced: int = 64,
              **kwargs: Any) -> MaskRCNN:
    """:class:`MaskRCNN` on an FPN (notes §3.5.5.1–3.5.5.2): :func:`~an2dl.models.detection.faster_rcnn.faster_rcnn`
    with ``fpn=True`` and the mask branch.

    The defaults are small for 64×64 images (a 4-block CNN whose blocks 1–3, strides 2/4/8, feed a
    64-channel FPN; anchors 8–64 px one per level; RoIs of side ``56 · 2^(k-4)`` px go to level
    ``k``); the mask branch is torchvision's (RoIAlign 14×14, four 3×3 convolutions, a 2×2
    transposed convolution, 28×28 masks) with ``mask_layers`` and ``mask_dim_reduced`` channels
    (torchvision 256).  ``kwargs`` go to ``faster_rcnn``.
    """
    if "fpn" in kwargs and not kwargs["fpn"]:
        raise ConfigError("mask_rcnn is built on an FPN; got fpn=False (use faster_rcnn for one feature map)")
    kwargs.pop("fpn", None)
    base = faster_rcnn(num_classes=num_classes, backbone=backbone, channels=channels, fpn=True,
                       fpn_channels=fpn_channels, anchor_sizes=anchor_sizes, fpn_canonical_scale=fpn_canonical_scale,
                       representation_size=representation_size, **kwargs)
    box = base.roi_heads
    if not mask_layers:
        raise ConfigError(f"mask_rcnn mask_layers must list the channels of the head's convolutions; got "
                          f"{mask_layers!r}")
    pooler = box.box_roi_pool
    mask_pool: nn.Module
    if isinstance(pooler, MultiScaleRoIAlign):
        mask_pool = MultiScaleRoIAlign(pooler.featmap_names, mask_output_size, 2,
                                       canonical_scale=pooler.canonical_scale)
    else:
        mask_pool = RoIPooler(mask_output_size, mode="align")
    heads = MaskRoIHeads(box.box_roi_pool, box.box_head, box.box_predictor, mask_pool,
                         MaskRCNNHeads(base.backbone.out_channels, mask_layers),
                         MaskRCNNPredictor(mask_layers[-1], mask_dim_reduced, num_classes),
                         fg_iou_thresh=box.fg_iou_thresh, bg_iou_thresh=box.bg_iou_thresh,
                         batch_size_per_image=box.batch_size_per_image, positive_fraction=box.positive_fraction,
                         bbox_reg_weights=box.box_coder.weights, score_thresh=box.score_thresh,
                         nms_thresh=box.nms_thresh, detections_per_img=box.detections_per_img)
    return MaskRCNN(base.backbone, base.rpn, heads, in_channels=base.in_channels, image_mean=base.image_mean,
                    image_std=base.image_std, size_divisible=base.size_divisible)


def maskrcnn_resnet50_fpn(*, num_classes: int = 91, frozen_bn: bool = True, trainable_layers: int = 3,
                          **kwargs: Any) -> MaskRCNN:
    """torchvision's ``maskrcnn_resnet50_fpn`` (its COCO checkpoints' layout with the defaults): the
    ``fasterrcnn_resnet50_fpn`` settings, a 256-channel mask branch, 91 classes, canonical scale 224."""
    return mask_rcnn(**{**RESNET50_FPN, "channels": (16, 32, 64), "fpn_channels": 256, "fpn_canonical_scale": 224,
                        "mask_layers": (256, 256, 256, 256), "mask_dim_reduced": 256, "num_classes": num_classes,
                        "frozen_bn": frozen_bn, "trainable_layers": trainable_layers, **kwargs})
