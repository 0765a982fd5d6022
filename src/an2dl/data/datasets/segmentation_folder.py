"""A folder of images and their segmentation masks (PNG), and the splits every segmentation dataset shares.

Layout::

    root/
      images/  a.png  b.jpg  ...       any format Pillow reads
      masks/   a.png  b.png  ...       one PNG per image, same file name stem

Masks are palette PNGs whose indices are the class ids (PASCAL VOC's
format) or grey PNGs whose values are the ids, or values mapped to ids by
``mask_values`` (see :mod:`an2dl.data.masks`).  Every file is checked: a
mask that is not a PNG, an image without a mask (or the reverse), an image
and mask of different sizes, and class ids outside the declared classes are
refused with the file's name, the expectation and what was found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import ConfigError, DataError, DataNotFoundError
from ..core import ArrayDataset, DataSplits, SegmentationInfo
from ..images import read_image
from ..masks import MASK_SUFFIXES, read_mask
from ..preprocess import Preprocess
from ..registry import register_dataset

__all__ = ["segmentation_folder", "segmentation_splits", "check_mask_ids", "IMAGE_SUFFIXES"]

#: suffixes read as images
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def check_mask_ids(mask: torch.Tensor, num_classes: int, *, ignore_index: int | None, source: str) -> None:
    """Refuse class ids outside ``[0, num_classes)`` (other than ``ignore_index``), naming ``source``.

    Raises:
        DataError: the ids found outside the classes.
    """
    bad = (mask < 0) | (mask >= num_classes)
    if ignore_index is not None:
        bad &= mask != ignore_index
    if bool(bad.any()):
        found = sorted(int(v) for v in mask[bad].unique()[:8])
        also = f" or the ignore index {ignore_index}" if ignore_index is not None else ""
        raise DataError(f"{source} holds class ids {found} outside the {num_classes} declared classes "
                        f"(expected ids in [0, {num_classes}){also})")


def segmentation_splits(name: str, x: torch.Tensor, masks: torch.Tensor, parts: Sequence[Sequence[int]], *,
                        class_names: list[str], ignore_index: int | None = None, extra: dict[str, Any] | None = None,
                        preprocess: Preprocess | None = None) -> DataSplits:
    """Train / validation / test :class:`ArrayDataset` s of ``(image, mask)`` and their :class:`SegmentationInfo`.

    Args:
        x: images ``[N, C, H, W]`` float32 in [0, 1].
        masks: ``[N, H, W]`` int64 class ids.
        parts: the indices of the train, validation and test images (an empty part gives ``None``).
        class_names, ignore_index: the classes and the ignore value.
        extra: provenance for the report.
        preprocess: the pipeline that made ``x`` from the raw images.

    Mean and std are computed per channel over the training images.
    """
    idx = [torch.as_tensor(list(p), dtype=torch.long) for p in parts]
    train = idx[0]
    if len(train) == 0:
        raise ConfigError(f"{name}: the training part is empty; lower the validation/test shares")
    x_train = x[train]
    info = SegmentationInfo(
        name=name,
        class_names=list(class_names),
        ignore_index=ignore_index,
        input_shape=tuple(x.shape[1:]),
        mean=tuple(round(float(v), 6) for v in x_train.mean(dim=(0, 2, 3))),
        std=tuple(round(float(v), 6) for v in x_train.std(dim=(0, 2, 3))),
        extra={**(extra or {}), "sizes": {k: len(i) for k, i in zip(("train", "val", "test"), idx)}},
        preprocess=preprocess.to_dict() if preprocess is not None else {},
    )
    sets = [ArrayDataset(x[i], masks[i]) if len(i) else None for i in idx]
    return DataSplits(train=sets[0], val=sets[1], test=sets[2], info=info)


def _random_parts(n: int, val_fraction: float, test_fraction: float, seed: int) -> list[list[int]]:
    for key, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ConfigError(f"{key} must be a number in [0, 1); got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"val_fraction + test_fraction must be below 1; got {val_fraction + test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val, n_test = round(val_fraction * n), round(test_fraction * n)
    return [sorted(order[n_val + n_test:]), sorted(order[:n_val]), sorted(order[n_val:n_val + n_test])]


def _pairs(images_dir: Path, masks_dir: Path) -> list[tuple[Path, Path]]:
    for d, what in ((images_dir, "images"), (masks_dir, "masks")):
        if not d.is_dir():
            raise DataNotFoundError(f"segmentation folder: the {what} folder {d} does not exist")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DataError(f"segmentation folder: {images_dir} holds no image ({', '.join(IMAGE_SUFFIXES)} files)")
    masks: dict[str, list[Path]] = {}
    for p in masks_dir.iterdir():
        if p.is_file() and not p.name.startswith("."):
            masks.setdefault(p.stem, []).append(p)
    pairs = []
    for img in images:
        found = masks.pop(img.stem, [])
        png = [p for p in found if p.suffix.lower() in MASK_SUFFIXES]
        if not png:
            if found:
                raise DataError(f"segmentation folder: the mask of {img.name} is {found[0].name}, not a PNG; masks must "
                                "be lossless PNGs (JPEG compression changes class ids at every edge)")
            raise DataError(f"segmentation folder: image {img.name} has no mask {img.stem}.png in {masks_dir}")
        pairs.append((img, png[0]))
    stray = [p for ps in masks.values() for p in ps if p.suffix.lower() in MASK_SUFFIXES]
    if stray:
        raise DataError(f"segmentation folder: mask {stray[0].name} has no image {stray[0].stem}.* in {images_dir}")
    return pairs


@register_dataset("segmentation-folder")
def segmentation_folder(*, root: str | os.PathLike, images: str = "images", masks: str = "masks",
                        class_names: Sequence[str] | None = None, num_classes: int | None = None,
                        mask_values: Mapping[int | str, int] | None = None, ignore_index: int | None = None,
                        channels: int | None = None, size: int | Sequence[int] | None = None,
                        val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """Images and PNG masks from ``root/images`` and ``root/masks`` (see the module docstring).

    Args:
        root: the folder.
        images, masks: the sub-folder names.
        class_names: one name per class; or ``num_classes`` (names ``"0"``, ``"1"``, …); with
            neither, the classes are ``0 … max id`` found.
        mask_values: ``{stored value: class id}`` for grey masks whose values are not the ids
            (e.g. ``{0: 1, 255: 0}``).
        ignore_index: a mask value left out of losses and metrics (e.g. 255 for VOC's borders).
        channels: 1 (grey) or 3 (RGB); default: grey if the first image is grey, else RGB.
        size: resize every image (bilinear) and mask (nearest) to ``size`` or ``(H, W)``;
            required when the images differ in size.
        val_fraction, test_fraction, seed: a seeded random split of the images.

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [C, H, W] float32 in [0, 1], mask [H, W] int64)``.

    Raises:
        DataNotFoundError: a missing folder.
        DataError: an empty folder, a missing or non-PNG mask, an image and mask of
            different sizes, ids outside the classes, images of different sizes without ``size``.
    """
    root = Path(root)
    pairs = _pairs(root / images, root / masks)
    values = {int(k): int(v) for k, v in mask_values.items()} if mask_values else None
    if channels is None:
        from PIL import Image

        with Image.open(pairs[0][0]) as im:
            channels = 1 if im.mode in ("1", "L", "LA", "I;16", "I") else 3
    xs, ms = [], []
    for img_path, mask_path in pairs:
        x = read_image(img_path, channels=channels)
        m = read_mask(mask_path, values=values)
        if tuple(m.shape) != tuple(x.shape[-2:]):
            raise DataError(f"segmentation folder: image {img_path.name} is {x.shape[-1]}x{x.shape[-2]} but its mask "
                            f"{mask_path.name} is {m.shape[-1]}x{m.shape[-2]} (width x height); they must match")
        xs.append(x)
        ms.append(m)
    if class_names is None:
        if num_classes is None:  # the classes are the ids found
            labelled = [m[m != ignore_index] if ignore_index is not None else m for m in ms]
            num_classes = max(int(m.max()) for m in labelled if m.numel()) + 1
        class_names = [str(i) for i in range(num_classes)]
    elif num_classes is not None and num_classes != len(class_names):
        raise ConfigError(f"num_classes={num_classes} but class_names names {len(class_names)} classes")
    for (_, mask_path), m in zip(pairs, ms):
        check_mask_ids(m, len(class_names), ignore_index=ignore_index, source=f"mask {mask_path.name}")
    raw_size = list(xs[0].shape[-2:])
    steps: list[dict[str, Any]] = [{"op": "to_channels", "channels": channels}]
    if size is not None:
        hw = [int(size), int(size)] if isinstance(size, int) else [int(v) for v in size]
        steps.append({"op": "resize", "size": hw, "mode": "bilinear"})
        xs = [F.interpolate(x[None], size=hw, mode="bilinear", align_corners=False)[0].clamp(0, 1) for x in xs]
        ms = [F.interpolate(m[None, None].float(), size=hw, mode="nearest")[0, 0].long() for m in ms]
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise DataError(f"segmentation folder: the images of {root / images} have different sizes "
                        f"({', '.join('x'.join(map(str, s[1:])) for s in sorted(shapes)[:3])}, ...); pass size=... "
                        "to resize them to one size")
    pipeline = Preprocess(steps, raw_input={"channels": channels, "size": raw_size})
    parts = _random_parts(len(xs), val_fraction, test_fraction, seed)
    return segmentation_splits(f"segmentation-folder:{root.name}", torch.stack(xs), torch.stack(ms), parts,
                               class_names=list(class_names), ignore_index=ignore_index,
                               extra={"source": str(root), "images": len(xs)}, preprocess=pipeline)
