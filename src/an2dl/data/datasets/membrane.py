"""ISBI 2012 EM membrane segmentation, the U-Net paper's first dataset (Ronneberger et al. 2015, §3).

30 serial-section transmission electron microscopy images (512×512, grey)
of the Drosophila first instar larva ventral nerve cord, each with a binary
label: cell interior or membrane (the thin borders between cells), as
prepared in ``zhixuhao/unet`` (``data/membrane/train/{image,label}/<i>.png``).
The 30 unlabelled test sections of the challenge are not used.

Classes: 0 = ``cell`` (label value 255), 1 = ``membrane`` (label value 0),
so that the foreground class (what the challenge segments) has id 1; about
22 % of the pixels are membrane.

Split: the sections are consecutive slices of one volume, so neighbouring
sections look alike; the split keeps them apart by position rather than at
random.  Sections ``0 … 29 − test − val`` train, the next ``val`` validate
and the last ``test`` are held out for testing: by default 21 / 3 / 6
(24 / 6 between training and testing, the validation part taken from the
24).

The files are not downloaded: put the folder (``train/image``, ``train/label``)
in ``$AN2DL_DATA_DIR/membrane`` or pass ``root=``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ...errors import ConfigError, DataError, DataNotFoundError
from ..core import DataSplits
from ..download import cache_dir, data_dir
from ..images import read_image
from ..masks import read_mask
from ..preprocess import Preprocess
from ..registry import register_dataset
from .segmentation_folder import segmentation_splits

__all__ = ["membrane", "MEMBRANE_CLASSES", "MEMBRANE_SECTIONS"]

#: the class names, in id order
MEMBRANE_CLASSES = ["cell", "membrane"]
#: labelled sections in the data set
MEMBRANE_SECTIONS = 30


def _root(root: str | os.PathLike | None) -> Path:
    places = [Path(root)] if root is not None else [p / "membrane" for p in (data_dir(), cache_dir() / "datasets")
                                                      if p is not None]
    for p in places:
        if (p / "train" / "image").is_dir() and (p / "train" / "label").is_dir():
            return p
    raise DataNotFoundError(
        f"membrane: no train/image and train/label folders in {', '.join(str(p) for p in places)}; copy the ISBI "
        "2012 membrane data (zhixuhao/unet data/membrane) into $AN2DL_DATA_DIR/membrane or pass root=PATH "
        "(--set data.root=PATH)")


@register_dataset("membrane")
def membrane(*, root: str | os.PathLike | None = None, val_count: int = 3, test_count: int = 6,
             limit: int | None = None) -> DataSplits:
    """The 30 labelled ISBI 2012 membrane sections, split by position (see the module docstring).

    Args:
        root: the ``membrane`` folder (default: ``$AN2DL_DATA_DIR/membrane``, then the cache).
        val_count: sections after the training ones used for validation (0: none).
        test_count: the last sections, held out for testing.
        limit: use only the first ``limit`` sections of each part (quick runs).

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, 512, 512] float32 in [0, 1], mask [512, 512] int64)``
        with classes ``cell`` (0) and ``membrane`` (1).
    """
    folder = _root(root)
    for key, v in (("val_count", val_count), ("test_count", test_count)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"membrane {key} must be a non-negative integer; got {v!r}")
    n_train = MEMBRANE_SECTIONS - val_count - test_count
    if n_train < 1:
        raise ConfigError(f"membrane: val_count + test_count must leave training sections out of "
                          f"{MEMBRANE_SECTIONS}; got {val_count} + {test_count}")
    parts = [list(range(n_train)), list(range(n_train, n_train + val_count)),
             list(range(n_train + val_count, MEMBRANE_SECTIONS))]
    if limit is not None:
        parts = [p[:limit] for p in parts]
    wanted = sorted(i for p in parts for i in p)
    xs, ms = [], []
    for i in wanted:
        image_path, label_path = folder / "train" / "image" / f"{i}.png", folder / "train" / "label" / f"{i}.png"
        if not image_path.is_file() or not label_path.is_file():
            raise DataNotFoundError(f"membrane: section {i} is missing ({image_path} and {label_path})")
        x = read_image(image_path, channels=1)
        m = read_mask(label_path, values={0: 1, 255: 0})
        if tuple(m.shape) != tuple(x.shape[-2:]):
            raise DataError(f"membrane: {image_path} and {label_path} differ in size")
        xs.append(x)
        ms.append(m)
    position = {i: j for j, i in enumerate(wanted)}
    parts = [[position[i] for i in p] for p in parts]
    size = list(xs[0].shape[-2:])
    pipeline = Preprocess([{"op": "to_channels", "channels": 1}], raw_input={"channels": 1, "size": size})
    return segmentation_splits(
        "membrane", torch.stack(xs), torch.stack(ms), parts, class_names=list(MEMBRANE_CLASSES),
        extra={"source": "ISBI 2012 EM segmentation challenge, training volume (Cardona et al. 2010), as prepared "
                         "in zhixuhao/unet", "licence": "non-commercial use; cite TrakEM2 and Cardona et al. 2010",
               "split": f"sections 0-{n_train - 1} train, {n_train}-{n_train + val_count - 1} validation, "
                        f"{n_train + val_count}-{MEMBRANE_SECTIONS - 1} test"},
        preprocess=pipeline)
