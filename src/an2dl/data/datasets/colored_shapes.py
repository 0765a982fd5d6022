"""Registered synthetic image dataset ``colored-shapes`` (notes §3.7 colourisation): generated, no files needed.

Train, validation and test sets are independent draws of
:func:`~an2dl.data.colored_shapes.colored_shapes` (different seeds derived from ``seed``).
"""

from __future__ import annotations

from ..._utils.rng import derive_seed
from ..colored_shapes import SHAPE_COLORS, SHAPE_KINDS, colored_shapes, rgb_to_grey
from ..core import ArrayDataset, DatasetInfo, DataSplits
from ..registry import register_dataset

__all__ = ["colored_shapes_dataset"]


@register_dataset("colored-shapes")
def colored_shapes_dataset(*, n_train: int = 4000, n_val: int = 500, n_test: int = 1000, size: int = 32,
                           max_shapes: int = 2, seed: int = 0) -> DataSplits:
    """Grey images of coloured shapes paired with their colours (grey -> colour).

    Returns:
        :class:`DataSplits` of ``(grey [1, size, size], rgb [3, size, size])`` float32 in [0, 1];
        ``info.extra`` names the shape kinds and their base colours.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 1:
        raise ValueError(f"colored-shapes n_train must be a positive integer; got {n_train!r}")
    parts = []
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if not n:
            parts.append(None)
            continue
        rgb, _ = colored_shapes(n, size=size, max_shapes=max_shapes,
                                seed=derive_seed(seed, "colored-shapes", split) % 2**31)
        parts.append(ArrayDataset(rgb_to_grey(rgb), rgb))
    grey = parts[0].tensors[0]
    info = DatasetInfo(name="colored-shapes", input_shape=(1, size, size), mean=(float(grey.mean()),),
                       std=(float(grey.std()),),
                       extra={"target_shape": [3, size, size], "kinds": list(SHAPE_KINDS),
                              "colors": [[round(c, 3) for c in rgb] for rgb in SHAPE_COLORS.tolist()],
                              "sizes": {"train": n_train, "val": n_val, "test": n_test}})
    return DataSplits(parts[0], parts[1], parts[2], info)
