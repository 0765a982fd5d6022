"""Contrastive and triplet losses (notes §3.5.6): hand-computed values and pytorch-metric-learning's losses."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.reducers import DoNothingReducer

from an2dl.errors import ConfigError
from an2dl.losses import ContrastiveLoss, TripletLoss, contrastive_loss, triplet_loss
from an2dl.losses.mining import all_pairs, batch_all_triplets


def test_contrastive_loss_by_hand():
    # pair 1: genuine at distance 5 (3-4-5) -> ½·25; pair 2: impostor at distance 1 < m=3 -> ½·(3−1)²;
    # pair 3: impostor at distance 5 ≥ m -> 0
    x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    x2 = torch.tensor([[3.0, 4.0], [1.0, 0.0], [3.0, 4.0]])
    same = torch.tensor([1, 0, 0])
    per = contrastive_loss(x1, x2, same, margin=3.0, reduction="none")
    assert per.tolist() == [12.5, 2.0, 0.0]
    assert contrastive_loss(x1, x2, same, margin=3.0).item() == pytest.approx(14.5 / 3)
    assert contrastive_loss(x1, x2, same, margin=3.0, reduction="sum").item() == 14.5
    assert contrastive_loss(x1, x2, same, margin=3.0, reduction="mean_nonzero").item() == pytest.approx(14.5 / 2)


def test_triplet_loss_by_hand_squared_as_the_notes_and_plain():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    n = torch.tensor([[0.0, 1.5], [3.0, 0.0]])
    # squared: max(0, 1 + 1 − 2.25) = 0 ; max(0, 1 + 4 − 9) = 0  -> with m = 2: 0.75 and 0
    assert triplet_loss(a, p, n, margin=2.0, reduction="none").tolist() == [0.75, 0.0]
    # plain distances, m = 1: max(0, 1 + 1 − 1.5) = 0.5 ; max(0, 1 + 2 − 3) = 0
    assert triplet_loss(a, p, n, margin=1.0, squared=False, reduction="none").tolist() == [0.5, 0.0]
    assert triplet_loss(a, p, n, margin=2.0).item() == pytest.approx(0.375)


def _batch(seed=0, b=12, d=5, classes=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    y = torch.arange(b) % classes
    return x, y


@pytest.mark.parametrize("squared", [True, False])
def test_triplet_loss_equals_pytorch_metric_learning(squared):
    """Same triplets, same distances: PML's TripletMarginLoss per triplet equals ours (the notes' form with squared
    distances is PML's LpDistance(power=2))."""
    x, y = _batch()
    t = batch_all_triplets(y)
    ref = pml_losses.TripletMarginLoss(margin=0.7, distance=LpDistance(normalize_embeddings=False, power=2 if squared else 1),
                                       reducer=DoNothingReducer())
    out = ref(x, y, indices_tuple=tuple(t))["loss"]["losses"]
    ours = triplet_loss(x[t.anchor], x[t.positive], x[t.negative], margin=0.7, squared=squared, reduction="none")
    torch.testing.assert_close(ours, out.to(ours.dtype), rtol=1e-10, atol=1e-10)


def test_contrastive_loss_is_half_the_square_of_pytorch_metric_learnings_hinge():
    """PML's ContrastiveLoss(pos_margin=0, neg_margin=m) scores a pair by d (genuine) or max(0, m − d) (impostor);
    Hadsell's loss is half the square of the same hinge, pair by pair."""
    x, y = _batch(1)
    i, j, same = all_pairs(y)
    g = same.bool()
    indices = (i[g], j[g], i[~g], j[~g])
    ref = pml_losses.ContrastiveLoss(pos_margin=0.0, neg_margin=2.5, distance=LpDistance(normalize_embeddings=False),
                                     reducer=DoNothingReducer())(x, y, indices_tuple=indices)
    pos, neg = ref["pos_loss"]["losses"], ref["neg_loss"]["losses"]
    ours = contrastive_loss(x[i], x[j], same, margin=2.5, reduction="none")
    torch.testing.assert_close(ours[g], 0.5 * pos.square(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours[~g], 0.5 * neg.square(), rtol=1e-10, atol=1e-10)


def test_batch_losses_use_every_pair_or_the_mined_triplets():
    x, y = _batch(2)
    i, j, same = all_pairs(y)
    assert ContrastiveLoss(margin=1.5)(x, y).item() == pytest.approx(contrastive_loss(x[i], x[j], same, margin=1.5).item())
    t = batch_all_triplets(y)
    want = triplet_loss(x[t.anchor], x[t.positive], x[t.negative], margin=0.5, reduction="mean_nonzero")
    assert TripletLoss(margin=0.5, mining="batch_all", reduction="mean_nonzero")(x, y).item() == pytest.approx(want.item())
    # a batch with one class has no negative: zero loss, still differentiable
    xs = x.clone().requires_grad_(True)
    loss = TripletLoss()(xs, torch.zeros(12, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and xs.grad is not None


def test_bad_arguments_are_named():
    x = torch.zeros(3, 2)
    with pytest.raises(ConfigError, match="margin must be a positive number; got -1"):
        contrastive_loss(x, x, torch.ones(3), margin=-1)
    with pytest.raises(ConfigError, match=r"x1, x2 must be embeddings of the same shape \[B, D\]; got x1=\[3, 2\], x2=\[2, 2\]"):
        contrastive_loss(x, x[:2], torch.ones(3))
    with pytest.raises(ConfigError, match=r"same must hold one 0/1 label per pair, shape \[3\]"):
        contrastive_loss(x, x, torch.ones(2))
    with pytest.raises(ConfigError, match="reduction must be one of"):
        triplet_loss(x, x, x, reduction="avg")
    with pytest.raises(ConfigError, match="mining must be one of random, batch_all, batch_hard, semi_hard; got 'hard'"):
        TripletLoss(mining="hard")
    with pytest.raises(ConfigError, match=r"labels must be a tensor \[3\]"):
        TripletLoss()(x, torch.zeros(2, dtype=torch.long))
