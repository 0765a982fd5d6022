"""Class-balanced P×K batches for metric learning (notes §3.5.6, triplet selection).

Batch-hard and semi-hard mining (:mod:`an2dl.losses.mining`) need every
batch to hold several images of each of several classes: a batch of
``P`` classes × ``K`` images per class (Hermans, Beyer & Leibe 2017).
:func:`pk_batch` draws one such batch; :class:`PKBatchSampler` yields the
batches of an epoch; :class:`PKDataset` lays them out in a dataset so the
:class:`~an2dl.engine.Trainer` (which reads the training set in order with
``shuffle=False`` and ``batch_size=P*K``) trains on them.

Exact resume: batch ``b`` of epoch ``e`` is drawn from a generator seeded
with ``derive_seed(seed, "pk", e, b)``, a pure function of ``(seed, epoch,
step)``.  The trainer tells the dataset the epoch (``set_epoch``, the
``DistributedSampler`` convention) and skips the batches already consumed,
so a run resumed mid-epoch sees the same batches as an uninterrupted one.

Within a batch the ``P`` classes are distinct and the ``K`` images of a
class are distinct (drawn without replacement); across batches of one
epoch images may repeat.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

from .._utils.rng import generator
from ..errors import ConfigError
from .ordered import EpochOrderedDataset

__all__ = ["PKBatchSampler", "PKDataset", "pk_batch", "check_pk"]


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    return value


def check_pk(labels: torch.Tensor, p: int, k: int) -> list[torch.Tensor]:
    """Validate a P×K request against ``labels`` and return the indices of each class (classes in ascending id).

    Raises:
        ConfigError: ``p``/``k`` not positive integers, labels not a 1-D integer
            tensor, more classes asked than exist, or ``k`` larger than the smallest class.
    """
    p, k = _positive_int("p (classes per batch)", p), _positive_int("k (images per class)", k)
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point() or len(labels) == 0:
        raise ConfigError(f"labels must be a non-empty 1-D integer tensor of class ids; got "
                          f"{getattr(labels, 'dtype', type(labels).__name__)} {list(getattr(labels, 'shape', []))}")
    classes, counts = torch.unique(labels, return_counts=True)
    if p > len(classes):
        raise ConfigError(f"p (classes per batch) must be at most the number of classes, {len(classes)}; got p={p}")
    smallest = int(counts.min())
    if k > smallest:
        worst = int(classes[counts.argmin()])
        raise ConfigError(f"k (images per class) must be at most the size of the smallest class "
                          f"(class {worst} has {smallest} images); got k={k}")
    return [torch.nonzero(labels == c, as_tuple=True)[0] for c in classes.tolist()]


def pk_batch(by_class: list[torch.Tensor], p: int, k: int, g: torch.Generator) -> torch.Tensor:
    """One batch ``[P*K]`` of dataset indices: ``P`` distinct classes, ``K`` distinct images each, class by class."""
    chosen = torch.randperm(len(by_class), generator=g)[:p]
    parts = []
    for c in chosen.tolist():
        members = by_class[c]
        parts.append(members[torch.randperm(len(members), generator=g)[:k]])
    return torch.cat(parts)


class PKBatchSampler(Sampler[list[int]]):
    """The P×K batches of one epoch, for a ``DataLoader(batch_sampler=...)``.

    Args:
        labels: class id of every sample ``[N]``.
        p: classes per batch.
        k: images per class.
        num_batches: batches per epoch (default ``N // (P*K)``, at least 1: about one pass over the data).
        seed, epoch: batch ``b`` is a function of ``(seed, epoch, b)``.
        start_batch: first batch to yield (resume mid-epoch).
    """

    def __init__(self, labels: torch.Tensor, *, p: int, k: int, num_batches: int | None = None, seed: int = 0,
                 epoch: int = 0, start_batch: int = 0) -> None:
        self.by_class = check_pk(labels, p, k)
        self.p, self.k, self.seed, self.epoch, self.start_batch = p, k, seed, epoch, start_batch
        self.num_batches = (_positive_int("num_batches", num_batches) if num_batches is not None
                            else max(1, len(labels) // (p * k)))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batch(self, b: int) -> torch.Tensor:
        """Indices ``[P*K]`` of batch ``b`` of the current epoch."""
        return pk_batch(self.by_class, self.p, self.k, generator(self.seed, "pk", self.epoch, b))

    def __len__(self) -> int:
        return max(0, self.num_batches - self.start_batch)

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.start_batch, self.num_batches):
            yield self.batch(b).tolist()


class PKDataset(EpochOrderedDataset):
    """A training set whose order, epoch by epoch, is a sequence of P×K batches.

    Train on it with ``Trainer(batch_size=P*K, shuffle=False)``: the
    trainer's batch ``b`` is then exactly :meth:`PKBatchSampler.batch` ``(b)``
    (:meth:`set_epoch` is called by the trainer before each epoch).

    Args:
        dataset: the wrapped dataset; item ``i`` is returned unchanged.
        labels: class id of each item ``[N]``.
        p, k, num_batches, seed: as :class:`PKBatchSampler`.

    Shape:
        ``len`` is ``num_batches * P * K``.
    """

    def __init__(self, dataset: Dataset, labels: torch.Tensor, *, p: int, k: int, num_batches: int | None = None,
                 seed: int = 0) -> None:
        if len(labels) != len(dataset):  # type: ignore[arg-type]
            raise ConfigError(f"labels must hold one class id per sample ({len(dataset)}); got {len(labels)}")  # type: ignore[arg-type]
        super().__init__(dataset, PKBatchSampler(labels, p=p, k=k, num_batches=num_batches, seed=seed))
        self.collate_fn = getattr(dataset, "collate_fn", None)

    @property
    def batch_size(self) -> int:
        """``P * K``: the trainer's batch size for this dataset."""
        return self.sampler.p * self.sampler.k

    def epoch_batches(self) -> list[torch.Tensor]:
        return [self.sampler.batch(b) for b in range(self.sampler.num_batches)]

    def __len__(self) -> int:
        return self.sampler.num_batches * self.batch_size
