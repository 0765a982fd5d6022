"""Fast R-CNN and Faster R-CNN: one feature map, region proposals, a detection head (notes §3.5.4.3–3.5.4.4).

**Faster R-CNN** (notes §3.5.4.4; Ren et al., 2015, "Faster R-CNN: Towards
Real-Time Object Detection with Region Proposal Networks")::

    images ─ normalise, pad ─ backbone ─ features ─┬─ RPN (anchors, 2k scores, 4k corrections) ─ proposals
                                                    └─ RoI heads (RoI pooling, fc6, fc7, L scores, 4L-4 corrections)
                                                       on the proposals ─ detections

trained end to end with the sum of the four losses (``loss_objectness``,
``loss_rpn_box_reg``, ``loss_classifier``, ``loss_box_reg``; see
:mod:`an2dl.losses.rcnn`).  **Fast R-CNN** (§3.5.4.3; Girshick, 2015) is the
same network without the RPN: ``proposals`` come from outside (a classical
proposal method, the boxes of another detector, sliding windows) and the
detection head is trained on them; :class:`FastRCNN` is :class:`FasterRCNN`
with ``rpn=None`` and shares every line of code.

**Contract** (torchvision's): ``model(images, targets)`` in training mode
returns the dict of loss terms, ``model(images)`` in evaluation mode a list
with one ``{"boxes": [K, 4] xyxy pixels, "labels": [K] in 1..C, "scores":
[K]}`` per image.  ``images`` is a ``[B, 3, H, W]`` tensor in [0, 1] or a
list of ``[3, H_i, W_i]`` tensors; ``targets`` one dict per image with
``boxes`` ``[N, 4]`` (``x1 < x2``, ``y1 < y2``, inside the image) and
``labels`` ``[N]`` in ``1..C`` (``N`` may be 0).  ``num_classes`` is ``C + 1``
(the background included).

**Image sizes.**  Images are not resized (torchvision rescales to 800–1333
pixels; our data sets have their working size already).  They are
normalised with ``image_mean``/``image_std`` and, when their sizes differ,
padded with zeros at the bottom and the right to the largest height and
width of the batch (rounded up to ``size_divisible``).  Padding at the
bottom-right leaves every pixel coordinate unchanged; proposals and
detections are clipped to each image's own size, so boxes come back in the
pixels of the input image.

**Backbones.**  ``"small_cnn"`` (default): three blocks of ``conv3x3 -
BN - ReLU`` ×2, a 2×2 max pooling after the first two, a stride-4 map —
small enough to train on 64×64 synthetic shapes on one CPU thread.  Any
ResNet of the zoo (``"resnet18"``, ``"resnet50"``, ...) with
:class:`~an2dl.nn.FrozenBatchNorm2d` (batch statistics of a few images are
too noisy; torchvision's choice) whose last stage is the feature map
(stride 32, or 8 with ``backbone_kwargs={"small_input": True}``), the
stages before ``trainable_layers`` frozen as torchvision does.  The backbone
is ``backbone.body`` (torchvision's key prefix).

**With a Feature Pyramid Network** (notes §3.5.5.2; ``faster_rcnn(fpn=True)``) the backbone
returns the pyramid ``{"0": P_a, ..., "pool": P_last}`` (:class:`~an2dl.models.detection.fpn.BackboneWithFPN`;
the small CNN exposes its blocks through ``forward_intermediates``), the anchors have one size per
level, the RPN runs on every level and the RoI heads pool each proposal from its level
(:class:`~an2dl.ops.multiscale_roi.MultiScaleRoIAlign`); :func:`fasterrcnn_resnet50_fpn` is
torchvision's model of that name.

**torchvision's layout.**  Module names are torchvision's (``backbone.body``,
``rpn.head.conv.0.0``, ``rpn.head.cls_logits``, ``rpn.head.bbox_pred``,
``roi_heads.box_head.fc6``/``fc7``, ``roi_heads.box_predictor.cls_score``/
``bbox_pred``).  Two layers have the notes' shapes instead of
torchvision's: ``rpn.head.cls_logits`` (2k scores, torchvision k logits)
and ``roi_heads.box_predictor.bbox_pred`` (4L − 4 corrections, torchvision
4L); :func:`convert_state_dict` (and its callers :func:`to_torchvision_state_dict`,
:func:`from_torchvision_state_dict`) converts a state dict between the two (identical
detections), and :func:`load_torchvision_state_dict` loads a torchvision checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from ...ops.boxes import check_boxes
from ...ops.multiscale_roi import MultiScaleRoIAlign
from .._checks import check_positive_int
from .._registry import register_model
from ..vision._base import make_feature_info
from .anchors import AnchorGenerator
from .fpn import BackboneWithFPN, zoo_trunk
from .roi_heads import (
    FastRCNNPredictor,
    RoIHeads,
    RoIPooler,
    TwoMLPHead,
    bbox_pred_from_torchvision,
    bbox_pred_to_torchvision,
)
from .rpn import RegionProposalNetwork, RPNHead, logits_from_two_way, two_way_from_logits

__all__ = ["FasterRCNN", "FastRCNN", "SmallConvBackbone", "DetectionBackbone", "zoo_trunk", "build_backbone", "faster_rcnn",
           "fast_rcnn", "to_torchvision_state_dict", "convert_state_dict", "fasterrcnn_resnet50_fpn",
           "load_torchvision_state_dict", "from_torchvision_state_dict", "IMAGENET_MEAN", "IMAGENET_STD"]

#: torchvision's input normalisation (ImageNet statistics)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ------------------------------------------------------------------------------------------------ backbones
class SmallConvBackbone(nn.Sequential):
    """``(conv3x3 - BN - ReLU) ×2`` blocks with a 2×2 max pooling after all but the last (stride 4 for three blocks).

    Args:
        in_channels: image channels.
        channels: filters of each block (``n`` blocks: stride ``2^(n-1)``).

    Shape:
        ``[B, in_channels, H, W] -> [B, channels[-1], H / 2^(n-1), W / 2^(n-1)]`` (floored); ``out_channels``
        and ``stride`` are attributes.
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (16, 32, 64)) -> None:
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels:
            raise ConfigError(f"SmallConvBackbone channels must list the filters of each block; got {channels!r}")
        layers: list[nn.Module] = []
        c_in = check_positive_int("SmallConvBackbone", "in_channels", in_channels)
        for i, c in enumerate(channels):
            check_positive_int("SmallConvBackbone", "channels", c)
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                c_in = c
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)
        self.out_channels = int(channels[-1])
        self.stride = 2 ** (len(channels) - 1)
        # block i ends after its second ReLU: layer 7i + 5 (each block is 6 layers and a pooling)
        self._stage_ends = [7 * i + 5 for i in range(len(channels))]
        self.feature_info = make_feature_info(*((str(e), int(c), 2 ** i)
                                                for i, (e, c) in enumerate(zip(self._stage_ends, channels))))

    def forward_intermediates(self, x: torch.Tensor, indices: Sequence[int] | None = None, *,
                              stop_early: bool = True) -> list[torch.Tensor]:
        """The output of each block in ``indices`` (all by default), before its max pooling: ``[B, c_i, H/2^i, W/2^i]``.

        The stages of ``feature_info`` (block ``i``: ``channels[i]`` maps, reduction ``2^i``), so that
        :class:`~an2dl.models.detection.fpn.BackboneWithFPN` builds a pyramid on it.
        """
        wanted = list(range(len(self._stage_ends))) if indices is None else [int(i) for i in indices]
        if any(not 0 <= i < len(self._stage_ends) for i in wanted):
            raise ValueError(f"SmallConvBackbone has {len(self._stage_ends)} blocks; got indices {wanted}")
        ends = {self._stage_ends[i]: i for i in wanted}
        last = max(ends) if stop_early else len(self) - 1
        out: dict[int, torch.Tensor] = {}
        for j, layer in enumerate(self):
            x = layer(x)
            if j in ends:
                out[ends[j]] = x
            if j >= last:
                break
        return [out[i] for i in wanted]


class DetectionBackbone(nn.Module):
    """The feature extractor as ``body`` (torchvision's ``backbone.body`` key prefix), one map out.

    Args:
        body: :class:`SmallConvBackbone` or a :func:`zoo_trunk` (its ``forward_features`` is used).

    Shape:
        ``[B, in_channels, H, W] -> [B, out_channels, h, w]``.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.out_channels = int(body.out_channels)
        self.stride = int(body.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forward_features = getattr(self.body, "forward_features", None)
        return forward_features(x) if forward_features is not None else self.body(x)


def build_backbone(name: str, *, in_channels: int = 3, channels: Sequence[int] = (16, 32, 64),
                   frozen_bn: bool = True, trainable_layers: int = 5,
                   backbone_kwargs: Mapping[str, Any] | None = None) -> DetectionBackbone:
    """``"small_cnn"`` → :class:`SmallConvBackbone`; a zoo name → :func:`zoo_trunk`; wrapped as ``backbone.body``."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"backbone must be 'small_cnn' or a zoo model name such as 'resnet18'; got {name!r}")
    if name == "small_cnn":
        if backbone_kwargs:
            raise ConfigError(f"backbone_kwargs apply to zoo backbones; got {dict(backbone_kwargs)!r} with "
                              f"backbone='small_cnn'")
        return DetectionBackbone(SmallConvBackbone(in_channels, channels))
    return DetectionBackbone(zoo_trunk(name, in_channels=in_channels, frozen_bn=frozen_bn,
                                       trainable_layers=trainable_layers, backbone_kwargs=backbone_kwargs))


# ------------------------------------------------------------------------------------------------ the detector
def _check_images(images: object, in_channels: int) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        if images.dim() != 4 or images.shape[1] != in_channels:
            raise ValueError(f"images must be a [B, {in_channels}, H, W] tensor or a list of [{in_channels}, H, W] "
                             f"tensors; got a tensor of shape {list(images.shape)}")
        images = list(images.unbind(0))
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError(f"images must be a [B, {in_channels}, H, W] tensor or a non-empty list of "
                        f"[{in_channels}, H, W] tensors; got {type(images).__name__}")
    for i, im in enumerate(images):
        if not isinstance(im, torch.Tensor) or not im.is_floating_point() or im.dim() != 3 or im.shape[0] != in_channels:
            got = (f"{im.dtype} {list(im.shape)}" if isinstance(im, torch.Tensor) else type(im).__name__)
            raise ValueError(f"images[{i}] must be a float [{in_channels}, H, W] tensor with values in [0, 1]; "
                             f"got {got}")
    return list(images)


def _check_masks(masks: object, n: int, size: tuple[int, int], name: str) -> torch.Tensor:
    """Instance masks ``[N, H, W]`` of the image's size, each with at least one pixel; returned as float in [0, 1]."""
    if not isinstance(masks, torch.Tensor) or masks.shape != (n, *size):
        got = list(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise ValueError(f"{name} must be a [{n}, {size[0]}, {size[1]}] tensor (one mask of the image's size per "
                         f"box); got {got}")
    masks = masks.to(torch.get_default_dtype()) if not masks.is_floating_point() else masks
    if masks.numel() and (float(masks.min()) < 0 or float(masks.max()) > 1):
        raise ValueError(f"{name} must hold values in [0, 1] (binary masks); got values in "
                         f"[{float(masks.min()):g}, {float(masks.max()):g}]")
    empty = (masks.flatten(1) > 0).sum(1) == 0 if n else torch.zeros(0, dtype=torch.bool)
    if bool(empty.any()):
        raise ValueError(f"{name} must have at least one pixel per object; mask {int(empty.nonzero()[0, 0])} is empty")
    return masks


def _check_targets(targets: object, images: Sequence[torch.Tensor], num_classes: int, *,
                   masks: bool = False) -> list[dict[str, torch.Tensor]]:
    if not isinstance(targets, (list, tuple)) or len(targets) != len(images):
        n = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise ValueError(f"targets must be a list with one dict per image ({len(images)}); got {n}")
    out = []
    for i, (t, im) in enumerate(zip(targets, images)):
        if not isinstance(t, Mapping) or "boxes" not in t or "labels" not in t:
            keys = sorted(t) if isinstance(t, Mapping) else type(t).__name__
            raise ValueError(f"targets[{i}] must be a dict with 'boxes' [N, 4] and 'labels' [N]; got {keys}")
        boxes = check_boxes(t["boxes"], tuple(im.shape[-2:]), name=f"targets[{i}]['boxes']")
        degenerate = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if bool(degenerate.any()):
            j = int(degenerate.nonzero()[0, 0])
            raise ValueError(f"targets[{i}]['boxes'] must have positive width and height (x1 < x2, y1 < y2); "
                             f"row {j} is {boxes[j].tolist()}")
        labels = t["labels"]
        if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dtype == torch.bool \
                or labels.shape != (boxes.shape[0],):
            got = f"{labels.dtype} {list(labels.shape)}" if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(f"targets[{i}]['labels'] must be an integer tensor [{boxes.shape[0]}] (one per box); "
                             f"got {got}")
        if labels.numel() and (int(labels.min()) < 1 or int(labels.max()) >= num_classes):
            raise ValueError(f"targets[{i}]['labels'] must lie in 1..{num_classes - 1} (0 is the background, "
                             f"num_classes={num_classes}); got {labels.tolist()}")
        checked = {"boxes": boxes.to(im.dtype), "labels": labels.to(torch.int64)}
        if masks:
            if "masks" not in t:
                raise ValueError(f"targets[{i}] must have 'masks' [N, H, W] for Mask R-CNN; got keys {sorted(t)}")
            checked["masks"] = _check_masks(t["masks"], boxes.shape[0], tuple(im.shape[-2:]),
                                            f"targets[{i}]['masks']").to(im.dtype)
        out.append(checked)
    return out


class FasterRCNN(nn.Module):
    """Backbone + region proposal network + RoI heads (notes §3.5.4.4; see the module docstring).

    Args:
        backbone: a module with ``out_channels`` mapping ``[B, in_channels, H, W]`` to one feature map.
        rpn: the :class:`~an2dl.models.detection.rpn.RegionProposalNetwork`, or ``None`` for Fast R-CNN
            (proposals are then passed to ``forward``).
        roi_heads: the :class:`~an2dl.models.detection.roi_heads.RoIHeads`.
        in_channels: image channels.
        image_mean, image_std: per-channel normalisation of the [0, 1] images (``None``: none).
        size_divisible: padded sizes are rounded up to a multiple of it.

    Shape:
        ``forward(images, targets=None, proposals=None)``: images ``[B, 3, H, W]`` or a list of ``[3, H_i, W_i]``;
        training: ``dict[str, scalar]``; evaluation: list of B dicts ``boxes [K, 4]``, ``labels [K]``,
        ``scores [K]``.
    """

    #: whether the targets carry instance masks (Mask R-CNN)
    needs_masks = False

    def __init__(self, backbone: nn.Module, rpn: RegionProposalNetwork | None, roi_heads: RoIHeads, *,
                 in_channels: int = 3, image_mean: Sequence[float] | None = IMAGENET_MEAN,
                 image_std: Sequence[float] | None = IMAGENET_STD, size_divisible: int = 1) -> None:
        super().__init__()
        if not hasattr(backbone, "out_channels"):
            raise ConfigError(f"FasterRCNN backbone must have an out_channels attribute; got {type(backbone).__name__}")
        if rpn is not None and not isinstance(rpn, RegionProposalNetwork):
            raise TypeError(f"FasterRCNN rpn must be a RegionProposalNetwork or None; got {type(rpn).__name__}")
        if not isinstance(roi_heads, RoIHeads):
            raise TypeError(f"FasterRCNN roi_heads must be RoIHeads; got {type(roi_heads).__name__}")
        self.backbone = backbone
        self.rpn = rpn
        self.roi_heads = roi_heads
        self.num_classes = roi_heads.num_classes
        self.in_channels = check_positive_int("FasterRCNN", "in_channels", in_channels)
        self.size_divisible = check_positive_int("FasterRCNN", "size_divisible", size_divisible)
        if (image_mean is None) != (image_std is None):
            raise ConfigError("FasterRCNN image_mean and image_std must be given together (or both None)")
        if image_mean is not None and (len(image_mean) != in_channels or len(image_std) != in_channels
                                       or any(s <= 0 for s in image_std)):
            raise ConfigError(f"FasterRCNN image_mean and image_std need {in_channels} values (std > 0); got "
                              f"{image_mean!r} and {image_std!r}")
        self.image_mean = None if image_mean is None else tuple(float(m) for m in image_mean)
        self.image_std = None if image_std is None else tuple(float(s) for s in image_std)

    def batch_images(self, images: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Normalise and pad the images to one ``[B, C, H_max, W_max]`` tensor; their own ``(H, W)``."""
        sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        d = self.size_divisible
        height = -(-max(h for h, _ in sizes) // d) * d
        width = -(-max(w for _, w in sizes) // d) * d
        batch = images[0].new_zeros(len(images), self.in_channels, height, width)
        for i, im in enumerate(images):
            if self.image_mean is not None:
                mean = im.new_tensor(self.image_mean)[:, None, None]
                std = im.new_tensor(self.image_std)[:, None, None]
                im = (im - mean) / std
            batch[i, :, : im.shape[-2], : im.shape[-1]] = im
        return batch, sizes

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor],
                targets: Sequence[Mapping[str, torch.Tensor]] | None = None,
                proposals: Sequence[torch.Tensor] | None = None
                ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        image_list = _check_images(images, self.in_channels)
        if self.training and targets is None:
            raise ValueError(f"{type(self).__name__} in training mode needs targets (one dict with 'boxes' and "
                             f"'labels' per image); got targets=None — call model.eval() for detections")
        checked = None if targets is None else _check_targets(targets, image_list, self.num_classes,
                                                              masks=self.needs_masks and self.training)
        if not self.training:
            checked = None  # evaluation mode returns detections, whatever the targets
        batch, sizes = self.batch_images(image_list)
        padded = (int(batch.shape[-2]), int(batch.shape[-1]))
        features = self.backbone(batch)  # (B, C, h, w), or a pyramid {"0": P_2, ..., "pool": P_6} with an FPN
        levels = list(features.values()) if isinstance(features, Mapping) else [features]
        losses: dict[str, torch.Tensor] = {}
        if self.rpn is not None:
            if proposals is not None:
                raise ValueError("proposals are given to a Fast R-CNN (rpn=None); this Faster R-CNN makes its own")
            proposals, _, rpn_losses = self.rpn(levels, sizes, padded, checked)
            losses.update(rpn_losses)
        else:
            proposals = self._check_proposals(proposals, sizes)
        detections, head_losses = self.roi_heads(features, proposals, sizes, padded, checked)
        losses.update(head_losses)
        return losses if checked is not None else detections

    def _check_proposals(self, proposals: object, sizes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
        if not isinstance(proposals, (list, tuple)) or len(proposals) != len(sizes):
            got = len(proposals) if isinstance(proposals, (list, tuple)) else type(proposals).__name__
            raise ValueError(f"{type(self).__name__} without an RPN needs proposals: a list of [P_i, 4] (x1, y1, x2, "
                             f"y2) tensors, one per image ({len(sizes)}); got {got}")
        out = []
        for i, p in enumerate(proposals):
            check_boxes(p, name=f"proposals[{i}]")
            out.append(p.detach().to(torch.get_default_dtype()))
        return out


class FastRCNN(FasterRCNN):
    """Fast R-CNN (notes §3.5.4.3): the backbone and RoI heads of :class:`FasterRCNN` on given proposals.

    ``forward(images, targets=None, proposals=...)``: ``proposals`` is a list with one ``[P_i, 4]``
    tensor of ``(x1, y1, x2, y2)`` candidate boxes per image (required).
    """

    def __init__(self, backbone: nn.Module, roi_heads: RoIHeads, **kwargs: Any) -> None:
        super().__init__(backbone, None, roi_heads, **kwargs)


# ------------------------------------------------------------------------------------------------ state dicts
_RPN_CLS = "rpn.head.cls_logits."
_BOX_PRED = "roi_heads.box_predictor.bbox_pred."


_DIRECTIONS = ("to_torchvision", "from_torchvision")


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], direction: str) -> dict[str, torch.Tensor]:
    """Convert the two layers whose shapes differ between the notes' layout and torchvision's.

    ``direction="to_torchvision"``: 2k-score ``rpn.head.cls_logits`` → k logits
    (:func:`~an2dl.models.detection.rpn.logits_from_two_way`), ``4L − 4``-output ``bbox_pred`` →
    ``4L`` (:func:`~an2dl.models.detection.roi_heads.bbox_pred_to_torchvision`);
    ``"from_torchvision"`` the inverse.  Every other entry is copied; detections are identical.
    """
    if direction not in _DIRECTIONS:
        raise ConfigError(f"convert_state_dict direction must be one of {list(_DIRECTIONS)}; got {direction!r}")
    to_tv = direction == "to_torchvision"
    converters = {_RPN_CLS: logits_from_two_way if to_tv else two_way_from_logits,
                  _BOX_PRED: bbox_pred_to_torchvision if to_tv else bbox_pred_from_torchvision}
    out = dict(state_dict)
    for prefix, convert in converters.items():
        if prefix + "weight" in out:
            out[prefix + "weight"], out[prefix + "bias"] = convert(out[prefix + "weight"], out[prefix + "bias"])
    return out


def to_torchvision_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict with torchvision's shapes: k-logit ``rpn.head.cls_logits``, 4L-output ``bbox_pred``."""
    return convert_state_dict(state_dict, "to_torchvision")


def from_torchvision_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict in torchvision's shapes converted to ours (2k scores, 4L − 4 corrections)."""
    return convert_state_dict(state_dict, "from_torchvision")


_CLASS_HEADS = ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.weight",
                "roi_heads.mask_predictor.mask_fcn_logits.weight")


def load_torchvision_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                                strict: bool = True) -> Any:
    """Load a torchvision checkpoint (its shapes, :func:`from_torchvision_state_dict`) into ``model``.

    Raises:
        ConfigError: the checkpoint's heads are for another number of classes (the shapes of both
            are named) — replace the heads or build the model with the checkpoint's ``num_classes``.
    """
    ours = model.state_dict()
    for key in _CLASS_HEADS:
        if key in state_dict and key in ours:
            theirs_rows = state_dict[key].shape[0]
            want = ours[key].shape[0] + (4 if key.endswith("bbox_pred.weight") else 0)
            if theirs_rows != want:
                shapes = {k: list(state_dict[k].shape) for k in _CLASS_HEADS if k in state_dict}
                mine = {k: list(ours[k].shape) for k in _CLASS_HEADS if k in ours}
                raise ConfigError(f"the checkpoint's heads are for another number of classes: checkpoint {shapes}, "
                                  f"model (num_classes={getattr(model, 'num_classes', '?')}) {mine} in the notes' "
                                  f"layout (bbox_pred 4L - 4 rows against torchvision's 4L)")
    return model.load_state_dict(from_torchvision_state_dict(state_dict), strict=strict)


# ------------------------------------------------------------------------------------------------ builders
def _pair(value: Sequence[int] | int) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _heads(backbone: nn.Module, num_classes: int, *, roi_pool: str, roi_output_size: int, representation_size: int,
           box_batch_size_per_image: int, box_positive_fraction: float, box_score_thresh: float,
           box_nms_thresh: float, box_detections_per_img: int, canonical_scale: float = 224) -> RoIHeads:
    featmaps = getattr(backbone, "strides", None)  # a pyramid: pool every RoI from the level its size selects
    pooler: nn.Module
    if featmaps is not None:
        if roi_pool != "align":
            raise ConfigError(f"Faster R-CNN with an FPN pools RoIs with RoIAlign (roi_pool='align'); got {roi_pool!r}")
        pooler = MultiScaleRoIAlign([str(i) for i in range(len(featmaps))], roi_output_size, 2,
                                    canonical_scale=canonical_scale)
    else:
        pooler = RoIPooler(roi_output_size, mode=roi_pool)
    head = TwoMLPHead(backbone.out_channels * roi_output_size ** 2, representation_size)
    predictor = FastRCNNPredictor(representation_size, num_classes)
    return RoIHeads(pooler, head, predictor, batch_size_per_image=box_batch_size_per_image,
                    positive_fraction=box_positive_fraction, score_thresh=box_score_thresh,
                    nms_thresh=box_nms_thresh, detections_per_img=box_detections_per_img)


def _example(batch: int) -> tuple[Any, ...]:
    """A batch of 64×64 images with one or two boxes each (the last image empty), for tests and summaries."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, 64, 64, generator=g)
    targets = []
    for i in range(batch):
        n = 0 if i == batch - 1 and batch > 1 else 1 + i % 2
        xy = torch.randint(0, 32, (n, 2), generator=g).float()
        wh = torch.randint(8, 30, (n, 2), generator=g).float()
        targets.append({"boxes": torch.cat([xy, xy + wh], dim=1), "labels": torch.arange(n) % 3 + 1})
    return images, targets


@register_model("faster_rcnn", example=_example)
def faster_rcnn(*, num_classes: int = 4, in_channels: int = 3, backbone: str = "small_cnn",
                channels: Sequence[int] = (16, 32, 64), backbone_kwargs: dict[str, Any] | None = None,
                frozen_bn: bool = True, trainable_layers: int = 5, fpn: bool = False, fpn_channels: int = 256,
                fpn_stages: Sequence[int] | None = None, fpn_canonical_scale: float = 224,
                anchor_sizes: Sequence[float] = (8, 16, 32), aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                rpn_pre_nms_top_n: Sequence[int] = (2000, 1000), rpn_post_nms_top_n: Sequence[int] = (2000, 1000),
                rpn_nms_thresh: float = 0.7, rpn_fg_iou_thresh: float = 0.7, rpn_bg_iou_thresh: float = 0.3,
                rpn_batch_size_per_image: int = 256, rpn_positive_fraction: float = 0.5,
                roi_pool: str = "align", roi_output_size: int = 7, representation_size: int = 256,
                box_batch_size_per_image: int = 512, box_positive_fraction: float = 0.25,
                box_score_thresh: float = 0.05, box_nms_thresh: float = 0.5, box_detections_per_img: int = 100,
                image_mean: Sequence[float] | None = IMAGENET_MEAN, image_std: Sequence[float] | None = IMAGENET_STD,
                size_divisible: int = 1) -> FasterRCNN:
    """:class:`FasterRCNN` on one feature map (notes §3.5.4.4) or on a Feature Pyramid Network (§3.5.5.2).

    ``num_classes`` counts the background (``C + 1``).  The defaults are the paper's and
    torchvision's (RPN 0.7/0.3, 256 anchors with up to 50 % positives, 2000/1000 proposals
    kept after NMS at 0.7 in training/testing; head 512 proposals with up to 25 % objects,
    RoIAlign 7×7), except the anchors — sizes 8, 16, 32 px for 64×64 images (the paper's
    128–512 px are for 600-px photos) — the FC width (256, torchvision 1024) and the small default
    backbone (see the module docstring).

    **With** ``fpn=True`` (Lin et al., 2017; torchvision's ``fasterrcnn_resnet50_fpn``) the
    backbone's stages ``fpn_stages`` (default: ResNet ``layer1`` … ``layer4``; the small CNN's
    blocks after the first) feed a :class:`~an2dl.models.detection.fpn.FeaturePyramidNetwork` of
    ``fpn_channels`` with the extra max-pooled level; ``anchor_sizes`` then gives **one size per
    level** (finest first, the pooled level last; 3 aspect ratios → k = 3 anchors per position),
    one RPN head runs on every level (proposals are ranked per level), and each RoI is pooled by
    :class:`~an2dl.ops.multiscale_roi.MultiScaleRoIAlign` from level
    ``⌊4 + log₂(√(wh) / fpn_canonical_scale)⌋`` (224 in the paper, for ~800-px images).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"faster_rcnn num_classes must be an integer >= 2 (C object classes + the background); "
                          f"got {num_classes!r}")
    body: nn.Module = build_backbone(backbone, in_channels=in_channels, channels=channels, frozen_bn=frozen_bn,
                                     trainable_layers=trainable_layers, backbone_kwargs=backbone_kwargs)
    if fpn:
        trunk = body.body
        if fpn_stages is None:
            fpn_stages = range(1, len(trunk.feature_info))
        body = BackboneWithFPN(trunk, list(fpn_stages), check_positive_int("faster_rcnn", "fpn_channels", fpn_channels),
                               extra_blocks="maxpool")
        levels = len(body.strides) + 1
        if len(anchor_sizes) != levels:
            raise ConfigError(f"faster_rcnn with an FPN needs one anchor size per pyramid level ({levels}: "
                              f"{len(body.strides)} stages and the pooled level); got anchor_sizes={list(anchor_sizes)}")
        anchors = AnchorGenerator(tuple((s,) for s in anchor_sizes), (tuple(aspect_ratios),))
    else:
        anchors = AnchorGenerator((tuple(anchor_sizes),), (tuple(aspect_ratios),))
    rpn = RegionProposalNetwork(anchors, RPNHead(body.out_channels, anchors.num_anchors_per_location()[0]),
                                fg_iou_thresh=rpn_fg_iou_thresh, bg_iou_thresh=rpn_bg_iou_thresh,
                                batch_size_per_image=rpn_batch_size_per_image, positive_fraction=rpn_positive_fraction,
                                pre_nms_top_n=_pair(rpn_pre_nms_top_n), post_nms_top_n=_pair(rpn_post_nms_top_n),
                                nms_thresh=rpn_nms_thresh)
    heads = _heads(body, num_classes, roi_pool=roi_pool, roi_output_size=roi_output_size,
                   representation_size=representation_size, box_batch_size_per_image=box_batch_size_per_image,
                   box_positive_fraction=box_positive_fraction, box_score_thresh=box_score_thresh,
                   box_nms_thresh=box_nms_thresh, box_detections_per_img=box_detections_per_img,
                   canonical_scale=fpn_canonical_scale)
    return FasterRCNN(body, rpn, heads, in_channels=in_channels, image_mean=image_mean,
                      image_std=image_std, size_divisible=size_divisible)


#: torchvision's ``fasterrcnn_resnet50_fpn`` settings (its COCO checkpoints' layout)
RESNET50_FPN = {"backbone": "resnet50", "fpn": True, "anchor_sizes": (32, 64, 128, 256, 512),
                "representation_size": 1024, "size_divisible": 32}


def fasterrcnn_resnet50_fpn(*, num_classes: int = 91, frozen_bn: bool = True, trainable_layers: int = 3,
                            **kwargs: Any) -> FasterRCNN:
    """torchvision's ``fasterrcnn_resnet50_fpn``: ResNet-50, FPN on ``layer1`` … ``layer4`` (+ max-pooled level),
    anchors 32 … 512 px one per level, 1024-wide box head, 91 COCO classes.

    ``frozen_bn=True, trainable_layers=3`` is the layout torchvision loads its COCO checkpoints
    into; ``frozen_bn=False, trainable_layers=5`` its ``weights=None`` model.  The state dict
    has torchvision's names; :func:`to_torchvision_state_dict` gives torchvision's shapes too.
    Not registered (a 41M-parameter model; ``get_model("faster_rcnn", fpn=True, ...)`` builds
    small ones).
    """
    return faster_rcnn(**{**RESNET50_FPN, "num_classes": num_classes, "frozen_bn": frozen_bn,
                          "trainable_layers": trainable_layers, **kwargs})


def _fast_example(batch: int) -> tuple[Any, ...]:
    images, targets = _example(batch)
    proposals = [torch.cat([t["boxes"], torch.tensor([[0.0, 0.0, 32.0, 32.0], [16.0, 16.0, 60.0, 48.0]])])
                 for t in targets]
    return images, targets, proposals


@register_model("fast_rcnn", example=_fast_example)
def fast_rcnn(*, num_classes: int = 4, in_channels: int = 3, backbone: str = "small_cnn",
              channels: Sequence[int] = (16, 32, 64), backbone_kwargs: dict[str, Any] | None = None,
              frozen_bn: bool = True, trainable_layers: int = 5, roi_pool: str = "max", roi_output_size: int = 7,
              representation_size: int = 256, box_batch_size_per_image: int = 128,
              box_positive_fraction: float = 0.25, box_score_thresh: float = 0.05, box_nms_thresh: float = 0.5,
              box_detections_per_img: int = 100, image_mean: Sequence[float] | None = IMAGENET_MEAN,
              image_std: Sequence[float] | None = IMAGENET_STD, size_divisible: int = 1) -> FastRCNN:
    """:class:`FastRCNN`: the detection head on given proposals, with RoI *max* pooling (notes §3.5.4.3).

    The paper's head samples 128 RoIs per image (64 per image over its 2-image batches) with up
    to 25 % objects; ``forward(images, targets, proposals)``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"fast_rcnn num_classes must be an integer >= 2 (C object classes + the background); "
                          f"got {num_classes!r}")
    body = build_backbone(backbone, in_channels=in_channels, channels=channels, frozen_bn=frozen_bn,
                          trainable_layers=trainable_layers, backbone_kwargs=backbone_kwargs)
    heads = _heads(body, num_classes, roi_pool=roi_pool, roi_output_size=roi_output_size,
                   representation_size=representation_size, box_batch_size_per_image=box_batch_size_per_image,
                   box_positive_fraction=box_positive_fraction, box_score_thresh=box_score_thresh,
                   box_nms_thresh=box_nms_thresh, box_detections_per_img=box_detections_per_img)
    return FastRCNN(body, heads, in_channels=in_channels, image_mean=image_mean, image_std=image_std,
                    size_divisible=size_divisible)
