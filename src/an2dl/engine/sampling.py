"""Deterministic batch samplers (DESIGN §6).

The training order of epoch ``e`` is a permutation drawn from a generator
seeded with ``derive_seed(seed, "epoch", e)``: a pure function of the seed and
the epoch.  Resuming in the middle of an epoch re-creates the same permutation
and starts at the first unconsumed batch, without loading the skipped ones.

Batches are *global*: with several processes, each global batch is split into
``world_size`` contiguous chunks, one per process, so a run on 2 devices sees
the same samples per optimiser step as a run on one.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from .._utils.rng import generator

__all__ = ["EpochBatchSampler", "ShardedBatchSampler"]


class EpochBatchSampler(Sampler[list[int]]):
    """Training batches of one epoch for one process.

    Args:
        n: dataset size.
        batch_size: global batch size (all processes together).
        shuffle: draw a seeded permutation (else keep dataset order).
        drop_last: drop a final batch smaller than ``batch_size``.
        seed, epoch: the permutation is a function of both.
        rank, world_size: this process and the number of processes.
        start_batch: first batch to yield (resume mid-epoch).
        weights: optional per-sample weights ``[n]``; the epoch then draws
            ``n`` samples with replacement with probability proportional to
            the weights (e.g. inverse class frequency for class balancing).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        weights: torch.Tensor | None = None,
    ) -> None:
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.double)
            if weights.shape != (n,) or bool((weights < 0).any()) or not bool(weights.sum() > 0):
                raise ValueError(f"sample weights must be a non-negative vector of length {n} with a positive sum")
        self.weights = weights
        self.n, self.batch_size = n, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.seed, self.epoch = seed, epoch
        self.rank, self.world_size = rank, world_size
        self.start_batch = start_batch
        full, rest = divmod(n, batch_size)
        # a last batch too small to give every process a sample is dropped as well
        keep_rest = rest > 0 and not drop_last and rest >= world_size
        self.num_batches = full + int(keep_rest)

    def _order(self) -> torch.Tensor:
        if self.weights is not None:
            g = generator(self.seed, "epoch", self.epoch)
            return torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        if self.shuffle:
            return torch.randperm(self.n, generator=generator(self.seed, "epoch", self.epoch))
        return torch.arange(self.n)

    def global_size(self, b: int) -> int:
        """Samples in global batch ``b``."""
        return min(self.batch_size, self.n - b * self.batch_size)

    def loss_scale(self, b: int) -> float:
        """Factor making the average of per-process mean losses equal the global mean.

        Data-parallel training averages gradients over processes with equal
        weights; when the chunks of batch ``b`` differ in size, scaling each
        process's mean loss by ``n_rank · world / n_global`` restores the exact
        global mean.
        """
        if self.world_size == 1:
            return 1.0
        m = self.global_size(b)
        base, extra = divmod(m, self.world_size)
        local = base + int(self.rank < extra)
        return local * self.world_size / m

    def __len__(self) -> int:
        return max(0, self.num_batches - self.start_batch)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        for b in range(self.start_batch, self.num_batches):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            if self.world_size > 1:
                batch = torch.tensor_split(batch, self.world_size)[self.rank]
            yield batch.tolist()


class ShardedBatchSampler(Sampler[list[int]]):
    """Evaluation batches: dataset order, one contiguous shard per process, no padding."""

    def __init__(self, n: int, batch_size: int, *, rank: int = 0, world_size: int = 1) -> None:
        self.indices = torch.tensor_split(torch.arange(n), world_size)[rank]
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(len(self)):
            yield self.indices[b * self.batch_size : (b + 1) * self.batch_size].tolist()
