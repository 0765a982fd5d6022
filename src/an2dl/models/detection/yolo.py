"""YOLO: a single-shot detector — grid, anchors, one forward pass (notes §3.5.4.5).

The notes' three steps, as built here:

1. *Image division into a grid*: a small CNN backbone (:func:`~an2dl.models.localization.small_cnn_trunk`,
   ``conv 3×3 → BN → ReLU`` twice and a 2×2 max-pooling per block) reduces an ``H × W`` image to an
   ``S_h × S_w`` feature map, ``S = H / stride`` (``stride = 2^blocks``; 8 × 8 cells for the default
   64 × 64 images and three blocks).  Each position of the map is a cell of the grid.
2. *Anchor boxes for each cell*: a ``3 × 3`` convolution and a ``1 × 1`` convolution (the head) give each
   cell ``A · (5 + C)`` numbers: for each of its ``A`` anchors the box adjustments ``(t_x, t_y, t_w, t_h)``
   (sigmoid offsets in the cell, exponential scale of the anchor), an objectness logit ``o`` and ``C`` class
   scores (the parameterisation and loss of :mod:`an2dl.losses.yolo`, YOLOv2's).
3. *Single forward pass*: detection is that one pass plus decoding — boxes in pixels, score
   ``σ(o) · softmax(class scores)_c`` for every anchor and class, a score threshold, non-maximum
   suppression per class (:func:`~an2dl.ops.nms.batched_nms`) and the ``detections_per_img`` best.

The anchors are an argument (``(width, height)`` pairs in pixels).  YOLOv2 chose them by k-means on the
training boxes with the distance ``d = 1 − IoU`` of the boxes centred on one point, which compares shapes
whatever their size (the Euclidean distance would let large boxes dominate); :func:`kmeans_anchors` does
that.

Contract (torchvision's detectors): ``model(images, targets)`` in training mode returns the weighted loss
terms ``{"loss_coord", "loss_obj", "loss_noobj", "loss_class"}``; ``model(images)`` in evaluation mode a
list with one dict per image: ``boxes`` float ``[K, 4]`` ``(x1, y1, x2, y2)`` in pixels, ``labels`` int64
``[K]`` in ``1..C`` and ``scores`` float ``[K]``.  ``num_classes`` counts the background (``C + 1``).
Images of different sizes are padded (bottom and right, with zeros) to a common size that is a multiple
of the stride; boxes stay in each image's own pixels and are clipped to it.

Paper: Redmon et al. (2016), "You Only Look Once: Unified, Real-Time Object Detection"; Redmon & Farhadi
(2017), "YOLO9000: Better, Faster, Stronger" (anchors, their k-means, the offsets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...data.batch import BatchError, check_image_targets
from ...errors import ConfigError
from ...losses.yolo import YoloLoss, check_anchors, decode_yolo_boxes, shape_iou
from ...ops.boxes import clip_boxes_to_image
from ...ops.nms import batched_nms
from .._checks import check_positive_int
from .._registry import register_model
from ..localization import small_cnn_trunk

__all__ = ["YOLO", "yolo", "kmeans_anchors", "DEFAULT_ANCHORS", "check_detection_inputs", "images_as_batch",
           "detection_example"]

#: anchors ``(width, height)`` in pixels for objects of 8–30 pixels in 64 × 64 images: small, medium, large
DEFAULT_ANCHORS: tuple[tuple[float, float], ...] = ((10.0, 10.0), (17.0, 17.0), (26.0, 26.0))


# --------------------------------------------------------------------------------------------- anchors
def kmeans_anchors(sizes: torch.Tensor, k: int, *, max_iter: int = 300, seed: int = 0) -> torch.Tensor:
    """Anchor shapes by k-means on box sizes with the distance ``1 − IoU`` (YOLOv2, §2 "Dimension Clusters").

    Lloyd's two steps with the IoU of centred boxes (:func:`~an2dl.losses.yolo.shape_iou`) as similarity:
    each box joins the centroid of highest IoU (lowest ``1 − IoU``); each centroid becomes the mean width and
    height of its boxes; until the assignment repeats (or ``max_iter`` rounds).  Initial centroids: ``k``
    distinct sizes drawn by a seeded generator, the first uniformly and each next one with probability
    proportional to its distance ``1 − IoU`` to the nearest chosen centroid (k-means++'s rule with this
    distance).  A centroid left without boxes keeps its place.

    Args:
        sizes: ``[N, 2]`` box widths and heights in pixels (positive).
        k: number of anchors, ``1 <= k <=`` the number of distinct sizes.
        max_iter: most assignment rounds.
        seed: seed of the initial centroids.

    Returns:
        ``[k, 2]`` float32 anchors ``(width, height)``, sorted by increasing area.

    Raises:
        ConfigError: ``sizes`` not ``[N, 2]`` positive and finite, or a bad ``k``.
    """
    if not isinstance(sizes, torch.Tensor) or sizes.dim() != 2 or sizes.shape[1] != 2 or sizes.shape[0] == 0:
        got = list(sizes.shape) if isinstance(sizes, torch.Tensor) else type(sizes).__name__
        raise ConfigError(f"kmeans_anchors sizes must be a tensor [N, 2] of box widths and heights, N >= 1; got {got}")
    x = sizes.detach().to(torch.float64)
    if not bool(torch.isfinite(x).all()) or not bool((x > 0).all()):
        raise ConfigError("kmeans_anchors sizes must be positive and finite (widths and heights in pixels)")
    distinct = torch.unique(x, dim=0).shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= distinct:
        raise ConfigError(f"kmeans_anchors k must be an integer in [1, {distinct}] (the distinct box sizes); got {k!r}")
    check_positive_int("kmeans_anchors", "max_iter", max_iter)
    gen = torch.Generator().manual_seed(int(seed))
    n = x.shape[0]
    chosen = [int(torch.randint(n, (1,), generator=gen))]
    for _ in range(1, k):
        d = (1 - shape_iou(x, x[chosen])).amin(dim=1).clamp(min=0)  # (N,) distance to the nearest centroid
        chosen.append(int(torch.multinomial(d, 1, generator=gen)))
    centroids = x[chosen].clone()
    labels = None
    for _ in range(max_iter):
        new = shape_iou(x, centroids).argmax(dim=1)  # (N,) nearest centroid in 1 − IoU
        if labels is not None and torch.equal(new, labels):
            break
        labels = new
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centroids)
    order = (centroids[:, 0] * centroids[:, 1]).argsort()
    return centroids[order].to(torch.float32)


# --------------------------------------------------------------------------------------------- input checks
def images_as_batch(images: torch.Tensor | Sequence[torch.Tensor], *, owner: str, in_channels: int,
                    multiple: int = 1) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """A ``[B, C, H, W]`` tensor of the images (zero-padded bottom/right to a common size that ``multiple``
    divides) and each image's own ``(H, W)``.

    Raises:
        TypeError / ValueError: not a ``[B, C, H, W]`` tensor or a non-empty list of ``[C, H, W]`` tensors
        with ``in_channels`` channels.
    """
    if isinstance(images, torch.Tensor):
        if images.dim() != 4 or images.shape[1] != in_channels or images.shape[0] == 0:
            raise ValueError(f"{owner} images must be a tensor [B, {in_channels}, H, W] with B >= 1 or a list of "
                             f"[{in_channels}, H, W] tensors; got shape {list(images.shape)}")
        if not images.is_floating_point():
            raise TypeError(f"{owner} images must be float tensors in [0, 1]; got {images.dtype}")
        items = list(images)
    elif isinstance(images, (list, tuple)) and images:
        items = list(images)
        for i, im in enumerate(items):
            if not isinstance(im, torch.Tensor) or im.dim() != 3 or im.shape[0] != in_channels:
                got = list(im.shape) if isinstance(im, torch.Tensor) else type(im).__name__
                raise ValueError(f"{owner} images[{i}] must be a tensor [{in_channels}, H, W]; got {got}")
            if not im.is_floating_point():
                raise TypeError(f"{owner} images[{i}] must be a float tensor in [0, 1]; got {im.dtype}")
    else:
        raise TypeError(f"{owner} images must be a tensor [B, {in_channels}, H, W] or a non-empty list of "
                        f"[{in_channels}, H, W] tensors; got {type(images).__name__}")
    sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in items]
    h = -(-max(s[0] for s in sizes) // multiple) * multiple
    w = -(-max(s[1] for s in sizes) // multiple) * multiple
    if isinstance(images, torch.Tensor) and tuple(images.shape[-2:]) == (h, w):
        return images, sizes
    batch = items[0].new_zeros(len(items), in_channels, h, w)
    for k, im in enumerate(items):
        batch[k, :, : im.shape[-2], : im.shape[-1]] = im
    return batch, sizes


def check_detection_inputs(images: torch.Tensor | Sequence[torch.Tensor], targets: Any, num_classes: int, *,
                           owner: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Validate training targets of a detector and return the per-image ``boxes`` and ``labels``.

    Raises:
        BatchError: targets missing, not one dict per image, without ``boxes`` or ``labels``, or labels outside
            ``1..num_classes − 1`` (0 is the background and never a label).
    """
    if targets is None:
        raise BatchError(f"{owner} in training mode needs targets: a list of dicts with 'boxes' [N, 4] and 'labels' "
                         "[N], one per image (call model.eval() to detect)")
    if not isinstance(targets, (list, tuple)):
        raise BatchError(f"{owner} targets must be a list of per-image dicts; got {type(targets).__name__}")
    for i, t in enumerate(targets):
        if not isinstance(t, Mapping) or "boxes" not in t or "labels" not in t:
            got = sorted(t) if isinstance(t, Mapping) else type(t).__name__
            raise BatchError(f"{owner} targets[{i}] must be a dict with 'boxes' and 'labels'; got {got}")
    check_image_targets(images, targets)
    boxes, labels = [], []
    for i, t in enumerate(targets):
        lb = t["labels"]
        if lb.numel() and (int(lb.min()) < 1 or int(lb.max()) > num_classes - 1):
            raise BatchError(f"{owner} targets[{i}]['labels'] must lie in 1..{num_classes - 1} (0 is the background; "
                             f"num_classes={num_classes} counts it); got {lb.tolist()}")
        bx = t["boxes"]
        if bx.numel() and bool(((bx[:, 2] <= bx[:, 0]) | (bx[:, 3] <= bx[:, 1])).any()):
            raise BatchError(f"{owner} targets[{i}]['boxes'] must have x2 > x1 and y2 > y1 (a degenerate box has "
                             f"no shape); got {bx.tolist()}")
        boxes.append(bx.float())
        labels.append(lb.long())
    return boxes, labels


# --------------------------------------------------------------------------------------------- the model
class YOLO(nn.Module):
    """Single-shot detector: backbone, per-cell anchor head, decoding and NMS (module docstring).

    Args:
        num_classes: ``C + 1``, the object classes and the background (the shapes: 4).
        in_channels: image channels.
        anchors: ``A`` anchor ``(width, height)`` pairs in pixels (e.g. from :func:`kmeans_anchors`).
        channels: filters of the backbone's blocks; each block halves the resolution, so
            ``stride = 2^len(channels)``.
        head_channels: filters of the head's ``3 × 3`` convolution.
        lambda_coord, lambda_noobj, ignore_iou: the loss's weights and ignore threshold
            (:class:`~an2dl.losses.yolo.YoloLoss`).
        score_threshold: detections scoring ``σ(o) · p(c)`` below it are dropped.
        nms_iou: IoU above which a lower-scoring box of the same class is suppressed.
        detections_per_img: most detections returned per image.

    Shape:
        images ``[B, in_channels, H, W]`` (or a list of ``[in_channels, H, W]``), values in [0, 1];
        :meth:`forward_raw` ``[B, A, S_h, S_w, 5 + C]``.
    """

    def __init__(self, *, num_classes: int = 4, in_channels: int = 3,
                 anchors: Sequence[Sequence[float]] | torch.Tensor = DEFAULT_ANCHORS,
                 channels: Sequence[int] = (16, 32, 64), head_channels: int = 128, lambda_coord: float = 5.0,
                 lambda_noobj: float = 0.5, ignore_iou: float = 0.6, score_threshold: float = 0.05,
                 nms_iou: float = 0.5, detections_per_img: int = 100) -> None:
        super().__init__()
        self.num_classes = check_positive_int("YOLO", "num_classes", num_classes)
        if num_classes < 2:
            raise ConfigError(f"YOLO num_classes counts the background and at least one class (>= 2); got {num_classes}")
        self.in_channels = check_positive_int("YOLO", "in_channels", in_channels)
        check_positive_int("YOLO", "head_channels", head_channels)
        self.detections_per_img = check_positive_int("YOLO", "detections_per_img", detections_per_img)
        for name, value in (("score_threshold", score_threshold), ("nms_iou", nms_iou)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"YOLO {name} must be a number in [0, 1]; got {value!r}")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.register_buffer("anchors", check_anchors(anchors), persistent=False)
        self.num_anchors = int(self.anchors.shape[0])
        self.stride = 2 ** len(tuple(channels))
        self.backbone = small_cnn_trunk(in_channels, tuple(channels))
        c = int(tuple(channels)[-1])
        self.head = nn.Sequential(
            nn.Conv2d(c, head_channels, 3, padding=1, bias=False), nn.BatchNorm2d(head_channels),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(head_channels, self.num_anchors * (5 + num_classes - 1), 1),
        )
        # start with objectness ≈ 0.01 so that the first no-object gradients do not swamp the rest (YOLOv3 practice)
        bias = self.head[-1].bias.detach().view(self.num_anchors, 5 + num_classes - 1)
        bias[:, 4] = -4.6
        self.loss = YoloLoss(lambda_coord=lambda_coord, lambda_noobj=lambda_noobj, ignore_iou=ignore_iou)

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """The one forward pass: ``[B, C_in, H, W] -> [B, A, S_h, S_w, 5 + C]`` raw outputs per anchor and cell."""
        f = self.head(self.backbone(x))  # (B, A·(5+C), S_h, S_w)
        b, _, sh, sw = f.shape
        return f.view(b, self.num_anchors, -1, sh, sw).permute(0, 1, 3, 4, 2)  # (B, A, S_h, S_w, 5 + C)

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor],
                targets: Sequence[Mapping[str, torch.Tensor]] | None = None
                ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        x, sizes = images_as_batch(images, owner="YOLO", in_channels=self.in_channels, multiple=self.stride)
        if self.training:
            boxes, labels = check_detection_inputs(images, targets, self.num_classes, owner="YOLO")
            return self.loss(self.forward_raw(x), self.anchors, self.stride, boxes, labels)
        return self.decode(self.forward_raw(x), sizes)

    @torch.no_grad()
    def decode(self, raw: torch.Tensor, sizes: Sequence[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        """Raw outputs -> per-image detections: pixel boxes, score ``σ(o) · p(c)``, threshold, per-class NMS, top-k.

        Args:
            raw: ``[B, A, S_h, S_w, 5 + C]``.
            sizes: each image's ``(H, W)``, to clip its boxes.
        """
        boxes = decode_yolo_boxes(raw[..., :4], self.anchors, self.stride).flatten(1, 3)  # (B, N, 4)
        objectness = torch.sigmoid(raw[..., 4]).flatten(1)  # (B, N)
        probs = F.softmax(raw[..., 5:], dim=-1).flatten(1, 3)  # (B, N, C)
        scores = objectness[..., None] * probs  # (B, N, C)
        c = probs.shape[-1]
        out = []
        for k, size in enumerate(sizes):
            s = scores[k].flatten()  # (N·C,), anchor-major
            keep = torch.nonzero(s > self.score_threshold).flatten()
            anchor_idx, cls = keep // c, keep % c
            bx = clip_boxes_to_image(boxes[k][anchor_idx], size)
            sc = s[keep]
            ok = ((bx[:, 2] - bx[:, 0]) > 1e-2) & ((bx[:, 3] - bx[:, 1]) > 1e-2)
            bx, sc, cls = bx[ok], sc[ok], cls[ok]
            kept = batched_nms(bx, sc, cls, self.nms_iou)[: self.detections_per_img]
            out.append({"boxes": bx[kept], "labels": cls[kept] + 1, "scores": sc[kept]})
        return out


def detection_example(batch_size: int) -> tuple[Any, ...]:
    """``batch_size`` 64 × 64 images in [0, 1] with their targets (one box each): the training call of a detector."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, 3, 64, 64, generator=g)
    targets = [{"boxes": torch.tensor([[8.0 + k, 10.0, 30.0 + k, 28.0]]), "labels": torch.tensor([1 + k % 3])}
               for k in range(batch_size)]
    return images, targets


@register_model("yolo", example=detection_example)
def yolo(**kwargs: Any) -> YOLO:
    """YOLO single-shot detector with anchors (notes §3.5.4.5), a small CNN for 64 × 64 images (see :class:`YOLO`)."""
    return YOLO(**kwargs)
