"""The YOLO parameterisation, target assignment and four-term loss (notes §3.5.4.5) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.losses.yolo import (
    YoloLoss,
    assign_yolo_targets,
    check_anchors,
    decode_yolo_boxes,
    encode_yolo_boxes,
    shape_iou,
)


def test_shape_iou_is_the_iou_of_centred_boxes():
    # 10x20 against 20x10: overlap 10x10 = 100, union 200 + 200 - 100 = 300
    got = shape_iou(torch.tensor([[10.0, 20.0], [4.0, 4.0]]), torch.tensor([[20.0, 10.0], [4.0, 4.0], [8.0, 8.0]]))
    assert got[0, 0].item() == pytest.approx(1 / 3)
    assert got[1].tolist() == pytest.approx([16 / 200, 1.0, 16 / 64])


def test_decode_inverts_encode():
    g = torch.Generator().manual_seed(0)
    anchors = torch.tensor([[10.0, 10.0], [20.0, 12.0]])
    # six centres in six different cells (row k, column 7 - k), anywhere in the cell, sizes 4..22
    centre = (torch.stack([7 - torch.arange(6.0), torch.arange(6.0)], 1) + torch.rand(6, 2, generator=g)) * 8
    wh = torch.rand(6, 2, generator=g) * 18 + 4
    boxes = torch.cat([centre - wh / 2, centre + wh / 2], dim=1)
    which = torch.tensor([0, 1, 0, 1, 0, 1])
    cells, targets = encode_yolo_boxes(boxes, anchors[which], 8.0)
    raw = torch.zeros(1, 2, 8, 8, 4)
    raw[0, which, cells[:, 0], cells[:, 1]] = torch.cat([torch.logit(targets[:, :2].double()).float(), targets[:, 2:]], 1)
    decoded = decode_yolo_boxes(raw, anchors, 8.0)[0, which, cells[:, 0], cells[:, 1]]
    torch.testing.assert_close(decoded, boxes, atol=1e-4, rtol=0)
    assert ((targets[:, :2] >= 0) & (targets[:, :2] < 1)).all()


def test_decode_follows_the_equations_of_yolov2():
    raw = torch.zeros(1, 1, 2, 3, 4)
    raw[0, 0, 1, 2] = torch.tensor([0.3, -0.7, 0.2, -0.1])
    box = decode_yolo_boxes(raw, torch.tensor([[6.0, 9.0]]), 8.0)[0, 0, 1, 2]
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    cx, cy = (2 + sig(0.3)) * 8, (1 + sig(-0.7)) * 8
    w, h = 6 * math.exp(0.2), 9 * math.exp(-0.1)
    assert box.tolist() == pytest.approx([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], abs=1e-5)


def test_each_box_goes_to_the_cell_of_its_centre_and_the_anchor_of_best_shape():
    anchors = torch.tensor([[10.0, 10.0], [20.0, 20.0]])
    boxes = [torch.tensor([[2.0, 2.0, 12.0, 12.0], [20.0, 28.0, 40.0, 48.0]]), torch.zeros(0, 4),
             torch.tensor([[54.0, 54.0, 64.0, 64.0]])]
    labels = [torch.tensor([3, 1]), torch.zeros(0, dtype=torch.long), torch.tensor([2])]
    m = assign_yolo_targets(boxes, labels, anchors, (8, 8), 8.0)
    b, a, i, j = m.index
    assert b.tolist() == [0, 0, 2] and a.tolist() == [0, 1, 0]
    # centres (7, 7) -> cell (0, 0); (30, 38) -> row 4, column 3; (59, 59) -> (7, 7)
    assert i.tolist() == [0, 4, 7] and j.tolist() == [0, 3, 7]
    assert m.classes.tolist() == [2, 0, 1] and m.box_index.tolist() == [0, 1, 0]
    torch.testing.assert_close(m.coords, torch.tensor([[7 / 8, 7 / 8, 0.0, 0.0], [0.75, 0.75, 0.0, 0.0],
                                                       [59 / 8 - 7, 59 / 8 - 7, 0.0, 0.0]]))


def test_a_centre_on_the_far_border_belongs_to_the_last_cell():
    m = assign_yolo_targets([torch.tensor([[56.0, 60.0, 64.0, 68.0]])], [torch.tensor([1])],
                            torch.tensor([[8.0, 8.0]]), (8, 8), 8.0)
    assert (m.index[2].item(), m.index[3].item()) == (7, 7)
    assert m.coords[0, :2].tolist() == pytest.approx([0.5, 1.0])


def test_two_boxes_on_one_cell_and_anchor_keep_the_better_fitting_one():
    anchors = torch.tensor([[10.0, 10.0]])
    boxes = [torch.tensor([[0.0, 0.0, 6.0, 14.0], [1.0, 1.0, 11.0, 11.0], [0.0, 0.0, 5.0, 13.0]])]
    m = assign_yolo_targets(boxes, [torch.tensor([1, 2, 3])], anchors, (4, 4), 16.0)
    assert m.box_index.tolist() == [1] and m.classes.tolist() == [1]


def _raw(values: dict[tuple[int, int], list[float]], anchors: int, classes: int = 3) -> torch.Tensor:
    raw = torch.zeros(1, anchors, 1, 1, 5 + classes, dtype=torch.float64)
    for (a, _), v in values.items():
        raw[0, a, 0, 0] = torch.tensor(v, dtype=torch.float64)
    return raw


def test_loss_terms_of_one_box_and_one_anchor_by_hand():
    # an 8 x 8 image is one cell; the box (2, 2, 6, 6) has its centre in the middle: targets (0.5, 0.5, 0, 0)
    raw = _raw({(0, 0): [1.0, -1.0, 0.5, -0.2, 0.3, 0.2, -0.1, 0.4]}, anchors=1)
    loss = YoloLoss()(raw, torch.tensor([[4.0, 4.0]]), 8.0, [torch.tensor([[2.0, 2.0, 6.0, 6.0]])], [torch.tensor([2])])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    coord = (sig(1.0) - 0.5) ** 2 + (sig(-1.0) - 0.5) ** 2 + 0.5**2 + 0.2**2
    logits = [0.2, -0.1, 0.4]
    ce = -(logits[1] - math.log(sum(math.exp(v) for v in logits)))
    assert loss["loss_coord"].item() == pytest.approx(5.0 * coord)
    assert loss["loss_obj"].item() == pytest.approx(-math.log(sig(0.3)))
    assert loss["loss_class"].item() == pytest.approx(ce)
    assert loss["loss_noobj"].item() == 0.0  # the only prediction is matched


def test_no_object_term_counts_unmatched_anchors_except_those_above_the_ignore_threshold():
    gt = [torch.tensor([[2.0, 2.0, 6.0, 6.0]])]
    label = [torch.tensor([1])]
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    # a far larger second anchor: its box overlaps the object by 16 / 10000, so its "no object" counts
    raw = _raw({(0, 0): [0, 0, 0, 0, 2.0, 0, 0, 0], (1, 0): [0, 0, 0, 0, 0.7, 0, 0, 0]}, anchors=2)
    loss = YoloLoss(lambda_noobj=0.5)(raw, torch.tensor([[4.0, 4.0], [100.0, 100.0]]), 8.0, gt, label)
    assert loss["loss_noobj"].item() == pytest.approx(0.5 * -math.log(1 - sig(0.7)))
    assert loss["loss_coord"].item() == pytest.approx(0.0, abs=1e-12)
    # a second anchor of 5 x 5: its (unadjusted) box has IoU 16 / 25 = 0.64 > 0.6 with the object: ignored ...
    anchors = torch.tensor([[4.0, 4.0], [5.0, 5.0]])
    assert YoloLoss(ignore_iou=0.6)(raw, anchors, 8.0, gt, label)["loss_noobj"].item() == 0.0
    # ... unless the threshold is above its IoU
    assert YoloLoss(ignore_iou=0.7)(raw, anchors, 8.0, gt, label)["loss_noobj"].item() == pytest.approx(
        0.5 * -math.log(1 - sig(0.7)))


def test_terms_are_divided_by_the_images_and_weighted():
    raw = torch.randn(2, 2, 4, 4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    anchors = torch.tensor([[6.0, 6.0], [12.0, 12.0]])
    gt = [torch.tensor([[3.0, 3.0, 13.0, 12.0]]), torch.tensor([[14.0, 16.0, 20.0, 22.0], [1.0, 20.0, 9.0, 30.0]])]
    lb = [torch.tensor([1]), torch.tensor([3, 2])]
    base = YoloLoss(lambda_coord=1.0, lambda_noobj=1.0, ignore_iou=1.0)(raw, anchors, 8.0, gt, lb)
    heavy = YoloLoss(lambda_coord=5.0, lambda_noobj=0.25, ignore_iou=1.0)(raw, anchors, 8.0, gt, lb)
    assert heavy["loss_coord"].item() == pytest.approx(5 * base["loss_coord"].item())
    assert heavy["loss_noobj"].item() == pytest.approx(0.25 * base["loss_noobj"].item())
    # the no-object term by hand: every prediction but the three matched ones, summed, over 2 images
    m = assign_yolo_targets(gt, lb, anchors, (4, 4), 8.0)
    neg = torch.ones(2, 2, 4, 4, dtype=torch.bool)
    neg[m.index] = False
    expected = F.binary_cross_entropy_with_logits(raw[..., 4][neg], torch.zeros(int(neg.sum()), dtype=raw.dtype),
                                                  reduction="sum") / 2
    assert base["loss_noobj"].item() == pytest.approx(expected.item())


def test_empty_images_give_zero_coordinate_objectness_and_class_terms_and_a_gradient():
    raw = torch.randn(2, 3, 4, 4, 9, generator=torch.Generator().manual_seed(2), dtype=torch.float64,
                      requires_grad=True)
    loss = YoloLoss()(raw, torch.tensor([[4.0, 4.0], [8.0, 8.0], [16.0, 16.0]]), 8.0, [torch.zeros(0, 4)] * 2,
                      [torch.zeros(0, dtype=torch.long)] * 2)
    assert loss["loss_coord"].item() == 0.0 and loss["loss_obj"].item() == 0.0 and loss["loss_class"].item() == 0.0
    # by hand: no object anywhere, so every one of the 2 x 3 x 4 x 4 predictions is "no object" (nothing to
    # ignore), each costs -log(1 - sigma(z)) = log(1 + e^z); the sum x lambda_noobj = 0.5, over the 2 images
    z = raw[..., 4].detach().flatten().tolist()
    expected = 0.5 * sum(math.log1p(math.exp(v)) for v in z) / 2
    assert loss["loss_noobj"].item() == pytest.approx(expected, rel=1e-12)
    sum(loss.values()).backward()
    # d/dz of 0.5 log(1 + e^z) / 2 is sigma(z) / 4; nothing reaches the box or class outputs
    torch.testing.assert_close(raw.grad[..., 4], torch.sigmoid(raw[..., 4].detach()) / 4)
    assert raw.grad[..., :4].abs().sum() == 0 and raw.grad[..., 5:].abs().sum() == 0


def test_bad_settings_and_labels_are_refused():
    with pytest.raises(ConfigError, match="lambda_coord must be a number >= 0; got -1"):
        YoloLoss(lambda_coord=-1)
    with pytest.raises(ConfigError, match="ignore_iou must be a number in"):
        YoloLoss(ignore_iou=1.5)
    with pytest.raises(ConfigError, match="anchors must have positive, finite widths and heights"):
        check_anchors([[4.0, 0.0]])
    with pytest.raises(ConfigError, match=r"shape \[A, 2\]"):
        check_anchors([4.0, 5.0, 6.0])
    raw = torch.zeros(1, 1, 1, 1, 7)
    with pytest.raises(ValueError, match=r"labels must lie in 1..2; got 3"):
        YoloLoss()(raw, torch.tensor([[4.0, 4.0]]), 8.0, [torch.tensor([[2.0, 2.0, 6.0, 6.0]])], [torch.tensor([3])])
