"""Splitting a dataset into training, validation and test parts (notes §2.5, §2.5.1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["holdout_split", "kfold_indices", "leave_one_out_indices"]


def _fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be a number in [0, 1); got {value!r}")


def _labels_and_size(labels, name: str) -> tuple[np.ndarray | None, int]:
    if isinstance(labels, bool):
        raise ConfigError(f"{name} needs labels or a number of samples; got {labels!r}")
    if isinstance(labels, int):
        if labels < 0:
            raise ConfigError(f"{name}: the number of samples must be >= 0; got {labels}")
        return None, labels
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1:
        raise ConfigError(f"{name}: labels must be one-dimensional (one per sample); got shape {list(y.shape)}")
    return y, len(y)


def holdout_split(
    labels: Sequence[int] | np.ndarray | torch.Tensor | int,
    fractions: Sequence[float],
    *,
    seed: int = 0,
    stratify: bool = True,
    names: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Hold-out validation: split indices into parts of the given fractions.

    Args:
        labels: class label per sample (for stratification), or the number of samples.
        fractions: sizes of the held-out parts, e.g. ``(0.1, 0.2)`` for
            validation and test; the remainder is the first returned part.
        seed: the split is a function of the seed.
        stratify: keep the class proportions in every part (needs labels).
        names: the caller's names of the fractions, used in error messages
            (e.g. ``("val_fraction", "test_fraction")``; default ``fractions[i]``).

    Returns:
        ``[rest, part_1, part_2, ...]`` arrays of sorted indices.
    """
    y, n = _labels_and_size(labels, "holdout_split")
    if names is not None and len(names) != len(fractions):
        raise ConfigError(f"holdout_split needs one name per fraction; got {len(names)} names for {len(fractions)} fractions")
    labels_of = list(names) if names is not None else [f"fractions[{i}]" for i in range(len(fractions))]
    for name, f in zip(labels_of, fractions):
        _fraction(name, f)
    if sum(fractions) >= 1:
        raise ConfigError(f"{' + '.join(labels_of)} must sum to less than 1 (the rest is the first part); "
                          f"got {list(fractions)} (sum {sum(fractions):.4g})")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if (y is None or not stratify) else [np.flatnonzero(y == c) for c in np.unique(y)]
    groups = [rng.permutation(g) for g in groups]
    sizes = np.array([len(g) for g in groups])
    # per-group sizes of each part: floor of the exact share, then the remaining samples to the
    # groups with the largest remainders, so every part has round(f * n) samples in total
    counts = []
    for f in fractions:
        exact = f * sizes
        k = np.floor(exact).astype(int)
        extra = int(round(f * n)) - int(k.sum())
        order = np.argsort(-(exact - k), kind="stable")
        k[order[: max(0, extra)]] += 1
        counts.append(k)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for gi, g in enumerate(groups):
        start = 0
        for i, k in enumerate(counts):
            parts[i + 1].append(g[start : start + k[gi]])
            start += k[gi]
        parts[0].append(g[start:])
    return [np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.int64) for p in parts]


def kfold_indices(
    labels: Sequence[int] | np.ndarray | torch.Tensor | int,
    k: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    stratify: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold cross-validation: ``k`` (train, validation) index pairs (notes §2.5.1).

    "The dataset is randomly split into K equally sized subsets (folds). The
    model is then trained on K - 1 folds and validated on the remaining fold";
    every sample is validated exactly once.  The folds come from
    scikit-learn's ``StratifiedKFold`` (class proportions kept in every fold,
    when ``labels`` are given and ``stratify``) or ``KFold``; fold sizes differ
    by at most one sample.

    Args:
        labels: class label per sample, or the number of samples.
        k: number of folds, ``2 <= k <= N``.
        shuffle: assign samples to folds at random (seeded); otherwise in order.
        seed: the folds are a function of the seed.
        stratify: keep the class proportions (needs labels; every class needs
            at least ``k`` samples).

    Returns:
        ``[(train_idx, val_idx), ...]`` of sorted ``int64`` arrays, one pair per fold.

    Raises:
        ConfigError: ``k`` < 2, ``k`` larger than the number of samples, or a
            class with fewer than ``k`` samples when stratifying.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    y, n = _labels_and_size(labels, "kfold_indices")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"kfold_indices k must be an integer >= 2; got {k!r}")
    if k > n:
        raise ConfigError(f"kfold_indices k={k} is larger than the number of samples ({n}); use k <= {n}")
    random_state = seed if shuffle else None
    if y is not None and stratify:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() < k:
            raise ConfigError(
                f"kfold_indices: the smallest class has {counts.min()} samples, fewer than k={k} folds; "
                "lower k or pass stratify=False"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=shuffle, random_state=random_state)
        pairs = splitter.split(np.zeros(n), y)
    else:
        pairs = KFold(n_splits=k, shuffle=shuffle, random_state=random_state).split(np.zeros(n))
    return [(np.sort(tr).astype(np.int64), np.sort(va).astype(np.int64)) for tr, va in pairs]


def leave_one_out_indices(labels: Sequence[int] | np.ndarray | torch.Tensor | int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-one-out cross-validation: ``N`` pairs, each validating on one sample (notes §2.5.1).

    "The model is trained on all data points except one, which is then used
    for validation [...] repeated for each data point."  K-fold with ``K = N``.

    Args:
        labels: labels (only their number is used) or the number of samples, ``N >= 2``.

    Returns:
        ``[(train_idx, array([i])) for i in range(N)]``.
    """
    _, n = _labels_and_size(labels, "leave_one_out_indices")
    if n < 2:
        raise ConfigError(f"leave-one-out needs at least 2 samples; got {n}")
    everything = np.arange(n, dtype=np.int64)
    return [(np.delete(everything, i), everything[i : i + 1]) for i in range(n)]
