"""Synthetic multi-object detection data: coloured circles, squares and triangles with boxes and masks (notes §3.5.4).

A seeded, embedded data set (no download) on which every detector of the
notes — sliding window, R-CNN, Fast and Faster R-CNN, YOLO — trains on a CPU
in minutes, and which Mask R-CNN reuses through its instance masks.

**An image** (RGB, ``size × size``) holds 0 to ``max_objects`` objects (the
count is uniform, so about one image in ``max_objects + 1`` is empty), each

* of a random class — 1 ``circle``, 2 ``square``, 3 ``triangle`` — drawn by
  the rasteriser of the segmentation shapes
  (:func:`~an2dl.data.datasets.shapes.shape_masks`), turned by a random angle;
* of a random radius ``r`` (the circle's radius; the square and the triangle
  reach ``1.25 r`` from their centre), **log-uniform** in
  ``scale = (lo, hi)`` times the side, so that every octave of object size
  is equally frequent: a narrow range for the single-scale detectors, a wide
  one (e.g. ``(0.05, 0.4)``) for a feature pyramid;
* of a random saturated colour that says nothing about the class (every class
  draws it from the same distribution), so a detector must read the shape;
* placed wholly inside the image and **apart from the others**: the discs of
  radius ``1.25 r`` around the objects do not touch (a candidate position and
  radius that would overlap an earlier object is redrawn, up to ``tries``
  times; a slot that finds no room stays empty).  Masks therefore never
  overlap and every box is the tight box of its mask.

The background is textured: three random plane waves per channel (a smooth,
coloured field in about [0.1, 0.5]) plus Gaussian pixel noise of standard
deviation ``noise`` over the whole image.

**A sample** is ``(image, target)`` as in
:mod:`an2dl.data.datasets.detection_files`: ``image`` float32
``[3, size, size]`` in [0, 1]; ``target`` ``{"boxes": float32 [N, 4]
(x1, y1, x2, y2) pixels, "labels": int64 [N] in 1..3, "masks": uint8
[N, size, size], "image_id": int}``.  A box is the tight box of its mask's
pixels in continuous coordinates (pixel ``(r, c)`` spans
``[c, c + 1] × [r, r + 1]``; :func:`~an2dl.data.datasets.localization_shapes.mask_boxes`).

**For recipes** (the interface the detectors use)::

    data = get_dataset("shapes-detection", n_train=512, n_val=128, n_test=128, size=64,
                       max_objects=4, scale=(0.08, 0.2), noise=0.05, seed=0)
    data.train.class_names   # ("background", "circle", "square", "triangle"): label k is class_names[k]
    data.train.num_classes   # 4 = C + 1, the num_classes of a torchvision-style detector
    data.info.class_names    # ["circle", "square", "triangle"] (DetectionInfo leaves the background out)
    image, target = data.train[0]
    # the trainer batches with data.train.collate_fn (an2dl.data.batch.collate_images):
    # Batch(inputs=[B, 3, size, size], targets=[{boxes, labels, masks, image_id}, ...])

:data:`SHAPES_DETECTION_CLASSES` holds the same names.  The three parts are
independent draws from generators seeded by ``(seed, part)``: the same
arguments give the same images on every machine.  The default training part
(512 images) is drawn in about 0.3 s on one CPU thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError
from ..core import DataSplits, DetectionInfo
from ..preprocess import Preprocess
from ..registry import register_dataset
from .detection_files import DetectionDataset
from .localization_shapes import mask_boxes
from .shapes import SHAPE_CLASSES, SHAPE_EXTENT, shape_masks

__all__ = ["shapes_detection", "draw_detection_shapes", "SHAPES_DETECTION_CLASSES"]

#: label k is ``SHAPES_DETECTION_CLASSES[k]``; 0 is the background
SHAPES_DETECTION_CLASSES = tuple(SHAPE_CLASSES)


def draw_detection_shapes(n: int, size: int, *, max_objects: int = 4, scale: Sequence[float] = (0.08, 0.2),
                          noise: float = 0.05, tries: int = 12, generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` images with their objects (see the module docstring).

    Args:
        n: number of images.
        size: image side in pixels.
        max_objects: at most this many objects per image (the count is uniform in ``0..max_objects``).
        scale: ``(lo, hi)``, the range of the radius ``r`` as a fraction of the side (log-uniform).
        noise: standard deviation of the Gaussian pixel noise.
        tries: candidate positions per object before its slot is left empty.
        generator: the source of every random draw.

    Returns:
        ``images [n, 3, size, size]`` float32 in [0, 1], ``labels [n, M]`` int64 (0: empty slot, else 1..3),
        ``boxes [n, M, 4]`` float32 (zeros in empty slots) and ``masks [n, M, size, size]`` bool, with
        ``M = max_objects``.
    """
    g = generator
    m = max_objects

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return torch.rand(*shape, generator=g) * (hi - lo) + lo

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    y, x = coords.view(1, 1, -1, 1), coords.view(1, 1, 1, -1)
    # the textured background: three plane waves per channel, in about [0.1, 0.5]
    fx, fy, phase = u(n, 3, 3, 1, 1, lo=-8, hi=8), u(n, 3, 3, 1, 1, lo=-8, hi=8), u(n, 3, 3, 1, 1, hi=2 * math.pi)
    level = u(n, 3, 1, 1, lo=0.2, hi=0.4)
    image = level + 0.1 * torch.sin(fx * x.unsqueeze(1) + fy * y.unsqueeze(1) + phase).mean(dim=2)  # (n, 3, S, S)

    count = torch.randint(0, m + 1, (n,), generator=g)
    lo, hi = math.log(scale[0]), math.log(scale[1])
    labels = torch.zeros(n, m, dtype=torch.long)
    masks = torch.zeros(n, m, size, size, dtype=torch.bool)
    placed_c = torch.zeros(n, m, 2)  # centres and reach (1.25 r) of the objects placed so far
    placed_reach = torch.zeros(n, m)
    gap = 1.0 / size  # at least one pixel between two objects' discs
    for k in range(m):
        # `tries` candidates per image: radius, centre (whole object inside the image), class, angle, colour
        r = torch.exp(u(n, tries, lo=lo, hi=hi))
        reach = SHAPE_EXTENT * r
        cx = reach + u(n, tries) * (1 - 2 * reach)
        cy = reach + u(n, tries) * (1 - 2 * reach)
        cls = torch.randint(1, len(SHAPES_DETECTION_CLASSES), (n,), generator=g)
        theta = u(n, hi=2 * math.pi)
        colour = u(n, 3)
        dist = torch.hypot(cx[:, :, None] - placed_c[:, None, :k, 0], cy[:, :, None] - placed_c[:, None, :k, 1])
        free = (dist >= reach[:, :, None] + placed_reach[:, None, :k] + gap).all(dim=2)  # (n, tries)
        first = free.int().argmax(dim=1)  # the first candidate with room (0 when none has)
        ok = free.any(dim=1) & (k < count)
        pick = first.view(-1, 1)
        r, reach = r.gather(1, pick).squeeze(1), reach.gather(1, pick).squeeze(1)
        cx, cy = cx.gather(1, pick).squeeze(1), cy.gather(1, pick).squeeze(1)
        inside = shape_masks(cls, r, cx, cy, theta, size) & ok.view(-1, 1, 1)  # (n, S, S)
        # a saturated colour: the channels stretched to [0.45, 1] (brighter than the background)
        colour = 0.45 + 0.55 * (colour - colour.amin(1, keepdim=True)) / (
            colour.amax(1, keepdim=True) - colour.amin(1, keepdim=True)).clamp_min(1e-6)
        image = torch.where(inside.unsqueeze(1), colour.view(n, 3, 1, 1), image)
        masks[:, k] = inside
        labels[:, k] = torch.where(ok, cls, 0)
        placed_c[:, k, 0], placed_c[:, k, 1] = cx, cy
        placed_reach[:, k] = torch.where(ok, reach, -2.0)  # an empty slot blocks nothing
    image = image + noise * torch.randn(image.shape, generator=g)
    boxes = torch.zeros(n, m, 4)
    present = labels > 0
    if bool(present.any()):
        boxes[present] = mask_boxes(masks[present])
    return image.clamp(0, 1).float(), labels, boxes, masks


def _positive_int(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"shapes-detection {name} must be an integer >= {lo}; got {value!r}")
    return value


@register_dataset("shapes-detection")
def shapes_detection(*, n_train: int = 512, n_val: int = 128, n_test: int = 128, size: int = 64,
                     max_objects: int = 4, scale: Sequence[float] = (0.08, 0.2), noise: float = 0.05,
                     seed: int = 0) -> DataSplits:
    """Seeded synthetic detection data: 0–``max_objects`` coloured circles, squares and triangles per image.

    Args:
        n_train, n_val, n_test: images per part (``n_val = 0`` / ``n_test = 0``: no such part).
        size: image side in pixels.
        max_objects: at most this many objects per image (at least 1).
        scale: ``(lo, hi)``, the range of the object radius as a fraction of the side, drawn log-uniform
            (``lo * size >= 2`` pixels, so every object covers pixels; ``hi <= 0.3``, so it fits the image).
        noise: standard deviation of the Gaussian pixel noise, in [0, 1).
        seed: seed of the draws.

    Returns:
        :class:`~an2dl.data.DataSplits` of :class:`~an2dl.data.datasets.detection_files.DetectionDataset`
        (see the module docstring for the samples, ``class_names`` and ``num_classes``).
    """
    _positive_int("n_train", n_train, 1)
    _positive_int("n_val", n_val, 0)
    _positive_int("n_test", n_test, 0)
    _positive_int("size", size, 16)
    _positive_int("max_objects", max_objects, 1)
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (0 < lo <= hi <= 0.3) or lo * size < 2:
        raise ConfigError(f"shapes-detection scale must be (lo, hi) with 0 < lo <= hi <= 0.3 and lo * size >= 2 "
                          f"pixels (size {size}); got {scale!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < 1:
        raise ConfigError(f"shapes-detection noise must be a number in [0, 1); got {noise!r}")
    parts: dict[str, DetectionDataset] = {}
    for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if not n:
            continue
        images, labels, boxes, masks = draw_detection_shapes(
            n, size, max_objects=max_objects, scale=(lo, hi), noise=float(noise),
            generator=seeded_generator(seed, "shapes-detection", part))
        targets = []
        for i in range(n):
            keep = labels[i] > 0
            targets.append({"boxes": boxes[i][keep], "labels": labels[i][keep],
                            "masks": masks[i][keep].to(torch.uint8), "image_id": i})
        parts[part] = DetectionDataset(images, targets, class_names=SHAPES_DETECTION_CLASSES)
    x = parts["train"].images
    info = DetectionInfo(
        name="shapes-detection", class_names=list(SHAPES_DETECTION_CLASSES[1:]), input_shape=(3, size, size),
        mean=tuple(round(float(v), 6) for v in x.mean(dim=(0, 2, 3))),
        std=tuple(round(float(v), 6) for v in x.std(dim=(0, 2, 3))),
        extra={"source": "an2dl synthetic detection shapes (seeded)", "seed": seed, "scale": [lo, hi],
               "max_objects": max_objects, "boxes": "(x1, y1, x2, y2) in pixels of the image",
               "labels": "1..C; 0 is the background", "class_names_with_background": list(SHAPES_DETECTION_CLASSES)},
        # the resize is the identity on the data set's own images; `an2dl predict` brings other files to the size
        preprocess=Preprocess([{"op": "to_channels", "channels": 3},
                               {"op": "resize", "size": [size, size], "mode": "bilinear"}],
                              raw_input={"channels": 3, "size": [size, size]}).to_dict())
    return DataSplits(parts["train"], parts.get("val"), parts.get("test"), info)
