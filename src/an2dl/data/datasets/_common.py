"""Helpers shared by the image-classification dataset builders."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ..core import ArrayDataset, ClassificationInfo, DataSplits
from ..splits import holdout_split

__all__ = ["image_splits", "resize_images", "pad_images"]


def resize_images(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear resize of ``[N, C, H, W]`` images to ``size × size`` (``None``: unchanged)."""
    if size is None or x.shape[-1] == size and x.shape[-2] == size:
        return x
    if not isinstance(size, int) or size <= 0:
        raise ConfigError(f"size must be a positive integer; got {size!r}")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)


def pad_images(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Zero-pad ``[N, C, H, W]`` images symmetrically to ``size × size`` (LeCun's 28 → 32)."""
    if size is None or x.shape[-1] == size:
        return x
    dh, dw = size - x.shape[-2], size - x.shape[-1]
    if dh < 0 or dw < 0:
        raise ConfigError(f"pad_to={size} is smaller than the images ({x.shape[-2]}×{x.shape[-1]})")
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


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
) -> DataSplits:
    """Stratified hold-out splits of images in [0, 1] plus their :class:`DatasetInfo`.

    When ``x_test`` is ``None`` the test part is held out too (``test_fraction``).
    Mean and std are computed per channel on the training part only.
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
