"""Helpers shared by the image-classification dataset builders."""

from __future__ import annotations

import numpy as np
import torch

from ...errors import ConfigError
from ..core import ArrayDataset, ClassificationInfo, DataSplits
from ..preprocess import Preprocess
from ..splits import holdout_split

__all__ = ["image_splits", "image_pipeline"]


def image_pipeline(raw_shape: tuple[int, int, int], *, size: int | None = None,
                   pad_to: int | None = None) -> Preprocess:
    """The evaluation pipeline of a dataset whose raw images are ``raw_shape = (C, H, W)``.

    Channels are converted to ``C``; ``size`` resizes bilinearly to
    ``size × size`` (``align_corners=False``, clamped to [0, 1]), then
    ``pad_to`` zero-pads, centred, to ``pad_to × pad_to`` (LeCun's 28 → 32);
    a step that would not change the size is left out.

    Raises:
        ConfigError: ``size`` not a positive integer, or ``pad_to`` smaller than the images.
    """
    c, h, w = (int(v) for v in raw_shape)
    steps: list[dict] = [{"op": "to_channels", "channels": c}]
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ConfigError(f"size must be a positive integer; got {size!r}")
        if (h, w) != (size, size):
            steps.append({"op": "resize", "size": [size, size], "mode": "bilinear"})
            h = w = size
    if pad_to is not None and w != pad_to:
        if isinstance(pad_to, bool) or not isinstance(pad_to, int) or pad_to < h or pad_to < w:
            raise ConfigError(f"pad_to={pad_to} is smaller than the images ({h}×{w})")
        steps.append({"op": "pad", "size": [pad_to, pad_to], "fill": 0.0})
    return Preprocess(steps, raw_input={"channels": c, "size": [int(raw_shape[1]), int(raw_shape[2])]})


def image_splits(
    name: str,
    x_trainval: torch.Tensor,
    y_trainval: torch.Tensor,
    x_test: torch.Tensor | None,
    y_test: torch.Tensor | None,
    *,
    val_fraction: float,
    test_fraction: float = 0.0,
    seed: int,
    class_names: list[str],
    extra: dict | None = None,
    preprocess: Preprocess | None = None,
) -> DataSplits:
    """Stratified hold-out splits of images in [0, 1] plus their :class:`DatasetInfo`.

    When ``x_test`` is ``None`` the test part is held out too (``test_fraction``).
    Mean and std are computed per channel on the training part only.
    ``preprocess`` is the pipeline that made the images from the raw ones,
    recorded in the info (:attr:`DatasetInfo.preprocess`).
    """
    fractions = [val_fraction] + ([test_fraction] if x_test is None else [])
    names = ["val_fraction"] + (["test_fraction"] if x_test is None else [])
    parts = holdout_split(y_trainval, fractions, seed=seed, names=names)
    train_idx, val_idx = torch.as_tensor(parts[0]), torch.as_tensor(parts[1])
    if x_test is None:
        test_idx = torch.as_tensor(parts[2])
        x_test, y_test = x_trainval[test_idx], y_trainval[test_idx]
    x_train = x_trainval[train_idx]
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3))
    info = ClassificationInfo(
        name=name,
        class_names=class_names,
        input_shape=tuple(x_train.shape[1:]),
        mean=tuple(round(float(m), 6) for m in mean),
        std=tuple(round(float(s), 6) for s in std),
        extra=extra or {},
        preprocess=preprocess.to_dict() if preprocess is not None else {},
    )
    val = ArrayDataset(x_trainval[val_idx], y_trainval[val_idx]) if len(val_idx) else None
    return DataSplits(
        train=ArrayDataset(x_train, y_trainval[train_idx]),
        val=val,
        test=ArrayDataset(x_test, y_test) if x_test is not None and len(x_test) else None,
        info=info,
    )


def as_images(array: np.ndarray, scale: float) -> torch.Tensor:
    """``uint8``/float ``[N, H, W]`` array -> float32 ``[N, 1, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).float().div_(scale).unsqueeze(1)
