"""Training sets that lay themselves out batch by batch for each epoch (P×K batches, length buckets).

The trainer reads such a set in order (``Trainer(shuffle=False)``, ``batch_size`` = the set's
``batch_size``) and calls :meth:`EpochOrderedDataset.set_epoch` before each epoch, so its batch ``b`` is the
sampler's batch ``b`` of that epoch, under DDP sharding and on resume mid-epoch alike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["EpochOrderedDataset"]


class EpochOrderedDataset(Dataset):
    """Base class: item ``i`` of an epoch is item ``order[i]`` of ``dataset``, where ``order`` concatenates the
    index batches that :meth:`epoch_batches` draws from ``sampler`` for the current epoch (drawn once per epoch).

    Subclasses set ``self.dataset`` and ``self.sampler`` (which has ``epoch`` and ``set_epoch``) through
    ``__init__`` and define :meth:`epoch_batches`.
    """

    def __init__(self, dataset: Any, sampler: Any) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self._order: torch.Tensor | None = None

    def epoch_batches(self) -> list[torch.Tensor]:
        """The index batches of the current epoch, in training order."""
        raise TypeError(f"{type(self).__name__} must define epoch_batches()")

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.sampler.epoch:
            self._order = None
        self.sampler.set_epoch(epoch)

    def _epoch_order(self) -> torch.Tensor:
        if self._order is None:
            self._order = torch.cat(self.epoch_batches())
        return self._order

    def __len__(self) -> int:
        return len(self._epoch_order())

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self._epoch_order()[i])]
