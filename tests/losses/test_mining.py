"""Triplet mining (notes §3.5.6): constructed embeddings whose chosen triplets are known, and PML's miners."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import miners
from pytorch_metric_learning.distances import LpDistance

from an2dl.errors import ConfigError
from an2dl.losses.mining import (
    all_pairs,
    batch_all_triplets,
    batch_hard_triplets,
    mine_triplets,
    pairwise_distances,
    random_triplets,
    semi_hard_triplets,
)

# points on a line: class 0 at 0, 1, 5; class 1 at 2, 10
X = torch.tensor([[0.0], [1.0], [5.0], [2.0], [10.0]])
Y = torch.tensor([0, 0, 0, 1, 1])


def _set(t):
    return set(zip(t.anchor.tolist(), t.positive.tolist(), t.negative.tolist()))


def test_pairwise_distances_are_exact():
    d = pairwise_distances(X)
    assert d[0, 4].item() == 10.0 and d[2, 3].item() == 3.0
    assert pairwise_distances(X, squared=True)[0, 4].item() == 100.0
    near = torch.tensor([[1e4, 1e4], [1e4, 1e4 + 1e-3]])
    assert pairwise_distances(near)[0, 1] == (near[1] - near[0]).norm()  # the matmul expansion gives 4 here


def test_all_pairs_mark_genuine_pairs():
    i, j, same = all_pairs(Y)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
    assert same.tolist() == [1, 1, 0, 0, 1, 0, 0, 0, 0, 1]


def test_batch_all_is_every_valid_triplet():
    t = batch_all_triplets(Y)
    # class 0: 3 anchors × 2 positives × 2 negatives = 12; class 1: 2 × 1 × 3 = 6
    assert len(t.anchor) == 18
    assert (3, 4, 0) in _set(t) and all(Y[a] == Y[p] and Y[a] != Y[n] and a != p for a, p, n in _set(t))


def test_batch_hard_picks_the_farthest_positive_and_closest_negative():
    t = batch_hard_triplets(X, Y)
    assert _set(t) == {(0, 2, 3), (1, 2, 3), (2, 0, 3), (3, 4, 1), (4, 3, 2)}


def test_semi_hard_keeps_negatives_beyond_the_positive_inside_the_margin():
    # margin 2.5: anchor 0 with positive 1 (d=1): negative 3 at d=2 (1 < 2 < 3.5) -> kept; 4 at d=10 -> not
    # anchor 1 with positive 0 (d=1): negative 3 at d=1 -> not beyond the positive
    # anchor 2 with positive 1 (d=4): negative 3 at d=3 -> closer than the positive -> not; 4 at d=5 < 6.5 -> kept
    # anchor 2 with positive 0 (d=5): 4 at d=5 -> not strictly beyond
    # anchor 3 with positive 4 (d=8): negatives 0, 1, 2 at 2, 1, 3 -> none beyond
    # anchor 4 with positive 3 (d=8): negatives at 10, 9, 5 -> 10 and 9 (< 10.5)
    assert _set(semi_hard_triplets(X, Y, margin=2.5)) == {(0, 1, 3), (2, 1, 4), (4, 3, 0), (4, 3, 1)}


def test_random_triplets_are_valid_and_follow_the_generator():
    a = random_triplets(Y, generator=torch.Generator().manual_seed(3))
    b = random_triplets(Y, generator=torch.Generator().manual_seed(3))
    assert _set(a) == _set(b) and a.anchor.tolist() == [0, 1, 2, 3, 4]
    assert all(Y[i] == Y[p] and Y[i] != Y[n] and i != p for i, p, n in _set(a))
    # a singleton class yields no anchor
    assert random_triplets(torch.tensor([0, 1, 1])).anchor.tolist() == [1, 2]


@pytest.mark.parametrize("seed", [0, 1])
def test_miners_agree_with_pytorch_metric_learning(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=g, dtype=torch.float64)
    y = torch.arange(16) % 4
    dist = LpDistance(normalize_embeddings=False)
    ref = miners.TripletMarginMiner(margin=0.8, type_of_triplets="semihard", distance=dist)(x, y)
    assert _set(semi_hard_triplets(x, y, margin=0.8)) == set(zip(*(t.tolist() for t in ref)))
    ref_all = miners.TripletMarginMiner(margin=1e9, type_of_triplets="all", distance=dist)(x, y)
    assert _set(batch_all_triplets(y)) == set(zip(*(t.tolist() for t in ref_all)))
    a, p, n = miners.BatchHardMiner(distance=dist)(x, y)
    assert _set(batch_hard_triplets(x, y)) == set(zip(a.tolist(), p.tolist(), n.tolist()))


def test_bad_input_is_named():
    with pytest.raises(ConfigError, match=r"labels must be a 1-D integer tensor \[B\]"):
        batch_all_triplets(torch.zeros(3))
    with pytest.raises(ConfigError, match="must have the same B; got 5 and 4"):
        batch_hard_triplets(X, Y[:4])
    with pytest.raises(ConfigError, match="margin must be a positive number; got 0"):
        semi_hard_triplets(X, Y, margin=0)
    with pytest.raises(ConfigError, match="mining must be one of"):
        mine_triplets("hardest", X, Y)
