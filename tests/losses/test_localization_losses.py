"""The multi-task loss L = α S + (1 − α) R and the normalised (x, y, h, w) box of notes §3.5.2."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.losses import decode_boxes, encode_boxes, multitask_loss


def _inputs():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 1, 0])
    boxes, target = torch.rand(5, 4, generator=g, dtype=torch.float64), torch.rand(5, 4, generator=g, dtype=torch.float64)
    return logits, boxes, labels, target


def test_the_loss_is_the_weighted_sum_of_cross_entropy_and_the_box_loss():
    logits, boxes, labels, target = _inputs()
    s, r = F.cross_entropy(logits, labels), F.smooth_l1_loss(boxes, target)
    for alpha in (0.0, 0.3, 1.0):
        out = multitask_loss(logits, boxes, labels, target, alpha=alpha)
        assert torch.allclose(out.total, alpha * s + (1 - alpha) * r, rtol=0, atol=1e-15)
        assert torch.equal(out.classification, s) and torch.equal(out.regression, r)
    l2 = multitask_loss(logits, boxes, labels, target, alpha=0.25, regression="l2")
    assert torch.allclose(l2.total, 0.25 * s + 0.75 * F.mse_loss(boxes, target), rtol=0, atol=1e-15)


def test_a_hand_computed_example():
    # two classes, equal scores: S = ln 2; one box off by 0.2 in one coordinate: smooth-L1 = 0.5 * 0.2^2 / 4 coords
    out = multitask_loss(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[0.2, 0.0, 0.0, 0.0]], dtype=torch.float64),
                         torch.tensor([1]), torch.zeros(1, 4, dtype=torch.float64), alpha=0.5)
    assert out.classification.item() == pytest.approx(0.6931471805599453)
    assert out.regression.item() == pytest.approx(0.005)
    assert out.total.item() == pytest.approx(0.5 * 0.6931471805599453 + 0.5 * 0.005)


def test_boxes_are_the_notes_corner_and_size_divided_by_the_image_size():
    # H = 100, W = 200: (x1, y1, x2, y2) = (10, 20, 30, 60) -> x = 10/200, y = 20/100, h = 40/100, w = 20/200
    box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    p = encode_boxes(box, (100, 200))
    assert torch.allclose(p, torch.tensor([[0.05, 0.2, 0.4, 0.1]]))
    assert torch.allclose(decode_boxes(p, (100, 200)), box)
    many = torch.rand(7, 2) * 50
    boxes = torch.cat([many, many + torch.rand(7, 2) * 30], dim=1)
    assert torch.allclose(decode_boxes(encode_boxes(boxes, (80, 90)), (80, 90)), boxes, atol=1e-5)


def test_bad_arguments_are_named():
    logits, boxes, labels, target = _inputs()
    with pytest.raises(ConfigError, match=r"alpha must be a number in \[0, 1\]; got 1.5"):
        multitask_loss(logits, boxes, labels, target, alpha=1.5)
    with pytest.raises(ConfigError, match="regression must be one of .*got 'l3'"):
        multitask_loss(logits, boxes, labels, target, regression="l3")
    with pytest.raises(ValueError, match=r"boxes and target_boxes must both be \[B, 4\] with B = 5"):
        multitask_loss(logits, boxes[:, :3], labels, target)
    with pytest.raises(ConfigError, match=r"image_size must be two positive numbers \(H, W\); got \(0, 10\)"):
        encode_boxes(boxes, (0, 10))
    with pytest.raises(ValueError, match=r"decode_boxes params must be a tensor \[\.\.\., 4\]"):
        decode_boxes(torch.zeros(3, 5), (10, 10))
