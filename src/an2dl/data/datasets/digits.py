"""scikit-learn's bundled 8×8 handwritten digits: the embedded default dataset."""

from __future__ import annotations

import torch

from ..registry import register_dataset
from ._common import as_images, image_pipeline, image_splits

__all__ = ["digits"]


@register_dataset("digits")
def digits(*, val_fraction: float = 0.1, test_fraction: float = 0.2, size: int | None = None, seed: int = 0):
    """The UCI optical-recognition digits shipped inside scikit-learn (no download).

    1,797 grey-level 8×8 images of the digits 0–9 (Alpaydin & Kaynak, 1998),
    pixel values 0–16 scaled to [0, 1].  The three parts are stratified
    hold-out splits (notes §2.5).

    Args:
        val_fraction, test_fraction: sizes of the validation and test parts.
        size: resize the images to ``size × size`` with bilinear interpolation
            (e.g. 32 for LeNet-5); ``None`` keeps 8×8.  The resize is a step of
            the dataset's :class:`~an2dl.data.preprocess.Preprocess`
            (``info.preprocess``), which exported models record.
        seed: seed of the split.

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, H, W] float32 in [0, 1], label int64)``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    raw = as_images(bunch.images, 16.0)
    pipeline = image_pipeline(tuple(raw.shape[1:]), size=size)
    x = pipeline(raw)
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    return image_splits(
        "digits",
        x,
        y,
        None,
        None,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        class_names=[str(i) for i in range(10)],
        extra={"source": "sklearn.datasets.load_digits (UCI ML optical recognition of handwritten digits)"},
        preprocess=pipeline,
    )
