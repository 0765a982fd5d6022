"""The four loss terms of Faster R-CNN (notes §3.5.4.4) against hand-computed values and torch's ops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from an2dl.losses.rcnn import (
    SMOOTH_L1_BETA,
    box_regression_loss,
    class_deltas,
    fast_rcnn_loss,
    objectness_loss,
)


def test_objectness_loss_is_the_two_way_cross_entropy_and_the_sigmoid_bce_of_the_logit_difference():
    # equal scores: -log(1/2) whatever the label
    assert objectness_loss(torch.zeros(1, 2), torch.tensor([1])).item() == pytest.approx(math.log(2))
    # (not object 0, object 2), label 1: -log(e^2 / (1 + e^2))
    assert objectness_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([1])).item() == pytest.approx(
        -math.log(math.exp(2) / (1 + math.exp(2))))
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 2, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (50,), generator=g)
    ours = objectness_loss(logits, labels)
    # torchvision's k-logit form: BCE with logits on z_obj - z_not
    theirs = F.binary_cross_entropy_with_logits(logits[:, 1] - logits[:, 0], labels.double())
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_box_regression_loss_is_smooth_l1_summed_and_divided_by_the_sample():
    beta = SMOOTH_L1_BETA
    deltas = torch.tensor([[0.05, 1.0, 0.0, -2.0]])
    targets = torch.zeros(1, 4)
    by_hand = 0.5 * 0.05**2 / beta + (1.0 - 0.5 * beta) + 0.0 + (2.0 - 0.5 * beta)
    assert box_regression_loss(deltas, targets, normalizer=4).item() == pytest.approx(by_hand / 4, rel=1e-6)
    assert box_regression_loss(deltas, targets, normalizer=1).item() == pytest.approx(by_hand, rel=1e-6)
    # nothing positive: zero, still differentiable
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = box_regression_loss(empty, torch.zeros(0, 4), normalizer=10)
    assert loss.item() == 0.0
    loss.backward()


def test_class_deltas_read_the_true_class_columns_of_the_4L_minus_4_layout():
    # L = 3 classes (background, 1, 2): 8 columns, class 1 -> 0..3, class 2 -> 4..7
    reg = torch.arange(16.0).reshape(2, 8)
    out = class_deltas(reg, torch.tensor([2, 1]))
    assert out.tolist() == [[4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]]


def test_fast_rcnn_loss_matches_cross_entropy_and_the_true_class_smooth_l1():
    g = torch.Generator().manual_seed(1)
    r, num_classes = 6, 4
    logits = torch.randn(r, num_classes, generator=g, dtype=torch.float64)
    reg = torch.randn(r, 4 * (num_classes - 1), generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 3, 0, 2, 3])
    targets = torch.randn(r, 4, generator=g, dtype=torch.float64)
    cls, box = fast_rcnn_loss(logits, reg, labels, targets)
    torch.testing.assert_close(cls, F.cross_entropy(logits, labels))
    expected = sum(F.smooth_l1_loss(reg[i, 4 * (c - 1):4 * c], targets[i], beta=SMOOTH_L1_BETA, reduction="sum")
                   for i, c in enumerate(labels.tolist()) if c > 0) / r
    torch.testing.assert_close(box, expected)
    # only background: the box term is 0
    _, box0 = fast_rcnn_loss(logits, reg, torch.zeros(r, dtype=torch.int64), targets)
    assert box0.item() == 0.0


def test_fast_rcnn_loss_rejects_a_4L_layout_and_mismatched_shapes():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"box_regression must be \[R, 4\(L-1\)\]"):
        fast_rcnn_loss(logits, torch.zeros(2, 12), torch.zeros(2, dtype=torch.int64), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="labels must be"):
        fast_rcnn_loss(logits, torch.zeros(2, 8), torch.zeros(3, dtype=torch.int64), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"logits must be \[S, 2\]"):
        objectness_loss(torch.zeros(3, 3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="targets must match"):
        box_regression_loss(torch.zeros(2, 4), torch.zeros(3, 4), 2)
