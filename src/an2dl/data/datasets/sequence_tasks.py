"""Registered synthetic sequence datasets (notes §4.1): generated on the fly, no files needed.

* ``noisy-sine`` — forecasting windows of a noisy sine (:func:`~an2dl.data.sequences.noisy_sine`).
* ``adding-problem`` — long-memory regression (:func:`~an2dl.data.sequences.adding_problem`).
* ``temporal-order`` — variable-length classification (:func:`~an2dl.data.sequences.temporal_order`).
* ``leaky-integrator`` — per-step regression with a fixed initial condition
  (:func:`~an2dl.data.sequences.leaky_integrator`).

Train, validation and test sets are independent draws (different seeds
derived from ``seed``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..._utils.rng import derive_seed
from ..core import ArrayDataset, DataSplits, SequenceInfo
from ..registry import register_dataset
from ..sequences import (
    TEMPORAL_ORDER_CLASSES,
    TEMPORAL_ORDER_SYMBOLS,
    adding_problem,
    chronological_splits,
    leaky_integrator,
    noisy_sine,
    temporal_order,
)

__all__ = ["noisy_sine_dataset", "adding_problem_dataset", "temporal_order_dataset", "leaky_integrator_dataset"]


def _draws(name: str, seed: int, sizes: tuple[int, int, int],
           draw: Callable[[int, int], tuple[torch.Tensor, ...]]) -> list[ArrayDataset | None]:
    """Train, validation and test sets as independent draws ``draw(n, split_seed)`` (``None`` where ``n`` is 0)."""
    seeds = (derive_seed(seed, name, split) % (2**31) for split in ("train", "val", "test"))
    return [ArrayDataset(*draw(n, k)) if n else None for n, k in zip(sizes, seeds)]


@register_dataset("noisy-sine")
def noisy_sine_dataset(*, length: int = 3000, period: float = 25.0, noise_std: float = 0.2, window: int = 16,
                       horizon: int = 1, val_fraction: float = 0.15, test_fraction: float = 0.15,
                       seed: int = 0) -> DataSplits:
    """Windows of one noisy sine series, split by time (see :func:`~an2dl.data.sequences.chronological_splits`).

    Returns:
        :class:`DataSplits` of ``(x [window, 1], y [horizon])`` float32.
    """
    series = noisy_sine(length, period=period, noise_std=noise_std, seed=seed)
    splits = chronological_splits(series, window=window, horizon=horizon, val_fraction=val_fraction,
                                  test_fraction=test_fraction, name="noisy-sine")
    splits.info.extra.update({"period": period, "noise_std": noise_std})
    return splits


@register_dataset("adding-problem")
def adding_problem_dataset(*, length: int = 100, n_train: int = 10000, n_val: int = 1000, n_test: int = 1000,
                           seed: int = 0) -> DataSplits:
    """The adding problem with sequences of ``length`` steps.

    Returns:
        :class:`DataSplits` of ``(x [T, 2], y [1])`` float32; the constant
        prediction 1 has mean squared error 1/6.
    """
    parts = _draws("adding-problem", seed, (n_train, n_val, n_test), lambda n, k: adding_problem(n, length, seed=k))
    info = SequenceInfo(name="adding-problem", input_shape=(length, 2), feature_size=2, extra={"length": length, "baseline_mse": 1 / 6})
    return DataSplits(parts[0], parts[1], parts[2], info)


@register_dataset("temporal-order")
def temporal_order_dataset(*, min_length: int = 20, max_length: int = 50, n_train: int = 4000, n_val: int = 500,
                           n_test: int = 1000, seed: int = 0) -> DataSplits:
    """Variable-length temporal-order classification.

    Returns:
        :class:`DataSplits` of ``(tokens [max_length] int64, length int64, label int64)``;
        ``info.vocab_size = 10``.
    """
    parts = _draws("temporal-order", seed, (n_train, n_val, n_test),
                   lambda n, k: temporal_order(n, min_length=min_length, max_length=max_length, seed=k))
    info = SequenceInfo(name="temporal-order", class_names=list(TEMPORAL_ORDER_CLASSES),
                       input_shape=(max_length,), vocab_size=len(TEMPORAL_ORDER_SYMBOLS),
                       extra={"symbols": dict(TEMPORAL_ORDER_SYMBOLS),
                              "min_length": min_length, "max_length": max_length})
    return DataSplits(parts[0], parts[1], parts[2], info)


@register_dataset("leaky-integrator")
def leaky_integrator_dataset(*, length: int = 30, decay: float = 0.9, initial_value: float = 2.0, n_train: int = 2000,
                             n_val: int = 500, n_test: int = 500, seed: int = 0) -> DataSplits:
    """Per-step regression of a leaky integrator started from ``initial_value``.

    Returns:
        :class:`DataSplits` of ``(u [T, 1], y [T, 1])`` float32.
    """
    parts = _draws("leaky-integrator", seed, (n_train, n_val, n_test),
                   lambda n, k: leaky_integrator(n, length, decay=decay, initial_value=initial_value, seed=k))
    info = SequenceInfo(name="leaky-integrator", input_shape=(length, 1), feature_size=1,
                       extra={"decay": decay, "initial_value": initial_value})
    return DataSplits(parts[0], parts[1], parts[2], info)
