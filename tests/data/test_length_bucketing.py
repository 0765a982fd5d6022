"""Length-bucketed batches (notes §4.2.2): every sample once per epoch, similar lengths per batch, reproducible,
laid out so the trainer's in-order, sharded batches are the buckets' batches."""

from __future__ import annotations

import pytest
import torch

from an2dl.data.bucketing import (
    LengthBucketBatchSampler,
    LengthBucketedDataset,
    padding_fraction,
    trim_padding,
)
from an2dl.data.core import ArrayDataset
from an2dl.data.datasets.translation import bucket_pairs, pair_lengths
from an2dl.engine.sampling import EpochBatchSampler
from an2dl.errors import ConfigError


def _lengths(n: int = 203, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, 30, (n,), generator=torch.Generator().manual_seed(seed))


def test_every_sample_once_per_epoch_sorted_within_buckets_and_reproducible():
    lengths = _lengths()
    s = LengthBucketBatchSampler(lengths, 8, bucket_batches=5, seed=3)
    batches = s.batches()
    assert len(batches) == len(s) == 26  # 203 = 25 * 8 + 3: the short batch is kept, last
    assert sorted(torch.cat(batches).tolist()) == list(range(203))
    assert [len(b) for b in batches[:-1]] == [8] * 25 and len(batches[-1]) == 3
    assert [list(map(int, b)) for b in s] == [b.tolist() for b in batches]
    # each batch is a run of one sorted bucket: its spread is far below that of random batches
    def spread(bs):
        return sum(int(lengths[b].max() - lengths[b].min()) for b in bs) / len(bs)

    assert spread(batches) < 0.4 * spread(torch.split(torch.randperm(203), 8))
    assert padding_fraction(lengths, batches) < 0.5 * padding_fraction(lengths, torch.split(torch.randperm(203), 8))
    # a pure function of seed and epoch; another epoch or seed draws another order
    again = LengthBucketBatchSampler(lengths, 8, bucket_batches=5, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(again.batches(), batches))
    again.set_epoch(1)
    assert any(not torch.equal(a, b) for a, b in zip(again.batches(), batches))
    assert any(not torch.equal(a, b)
               for a, b in zip(LengthBucketBatchSampler(lengths, 8, bucket_batches=5, seed=4).batches(), batches))
    dropped = LengthBucketBatchSampler(lengths, 8, bucket_batches=5, seed=3, drop_last=True)
    assert len(dropped.batches()) == len(dropped) == 25


def test_padding_fraction_and_trim_by_hand():
    # batches {0, 1}: lengths 2, 4 -> 8 positions, 6 real; {2}: 3 -> 3 of 3: padding 2 / 11
    assert padding_fraction(torch.tensor([2, 4, 3]), [[0, 1], [2]]) == pytest.approx(2 / 11)
    # source and target counted together: [[1, 2], [3, 1]] -> 2 * (3 + 2) = 10 positions, 7 real
    assert padding_fraction(torch.tensor([[1, 2], [3, 1]]), [[0, 1]]) == pytest.approx(3 / 10)
    x = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    assert torch.equal(trim_padding(x), x[:, :2])
    assert torch.equal(trim_padding(torch.zeros(2, 3, dtype=torch.long)), torch.zeros(2, 1, dtype=torch.long))
    lengths = torch.tensor([2, 1])
    assert trim_padding(lengths) is lengths


def test_the_trainers_in_order_sharded_batches_are_the_bucket_batches():
    n, bs = 50, 6
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 9, (n,), generator=g)
    tgt_lengths = torch.randint(1, 7, (n,), generator=g)
    src = torch.randint(4, 20, (n, 9), generator=g) * (torch.arange(9) < lengths[:, None])
    tgt = torch.randint(4, 20, (n, 7), generator=g) * (torch.arange(7) < tgt_lengths[:, None])
    pairs = ArrayDataset(src, lengths, tgt)
    ds = bucket_pairs(pairs, batch_size=bs, bucket_batches=3, seed=2)
    assert torch.equal(pair_lengths(pairs), torch.stack([lengths, tgt_lengths], dim=1))
    ds.set_epoch(4)
    expected = ds.sampler.batches()
    for world in (1, 2):
        shards = [list(EpochBatchSampler(len(ds), bs, shuffle=False, seed=0, epoch=4, rank=r, world_size=world))
                  for r in range(world)]
        for b, batch in enumerate(expected):
            got = [ds.__getitems__(shards[r][b]).value for r in range(world)]
            rows = torch.cat([g[0][:, :1] for g in got])  # the first token identifies nothing; use the lengths
            assert sorted(torch.cat([g[1] for g in got]).tolist()) == sorted(lengths[batch].tolist())
            assert rows.shape[0] == len(batch)
            for src_b, len_b, tgt_b in got:  # each shard is cut to its own longest sequence
                assert src_b.shape[1] == int(len_b.max())
                assert tgt_b.shape[1] == int((tgt_b != 0).sum(1).max())
    whole = ds.__getitems__(list(range(bs))).value
    assert torch.equal(whole[1], lengths[expected[0]])
    assert torch.equal(whole[0], src[expected[0]][:, : int(lengths[expected[0]].max())])


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="batch_size must be a positive integer; got 0"):
        LengthBucketBatchSampler(torch.tensor([1, 2]), 0)
    with pytest.raises(ConfigError, match="bucket_batches must be a positive integer"):
        LengthBucketBatchSampler(torch.tensor([1, 2]), 1, bucket_batches=0)
    with pytest.raises(ConfigError, match="lengths must be a non-empty integer vector"):
        LengthBucketBatchSampler(torch.tensor([1.5]), 1)
    with pytest.raises(ConfigError, match="one value per sample"):
        LengthBucketedDataset(ArrayDataset(torch.zeros(3, 2, dtype=torch.long)), torch.tensor([1, 2]), batch_size=2)
