"""The per-sample augmentation path: a dataset wrapper seeded by ``(seed, epoch, index)`` (notes §3.4.1).

:class:`AugmentedDataset` applies a transform to each sample as it is
fetched (on the CPU, inside ``__getitem__`` — in DataLoader workers when
there are any).  Sample ``i`` of epoch ``e`` is transformed with a generator
seeded from ``derive_seed(seed, "augment", e, i)``: the result is a pure
function of ``(seed, epoch, sample index)`` (DESIGN §6), whatever the number
of workers and wherever a resumed run restarts.  The trainer tells the
dataset the epoch through :meth:`AugmentedDataset.set_epoch` before each
epoch (the convention of ``DistributedSampler.set_epoch``).

With weighted sampling (class balancing, :func:`an2dl.data.balance.balance_classes`)
an index can be drawn twice in an epoch; both copies then get the same
augmentation.  The batched path (the transform applied to whole batches on
the device) draws per step instead and has no such repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError
from .base import Transform
from .targets import collate_samples

__all__ = ["AugmentedDataset"]


class AugmentedDataset(Dataset):
    """Wrap ``dataset`` so that every fetched sample passes through ``transform``.

    Args:
        dataset: yields ``(image [C, H, W], ...)`` tuples; the fields after the
            image are either one dict of targets or plain values named by ``keys``.
        transform: an an2dl :class:`~an2dl.data.transforms.Transform` (kept in training mode).
        seed: seed of the augmentation draws.
        keys: target names of the fields after the image, e.g. ``("label",)``
            (classification, the default) or ``("mask",)`` (segmentation).

    Shape:
        samples keep the wrapped dataset's layout; ``collate_fn`` stacks images
        and keeps per-instance targets (boxes, keypoints) as lists.
    """

    def __init__(self, dataset: Dataset, transform: Transform, *, seed: int = 0, keys: Sequence[str] = ("label",)) -> None:
        if not isinstance(transform, Transform):
            raise ConfigError(f"AugmentedDataset transform must be an an2dl Transform; got {type(transform).__name__}")
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"AugmentedDataset seed must be a non-negative integer; got {seed!r}")
        self.dataset, self.transform, self.seed, self.keys = dataset, transform, seed, tuple(keys)
        transform.train()  # random transforms act only in training mode
        self.epoch = 0
        self._weights: torch.Tensor | None = None

    def set_epoch(self, epoch: int) -> None:
        """Use the draws of ``epoch`` from now on (the trainer calls this before each epoch)."""
        self.epoch = int(epoch)

    @property
    def sample_weights(self) -> torch.Tensor | None:
        """Sampling weights of the wrapped dataset (or set on this wrapper)."""
        return self._weights if self._weights is not None else getattr(self.dataset, "sample_weights", None)

    @sample_weights.setter
    def sample_weights(self, value: torch.Tensor | None) -> None:
        self._weights = value

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        sample = self.dataset[index]
        if not isinstance(sample, (tuple, list)) or not sample:
            raise TypeError(f"AugmentedDataset expects samples (image, ...); got {type(sample).__name__}")
        image, rest = sample[0], tuple(sample[1:])
        g = seeded_generator(self.seed, "augment", self.epoch, int(index))
        if len(rest) == 1 and isinstance(rest[0], dict):
            out_image, target = self.transform(image, rest[0], generator=g)
            return out_image, target
        if not rest:
            return (self.transform(image, generator=g),)
        if len(rest) != len(self.keys):
            raise ConfigError(
                f"AugmentedDataset keys {self.keys} name {len(self.keys)} target field(s) but samples have {len(rest)}"
            )
        out_image, target = self.transform(image, dict(zip(self.keys, rest)), generator=g)
        return (out_image, *(target[k] for k in self.keys))

    @staticmethod
    def collate_fn(items: Sequence[Any]) -> Any:
        """Batch samples (see :func:`~an2dl.data.transforms.targets.collate_samples`)."""
        return collate_samples(items)
