"""Splitting a dataset into training, validation and test parts (notes §2.5, §2.5.1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["holdout_split"]


def _fraction(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be a number in [0, 1); got {value!r}")


def holdout_split(
    labels: Sequence[int] | np.ndarray | torch.Tensor | int,
    fractions: Sequence[float],
    *,
    seed: int = 0,
    stratify: bool = True,
) -> list[np.ndarray]:
    """Hold-out validation: split indices into parts of the given fractions.

    Args:
        labels: class label per sample (for stratification), or the number of samples.
        fractions: sizes of the held-out parts, e.g. ``(0.1, 0.2)`` for
            validation and test; the remainder is the first returned part.
        seed: the split is a function of the seed.
        stratify: keep the class proportions in every part (needs labels).

    Returns:
        ``[rest, part_1, part_2, ...]`` arrays of sorted indices.
    """
    if isinstance(labels, int):
        n, y = labels, None
    else:
        y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        n = len(y)
    for i, f in enumerate(fractions):
        _fraction(f"fractions[{i}]", f)
    if sum(fractions) >= 1:
        raise ConfigError(f"the held-out fractions must sum to less than 1; got {list(fractions)} (sum {sum(fractions)})")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if (y is None or not stratify) else [np.flatnonzero(y == c) for c in np.unique(y)]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for g in groups:
        g = rng.permutation(g)
        start = 0
        for i, f in enumerate(fractions):
            k = int(round(f * len(g)))
            parts[i + 1].append(g[start : start + k])
            start += k
        parts[0].append(g[start:])
    return [np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.int64) for p in parts]
