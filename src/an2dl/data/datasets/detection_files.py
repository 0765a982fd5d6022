"""Object-detection data: images with per-image target dicts, read from Pascal VOC XML or COCO JSON (notes §3.5.4).

The notes' detection task maps an image to a set of labelled boxes,
``I -> {(x, y, h, w, l)_1, ..., (x, y, h, w, l)_n}`` (§3.5.4), n varying from
image to image (0 included).  Every detection data set of an2dl yields
torchvision's form of that set:

``(image, target)``, ``image`` float32 ``[3, H, W]`` in [0, 1] and ``target`` a dict

=============  ==============================  =================================================
key            value                           meaning
=============  ==============================  =================================================
``boxes``      float32 ``[N, 4]``              ``(x1, y1, x2, y2)`` in pixels of ``image``
``labels``     int64 ``[N]`` in ``1..C``        class ``labels[i]`` is ``class_names[labels[i]]``;
                                               0 is the background and never a label
``image_id``   int                             the image's index in its data set (COCO: its id)
``masks``      uint8 ``[N, H, W]``             instance masks (shapes; COCO with ``masks=True``)
``iscrowd``    int64 ``[N]``                   COCO's crowd flag (COCO files only)
``area``       float32 ``[N]``                 COCO's object area in pixels of ``image`` (COCO only)
=============  ==============================  =================================================

:class:`DetectionDataset` holds such samples; its ``collate_fn`` is
:func:`~an2dl.data.batch.collate_images` (``Batch(inputs=[B, 3, H, W] or a
list, targets=[dict, ...])``), which the trainer picks up by itself, and its
``class_names`` start with ``"background"``.

**Loaders.**  :func:`load_voc_detection` reads Pascal VOC XML files (several
``<object>`` per image, each ``<name>`` one of ``class_names``; the XML parser
is :func:`~an2dl.data.datasets.raccoon.read_voc_objects`),
:func:`load_coco_detection` a COCO ``instances`` JSON file (``bbox`` as
``[x, y, w, h]`` converted to corners; categories sorted by id and numbered
``1..C``, a category named ``background`` or ``_background_`` left out since
label 0 is the background already; ``iscrowd`` and ``area`` kept).  Both
resize every image to ``size × size`` when asked (bilinear with
antialiasing; boxes scaled per axis, areas by the product of the two scales).

**Instance masks** (notes §3.5.5.1, Mask R-CNN's targets): ``load_coco_detection(...,
masks=True)`` decodes each annotation's ``segmentation`` with
:func:`coco_segmentation_mask` — polygons, uncompressed RLE and compressed RLE
strings, with our own code equal pixel for pixel to ``pycocotools.mask`` (a
test-only dependency) — and resizes the masks with the image by nearest
neighbour.  A polygon with fewer than 3 points, an RLE whose ``size`` is not the
image's, and a mask without any pixel are errors naming the file and the
annotation id.

**Bad annotations** (checked by :func:`check_annotation_boxes`), each message
naming the file and the value:

* a non-finite coordinate, or a degenerate box (``x2 <= x1`` or ``y2 <= y1``
  as annotated; COCO: ``w <= 0`` or ``h <= 0``): :class:`~an2dl.errors.DataError`;
* a box partly outside its image: with ``outside="clip"`` (the default) it is
  clipped to the image and a ``UserWarning`` names it — annotation tools
  often put an edge one pixel past the border, and torchvision's transforms
  clip as well; with ``outside="error"`` it is a ``DataError``.  A box wholly
  outside the image is always an error (nothing of the object is left);
* a class name not in ``class_names`` (VOC) or a category id that is not
  among the file's categories (COCO): ``DataError`` listing the known ones;
* a missing image file: :class:`~an2dl.errors.DataNotFoundError` naming it.

Images without objects load as ``boxes [0, 4]``, ``labels [0]``.

**raccoon-detection** (``get_dataset("raccoon-detection", size=128, val_count=16, seed=0)``):
the 200 raccoon photos with all their boxes (217; one class, ``raccoon``).
Split: the folder's fixed 160/40 split (``train_labels.csv`` /
``test_labels.csv``, as the README documents); ``val_count`` of the 160
training photos, drawn with ``seed``, validate — the same photos as in the
localisation set ``raccoon`` of the same seed (:func:`~an2dl.data.datasets.raccoon.raccoon_split`).  Every photo is resized to
``size × size`` (its aspect ratio is not kept: the boxes are scaled per axis).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ...errors import ConfigError, DataError, DataNotFoundError
from ..batch import collate_images
from ..core import DataSplits, DetectionInfo
from ..registry import register_dataset
from ._common import image_pipeline
from .raccoon import raccoon_root, raccoon_split, read_voc_objects

__all__ = [
    "DetectionDataset",
    "check_annotation_boxes",
    "load_voc_detection",
    "load_coco_detection",
    "coco_segmentation_mask",
    "raccoon_detection",
    "BACKGROUND_NAMES",
]

#: category names that mean "no object" (label 0) rather than a class
BACKGROUND_NAMES = ("background", "_background_", "__background__")

_OUTSIDE = ("clip", "error")


class DetectionDataset(Dataset):
    """Images and their per-image detection targets (see the module docstring for the keys).

    Args:
        images: ``[N, 3, H, W]`` or a list of N ``[3, H, W]`` float32 images in [0, 1].
        targets: N dicts with at least ``boxes`` ``[M, 4]`` and ``labels`` ``[M]`` (M may be 0).
        class_names: the names of labels ``0..C``, ``class_names[0] == "background"``.
        sources: where each image came from (its file), or ``None`` for generated images.

    A sample is ``(image, target)`` with ``target["image_id"]`` set to the
    sample's index unless the target brings its own; the target dict is a
    fresh copy, so a caller may change it.
    """

    #: the trainer batches samples with it: ``Batch(inputs, targets=[dict, ...])``
    collate_fn = staticmethod(collate_images)

    def __init__(self, images: torch.Tensor | Sequence[torch.Tensor], targets: Sequence[Mapping[str, Any]], *,
                 class_names: Sequence[str], sources: Sequence[str] | None = None) -> None:
        names = [str(n) for n in class_names]
        if len(names) < 2 or names[0] not in BACKGROUND_NAMES:
            raise ConfigError(f"DetectionDataset class_names must start with 'background' (label 0) and name at least "
                              f"one class; got {names}")
        if len(images) != len(targets):
            raise ConfigError(f"DetectionDataset needs one target per image; got {len(images)} images and "
                              f"{len(targets)} targets")
        for i, t in enumerate(targets):
            labels = t.get("labels") if isinstance(t, Mapping) else None
            if not isinstance(labels, torch.Tensor) or "boxes" not in t:
                raise ConfigError(f"DetectionDataset targets[{i}] must be a dict with 'boxes' [N, 4] and 'labels' [N]; "
                                  f"got {t if not isinstance(t, Mapping) else sorted(t)}")
            if labels.numel() and (int(labels.min()) < 1 or int(labels.max()) >= len(names)):
                raise ConfigError(f"DetectionDataset targets[{i}]['labels'] must lie in 1..{len(names) - 1} "
                                  f"(0 is the background); got {labels.tolist()}")
        if sources is not None and len(sources) != len(targets):
            raise ConfigError(f"DetectionDataset needs one source per image; got {len(sources)} for {len(targets)} images")
        self.images = images
        self.targets = list(targets)
        self.class_names = tuple(names)
        self.sources = [str(p) for p in sources] if sources is not None else None

    @property
    def num_classes(self) -> int:
        """C + 1: the object classes and the background (torchvision's ``num_classes``)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        target = dict(self.targets[i])
        target.setdefault("image_id", int(i))
        return self.images[i], target


# ------------------------------------------------------------------------------------------------ checks
def check_annotation_boxes(boxes: torch.Tensor, size: tuple[int, int], *, source: str | os.PathLike,
                           outside: str = "clip") -> torch.Tensor:
    """Validate annotated ``(x1, y1, x2, y2)`` boxes against their ``(H, W)`` image (the module's rules).

    Args:
        boxes: ``[N, 4]`` as annotated.
        size: ``(H, W)`` of the image the boxes belong to.
        source: the annotation file (named in messages).
        outside: ``"clip"`` (clip a box partly outside the image, with a warning) or ``"error"``.

    Returns:
        ``[N, 4]`` float32, inside ``[0, W] × [0, H]``.

    Raises:
        DataError: a non-finite or degenerate box, a box wholly outside the image, or (``outside="error"``)
            partly outside it; the message names ``source``, the box's index and its value.
    """
    if outside not in _OUTSIDE:
        raise ConfigError(f"outside must be one of {list(_OUTSIDE)}; got {outside!r}")
    h, w = size
    boxes = boxes.reshape(-1, 4).float()
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        shown = f"({x1:g}, {y1:g}, {x2:g}, {y2:g})"
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise DataError(f"{source}: box {i} (x1, y1, x2, y2) = {shown} has a missing or non-finite coordinate")
        if x2 <= x1 or y2 <= y1:
            raise DataError(f"{source}: box {i} (x1, y1, x2, y2) = {shown} is degenerate; a box needs x1 < x2 and "
                            "y1 < y2")
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise DataError(f"{source}: box {i} (x1, y1, x2, y2) = {shown} lies wholly outside the {w}x{h} image")
        if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
            if outside == "error":
                raise DataError(f"{source}: box {i} (x1, y1, x2, y2) = {shown} reaches outside the {w}x{h} image "
                                "(outside='clip' clips it)")
            warnings.warn(f"{source}: box {i} (x1, y1, x2, y2) = {shown} reaches outside the {w}x{h} image; "
                          "clipped to it", UserWarning, stacklevel=3)
    if len(boxes):
        boxes = torch.stack([boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w),
                             boxes[:, 3].clamp(0, h)], dim=1)
    return boxes


def _check_size_arg(size: int | None, owner: str) -> int | None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
        raise ConfigError(f"{owner} size must be None (keep each image's size) or an integer >= 8; got {size!r}")
    return size


def _image_file(path: Path, source: str | os.PathLike) -> Path:
    if not path.is_file():
        raise DataNotFoundError(f"{source}: the image file {path} it refers to is missing")
    return path


def _resized(image: torch.Tensor, boxes: torch.Tensor, size: int | None) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  tuple[float, float]]:
    """``image`` resized to ``size × size`` (bilinear, antialiased) and ``boxes`` scaled with it; the two scales."""
    if size is None:
        return image, boxes, (1.0, 1.0)
    h, w = image.shape[-2:]
    out = F.interpolate(image.unsqueeze(0), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)[0].clamp(0, 1)
    sx, sy = size / w, size / h
    return out, boxes * torch.tensor([sx, sy, sx, sy], dtype=boxes.dtype), (sx, sy)


def _stack_if_same(images: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    if images and all(im.shape == images[0].shape for im in images):
        return torch.stack(images)
    return images


# ------------------------------------------------------------------------------------------------ Pascal VOC
def load_voc_detection(annotations: Sequence[str | os.PathLike], images_dir: str | os.PathLike, *,
                       class_names: Sequence[str], size: int | None = None, outside: str = "clip",
                       max_pixels: int | None = None) -> DetectionDataset:
    """Images and all their boxes from Pascal VOC XML files.

    Args:
        annotations: the XML files, one per image (their order is the data set's order).
        images_dir: the folder holding each XML's ``<filename>``.
        class_names: the object classes; ``<name>`` ``class_names[k]`` gets label ``k + 1`` (a leading
            ``"background"`` is allowed and skipped).
        size: resize every image to ``size × size`` (``None``: keep each image's size).
        outside: what a box partly outside its image does: ``"clip"`` (with a warning) or ``"error"``.
        max_pixels: the largest image decoded (``None``: :func:`~an2dl.data.images.read_image`'s default).

    Returns:
        :class:`DetectionDataset` of ``(image [3, H, W], {boxes, labels, image_id})``.

    Raises:
        DataError: a bad box or an unknown class name (naming the XML file); DataNotFoundError: a missing file.
    """
    from ..images import DEFAULT_MAX_PIXELS, read_image

    _check_size_arg(size, "load_voc_detection")
    names = [str(n) for n in class_names if str(n) not in BACKGROUND_NAMES]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"load_voc_detection class_names must name at least one class, each once; got "
                          f"{list(class_names)}")
    ids = {n: k + 1 for k, n in enumerate(names)}
    images, targets, sources = [], [], []
    for xml in annotations:
        xml = Path(xml)
        if not xml.is_file():
            raise DataNotFoundError(f"load_voc_detection: the annotation file {xml} is missing")
        filename, (h, w), boxes, objects = read_voc_objects(xml)
        unknown = sorted({n for n in objects if n not in ids})
        if unknown:
            raise DataError(f"{xml}: unknown class name(s) {unknown}; the known classes are {names}")
        boxes = check_annotation_boxes(boxes, (h, w), source=xml, outside=outside)
        file = _image_file(Path(images_dir) / filename, xml)
        image = read_image(file, channels=3, max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
        if tuple(image.shape[-2:]) != (h, w):
            raise DataError(f"{xml}: the annotation says {w}x{h} pixels but {filename} has "
                            f"{image.shape[-1]}x{image.shape[-2]}")
        image, boxes, _ = _resized(image, boxes, size)
        images.append(image)
        sources.append(str(file))
        targets.append({"boxes": boxes, "labels": torch.tensor([ids[n] for n in objects], dtype=torch.long),
                        "image_id": len(targets)})
    return DetectionDataset(_stack_if_same(images), targets, class_names=["background", *names], sources=sources)


# ------------------------------------------------------------------------------------------------ COCO masks
def _polygon_runs(xy: Sequence[float], h: int, w: int) -> list[int]:
    """Column-major run lengths of one closed polygon ``[x1, y1, x2, y2, ...]`` filled by the even-odd rule.

    The boundary is traced on a grid five times finer than the pixels (vertices rounded to it, each
    edge stepped one fine cell at a time along its longer axis); every step that crosses the vertical
    line through a pixel column's centre toggles that column below the crossing's row (the first pixel
    whose centre lies below the crossing).  The toggles, sorted in column-major order, are the run
    boundaries — the same rule, to the fine grid's rounding, as ``pycocotools.mask.frPyObjects``.
    """
    scale = 5.0
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    # C's (int)(v + .5): truncation towards zero
    x = np.trunc(scale * pts[:, 0] + 0.5).astype(np.int64)
    y = np.trunc(scale * pts[:, 1] + 0.5).astype(np.int64)
    x, y = np.append(x, x[0]), np.append(y, y[0])
    us, vs = [], []
    for j in range(len(pts)):
        xs, xe, ys, ye = int(x[j]), int(x[j + 1]), int(y[j]), int(y[j + 1])
        dx, dy = abs(xe - xs), abs(ye - ys)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            t = np.arange(dx + 1)
            t = dx - t if flip else t
            s = (ye - ys) / dx if dx else 0.0
            us.append(t + xs)
            vs.append(np.trunc(ys + s * t + 0.5).astype(np.int64))
        else:
            t = np.arange(dy + 1)
            t = dy - t if flip else t
            s = (xe - xs) / dy
            vs.append(t + ys)
            us.append(np.trunc(xs + s * t + 0.5).astype(np.int64))
    u, v = np.concatenate(us), np.concatenate(vs)
    step = np.nonzero(u[1:] != u[:-1])[0] + 1
    xd = np.where(u[step] < u[step - 1], u[step], u[step] - 1).astype(np.float64)
    xd = (xd + 0.5) / scale - 0.5
    yd = np.minimum(v[step], v[step - 1]).astype(np.float64)
    yd = (yd + 0.5) / scale - 0.5
    ok = (np.floor(xd) == xd) & (xd >= 0) & (xd <= w - 1)
    col, row = xd[ok].astype(np.int64), np.ceil(np.clip(yd[ok], 0, h)).astype(np.int64)
    edges = np.sort(np.append(col * h + row, h * w))
    diffs = np.diff(edges, prepend=0)
    # a zero-length run (two toggles at one pixel cancel) merges its neighbours
    runs: list[int] = [int(diffs[0])]
    j = 1
    while j < len(diffs):
        if diffs[j] > 0:
            runs.append(int(diffs[j]))
        elif j + 1 < len(diffs):
            j += 1
            runs[-1] += int(diffs[j])
        j += 1
    return runs


def _runs_to_mask(runs: Sequence[int], h: int, w: int) -> torch.Tensor:
    """``uint8 [h, w]`` from column-major run lengths (zeros first, then alternating)."""
    counts = np.asarray(runs, dtype=np.int64)
    flat = np.repeat((np.arange(len(counts)) % 2).astype(np.uint8), counts)
    return torch.from_numpy(np.ascontiguousarray(flat.reshape(w, h).T))


def _rle_string_counts(s: str) -> list[int]:
    """Run lengths of COCO's compressed RLE string.

    Each count is written in 5-bit groups, least significant first, each group a character
    ``48 + bits`` with 0x20 set while more groups follow; the last group's 0x10 bit is the sign.
    From the fourth count on, the stored value is the difference to the count two places before.
    """
    counts: list[int] = []
    p = 0
    while p < len(s):
        value, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise ValueError("the string ends inside a count")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {s[p]!r} at {p} is not a count character")
            value |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                value -= 1 << (5 * k)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def coco_segmentation_mask(segmentation: Any, size: tuple[int, int], *, source: str = "segmentation") -> torch.Tensor:
    """A COCO annotation's ``segmentation`` as a binary ``uint8 [H, W]`` mask of its ``(H, W)`` image.

    Accepted forms (notes §3.5.5; COCO's three encodings):

    * polygons — a list of ``[x1, y1, x2, y2, ...]`` lists, at least 3 points each; each polygon is
      filled by the even-odd rule at pixel centres (:func:`_polygon_runs`), the object is their union;
    * uncompressed RLE — ``{"counts": [int, ...], "size": [H, W]}``: run lengths in column-major
      order, zeros first;
    * compressed RLE — ``counts`` a string (:func:`_rle_string_counts`).

    Raises:
        DataError: naming ``source``: a polygon with fewer than 3 points or an odd number of values,
            an RLE whose ``size`` is not the image's or whose runs do not cover it, an unknown form.
    """
    h, w = (int(v) for v in size)
    if isinstance(segmentation, Mapping):
        rle_size = segmentation.get("size")
        if not isinstance(rle_size, (list, tuple)) or [int(v) for v in rle_size] != [h, w]:
            raise DataError(f"{source}: RLE 'size' must be the image's [height, width] = [{h}, {w}]; got {rle_size!r}")
        counts = segmentation.get("counts")
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if isinstance(counts, str):
            try:
                runs = _rle_string_counts(counts)
            except ValueError as e:
                raise DataError(f"{source}: compressed RLE 'counts' is not a valid COCO string ({e})") from None
        elif isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            runs = counts
        else:
            raise DataError(f"{source}: RLE 'counts' must be a list of integers or a compressed string; got "
                            f"{type(counts).__name__}")
        if any(c < 0 for c in runs) or sum(runs) != h * w:
            raise DataError(f"{source}: RLE runs must be >= 0 and add up to height*width = {h * w}; they add up to "
                            f"{sum(runs)}")
        return _runs_to_mask(runs, h, w)
    if not isinstance(segmentation, list) or not segmentation or not all(isinstance(p, list) for p in segmentation):
        raise DataError(f"{source}: 'segmentation' must be a list of polygons [[x1, y1, x2, y2, ...], ...] or an "
                        f"RLE dict with 'counts' and 'size'; got {str(segmentation)[:80]}")
    mask = torch.zeros(h, w, dtype=torch.uint8)
    for k, poly in enumerate(segmentation):
        if len(poly) < 6 or len(poly) % 2:
            raise DataError(f"{source}: polygon {k} must list at least 3 points as [x1, y1, x2, y2, x3, y3, ...] "
                            f"(an even number >= 6 of values); got {len(poly)} value(s)")
        values = [float(v) for v in poly]
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"{source}: polygon {k} has a non-finite coordinate")
        mask |= _runs_to_mask(_polygon_runs(values, h, w), h, w)
    return mask


# ------------------------------------------------------------------------------------------------ COCO
def _coco_field(doc: Mapping[str, Any], key: str, path: Path) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise DataError(f"{path}: a COCO detection file needs a list {key!r}; got {type(value).__name__}")
    return value


def _coco_masks(anns: Sequence[Mapping[str, Any]], size: tuple[int, int], source: str) -> torch.Tensor:
    """``uint8 [N, H, W]``: each annotation's ``segmentation`` decoded; a missing one or an empty mask is an error."""
    h, w = size
    out = torch.zeros(len(anns), h, w, dtype=torch.uint8)
    for i, a in enumerate(anns):
        where = f"{source}: annotation {a.get('id')}"
        if "segmentation" not in a:
            raise DataError(f"{where} has no 'segmentation'; masks=True needs polygons or an RLE for every object")
        out[i] = coco_segmentation_mask(a["segmentation"], (h, w), source=where)
        if not bool(out[i].any()):
            raise DataError(f"{where}: its segmentation {str(a['segmentation'])[:80]} covers no pixel of the "
                            f"{w}x{h} image; an instance mask needs at least one pixel")
    return out


def load_coco_detection(path: str | os.PathLike, images_dir: str | os.PathLike | None = None, *,
                        size: int | None = None, outside: str = "clip",
                        max_pixels: int | None = None, masks: bool = False) -> DetectionDataset:
    """Images and boxes (and, with ``masks=True``, instance masks) from a COCO ``instances`` JSON file.

    Args:
        path: the JSON file (``images``, ``annotations``, ``categories``).
        images_dir: the folder that ``file_name`` is relative to (default: the JSON file's folder).
        size: resize every image to ``size × size`` (``None``: keep each image's size).
        outside: what a box partly outside its image does: ``"clip"`` (with a warning) or ``"error"``.
        max_pixels: the largest image decoded (``None``: :func:`~an2dl.data.images.read_image`'s default).
        masks: also decode every annotation's ``segmentation`` (:func:`coco_segmentation_mask`) into
            ``masks`` ``uint8 [N, H, W]``, resized with the image by nearest neighbour.

    Returns:
        :class:`DetectionDataset` of ``(image [3, H, W], {boxes, labels, iscrowd, area, image_id[, masks]})``
        in the order of the file's ``images``; ``image_id`` is COCO's id; ``class_names`` are ``background``
        then the categories by increasing id (background categories left out).

    Raises:
        DataError: unreadable JSON, a bad box, an unknown category id; with ``masks``, a missing or bad
            ``segmentation`` (a polygon with fewer than 3 points, an RLE of another size than the image)
            or a mask without any pixel (each naming the file, the annotation id and the value);
            DataNotFoundError: a missing file.

    With ``size``, an object whose mask has no pixel left after the nearest-neighbour resize (a sliver
    thinner than the resize step) is dropped with a ``UserWarning`` naming it, since a target mask must
    hold at least one pixel.
    """
    from ..images import DEFAULT_MAX_PIXELS, read_image

    _check_size_arg(size, "load_coco_detection")
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"load_coco_detection: the annotation file {path} is missing")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable COCO JSON file ({e})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}: a COCO detection file holds a JSON object; got {type(doc).__name__}")
    categories = sorted(_coco_field(doc, "categories", path), key=lambda c: c["id"])
    kept = [c for c in categories if str(c.get("name", "")) not in BACKGROUND_NAMES]
    label_of = {c["id"]: k + 1 for k, c in enumerate(kept)}
    names = [str(c["name"]) for c in kept]
    if not names:
        raise DataError(f"{path}: no object category (besides the background) in 'categories'")
    per_image: dict[Any, list[Mapping[str, Any]]] = {}
    for a in _coco_field(doc, "annotations", path):
        per_image.setdefault(a.get("image_id"), []).append(a)
    base = Path(images_dir) if images_dir is not None else path.parent
    images, targets, sources = [], [], []
    for info in _coco_field(doc, "images", path):
        anns = per_image.get(info.get("id"), [])
        source = f"{path} (image id {info.get('id')}, {info.get('file_name')})"
        file = _image_file(base / str(info.get("file_name")), source)
        image = read_image(file, channels=3, max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
        h, w = image.shape[-2:]
        if (info.get("height"), info.get("width")) not in ((None, None), (h, w)):
            raise DataError(f"{source}: the file says {info.get('width')}x{info.get('height')} pixels but the image "
                            f"has {w}x{h}")
        for a in anns:
            if a.get("category_id") not in label_of:
                raise DataError(f"{source}: annotation {a.get('id')} has category_id {a.get('category_id')!r}, which "
                                f"is not an object category of the file (ids {sorted(label_of)})")
        xywh = torch.tensor([[float(v) for v in a.get("bbox", [math.nan] * 4)] for a in anns],
                            dtype=torch.float64).reshape(-1, 4)
        if bool((xywh[:, 2:] <= 0).any()):
            i = int((xywh[:, 2:] <= 0).any(dim=1).nonzero()[0, 0])
            raise DataError(f"{source}: annotation {anns[i].get('id')} has bbox [x, y, w, h] = {anns[i].get('bbox')}; "
                            "its width and height must be > 0")
        corners = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
        boxes = check_annotation_boxes(corners, (h, w), source=source, outside=outside)
        area = torch.tensor([float(a.get("area", (b[2] - b[0]) * (b[3] - b[1]))) for a, b in zip(anns, boxes.tolist())],
                            dtype=torch.float32)
        instance_masks = _coco_masks(anns, (h, w), source) if masks else None
        image, boxes, (sx, sy) = _resized(image, boxes, size)
        target = {"boxes": boxes, "labels": torch.tensor([label_of[a["category_id"]] for a in anns], dtype=torch.long),
                  "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in anns], dtype=torch.long),
                  "area": area * (sx * sy), "image_id": info.get("id", len(targets))}
        if instance_masks is not None:
            if size is not None and len(anns):
                instance_masks = F.interpolate(instance_masks[:, None].float(), size=(size, size),
                                               mode="nearest")[:, 0].to(torch.uint8)
            target["masks"] = instance_masks
            kept = instance_masks.flatten(1).bool().any(dim=1)
            if not bool(kept.all()):
                lost = [anns[i].get("id") for i in (~kept).nonzero()[:, 0].tolist()]
                warnings.warn(f"{source}: the mask of annotation(s) {lost} has no pixel left at {size}x{size}; "
                              "dropped", UserWarning, stacklevel=2)
                target = {k: (v[kept] if isinstance(v, torch.Tensor) and v.dim() else v) for k, v in target.items()}
        images.append(image)
        sources.append(str(file))
        targets.append(target)
    return DetectionDataset(_stack_if_same(images), targets, class_names=["background", *names], sources=sources)


# ------------------------------------------------------------------------------------------------ raccoon
@register_dataset("raccoon-detection")
def raccoon_detection(*, root: str | os.PathLike | None = None, size: int = 128, val_count: int = 16,
                      seed: int = 0) -> DataSplits:
    """The raccoon photos with all their boxes, resized to ``size × size`` (see the module docstring for the split).

    Args:
        root: the folder with ``annotations/`` and ``images/`` (default ``$AN2DL_DATA_DIR/raccoon``).
        size: side of the resized photos.
        val_count: training photos held out for validation (drawn with ``seed``).
        seed: seed of the validation draw.

    Returns:
        :class:`~an2dl.data.DataSplits` of :class:`DetectionDataset` (``class_names`` ``("background",
        "raccoon")``); ``info`` is a :class:`~an2dl.data.DetectionInfo` whose ``class_names`` are the object
        classes, ``["raccoon"]`` (DetectionInfo leaves the background out).
    """
    for key, v, lo in (("size", size, 16), ("val_count", val_count, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"raccoon-detection {key} must be an integer >= {lo}; got {v!r}")
    path = raccoon_root(root)
    parts = raccoon_split(path, val_count, seed, owner="raccoon-detection")
    out: dict[str, DetectionDataset | None] = {}
    for part, files in parts.items():
        xmls = [path / "annotations" / f"{Path(n).stem}.xml" for n in files]
        out[part] = load_voc_detection(xmls, path / "images", class_names=["raccoon"], size=size,
                                       outside="error") if xmls else None
    x = out["train"].images  # type: ignore[union-attr]
    info = DetectionInfo(
        name="raccoon-detection", class_names=["raccoon"], input_shape=(3, size, size),
        mean=tuple(round(float(m), 6) for m in x.mean(dim=(0, 2, 3))),
        std=tuple(round(float(s), 6) for s in x.std(dim=(0, 2, 3))),
        extra={"source": "datitran/raccoon_dataset (tests only; see its README)", "root": str(path),
               "photos": {k: len(v) for k, v in parts.items()},
               "boxes": "(x1, y1, x2, y2) in pixels of the resized photo"},
        preprocess=image_pipeline((3, size, size), size=size).to_dict())
    return DataSplits(out["train"], out["val"], out["test"], info)  # type: ignore[arg-type]
