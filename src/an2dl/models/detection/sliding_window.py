"""Sliding-window detection: a patch classifier with a background class slid over the image (notes §3.5.4.1).

The notes' recipe, step by step:

1. *a model trained to process a fixed input size*: a patch classifier
   (:class:`~an2dl.models.segmentation.PatchClassifier`, unpadded convolutions and dense layers) reads
   ``P × P`` patches and scores ``C + 1`` classes;
2. *slide a window … across the image and classify each region*: square windows of each size of
   ``window_sizes`` (the scales) are placed every ``stride`` pixels; each window is cropped and resized to
   ``P × P`` by bilinear sampling (:func:`~an2dl.ops.roi.roi_align`'s aligned sampling, one sample per
   output pixel) and classified.  A window of side ``w`` fits ``⌊(H − w) / s⌋ + 1`` times down and
   ``⌊(W − w) / s⌋ + 1`` times across an ``H × W`` image (:func:`window_counts`), so the classifier
   evaluations per image are::

       N = Σ_scales (⌊(H − w) / s⌋ + 1) · (⌊(W − w) / s⌋ + 1)

   linear in the number of scales and about quadratic in ``1 / s`` — the inefficiency the notes point out;
3. *a background class*: a window is a detection when its most likely class is not the background; its
   score is that class's probability.  Overlapping windows on one object are merged by non-maximum
   suppression per class (:func:`~an2dl.ops.nms.batched_nms`).  The box is the window itself: the
   detector can only be as precise as its grid of windows ("difficult to detect scale variability").

Training (``model(images, targets)`` in training mode) samples the crops from the targets inside
``forward``, so that a detection task trains it like any other detector: per object,
``positives_per_object`` windows on it (side log-uniform in ``[0.8, 1.25] ×`` the object's longer side,
centre shifted by up to 15 % of the side), ``negatives_per_object`` windows around it of the wrong place or
scale (side ``× 2^U(−1.3, 1.3)``, centre up to one side away), and ``negatives_per_image`` windows of the
detector's sizes anywhere.  Each crop is labelled by its best IoU
with the image's boxes — the class of that box when ``IoU >= pos_iou``, the background when
``IoU < neg_iou``, left out in between (the labelling of R-CNN's crops, Girshick et al. 2014) — and the loss
is the classifier's mean cross-entropy, ``{"loss_classifier"}``.  The crops are random draws of PyTorch's
generator (saved and restored with a checkpoint, as for dropout).

Evaluation mode returns torchvision's list of per-image dicts (``boxes`` ``[K, 4]`` xyxy pixels, ``labels``
in ``1..C``, ``scores``); :attr:`SlidingWindowDetector.last_evaluations` holds the classifier evaluations
spent on each image of the last call.

Paper: the sliding-window detectors before R-CNN, e.g. Sermanet et al. (2014), "OverFeat: Integrated
Recognition, Localization and Detection using Convolutional Networks" (which also computes them as one
convolution; here each window is classified separately, as the notes describe, to count the cost).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...ops.boxes import box_iou
from ...ops.nms import batched_nms
from .._checks import check_positive_int
from .._registry import register_model
from ..segmentation.convolutionalize import PatchClassifier
from .yolo import check_detection_inputs, detection_example, images_as_batch

__all__ = ["SlidingWindowDetector", "sliding_window", "window_boxes", "window_counts", "warp_crops"]


def _check_windows(image_size: Sequence[int], window_sizes: Sequence[int], stride: int) -> tuple[int, int]:
    if len(image_size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image_size):
        raise ConfigError(f"image_size must be (H, W), two positive integers; got {tuple(image_size)!r}")
    if not window_sizes or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in window_sizes):
        raise ConfigError(f"window_sizes must be a non-empty list of positive integers (pixels); got {window_sizes!r}")
    check_positive_int("sliding window", "stride", stride)
    return int(image_size[0]), int(image_size[1])


def window_counts(image_size: Sequence[int], window_sizes: Sequence[int], stride: int) -> list[int]:
    """Windows (classifier evaluations) per scale: ``(⌊(H − w) / s⌋ + 1) · (⌊(W − w) / s⌋ + 1)``, 0 when ``w``
    exceeds the image.

    Args:
        image_size: ``(H, W)``.
        window_sizes: the window sides ``w`` in pixels (one per scale).
        stride: ``s``, the step between windows in pixels.
    """
    h, w_img = _check_windows(image_size, window_sizes, stride)
    return [((h - w) // stride + 1) * ((w_img - w) // stride + 1) if w <= min(h, w_img) else 0 for w in window_sizes]


def window_boxes(image_size: Sequence[int], window_sizes: Sequence[int], stride: int) -> torch.Tensor:
    """Every window of every scale as ``(x1, y1, x2, y2)`` pixels: scale by scale, row by row.

    Shape:
        ``[N, 4]`` float32, ``N = sum(window_counts(...))``.
    """
    h, w_img = _check_windows(image_size, window_sizes, stride)
    out = []
    for w in window_sizes:
        if w > min(h, w_img):
            continue
        ys = torch.arange(0, h - w + 1, stride, dtype=torch.float32)
        xs = torch.arange(0, w_img - w + 1, stride, dtype=torch.float32)
        y1, x1 = torch.meshgrid(ys, xs, indexing="ij")  # (rows, columns)
        out.append(torch.stack([x1, y1, x1 + w, y1 + w], dim=-1).reshape(-1, 4))
    return torch.cat(out) if out else torch.zeros(0, 4)


def warp_crops(images: torch.Tensor, boxes: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """The boxes ``boxes[b]`` of image ``b``, each warped to ``size × size`` by bilinear sampling.

    Output pixel ``(r, c)`` of box ``(x1, y1, x2, y2)`` samples the image bilinearly at
    ``(x1 + (c + ½)(x2 − x1) / P, y1 + (r + ½)(y2 − y1) / P)`` (``P = size``; pixel ``k``'s value sitting at
    ``k + ½``), zero outside the image: :func:`~an2dl.ops.roi.roi_align` with ``aligned=True,
    sampling_ratio=1`` (a test checks it), computed by PyTorch's fused ``grid_sample``, about 25 times
    faster on the hundreds of windows of an image.  The sliding window's windows and R-CNN's warped
    proposals (§3.5.4.2) are read this way.

    Shape:
        ``images`` ``[B, C, H, W]``, ``boxes[b]`` ``[K_b, 4]``; output ``[Σ K_b, C, size, size]``.
    """
    p = size
    h, w = images.shape[-2:]
    index = torch.cat([torch.full((bx.shape[0],), k, dtype=torch.long, device=images.device)
                       for k, bx in enumerate(boxes)])
    windows = torch.cat([bx.to(images) for bx in boxes])  # (K, 4)
    steps = (torch.arange(p, dtype=images.dtype, device=images.device) + 0.5) / p  # (P,) bin centres in [0, 1]
    xs = windows[:, 0:1] + steps * (windows[:, 2:3] - windows[:, 0:1])  # (K, P) pixel coordinates
    ys = windows[:, 1:2] + steps * (windows[:, 3:4] - windows[:, 1:2])
    # grid_sample's normalised coordinates (align_corners=False): -1 and 1 are the image's outer edges
    gx = (xs / w * 2 - 1)[:, None, :].expand(-1, p, -1)  # (K, P, P)
    gy = (ys / h * 2 - 1)[:, :, None].expand(-1, -1, p)
    grid = torch.stack([gx, gy], dim=-1)  # (K, P, P, 2) as (x, y)
    return F.grid_sample(images[index], grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class SlidingWindowDetector(nn.Module):
    """A patch classifier slid over the image at several scales, then per-class NMS (module docstring).

    Args:
        num_classes: ``C + 1``, the object classes and the background (class 0).
        in_channels: image channels.
        window_sizes: window sides in pixels, one per scale.
        stride: step between windows, pixels.
        patch_size: ``P``, the classifier's input side; windows are resized to it.
        channels, hidden: the patch classifier's convolutions and hidden layer.
        positives_per_object, negatives_per_object, negatives_per_image: training crops drawn per object
            and per image.
        pos_iou, neg_iou: a training crop is of the object's class from ``pos_iou``, background below ``neg_iou``.
        nms_iou: IoU above which a lower-scoring window of the same class is suppressed.
        detections_per_img: most detections returned per image.
        chunk: windows classified at once (bounds memory).

    Shape:
        images ``[B, in_channels, H, W]`` (or a list of ``[in_channels, H, W]``) in [0, 1].
    """

    def __init__(self, *, num_classes: int = 4, in_channels: int = 3, window_sizes: Sequence[int] = (12, 18, 24, 32),
                 stride: int = 4, patch_size: int = 16, channels: Sequence[int] = (8, 16, 16), hidden: int = 64,
                 positives_per_object: int = 4, negatives_per_object: int = 6, negatives_per_image: int = 16,
                 pos_iou: float = 0.5, neg_iou: float = 0.3, nms_iou: float = 0.3, detections_per_img: int = 100,
                 chunk: int = 4096) -> None:
        super().__init__()
        self.num_classes = check_positive_int("SlidingWindowDetector", "num_classes", num_classes)
        if num_classes < 2:
            raise ConfigError(f"SlidingWindowDetector num_classes counts the background and at least one class "
                              f"(>= 2); got {num_classes}")
        self.in_channels = check_positive_int("SlidingWindowDetector", "in_channels", in_channels)
        _check_windows((max(window_sizes, default=1),) * 2, window_sizes, stride)
        self.window_sizes = tuple(int(w) for w in window_sizes)
        self.stride = int(stride)
        self.patch_size = check_positive_int("SlidingWindowDetector", "patch_size", patch_size)
        for name, value in (("positives_per_object", positives_per_object),
                            ("negatives_per_object", negatives_per_object),
                            ("negatives_per_image", negatives_per_image)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"SlidingWindowDetector {name} must be an integer >= 0; got {value!r}")
        self.positives_per_object = positives_per_object
        self.negatives_per_object = negatives_per_object
        self.negatives_per_image = negatives_per_image
        if not (isinstance(pos_iou, (int, float)) and isinstance(neg_iou, (int, float)) and 0 < neg_iou <= pos_iou <= 1):
            raise ConfigError(f"SlidingWindowDetector needs 0 < neg_iou <= pos_iou <= 1; got neg_iou={neg_iou!r}, "
                              f"pos_iou={pos_iou!r}")
        self.pos_iou, self.neg_iou = float(pos_iou), float(neg_iou)
        if isinstance(nms_iou, bool) or not isinstance(nms_iou, (int, float)) or not 0 <= nms_iou <= 1:
            raise ConfigError(f"SlidingWindowDetector nms_iou must be a number in [0, 1]; got {nms_iou!r}")
        self.nms_iou = float(nms_iou)
        self.detections_per_img = check_positive_int("SlidingWindowDetector", "detections_per_img", detections_per_img)
        self.chunk = check_positive_int("SlidingWindowDetector", "chunk", chunk)
        self.classifier = PatchClassifier(in_channels=in_channels, num_classes=num_classes, patch_size=patch_size,
                                          channels=tuple(channels), hidden=hidden)
        #: classifier evaluations spent on each image of the last evaluation-mode call
        self.last_evaluations: list[int] = []

    def evaluations_per_image(self, image_size: Sequence[int]) -> int:
        """Classifier evaluations (windows) for one ``(H, W)`` image: ``Σ`` of :func:`window_counts`."""
        return sum(window_counts(tuple(int(v) for v in image_size), self.window_sizes, self.stride))

    def crops(self, images: torch.Tensor, boxes: Sequence[torch.Tensor]) -> torch.Tensor:
        """The windows ``boxes[b]`` of image ``b``, each resized to ``P × P`` (:func:`warp_crops`).

        Shape:
            ``images`` ``[B, C, H, W]``, ``boxes[b]`` ``[K_b, 4]``; output ``[Σ K_b, C, P, P]``.
        """
        return warp_crops(images, boxes, self.patch_size)

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor],
                targets: Sequence[Mapping[str, torch.Tensor]] | None = None
                ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        x, sizes = images_as_batch(images, owner="SlidingWindowDetector", in_channels=self.in_channels)
        if self.training:
            boxes, labels = check_detection_inputs(images, targets, self.num_classes, owner="SlidingWindowDetector")
            return self._loss(x, sizes, boxes, labels)
        return self._detect(x, sizes)

    # ---- training: crops sampled from the targets
    def _sample(self, size: tuple[int, int], gt: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training windows of one image and their classes (module docstring); ambiguous ones left out."""
        h, w = size
        dev = gt.device
        parts = []
        if gt.shape[0]:
            cx, cy = (gt[:, 0] + gt[:, 2]) / 2, (gt[:, 1] + gt[:, 3]) / 2
            longer = torch.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1])
            # windows on the object (side 0.8..1.25 x its longer side, centre within 15 % of the side), and windows
            # around it of the wrong place or scale (side ×2^U(-1.3, 1.3), centre up to one side away): the latter
            # teach the classifier that a window half on an object, or much larger or smaller, is background
            for count, shift, lo, hi in ((self.positives_per_object, 0.15, 0.8, 1.25),
                                         (self.negatives_per_object, 1.0, 2 ** -1.3, 2 ** 1.3)):
                if not count:
                    continue
                u = torch.rand(gt.shape[0], count, device=dev)
                side = longer[:, None] * lo * (hi / lo) ** u  # (N, count), log-uniform in [lo, hi] x longer
                offset = (2 * torch.rand(gt.shape[0], count, 2, device=dev) - 1) * shift * side[..., None]
                dx, dy = offset.unbind(-1)
                parts.append(torch.stack([cx[:, None] + dx, cy[:, None] + dy, side, side], dim=-1).reshape(-1, 4))
        if self.negatives_per_image:
            sizes = torch.tensor(self.window_sizes, dtype=torch.float32, device=dev)
            side = sizes[torch.randint(len(self.window_sizes), (self.negatives_per_image,), device=dev)]
            side = side.clamp(max=float(min(h, w)))
            x1 = torch.rand(self.negatives_per_image, device=dev) * (w - side)
            y1 = torch.rand(self.negatives_per_image, device=dev) * (h - side)
            parts.append(torch.stack([x1 + side / 2, y1 + side / 2, side, side], dim=-1))
        if not parts:
            return torch.zeros(0, 4, device=dev), torch.zeros(0, dtype=torch.long, device=dev)
        cxcywh = torch.cat(parts)
        side = cxcywh[:, 2].clamp(min=2.0, max=float(min(h, w)))
        # keep each window inside the image (a window is a part of the image, as at detection time)
        x1 = (cxcywh[:, 0] - side / 2).clamp(min=0).minimum(w - side)
        y1 = (cxcywh[:, 1] - side / 2).clamp(min=0).minimum(h - side)
        windows = torch.stack([x1, y1, x1 + side, y1 + side], dim=-1)
        cls = torch.zeros(windows.shape[0], dtype=torch.long, device=dev)
        keep = torch.ones(windows.shape[0], dtype=torch.bool, device=dev)
        if gt.shape[0]:
            best, which = box_iou(windows, gt).max(dim=1)
            cls = torch.where(best >= self.pos_iou, labels[which], cls)
            keep = (best >= self.pos_iou) | (best < self.neg_iou)
        return windows[keep], cls[keep]

    def _loss(self, x: torch.Tensor, sizes: list[tuple[int, int]], boxes: list[torch.Tensor],
              labels: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        samples = [self._sample(size, bx.to(x.device), lb.to(x.device)) for size, bx, lb in zip(sizes, boxes, labels)]
        windows = [s[0] for s in samples]
        classes = torch.cat([s[1] for s in samples])
        if classes.numel() == 0:  # nothing to learn from this batch; keep the graph connected
            return {"loss_classifier": sum(p.sum() for p in self.classifier.parameters()) * 0.0}
        logits = self.classifier(self.crops(x, windows))  # (K, C + 1)
        return {"loss_classifier": F.cross_entropy(logits, classes)}

    # ---- evaluation: every window of every scale
    @torch.no_grad()
    def _detect(self, x: torch.Tensor, sizes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        out = []
        self.last_evaluations = []
        for k, size in enumerate(sizes):
            windows = window_boxes(size, self.window_sizes, self.stride).to(x.device)
            probs = []
            for s in range(0, windows.shape[0], self.chunk):
                part = windows[s : s + self.chunk]
                probs.append(F.softmax(self.classifier(self.crops(x[k : k + 1], [part])), dim=1))
            self.last_evaluations.append(int(windows.shape[0]))
            if not probs:
                empty = torch.zeros(0, dtype=torch.long, device=x.device)
                out.append({"boxes": x.new_zeros(0, 4), "labels": empty, "scores": x.new_zeros(0)})
                continue
            score, cls = torch.cat(probs).max(dim=1)  # the most likely class of each window
            hit = cls != 0  # the notes' rule: a window whose class is not the background
            bx, sc, cls = windows[hit], score[hit], cls[hit]
            kept = batched_nms(bx, sc, cls, self.nms_iou)[: self.detections_per_img]
            out.append({"boxes": bx[kept], "labels": cls[kept], "scores": sc[kept]})
        return out


@register_model("sliding_window", example=detection_example)
def sliding_window(**kwargs: Any) -> SlidingWindowDetector:
    """Sliding-window detector: a patch classifier with a background class over windows of several scales
    (notes §3.5.4.1; see :class:`SlidingWindowDetector`)."""
    return SlidingWindowDetector(**kwargs)
