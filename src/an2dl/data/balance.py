"""Class balancing by inverse class frequency (notes §3.4.1, class imbalance).

A dataset with a ``sample_weights`` attribute ``[N]`` is sampled by the
:class:`~an2dl.engine.Trainer` with replacement, sample ``i`` drawn with
probability ``w_i / Σ w`` (:class:`~an2dl.engine.sampling.EpochBatchSampler`).
With ``w_i = 1 / n_{y_i}`` (``n_k`` = number of training samples of class
``k``) every class is drawn equally often in expectation: minority samples
are repeated, and with a random augmentation each repetition is a new
variant — the notes' "generating additional samples of minority classes".
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..errors import ConfigError

__all__ = ["class_counts", "inverse_frequency_weights", "balance_classes"]


def _labels(labels: torch.Tensor) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise ValueError(f"labels must be a 1-D integer tensor of class ids; got {getattr(labels, 'dtype', type(labels).__name__)} "
                         f"{list(getattr(labels, 'shape', []))}")
    if len(labels) == 0:
        raise ValueError("labels is empty")
    if int(labels.min()) < 0:
        raise ValueError(f"class ids must be >= 0; got {int(labels.min())}")
    return labels.long()


def class_counts(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Number of samples of each class ``[K]``."""
    y = _labels(labels)
    k = num_classes if num_classes is not None else int(y.max()) + 1
    if int(y.max()) >= k:
        raise ValueError(f"labels hold class {int(y.max())} but num_classes={k}")
    return torch.bincount(y, minlength=k)


def inverse_frequency_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-sample weights ``w_i = N / (K_present · n_{y_i})`` ``[N]`` float64.

    The normalisation makes the weights average 1; only the ratios matter to the sampler.
    """
    y = _labels(labels)
    counts = torch.bincount(y).double()
    present = int((counts > 0).sum())
    return len(y) / (present * counts[y])


def balance_classes(dataset: Dataset, labels: torch.Tensor | None = None) -> Dataset:
    """Set ``dataset.sample_weights`` to inverse class frequencies, so the trainer samples classes equally.

    Args:
        dataset: the training set (e.g. an :class:`~an2dl.data.ArrayDataset` or
            :class:`~an2dl.data.transforms.AugmentedDataset`).
        labels: class id of each sample ``[N]``; default: the dataset's second
            tensor (``ArrayDataset(x, y)``).

    Returns:
        ``dataset`` itself.
    """
    if labels is None:
        inner = getattr(dataset, "dataset", dataset)
        tensors = getattr(inner, "tensors", None)
        if not tensors or len(tensors) < 2:
            raise ConfigError("balance_classes needs labels=...: the dataset does not hold (x, y) tensors")
        labels = tensors[1]
    if len(labels) != len(dataset):
        raise ValueError(f"labels has {len(labels)} entries for a dataset of {len(dataset)} samples")
    dataset.sample_weights = inverse_frequency_weights(labels)
    return dataset
