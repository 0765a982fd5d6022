"""Model validation and multiple restarts as engine features (notes §2.3.1, §2.5, §2.5.1).

* :func:`holdout_validate` — train on one part, validate on a held-out part.
* :func:`cross_validate` — K-fold cross-validation: train on K - 1 folds,
  validate on the remaining one, K times.
* :func:`leave_one_out` — K-fold with K = N.
* :func:`restarts` — "initialise the weights randomly several times, train
  the model independently for each initialisation, select the solution with
  the lowest training error" (§2.3.1).

Each function trains fresh tasks with the :class:`~an2dl.engine.Trainer` and
returns a :class:`ValidationResult`: the metrics of every fold or restart,
their mean ± standard deviation, and the selected model.

``make_task()`` is called once per fold or restart, after the global random
generators were seeded from ``(seed, method, index)``, so that every run
starts from its own reproducible initial weights.  ``trainer`` is either a
dict of :class:`~an2dl.engine.Trainer` arguments (defaults: no progress bar, no
checkpoints, the given ``seed``; a ``run_dir`` gets one sub-directory per run)
or a function returning a new trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .._utils.rng import derive_seed, seed_everything
from ..data.core import ArrayDataset, DataSplits, subset
from ..data.splits import holdout_split, kfold_indices, leave_one_out_indices
from ..errors import ConfigError
from .task import Task
from .trainer import Trainer

__all__ = ["ValidationResult", "holdout_validate", "cross_validate", "leave_one_out", "restarts"]

TrainerArg = Mapping[str, Any] | Callable[[], Trainer] | None


@dataclass
class ValidationResult:
    """Per-run metrics, their mean ± std and the selected model.

    Attributes:
        method: ``"holdout"``, ``"k-fold"``, ``"leave-one-out"`` or ``"restarts"``.
        runs: one dict of metrics per fold or restart (``train/loss``,
            ``val/accuracy``, ...), in order.
        monitor: the metric that selects the model; ``mode``: ``"min"`` or ``"max"``.
        selected: index of the selected run, or ``None`` when the selected
            model was refitted on all the data.
        task: the selected task (its ``model`` is the selected model).
        sizes: ``(train, validation)`` sample counts of every run.
    """

    method: str
    runs: list[dict[str, float]]
    monitor: str
    mode: str
    selected: int | None
    task: Task
    sizes: list[tuple[int, int]] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        """``metric`` of every run (``nan`` where a run lacks it)."""
        return [float(r.get(metric, math.nan)) for r in self.runs]

    @property
    def mean(self) -> dict[str, float]:
        """Mean of every metric over the runs."""
        return {k: float(np.mean(self.values(k))) for k in self._keys()}

    @property
    def std(self) -> dict[str, float]:
        """Standard deviation of every metric over the runs (population form, ``ddof=0``)."""
        return {k: float(np.std(self.values(k))) for k in self._keys()}

    def _keys(self) -> list[str]:
        keys = set(self.runs[0]) if self.runs else set()
        for r in self.runs[1:]:
            keys &= set(r)
        return sorted(keys)

    def summary(self, metric: str | None = None) -> str:
        """One line, e.g. ``val/accuracy = 0.9712 ± 0.0081 over 5 folds``."""
        metric = metric or self.monitor
        mean = self.mean
        if metric not in mean:
            raise ConfigError(f"no metric {metric!r} in the runs; available: {self._keys()}")
        unit = {"k-fold": "folds", "leave-one-out": "samples", "restarts": "restarts"}.get(self.method, "runs")
        return f"{metric} = {mean[metric]:.4f} ± {self.std[metric]:.4f} over {len(self.runs)} {unit}"

    def table(self, metrics: Sequence[str] | None = None) -> str:
        """A plain-text table: one row per run, then the mean and the standard deviation."""
        metrics = list(metrics or self._keys())
        label = "restart" if self.method == "restarts" else "fold"
        head = f"{label:>8}  " + "  ".join(f"{m:>14}" for m in metrics)
        rows = [head]
        for i, r in enumerate(self.runs):
            mark = "*" if i == self.selected else " "
            rows.append(f"{i:>7}{mark}  " + "  ".join(f"{r.get(m, math.nan):>14.6g}" for m in metrics))
        mean, std = self.mean, self.std  # each property recomputes every metric
        rows.append(f"{'mean':>8}  " + "  ".join(f"{mean[m]:>14.6g}" for m in metrics))
        rows.append(f"{'std':>8}  " + "  ".join(f"{std[m]:>14.6g}" for m in metrics))
        return "\n".join(rows)


# ---------------------------------------------------------------- helpers
def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'min' or 'max'; got {mode!r}")


def _dataset(data: Dataset | DataSplits, *, join_val: bool) -> Dataset:
    """The samples to split: a dataset, or the training (and validation) part of DataSplits."""
    if isinstance(data, DataSplits):
        if join_val and data.val is not None:
            if isinstance(data.train, ArrayDataset) and isinstance(data.val, ArrayDataset):
                if len(data.train.tensors) != len(data.val.tensors):
                    raise ConfigError("the training and validation sets hold different numbers of tensors")
                return ArrayDataset(*(torch.cat([a, b]) for a, b in zip(data.train.tensors, data.val.tensors)))
            return torch.utils.data.ConcatDataset([data.train, data.val])
        return data.train
    if not isinstance(data, Dataset) and not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise ConfigError(f"data must be a Dataset or DataSplits; got {type(data).__name__}")
    return data


def _labels(dataset: Dataset, labels: Any) -> np.ndarray | None:
    if labels is not None:
        y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        if y.ndim != 1 or len(y) != len(dataset):
            raise ConfigError(f"labels must hold one label per sample ({len(dataset)}); got shape {list(y.shape)}")
        return y
    if isinstance(dataset, ArrayDataset) and len(dataset.tensors) >= 2:
        t = dataset.tensors[1]
        if t.dim() == 1 and not t.is_floating_point():
            return t.numpy()
    return None


def _take(dataset: Dataset, idx: np.ndarray) -> Dataset:
    if isinstance(dataset, ArrayDataset):
        return subset(dataset, torch.as_tensor(idx))
    return Subset(dataset, idx.tolist())


def _trainer_factory(trainer: TrainerArg, seed: int) -> Callable[[str], Trainer]:
    if trainer is None or isinstance(trainer, Mapping):
        kwargs = {"progress": False, "checkpoint": False, "seed": seed, **dict(trainer or {})}
        root = kwargs.pop("run_dir", None)

        def make(name: str) -> Trainer:
            return Trainer(**kwargs, run_dir=Path(root) / name if root is not None else None)

        return make
    if callable(trainer):

        def call(name: str) -> Trainer:
            t = trainer()
            if not isinstance(t, Trainer):
                raise ConfigError(f"the trainer factory must return an an2dl Trainer; got {type(t).__name__}")
            return t

        return call
    raise ConfigError(f"trainer must be a dict of Trainer arguments or a function returning a Trainer; got {type(trainer).__name__}")


def _new_task(make_task: Callable[[], Task], seed: int, method: str, index: int) -> Task:
    seed_everything(derive_seed(seed, method, index))
    task = make_task()
    if not isinstance(task, Task):
        raise ConfigError(f"make_task must return an an2dl Task; got {type(task).__name__}")
    return task


class _Selector:
    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.index: int | None = None
        self.task: Task | None = None

    def offer(self, index: int, metrics: dict[str, float], task: Task) -> None:
        if self.monitor not in metrics:
            raise ConfigError(f"the runs do not produce the monitored metric {self.monitor!r}; available: {sorted(metrics)}")
        v = metrics[self.monitor]
        if not math.isfinite(v):
            return
        if self.best is None or (v < self.best if self.mode == "min" else v > self.best):
            self.best, self.index, self.task = v, index, task


def _run_splits(
    method: str,
    make_task: Callable[[], Task],
    dataset: Dataset,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    trainer: TrainerArg,
    monitor: str,
    mode: str,
    seed: int,
    evaluate_train: bool,
    fit_with_val: bool,
) -> ValidationResult:
    make_trainer = _trainer_factory(trainer, seed)
    select = _Selector(monitor, mode)
    runs, sizes = [], []
    for i, (tr_idx, va_idx) in enumerate(splits):
        train, val = _take(dataset, tr_idx), _take(dataset, va_idx)
        task = _new_task(make_task, seed, method, i)
        tr = make_trainer(f"{method}-{i}")
        tr.fit(task, train, val if fit_with_val else None)
        metrics: dict[str, float] = {}
        if evaluate_train:
            metrics.update(tr.evaluate(task, train, split="train"))
        metrics.update(tr.evaluate(task, val, split="val"))
        runs.append(metrics)
        sizes.append((len(train), len(val)))
        select.offer(i, metrics, task)
    return _finish(method, runs, select, sizes)


def _finish(method: str, runs: list[dict[str, float]], select: _Selector, sizes: list[tuple[int, int]]) -> ValidationResult:
    if select.task is None:
        raise ConfigError(f"every run gave a non-finite {select.monitor!r}; nothing to select")
    return ValidationResult(method, runs, select.monitor, select.mode, select.index, select.task, sizes)


# ---------------------------------------------------------------- public
def holdout_validate(
    make_task: Callable[[], Task],
    data: Dataset | DataSplits,
    *,
    val_fraction: float = 0.2,
    trainer: TrainerArg = None,
    monitor: str = "val/loss",
    mode: str = "min",
    seed: int = 0,
    stratify: bool = True,
    labels: Any = None,
) -> ValidationResult:
    """Hold-out validation (notes §2.5.1): one training part, one validation part.

    The validation part is also passed to ``fit``, so that early stopping
    and checkpoint selection can watch it.

    Args:
        make_task: returns a new, untrained task.
        data: a dataset to split, or :class:`DataSplits` whose ``train`` and
            ``val`` are used as they are (``val_fraction`` is then ignored).
        val_fraction: size of the held-out part, in (0, 1).
        trainer: Trainer arguments or a factory (see the module docstring).
        monitor, mode: reported as the selection metric.
        seed: seed of the split and of the initial weights.
        stratify, labels: keep class proportions (labels default to the
            second tensor of an :class:`ArrayDataset` when it holds class indices).

    Returns:
        :class:`ValidationResult` with one run.
    """
    _check_mode(mode)
    if isinstance(data, DataSplits) and data.val is not None:
        ds = _dataset(data, join_val=True)
        n_tr = len(data.train)
        split = [(np.arange(n_tr), np.arange(n_tr, len(ds)))]
    else:
        ds = _dataset(data, join_val=False)
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ConfigError(f"val_fraction must be a number in (0, 1); got {val_fraction!r}")
        y = _labels(ds, labels)
        parts = holdout_split(y if (y is not None and stratify) else len(ds), [val_fraction], seed=seed, stratify=stratify)
        if len(parts[1]) == 0 or len(parts[0]) == 0:
            raise ConfigError(f"val_fraction={val_fraction} of {len(ds)} samples leaves an empty part")
        split = [(parts[0], parts[1])]
    return _run_splits("holdout", make_task, ds, split, trainer=trainer, monitor=monitor, mode=mode,
                       seed=seed, evaluate_train=True, fit_with_val=True)


def cross_validate(
    make_task: Callable[[], Task],
    data: Dataset | DataSplits,
    *,
    folds: int = 5,
    trainer: TrainerArg = None,
    monitor: str = "val/loss",
    mode: str = "min",
    seed: int = 0,
    shuffle: bool = True,
    stratify: bool = True,
    labels: Any = None,
    refit: bool = False,
    evaluate_train: bool = True,
) -> ValidationResult:
    """K-fold cross-validation (notes §2.5.1).

    Each fold trains a fresh task on the other ``K - 1`` folds (without
    looking at the held-out fold) and then evaluates it on the held-out fold
    (``val/...`` metrics) and, with ``evaluate_train``, on its training part
    (``train/...``).  The estimate of the generalisation error is the mean over
    the folds.

    Args:
        make_task: returns a new, untrained task.
        data: a dataset, or :class:`DataSplits` whose ``train`` and ``val``
            are joined (cross-validation replaces the hold-out validation set;
            ``test`` is left untouched).
        folds: K, ``2 <= K <= N``.
        trainer: Trainer arguments or a factory.
        monitor, mode: the metric that selects the model among the folds.
        seed: seed of the folds and of the initial weights.
        shuffle, stratify, labels: see :func:`~an2dl.data.splits.kfold_indices`.
        refit: train one more task on all the samples and return it as the
            selected model (``selected = None``), as scikit-learn's ``refit``.
        evaluate_train: also record each fold's training metrics.

    Returns:
        :class:`ValidationResult` with one run per fold.

    Raises:
        ConfigError: ``folds`` larger than the number of samples, or < 2.
    """
    _check_mode(mode)
    ds = _dataset(data, join_val=True)
    y = _labels(ds, labels)
    splits = kfold_indices(y if (y is not None and stratify) else len(ds), folds, shuffle=shuffle, seed=seed, stratify=stratify)
    result = _run_splits("k-fold", make_task, ds, splits, trainer=trainer, monitor=monitor, mode=mode,
                         seed=seed, evaluate_train=evaluate_train, fit_with_val=False)
    if refit:
        task = _new_task(make_task, seed, "refit", 0)
        _trainer_factory(trainer, seed)("refit").fit(task, ds)
        result.task, result.selected = task, None
    return result


def leave_one_out(
    make_task: Callable[[], Task],
    data: Dataset | DataSplits,
    *,
    trainer: TrainerArg = None,
    monitor: str = "val/loss",
    mode: str = "min",
    seed: int = 0,
    evaluate_train: bool = False,
) -> ValidationResult:
    """Leave-one-out cross-validation (notes §2.5.1): N runs, each validated on one sample.

    Its mean ``val/...`` metric is the leave-one-out estimate (for accuracy:
    the fraction of samples predicted correctly by the model that did not
    see them).  Costs N trainings; meant for small data sets.

    Args: as :func:`cross_validate` (the folds are fixed: sample ``i`` is run ``i``'s validation set).

    Returns:
        :class:`ValidationResult` with one run per sample.
    """
    _check_mode(mode)
    ds = _dataset(data, join_val=True)
    splits = leave_one_out_indices(len(ds))
    return _run_splits("leave-one-out", make_task, ds, splits, trainer=trainer, monitor=monitor, mode=mode,
                       seed=seed, evaluate_train=evaluate_train, fit_with_val=False)


def restarts(
    make_task: Callable[[], Task],
    data: Dataset | DataSplits,
    n: int,
    *,
    trainer: TrainerArg = None,
    monitor: str = "train/loss",
    mode: str = "min",
    seed: int = 0,
) -> ValidationResult:
    """Multiple restarts (notes §2.3.1): train ``n`` randomly initialised models, keep the best.

    Every restart trains on the same data in the same order; only the
    initial weights differ.  After training each model is evaluated on the
    whole training set (``train/...``, the final training error, not the
    running mean of the last epoch) and, when ``data`` has one, on the
    validation set (``val/...``).  The notes select by the lowest training
    error (``monitor="train/loss"``).

    Args:
        make_task: returns a new, untrained task (its initial weights are drawn
            from the freshly seeded global generator).
        data: the training set, or :class:`DataSplits` (train and val).
        n: number of restarts, >= 1.
        trainer: Trainer arguments or a factory.
        monitor, mode: the selection metric.
        seed: seed of the initialisations.

    Returns:
        :class:`ValidationResult` with one run per restart; ``task`` is the best.
    """
    _check_mode(mode)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"restarts n must be a positive integer; got {n!r}")
    train = _dataset(data, join_val=False)
    val = data.val if isinstance(data, DataSplits) else None
    make_trainer = _trainer_factory(trainer, seed)
    select = _Selector(monitor, mode)
    runs, sizes = [], []
    for i in range(n):
        task = _new_task(make_task, seed, "restart", i)
        tr = make_trainer(f"restart-{i}")
        tr.fit(task, train, val)
        metrics = tr.evaluate(task, train, split="train")
        if val is not None:
            metrics.update(tr.evaluate(task, val, split="val"))
        runs.append(metrics)
        sizes.append((len(train), len(val) if val is not None else 0))
        select.offer(i, metrics, task)
    return _finish("restarts", runs, select, sizes)
