"""Registered synthetic sequence datasets (notes §4.1): generated on the fly, no files needed.

* ``noisy-sine`` — forecasting windows of a noisy sine (:func:`~an2dl.data.sequences.noisy_sine`).
* ``cued-sine`` — forecasting the output of a sine whose amplitude is set by
  cues, from windows of its inputs (:func:`~an2dl.data.sequences.cued_sine`).
* ``adding-problem`` — long-memory regression (:func:`~an2dl.data.sequences.adding_problem`).
* ``temporal-order`` — variable-length classification (:func:`~an2dl.data.sequences.temporal_order`).
* ``leaky-integrator`` — per-step regression with a fixed initial condition
  (:func:`~an2dl.data.sequences.leaky_integrator`).

Train, validation and test sets are independent draws (different seeds
derived from ``seed``).  Each dataset declares how its raw sequences become
the model's input as a :class:`~an2dl.data.preprocess.Preprocess`, makes its
inputs with it and records it in ``info.preprocess`` (exported with the
models, applied by ``an2dl predict``): the adding problem and the leaky
integrator read CSV-like series of a fixed length (a ``window`` of the whole
sequence), the temporal-order task reads its sequences as text (``tokenize``
with the symbols' vocabulary, ``<sos>``/``<eos>`` around them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..._utils.rng import derive_seed
from ...errors import ConfigError
from ..core import ArrayDataset, DataSplits, SequenceInfo
from ..preprocess import Preprocess
from ..registry import register_dataset
from ..sequences import (
    CUED_SINE_FEATURES,
    TEMPORAL_ORDER_CLASSES,
    TEMPORAL_ORDER_SYMBOLS,
    TEMPORAL_ORDER_VOCAB,
    adding_problem,
    chronological_splits,
    cued_sine,
    leaky_integrator,
    noisy_sine,
    temporal_order_texts,
)

__all__ = ["noisy_sine_dataset", "cued_sine_dataset", "adding_problem_dataset", "temporal_order_dataset", "leaky_integrator_dataset",
           "sequence_pipeline", "temporal_order_pipeline", "encode_texts"]


def sequence_pipeline(length: int, features: list[str]) -> Preprocess:
    """A file holds sequences of ``length`` steps of ``features``, back to back (usually one)."""
    return Preprocess([{"op": "window", "size": length, "stride": length}],
                      raw_input={"kind": "series", "features": features})


def temporal_order_pipeline() -> Preprocess:
    """A temporal-order sequence written as its symbols (``"acXdbY..."``), read between ``B`` = <sos> and ``E`` = <eos>."""
    return Preprocess([{"op": "tokenize", "vocab": TEMPORAL_ORDER_VOCAB.to_dict(), "add_sos": True, "add_eos": True}],
                      raw_input={"kind": "text"})


def encode_texts(pipeline: Preprocess, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [N, max_length] padded with 0, lengths [N])`` of ``texts`` through a text ``pipeline``."""
    rows = [pipeline(t) for t in texts]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    if len(rows) and int(lengths.max()) > max_length:
        raise ConfigError(f"encode_texts: a text of {int(lengths.max())} tokens does not fit max_length={max_length}")
    ids = torch.zeros(len(rows), max_length, dtype=torch.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    return ids, lengths


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


@register_dataset("cued-sine")
def cued_sine_dataset(*, length: int = 4000, period: float = 25.0, noise_std: float = 0.1, min_gap: int = 24,
                      max_gap: int = 48, window: int = 16, warmup: int = 64, val_fraction: float = 0.15,
                      test_fraction: float = 0.15, seed: int = 0) -> DataSplits:
    """One-step forecasts of :func:`~an2dl.data.sequences.cued_sine` from windows of its inputs, split by time.

    The series is cut into consecutive training, validation and test parts
    (no window straddles two).  In a part ``[lo, hi)`` the targets are the
    outputs ``y_k`` for ``k = lo + warmup, …, hi − 1``, each with the window
    of inputs ``[k − window, k)``: datasets of different windows built with the
    same ``warmup`` have the same targets, so a model reading 16 steps and
    one reading 64 are scored on the same forecasts.  The windows are cut by
    the recorded pipeline (``window`` over the columns ``cue, carrier``).

    Args:
        length, period, noise_std, min_gap, max_gap, seed: of the series (:func:`~an2dl.data.sequences.cued_sine`).
        window: input steps per sample.
        warmup: steps at the start of each part that are only read, never forecast (``>= window``).
        val_fraction, test_fraction: the shares of the series, by time.

    Returns:
        :class:`DataSplits` of ``(x [window, 2], y [1])`` float32; ``info.extra`` holds the
        parts' ``bounds``, ``warmup`` and the series' settings.

    Raises:
        ConfigError: ``warmup < window``, bad fractions, or a training part no longer than ``warmup``.
    """
    if isinstance(warmup, bool) or not isinstance(warmup, int) or isinstance(window, bool) or not isinstance(window, int) \
            or not 0 < window <= warmup:
        raise ConfigError(f"cued-sine needs integers 0 < window <= warmup; got window={window!r}, warmup={warmup!r}")
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ConfigError(f"cued-sine {name} must be in [0, 1); got {f!r}")
    inputs, y, _ = cued_sine(length, period=period, noise_std=noise_std, min_gap=min_gap, max_gap=max_gap, seed=seed)
    n_test, n_val = int(round(length * test_fraction)), int(round(length * val_fraction))
    bounds = {"train": (0, length - n_val - n_test), "val": (length - n_val - n_test, length - n_test),
              "test": (length - n_test, length)}
    pre = Preprocess([{"op": "window", "size": window}], raw_input={"kind": "series", "features": CUED_SINE_FEATURES})

    def part(lo: int, hi: int) -> ArrayDataset | None:
        if hi - lo <= warmup:
            return None
        return ArrayDataset(pre(inputs[lo + warmup - window:hi - 1]).contiguous(), y[lo + warmup:hi, None].clone())

    train, val, test = (part(*bounds[k]) for k in ("train", "val", "test"))
    if train is None:
        raise ConfigError(f"cued-sine: the training part ({bounds['train'][1]} steps) must be longer than "
                          f"warmup = {warmup}; raise length")
    info = SequenceInfo(name="cued-sine", input_shape=(window, 2), feature_size=2, preprocess=pre.to_dict(),
                        extra={"bounds": bounds, "warmup": warmup, "window": window, "period": period,
                               "noise_std": noise_std, "gaps": [min_gap, max_gap], "steps": length})
    return DataSplits(train=train, val=val, test=test, info=info)


@register_dataset("adding-problem")
def adding_problem_dataset(*, length: int = 100, n_train: int = 10000, n_val: int = 1000, n_test: int = 1000,
                           seed: int = 0) -> DataSplits:
    """The adding problem with sequences of ``length`` steps.

    Returns:
        :class:`DataSplits` of ``(x [T, 2], y [1])`` float32; the constant
        prediction 1 has mean squared error 1/6.
    """
    pre = sequence_pipeline(length, ["value", "marker"])

    def draw(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = adding_problem(n, length, seed=k)
        return pre(x)[:, 0], y  # [n, 1, T, 2]: each sequence is one window

    parts = _draws("adding-problem", seed, (n_train, n_val, n_test), draw)
    info = SequenceInfo(name="adding-problem", input_shape=(length, 2), feature_size=2,
                        extra={"length": length, "baseline_mse": 1 / 6}, preprocess=pre.to_dict())
    return DataSplits(parts[0], parts[1], parts[2], info)


@register_dataset("temporal-order")
def temporal_order_dataset(*, min_length: int = 20, max_length: int = 50, n_train: int = 4000, n_val: int = 500,
                           n_test: int = 1000, seed: int = 0) -> DataSplits:
    """Variable-length temporal-order classification.

    Returns:
        :class:`DataSplits` of ``(tokens [max_length] int64, length int64, label int64)``;
        ``info.vocab_size = 10``.
    """
    pre = temporal_order_pipeline()

    def draw(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # the sequences are drawn as symbols and read as the model reads a user's text
        texts, labels = temporal_order_texts(n, min_length=min_length, max_length=max_length, seed=k)
        return (*encode_texts(pre, texts, max_length), labels)

    parts = _draws("temporal-order", seed, (n_train, n_val, n_test), draw)
    info = SequenceInfo(name="temporal-order", class_names=list(TEMPORAL_ORDER_CLASSES),
                       input_shape=(max_length,), vocab_size=len(TEMPORAL_ORDER_SYMBOLS),
                       extra={"symbols": dict(TEMPORAL_ORDER_SYMBOLS),
                              "min_length": min_length, "max_length": max_length},
                       preprocess=pre.to_dict())
    return DataSplits(parts[0], parts[1], parts[2], info)


@register_dataset("leaky-integrator")
def leaky_integrator_dataset(*, length: int = 30, decay: float = 0.9, initial_value: float = 2.0, n_train: int = 2000,
                             n_val: int = 500, n_test: int = 500, seed: int = 0) -> DataSplits:
    """Per-step regression of a leaky integrator started from ``initial_value``.

    Returns:
        :class:`DataSplits` of ``(u [T, 1], y [T, 1])`` float32.
    """
    pre = sequence_pipeline(length, ["u"])

    def draw(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        u, y = leaky_integrator(n, length, decay=decay, initial_value=initial_value, seed=k)
        return pre(u)[:, 0], y

    parts = _draws("leaky-integrator", seed, (n_train, n_val, n_test), draw)
    info = SequenceInfo(name="leaky-integrator", input_shape=(length, 1), feature_size=1,
                       extra={"decay": decay, "initial_value": initial_value}, preprocess=pre.to_dict())
    return DataSplits(parts[0], parts[1], parts[2], info)
