"""Fast R-CNN on selective-search proposals: one CNN pass per image, RoI pooling of each proposal (notes §3.5.4.3).

The notes' five steps, and where each lives:

1. *feature map extraction*: "the entire image is passed through a CNN" — the backbone of
   :class:`~an2dl.models.detection.faster_rcnn.FastRCNN` (``backbone.body``, the small CNN of stride 4 by
   default), **once per image**;
2. *region proposal projection*: "region proposals are identified directly from the image and mapped onto
   the extracted feature maps" — R-CNN's selective search
   (:meth:`~an2dl.models.detection.rcnn.RCNN.propose`'s own code and content-hash cache, shared, not copied),
   run on the raw ``[0, 1]`` image inside ``forward``; the boxes, in image pixels, are scaled by the map's
   ``1 / stride`` inside RoI pooling;
3. *fixed-size RoI pooling*: every proposal is cut into a ``P × P`` grid of max-pooled bins
   (:func:`~an2dl.ops.roi_pool` through :class:`~an2dl.models.detection.roi_heads.RoIPooler` with
   ``mode="max"``)::

       x_r[c, i, j] = max over the feature cells of bin (i, j) of proposal r of features[c]     [R, C, P, P]

4. *multitask learning*: ``fc6``, ``fc7``, ``L`` class scores and ``4L − 4`` corrections and the loss
   ``L = L_cls + [u ≥ 1] L_loc`` (:class:`~an2dl.models.detection.roi_heads.RoIHeads` and
   :func:`~an2dl.losses.rcnn.fast_rcnn_loss`, unchanged);
5. *end-to-end training*: the gradients of both terms flow through the FC layers and RoI pooling into the
   backbone.

Against R-CNN (:class:`~an2dl.models.detection.rcnn.RCNN`, §3.5.4.2) the proposals and the head are the
same; what changes is the cost: R-CNN runs its CNN on every warped proposal (``N_i`` evaluations for image
``i``), Fast R-CNN once per image, the proposals sharing its feature map — :attr:`last_evaluations` holds the
count of each image of the last evaluation-mode call (1 each), as R-CNN's holds ``N_i``.  The notes' remark
that "most of the computational time is now spent on region proposal extraction" is measured by the
``fast-rcnn-shapes`` recipe.

**Contract.**  Because the proposals are computed inside ``forward`` from the images, the model keeps the
detectors' contract — ``model(images, targets)`` returns ``{"loss_classifier", "loss_box_reg"}`` in training
mode, ``model(images)`` one ``{"boxes", "labels", "scores"}`` dict per image in evaluation mode — and the
:class:`~an2dl.tasks.detection.DetectionTask` trains it like any detector (the plain ``fast_rcnn`` model takes
the proposals as a third argument instead).

**Departures from the paper.**  The backbone is a small CNN trained from scratch (the paper fine-tunes
VGG16 from ImageNet); images are used at their own size (no scale pyramid); training proposals count as
background below IoU 0.5 (the paper: ``[0.1, 0.5)``); the sampled RoIs (``box_batch_size_per_image``, 25 %
objects) come from each image of the mini-batch rather than the paper's 2 images × 64.

Paper: R. Girshick (2015), "Fast R-CNN", ICCV.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from ...ops.proposals import SIMILARITIES, selective_search
from .._registry import register_model
from .faster_rcnn import IMAGENET_MEAN, IMAGENET_STD, FastRCNN, fast_rcnn
from .rcnn import RCNN
from .roi_heads import RoIHeads
from .yolo import detection_example, images_as_batch

__all__ = ["SelectiveSearchFastRCNN", "fast_rcnn_selective_search"]


class SelectiveSearchFastRCNN(FastRCNN):
    """Fast R-CNN whose proposals are R-CNN's selective search, computed (and cached) inside ``forward``.

    Args:
        backbone: feature extractor with ``out_channels`` (one map, stride ``s``).
        roi_heads: :class:`~an2dl.models.detection.roi_heads.RoIHeads` (RoI max pooling for the notes' form).
        proposal_ks, proposal_sigma, proposal_min_size, proposal_similarities, max_proposals: the settings of
            :func:`~an2dl.ops.proposals.selective_search` (as :class:`~an2dl.models.detection.rcnn.RCNN`'s).
        cache_size: images whose proposals are kept, keyed by a hash of their pixels (0: none).
        **kwargs: ``in_channels``, ``image_mean``, ``image_std``, ``size_divisible`` of
            :class:`~an2dl.models.detection.faster_rcnn.FasterRCNN`.

    Shape:
        ``forward(images, targets=None)``: images ``[B, C, H, W]`` or a list of ``[C, H_i, W_i]`` in [0, 1];
        training: ``{"loss_classifier", "loss_box_reg"}`` (scalars); evaluation: B dicts ``boxes [K, 4]``
        (x1, y1, x2, y2 pixels), ``labels [K]`` in ``1..L-1``, ``scores [K]``.
    """

    # the proposal step is R-CNN's own: its content-hash key and its cached selective search
    _key = RCNN._key
    _propose_one = RCNN._propose_one

    def __init__(self, backbone: nn.Module, roi_heads: RoIHeads, *, proposal_ks: Sequence[float] = (0.25, 0.5, 1.0),
                 proposal_sigma: float = 0.8, proposal_min_size: int = 20,
                 proposal_similarities: Sequence[str] = SIMILARITIES, max_proposals: int = 2000,
                 cache_size: int = 4096, **kwargs: Any) -> None:
        super().__init__(backbone, roi_heads, **kwargs)
        self.proposal_settings = {"ks": tuple(proposal_ks), "sigma": proposal_sigma, "min_size": proposal_min_size,
                                  "similarities": tuple(proposal_similarities), "max_proposals": max_proposals}
        # checked once here, on a one-pixel image, rather than on the first batch
        selective_search(torch.zeros(self.in_channels, 1, 1), **self.proposal_settings)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(f"SelectiveSearchFastRCNN cache_size must be an integer >= 0 (images); got "
                              f"{cache_size!r}")
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        #: proposals found in the cache since the model was built
        self.cache_hits = 0
        #: CNN (backbone) evaluations spent on each image of the last evaluation-mode call: 1 each
        self.last_evaluations: list[int] = []

    def propose(self, images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The selective-search proposals of each image, best ranked first (cached by image content).

        Shape:
            images as :meth:`forward`; returns per image float32 ``[N_i, 4]`` ``(x1, y1, x2, y2)`` pixels.
        """
        x, sizes = images_as_batch(images, owner=type(self).__name__, in_channels=self.in_channels)
        return [self._propose_one(x[k, :, :h, :w]) for k, (h, w) in enumerate(sizes)]

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor],
                targets: Sequence[Mapping[str, torch.Tensor]] | None = None,
                proposals: Sequence[torch.Tensor] | None = None
                ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        if proposals is not None:
            raise ValueError(f"{type(self).__name__} makes its own selective-search proposals; got proposals= "
                             f"(use the 'fast_rcnn' model to pass proposals)")
        if self.training and targets is None:
            raise ValueError(f"{type(self).__name__} in training mode needs targets (one dict with 'boxes' and "
                             f"'labels' per image); got targets=None — call model.eval() for detections")
        proposals = self.propose(images)
        out = super().forward(images, targets, proposals=proposals)
        if not self.training:
            self.last_evaluations = [1] * len(proposals)  # one backbone pass per image, whatever N_i
        return out


@register_model("fast_rcnn_selective_search", example=detection_example)
def fast_rcnn_selective_search(*, num_classes: int = 4, in_channels: int = 3,
                               proposal_ks: Sequence[float] = (0.25, 0.5, 1.0), proposal_sigma: float = 0.8,
                               proposal_min_size: int = 20, proposal_similarities: Sequence[str] = SIMILARITIES,
                               max_proposals: int = 2000, cache_size: int = 4096,
                               image_mean: Sequence[float] | None = IMAGENET_MEAN,
                               image_std: Sequence[float] | None = IMAGENET_STD, size_divisible: int = 1,
                               **kwargs: Any) -> SelectiveSearchFastRCNN:
    """Fast R-CNN on selective-search proposals made inside ``forward`` (notes §3.5.4.3; see
    :class:`SelectiveSearchFastRCNN`).

    The backbone and head are those of the ``fast_rcnn`` builder (``**kwargs``: ``backbone``, ``channels``,
    ``roi_pool`` — ``"max"``, the notes' RoI max pooling, by default —, ``roi_output_size``,
    ``representation_size``, ``box_batch_size_per_image`` (128), ``box_positive_fraction``,
    ``box_score_thresh``, ``box_nms_thresh``, ``box_detections_per_img``, ...); the proposal settings are
    R-CNN's.
    """
    norm = {"in_channels": in_channels, "image_mean": image_mean, "image_std": image_std,
            "size_divisible": size_divisible}
    base = fast_rcnn(num_classes=num_classes, **norm, **kwargs)
    return SelectiveSearchFastRCNN(base.backbone, base.roi_heads, proposal_ks=proposal_ks,
                                   proposal_sigma=proposal_sigma, proposal_min_size=proposal_min_size,
                                   proposal_similarities=proposal_similarities, max_proposals=max_proposals,
                                   cache_size=cache_size, **norm)
