"""The raccoon photos with Pascal VOC boxes, as single-object localisation crops (notes §3.5.2).

200 JPEG photos of raccoons (Dat Tran's raccoon data set, one class, 217
boxes, annotated in Pascal VOC XML; see the folder's README for its source and
the terms of its images: tests only).  The loader reads
``ROOT/annotations/*.xml`` and ``ROOT/images/*.jpg`` from ``root`` or
``$AN2DL_DATA_DIR/raccoon``; nothing is downloaded.

**One object per sample.**  Localisation (§3.5.2) predicts one box per image.
Thirteen photos hold two or more raccoons; each photo contributes its
*largest* box (by area), and the sample is a **crop around that box**: a
window whose sides are ``U(crop_min, crop_max)`` times the box's, placed
uniformly among the positions that contain the box, then resized to
``size × size``.  Where the window reaches past the photo, the photo is padded
with black (letterboxing), so the box's share of the crop is the same for a
raccoon that fills its photo as for a small one.  The crop keeps some context on every side and
cuts most other raccoons away; where another raccoon remains partly visible,
the target is still the largest one.  The window is drawn from a generator
seeded by ``(seed, photo, crop index)``, so a data set is the same on every
machine; training photos give ``train_crops`` different crops each (a
half of them mirrored left–right), validation and test photos one crop each.

**Split.**  The README's fixed split: the 160 photos of ``train_labels.csv``
train (of which ``val_count``, drawn with ``seed``, validate) and the 40 of
``test_labels.csv`` test.

Bad input: a box outside its photo, or with ``xmax <= xmin``, fails with
:class:`~an2dl.errors.DataError` naming the XML file and the box; a missing
folder fails with :class:`~an2dl.errors.DataNotFoundError` saying where it was
looked for.
"""

from __future__ import annotations

import csv
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import torch
import torch.nn.functional as F

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError, DataError, DataNotFoundError
from ..core import ArrayDataset, ClassificationInfo, DataSplits
from ..registry import register_dataset
from ._common import image_pipeline

__all__ = ["raccoon", "read_voc_boxes", "read_voc_objects", "raccoon_root", "raccoon_split"]


def raccoon_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, or ``$AN2DL_DATA_DIR/raccoon``; it must hold ``annotations/`` and ``images/``.

    Raises:
        DataNotFoundError: naming the folder looked in and how to give another.
    """
    if root is None:
        base = os.environ.get("AN2DL_DATA_DIR")
        if not base:
            raise DataNotFoundError("the raccoon data set needs root=PATH (a folder with annotations/ and images/) or "
                                    "AN2DL_DATA_DIR set to a folder that holds raccoon/; AN2DL_DATA_DIR is not set")
        path = Path(base) / "raccoon"
    else:
        path = Path(root)
    missing = [d for d in ("annotations", "images") if not (path / d).is_dir()]
    if missing:
        raise DataNotFoundError(f"raccoon data not found in {path}: it has no {' or '.join(m + '/' for m in missing)} "
                                "folder; pass root=PATH to the folder with annotations/*.xml and images/*.jpg")
    return path


def read_voc_objects(path: str | os.PathLike) -> tuple[str, tuple[int, int], torch.Tensor, list[str]]:
    """One Pascal VOC annotation as stored: the image's file name, its ``(H, W)``, the boxes and their class names.

    The boxes are not checked against the image (:func:`read_voc_boxes` and the detection loaders of
    :mod:`an2dl.data.datasets.detection_files` each apply their own rule); an annotation without
    ``<object>`` gives ``[0, 4]`` boxes and no names.

    Returns:
        ``(filename, (H, W), boxes [N, 4] float32 (x1, y1, x2, y2), names)``, VOC's pixel coordinates as stored.

    Raises:
        DataError: unreadable XML, a missing or non-numeric field (the message names the file).
    """
    path = Path(path)
    try:
        doc = ET.parse(path).getroot()
        filename = doc.findtext("filename") or ""
        width, height = int(doc.findtext("size/width") or 0), int(doc.findtext("size/height") or 0)
        objects = list(doc.iter("object"))
        rows = [[float(o.findtext(f"bndbox/{k}") or "nan") for k in ("xmin", "ymin", "xmax", "ymax")]
                for o in objects]
        names = [(o.findtext("name") or "").strip() for o in objects]
    except (ET.ParseError, ValueError) as e:
        raise DataError(f"{path}: not a readable Pascal VOC annotation ({e})") from None
    if not filename or width <= 0 or height <= 0:
        raise DataError(f"{path}: a Pascal VOC annotation needs <filename> and a positive <size>; got filename "
                        f"{filename!r}, width {width}, height {height}")
    boxes = torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)
    return filename, (height, width), boxes, names


def read_voc_boxes(path: str | os.PathLike) -> tuple[str, tuple[int, int], torch.Tensor]:
    """One Pascal VOC annotation: the image's file name, its ``(H, W)`` and its boxes.

    Returns:
        ``(filename, (H, W), boxes [N, 4] float32 (x1, y1, x2, y2))``, VOC's pixel coordinates as stored.

    Raises:
        DataError: unreadable XML, a missing field, no object, or a box outside the image or with
            ``xmax <= xmin`` / ``ymax <= ymin`` (the message names the file and the box).
    """
    path = Path(path)
    filename, (height, width), boxes, _ = read_voc_objects(path)
    if not len(boxes):
        raise DataError(f"{path}: no <object> with a <bndbox>; a localisation sample needs one")
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise DataError(f"{path}: box {i} (xmin, ymin, xmax, ymax) = ({x1:g}, {y1:g}, {x2:g}, {y2:g}) must lie "
                            f"inside the {width}x{height} image with xmin < xmax and ymin < ymax")
    return filename, (height, width), boxes


def _split_names(root: Path, csv_name: str) -> list[str]:
    path = root / csv_name
    if not path.is_file():
        raise DataNotFoundError(f"raccoon data in {root} lacks {csv_name}, which fixes the train/test split")
    with path.open(newline="") as f:
        return list(dict.fromkeys(row["filename"] for row in csv.DictReader(f)))


def raccoon_split(root: Path, val_count: int, seed: int, *, owner: str = "raccoon") -> dict[str, list[str]]:
    """The photo names of each part: the README's fixed 160/40 split, ``val_count`` training photos drawn with
    ``seed`` for validation (the same photos for every raccoon data set of one seed).

    Raises:
        ConfigError: ``val_count`` outside ``[0, 160)`` (the message names ``owner``).
    """
    train_names, test_names = _split_names(root, "train_labels.csv"), _split_names(root, "test_labels.csv")
    if not 0 <= val_count < len(train_names):
        raise ConfigError(f"{owner} val_count must be in [0, {len(train_names)}); got {val_count}")
    order = torch.randperm(len(train_names), generator=seeded_generator(seed, "raccoon", "val"))
    val_set = {train_names[i] for i in order[:val_count].tolist()}
    return {"train": [n for n in train_names if n not in val_set], "val": [n for n in train_names if n in val_set],
            "test": list(test_names)}


def _crop(image: torch.Tensor, box: torch.Tensor, size: int, g: torch.Generator, lo: float, hi: float,
          flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A random window around ``box`` (sides ``U(lo, hi)`` × the box's), resized to ``size``; the box in the crop.

    The window is placed uniformly among the positions that contain the box; where it reaches past the
    photo, the photo is padded with black (letterboxing), so that the box's share of the crop follows
    ``U(1/hi, 1/lo)`` also for a raccoon that fills its photo.
    """
    _, h, w = image.shape
    x1, y1, x2, y2 = box.tolist()
    bw, bh = x2 - x1, y2 - y1
    sx, sy = (lo + (hi - lo) * torch.rand(2, generator=g)).tolist()
    cw, ch = max(1, int(round(bw * sx))), max(1, int(round(bh * sy)))
    ax, ay = torch.rand(2, generator=g).tolist()
    # the window's left edge lies in [x2 - cw, x1], so that it contains the box
    left = int(math.floor(x2 - cw + ax * max(0.0, cw - bw)))
    top = int(math.floor(y2 - ch + ay * max(0.0, ch - bh)))
    right, bottom = max(left + cw, int(math.ceil(x2))), max(top + ch, int(math.ceil(y2)))
    pad = (max(0, -left), max(0, right - w), max(0, -top), max(0, bottom - h))  # (left, right, top, bottom)
    padded = F.pad(image, pad, value=0.0)
    patch = padded[:, top + pad[2]:bottom + pad[2], left + pad[0]:right + pad[0]]
    out = F.interpolate(patch.unsqueeze(0), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)[0].clamp(0, 1)
    scale_x, scale_y = size / (right - left), size / (bottom - top)
    new = torch.tensor([(x1 - left) * scale_x, (y1 - top) * scale_y, (x2 - left) * scale_x, (y2 - top) * scale_y])
    if flip:
        out = out.flip(-1)
        new = torch.tensor([size - new[2], new[1], size - new[0], new[3]])
    return out, new.clamp(0, size)


@register_dataset("raccoon")
def raccoon(*, root: str | os.PathLike | None = None, size: int = 96, train_crops: int = 4, val_count: int = 16,
            crop_min: float = 1.5, crop_max: float = 3.5, seed: int = 0) -> DataSplits:
    """Single-raccoon crops with their box (see the module docstring for the crops and the split).

    Args:
        root: the folder with ``annotations/`` and ``images/`` (default ``$AN2DL_DATA_DIR/raccoon``).
        size: side of the square crops.
        train_crops: crops per training photo (different windows, half of them mirrored).
        val_count: training photos held out for validation.
        crop_min, crop_max: the window's sides are ``U(crop_min, crop_max)`` times the box's.
        seed: seed of the crops and of the validation draw.

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [3, size, size] float32 in [0, 1], class 0 int64,
        box [4] float32 (x1, y1, x2, y2) pixels of the crop)``; one class, ``raccoon``.
    """
    from ..images import read_image

    for key, v, lo in (("size", size, 16), ("train_crops", train_crops, 1), ("val_count", val_count, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"raccoon {key} must be an integer >= {lo}; got {v!r}")
    if not 1.0 <= float(crop_min) <= float(crop_max):
        raise ConfigError(f"raccoon crop_min and crop_max must satisfy 1 <= crop_min <= crop_max; got "
                          f"{crop_min!r}, {crop_max!r}")
    path = raccoon_root(root)
    parts = raccoon_split(path, val_count, seed)
    out: dict[str, ArrayDataset | None] = {}
    for part, names in parts.items():
        xs, bs = [], []
        for name in names:
            stem = Path(name).stem
            xml = path / "annotations" / f"{stem}.xml"
            if not xml.is_file():
                raise DataNotFoundError(f"raccoon: {xml} is missing (listed in the split as {name})")
            filename, (h, w), boxes = read_voc_boxes(xml)
            image = read_image(path / "images" / filename, channels=3)
            if tuple(image.shape[-2:]) != (h, w):
                raise DataError(f"{xml}: the annotation says {w}x{h} pixels but {filename} has "
                                f"{image.shape[-1]}x{image.shape[-2]}")
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            box = boxes[int(areas.argmax())]
            for k in range(train_crops if part == "train" else 1):
                g = seeded_generator(seed, "raccoon", stem, k)
                x, b = _crop(image, box, size, g, float(crop_min), float(crop_max), flip=part == "train" and k % 2 == 1)
                xs.append(x)
                bs.append(b)
        out[part] = ArrayDataset(torch.stack(xs), torch.zeros(len(xs), dtype=torch.long), torch.stack(bs).float()) \
            if xs else None
    x_train = out["train"].tensors[0]  # type: ignore[union-attr]
    info = ClassificationInfo(
        name="raccoon", class_names=["raccoon"], input_shape=(3, size, size),
        mean=tuple(round(float(m), 6) for m in x_train.mean(dim=(0, 2, 3))),
        std=tuple(round(float(s), 6) for s in x_train.std(dim=(0, 2, 3))),
        extra={"source": "datitran/raccoon_dataset (tests only; see its README)", "root": str(path),
               "photos": {k: len(v) for k, v in parts.items()}, "boxes": "(x1, y1, x2, y2) in pixels of the crop"},
        preprocess=image_pipeline((3, size, size), size=size).to_dict())
    return DataSplits(out["train"], out["val"], out["test"], info)  # type: ignore[arg-type]
