"""R-CNN: classical region proposals, each warped and classified by a CNN with a background class (notes §3.5.4.2).

The notes' pipeline, step by step:

1. *region proposals*: "an algorithm (not a learned one) … identifies image regions likely to contain
   objects" — selective search (:func:`~an2dl.ops.proposals.selective_search`: Felzenszwalb–Huttenlocher
   segmentation at several scales, then hierarchical grouping by colour, size and fill similarity),
   computed inside ``forward`` from each image;
2. *warping*: "each proposed region is resized to the CNN's fixed input size" — every proposal is
   resampled to ``P × P`` by bilinear sampling
   (:func:`~an2dl.models.detection.sliding_window.warp_crops`, the sliding window's crops);
3. *classification*: "the CNN processes each warped region … predicting the class, including a background
   class" — the sliding window's patch classifier
   (:class:`~an2dl.models.segmentation.PatchClassifier`'s convolutions and hidden layer) scores the ``L``
   classes (0 = background);
4. *refinement*: "region proposals are refined using regression to improve bounding box accuracy" —
   ``4L − 4`` class-specific corrections in R-CNN's parameterisation (:class:`~an2dl.ops.BoxCoder`), then
   non-maximum suppression per class.

R-CNN is the detection head of Fast R-CNN (:class:`~an2dl.models.detection.roi_heads.RoIHeads`) with the
*image itself* as the feature map and the whole CNN run on each warped crop: RoIHeads' proposal sampling,
:func:`~an2dl.losses.rcnn.fast_rcnn_loss` and post-processing are reused unchanged, its RoI pooling replaced
by :class:`WarpedCrops` and its two FC layers by the CNN.  Hence **one CNN evaluation per proposal**
(:attr:`RCNN.last_evaluations`): the cost the notes point out, which Fast R-CNN removes by running the CNN
once per image and pooling the proposals from its feature map (§3.5.4.3).

**Training** (``model(images, targets)``): the proposals of each image plus its ground-truth boxes are
labelled by IoU with the objects — the object's class from ``fg_iou_thresh`` (0.5, R-CNN's fine-tuning
rule), background below ``bg_iou_thresh`` (0.5 as in fine-tuning; 0.3, the paper's SVM negatives, leaves
``[0.3, 0.5)`` out) — and ``batch_size_per_image`` of them are sampled with at most ``positive_fraction``
objects (the paper's 32 positives in 128); the loss is ``{"loss_classifier", "loss_box_reg"}``.

**Departures from the paper.**  R-CNN fine-tunes an ImageNet CNN, then trains one linear SVM per class on
its features and a ridge regressor of the box per class, three separate stages; here one small CNN is
trained from scratch with the softmax classifier (the paper's fine-tuning stage, which it reports a few
points behind the SVMs) and the regression trained jointly by the multitask loss (Fast R-CNN's
simplification).  Proposals are not padded with context (the paper adds 16 pixels around each).

**Cost of the proposals.**  Selective search is a Python loop over the pixel graph (about 30 ms for a
64 × 64 image at three scales on one thread); the proposals of an image depend only on its pixels, so they
are cached by a hash of the image (``cache_size`` images; :attr:`RCNN.cache_hits`): with a fixed training
set only the first epoch pays for them (one thread, 128 images: 3.7 s per training epoch uncached, 0.22 s
cached).

Paper: R. Girshick, J. Donahue, T. Darrell, J. Malik (2014), "Rich feature hierarchies for accurate object
detection and semantic segmentation", CVPR.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from ...ops.proposals import SIMILARITIES, selective_search
from .._checks import check_positive_int
from .._registry import register_model
from ..segmentation.convolutionalize import PatchClassifier
from .roi_heads import FastRCNNPredictor, RoIHeads
from .sliding_window import warp_crops
from .yolo import check_detection_inputs, detection_example, images_as_batch

__all__ = ["RCNN", "WarpedCrops", "rcnn"]


class WarpedCrops(nn.Module):
    """R-CNN's "RoI pooling": each proposal cut from the image and warped to ``P × P`` (:func:`warp_crops`).

    Takes the place of :class:`~an2dl.models.detection.roi_heads.RoIPooler` in
    :class:`~an2dl.models.detection.roi_heads.RoIHeads`, the "feature map" being the image.

    Shape:
        ``forward(images [B, C, H, W], boxes list of [N_i, 4], padded_size)`` returns ``[ΣN_i, C, P, P]``.
    """

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = check_positive_int("WarpedCrops", "output_size", output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, images: torch.Tensor, boxes: Sequence[torch.Tensor], padded_size: tuple[int, int]
                ) -> torch.Tensor:
        return warp_crops(images, [b.to(images.dtype) for b in boxes], self.output_size)


class RCNN(nn.Module):
    """Selective-search proposals, warped and classified one by one by a CNN, with box regression (module docstring).

    Args:
        num_classes: ``L = C + 1``, the object classes and the background (class 0).
        in_channels: image channels.
        warp_size: ``P``, the side every proposal is warped to (the CNN's input).
        channels, hidden: the CNN's unpadded 3 × 3 convolutions and its hidden dense layer (the sliding
            window's patch classifier); its ``hidden`` features feed the ``L`` scores and ``4L − 4`` corrections.
        proposal_ks, proposal_sigma, proposal_min_size, proposal_similarities: the segmentation scales and
            settings of :func:`~an2dl.ops.proposals.selective_search`.
        max_proposals: the most proposals per image (the best ranked).
        fg_iou_thresh, bg_iou_thresh: training proposals of IoU ``>= fg`` with an object take its class,
            below ``bg`` the background, in between they are left out.
        batch_size_per_image, positive_fraction: proposals sampled per training image and the largest
            share of objects among them.
        bbox_reg_weights: the :class:`~an2dl.ops.BoxCoder` weights of the corrections.
        score_thresh, nms_thresh, detections_per_img: inference: detections scored below ``score_thresh``
            are dropped, NMS per class at ``nms_thresh``, the best ``detections_per_img`` kept.
        cache_size: images whose proposals are kept (0: none).

    Shape:
        images ``[B, in_channels, H, W]`` (or a list of ``[in_channels, H, W]``) in [0, 1].
    """

    def __init__(self, *, num_classes: int = 4, in_channels: int = 3, warp_size: int = 16,
                 channels: Sequence[int] = (8, 16, 16), hidden: int = 64,
                 proposal_ks: Sequence[float] = (0.25, 0.5, 1.0), proposal_sigma: float = 0.8,
                 proposal_min_size: int = 20, proposal_similarities: Sequence[str] = SIMILARITIES,
                 max_proposals: int = 2000, fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.5,
                 batch_size_per_image: int = 64, positive_fraction: float = 0.25,
                 bbox_reg_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0), score_thresh: float = 0.05,
                 nms_thresh: float = 0.3, detections_per_img: int = 100, cache_size: int = 4096) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"RCNN num_classes counts the background and at least one class (an integer >= 2); "
                              f"got {num_classes!r}")
        self.num_classes = num_classes
        self.in_channels = check_positive_int("RCNN", "in_channels", in_channels)
        check_positive_int("RCNN", "hidden", hidden)
        check_positive_int("RCNN", "warp_size", warp_size)
        if warp_size < 2 * len(channels) + 1:
            raise ConfigError(f"RCNN warp_size must leave at least one pixel after the {len(channels)} unpadded 3x3 "
                              f"convolutions of channels={list(channels)} (>= {2 * len(channels) + 1}); got {warp_size}")
        # the proposal settings are checked once here, on a one-pixel image, rather than on the first batch
        self.proposal_settings = {"ks": tuple(proposal_ks), "sigma": proposal_sigma, "min_size": proposal_min_size,
                                  "similarities": tuple(proposal_similarities), "max_proposals": max_proposals}
        selective_search(torch.zeros(in_channels, 1, 1), **self.proposal_settings)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(f"RCNN cache_size must be an integer >= 0 (images); got {cache_size!r}")
        self.cache_size = cache_size
        # the CNN of every warped proposal: the sliding window's patch classifier up to its hidden layer
        cnn = PatchClassifier(in_channels=in_channels, num_classes=num_classes, patch_size=warp_size,
                              channels=tuple(channels), hidden=hidden)
        self.roi_heads = RoIHeads(
            WarpedCrops(warp_size), nn.Sequential(cnn.features, cnn.pre_logits), FastRCNNPredictor(hidden, num_classes),
            fg_iou_thresh=fg_iou_thresh, bg_iou_thresh=bg_iou_thresh, batch_size_per_image=batch_size_per_image,
            positive_fraction=positive_fraction, bbox_reg_weights=bbox_reg_weights, score_thresh=score_thresh,
            nms_thresh=nms_thresh, detections_per_img=detections_per_img)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        #: CNN evaluations (proposals classified) spent on each image of the last evaluation-mode call
        self.last_evaluations: list[int] = []
        #: proposals found in the cache since the model was built
        self.cache_hits = 0

    # ---- step 1: proposals
    def _key(self, image: torch.Tensor) -> str:
        data = image.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        return hashlib.blake2b(data + repr(tuple(image.shape)).encode(), digest_size=16).hexdigest()

    def propose(self, images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The selective-search proposals of each image, best ranked first (cached by image content).

        Shape:
            images as :meth:`forward`; returns per image float32 ``[N_i, 4]`` ``(x1, y1, x2, y2)`` pixels.
        """
        x, sizes = images_as_batch(images, owner="RCNN", in_channels=self.in_channels)
        return [self._propose_one(x[k, :, :h, :w]) for k, (h, w) in enumerate(sizes)]

    def _propose_one(self, image: torch.Tensor) -> torch.Tensor:
        key = self._key(image) if self.cache_size else ""
        if key in self._cache:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return self._cache[key].to(image.device)
        boxes = selective_search(image, **self.proposal_settings)
        if self.cache_size:
            self._cache[key] = boxes
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return boxes.to(image.device)

    # ---- steps 2-4: warp, classify, refine
    def forward(self, images: torch.Tensor | Sequence[torch.Tensor],
                targets: Sequence[Mapping[str, torch.Tensor]] | None = None
                ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        x, sizes = images_as_batch(images, owner="RCNN", in_channels=self.in_channels)
        proposals = [self._propose_one(x[k, :, :h, :w]) for k, (h, w) in enumerate(sizes)]
        padded = (int(x.shape[-2]), int(x.shape[-1]))
        if self.training:
            boxes, labels = check_detection_inputs(images, targets, self.num_classes, owner="RCNN")
            gt = [{"boxes": b.to(x.device, x.dtype), "labels": lb.to(x.device)} for b, lb in zip(boxes, labels)]
            _, losses = self.roi_heads(x, proposals, sizes, padded, gt)
            return losses
        self.last_evaluations = [int(p.shape[0]) for p in proposals]
        with torch.no_grad():
            detections, _ = self.roi_heads(x, proposals, sizes, padded)
        return detections


@register_model("rcnn", example=detection_example)
def rcnn(**kwargs: Any) -> RCNN:
    """R-CNN: selective-search proposals warped and classified by a CNN with a background class, box regression
    (notes §3.5.4.2; see :class:`RCNN`)."""
    return RCNN(**kwargs)
