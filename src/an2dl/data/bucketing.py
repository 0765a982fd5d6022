"""Length-bucketed batches of token sequences (notes §4.2.2, dataset preparation).

A batch of sentences is as long as its longest one; the others are filled
with ``<pad>``.  When sentences of every length share a batch, much of the
batch is padding, and a recurrent decoder still steps over it.  Grouping
sentences of similar length keeps the padding small:

1. every epoch draws a seeded permutation of the samples
   (``derive_seed(seed, "bucket", epoch)``, a pure function of seed and epoch);
2. the permutation is cut into *buckets* of ``bucket_batches × batch_size``
   samples, and each bucket is sorted by length (stable: equal lengths keep
   their random order);
3. each sorted bucket is cut into batches of ``batch_size``, and the order of
   the full batches is shuffled with the same generator; the one short batch
   of the epoch (if any) comes last.

Every sample is visited exactly once per epoch.  :class:`LengthBucketedDataset`
lays those batches out one after the other, as :class:`~an2dl.data.pk_sampling.PKDataset`
does, so the :class:`~an2dl.engine.Trainer` trains on them reading the
dataset in order (``shuffle=False``, the same ``batch_size``); with several
processes it splits each batch into one contiguous shard per process, which
stays a run of similar lengths.  Its batches are cut to their own longest
sequence (:func:`trim_padding`), so that the padding removed really is
computation saved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from .._utils.rng import generator
from ..errors import ConfigError
from .core import ArrayDataset, PreCollated
from .ordered import EpochOrderedDataset
from .text.specials import PAD

__all__ = ["LengthBucketBatchSampler", "LengthBucketedDataset", "trim_padding", "padding_fraction"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    return value


def trim_padding(tensor: torch.Tensor, *, pad: int = PAD) -> torch.Tensor:
    """Drop the trailing columns of a padded batch ``[B, T]`` that are ``pad`` in every row.

    At least one column is kept.  Other tensors (1-D lengths, floating-point features) are returned unchanged.
    """
    if tensor.dim() != 2 or tensor.is_floating_point() or tensor.shape[1] == 0:
        return tensor
    real = (tensor != pad).any(dim=0)  # (T,)
    last = int(real.nonzero().max()) + 1 if bool(real.any()) else 1
    return tensor[:, :last]


def padding_fraction(lengths: torch.Tensor, batches: Sequence[Sequence[int]]) -> float:
    """Share of ``<pad>`` positions in ``batches`` when each batch is padded to its own longest sequence.

    Args:
        lengths: real lengths ``[N]`` (or ``[N, k]`` for several padded tensors per sample, e.g. source and
            target: the positions of all of them are counted).
        batches: the sample indices of each batch.
    """
    lengths = torch.as_tensor(lengths)
    lengths = lengths[:, None] if lengths.dim() == 1 else lengths
    real = total = 0
    for b in batches:
        rows = lengths[torch.as_tensor(list(b), dtype=torch.long)]  # (B, k)
        real += int(rows.sum())
        total += int(rows.max(dim=0).values.sum()) * len(b)
    return 1.0 - real / total if total else 0.0


class LengthBucketBatchSampler(Sampler[list[int]]):
    """The length-bucketed batches of one epoch (see the module docstring).

    Args:
        lengths: the sort key of each sample ``[N]`` (e.g. its length; for pairs ``S · (T_max + 1) + T`` sorts by
            source length, then target length).
        batch_size: samples per batch.
        bucket_batches: batches per bucket (1: sorted batches of random samples; ``N / batch_size``: the whole
            epoch sorted, the least padding and the least randomness).
        seed: with the epoch, fixes every draw.
        drop_last: leave the epoch's short batch out.

    Shape:
        ``len`` is the number of batches of an epoch.
    """

    def __init__(self, lengths: torch.Tensor | Sequence[int], batch_size: int, *, bucket_batches: int = 50,
                 seed: int = 0, drop_last: bool = False) -> None:
        self.lengths = torch.as_tensor(lengths)
        if self.lengths.dim() != 1 or self.lengths.numel() == 0 or self.lengths.is_floating_point():
            raise ConfigError(f"LengthBucketBatchSampler lengths must be a non-empty integer vector [N]; got "
                              f"{self.lengths.dtype} {list(self.lengths.shape)}")
        self.batch_size = _positive_int("LengthBucketBatchSampler batch_size", batch_size)
        self.bucket_batches = _positive_int("LengthBucketBatchSampler bucket_batches", bucket_batches)
        self.seed, self.drop_last, self.epoch = seed, bool(drop_last), 0
        full, rest = divmod(len(self.lengths), batch_size)
        self.num_batches = full + int(rest > 0 and not drop_last)
        if self.num_batches == 0:
            raise ConfigError(f"LengthBucketBatchSampler: {len(self.lengths)} samples give no batch of "
                              f"batch_size={batch_size} with drop_last=True")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[torch.Tensor]:
        """The sample indices of every batch of the current epoch, in training order."""
        g = generator(self.seed, "bucket", self.epoch)
        n, bs = len(self.lengths), self.batch_size
        order = torch.randperm(n, generator=g)
        size = bs * self.bucket_batches
        pieces: list[torch.Tensor] = []
        for s in range(0, n, size):
            bucket = order[s:s + size]
            bucket = bucket[torch.sort(self.lengths[bucket], stable=True).indices]
            pieces += list(torch.split(bucket, bs))
        short = [p for p in pieces if len(p) < bs]  # at most one: only the last bucket can end short
        full = [p for p in pieces if len(p) == bs]
        full = [full[i] for i in torch.randperm(len(full), generator=g).tolist()]
        return full + ([] if self.drop_last else short)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batches():
            yield b.tolist()


class LengthBucketedDataset(EpochOrderedDataset):
    """A padded sequence set whose order, epoch by epoch, is a sequence of length-bucketed batches.

    Train on it with ``Trainer(batch_size=batch_size, shuffle=False)``: the trainer's batch ``b`` is then
    batch ``b`` of :meth:`LengthBucketBatchSampler.batches` (the trainer calls :meth:`set_epoch` before each
    epoch, and resumes mid-epoch at the same batch).  A batch fetched through ``__getitems__`` (the trainer's
    way) has its padded token tensors cut to its longest sequence (:func:`trim_padding`).

    Args:
        dataset: an :class:`~an2dl.data.core.ArrayDataset` of padded tensors, e.g. ``(src [N, S], lengths [N],
            tgt [N, T])``.
        lengths: sort key of each sample ``[N]``.
        batch_size, bucket_batches, seed, drop_last: as :class:`LengthBucketBatchSampler`.
    """

    def __init__(self, dataset: ArrayDataset, lengths: torch.Tensor, *, batch_size: int, bucket_batches: int = 50,
                 seed: int = 0, drop_last: bool = False) -> None:
        if not isinstance(dataset, ArrayDataset) or dataset.transform is not None:
            raise ConfigError(f"LengthBucketedDataset wraps an ArrayDataset without a transform; got "
                              f"{type(dataset).__name__}")
        if len(lengths) != len(dataset):
            raise ConfigError(f"LengthBucketedDataset lengths must hold one value per sample ({len(dataset)}); "
                              f"got {len(lengths)}")
        super().__init__(dataset, LengthBucketBatchSampler(lengths, batch_size, bucket_batches=bucket_batches,
                                                           seed=seed, drop_last=drop_last))

    @property
    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The wrapped dataset's tensors, in their own order."""
        return self.dataset.tensors

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    def epoch_batches(self) -> list[torch.Tensor]:
        return self.sampler.batches()

    def __getitems__(self, indices: Sequence[int]) -> PreCollated:
        idx = self._epoch_order()[torch.as_tensor(indices, dtype=torch.long)]
        return PreCollated(tuple(trim_padding(t[idx]) for t in self.dataset.tensors))
