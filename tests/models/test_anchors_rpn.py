"""Anchors, anchor matching and sampling, and the RPN of Faster R-CNN (notes §3.5.4.4).

References: anchors computed by hand with torchvision's layout (rounded base
anchors, top-left cell corners, ratio-major, position-major), matching
cases worked out by hand, and the identity ``softmax(z0, z1)_1 = σ(z1 − z0)``
that makes the notes' 2k-score head equal torchvision's k-logit head.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.losses.rcnn import SMOOTH_L1_BETA
from an2dl.models.detection.anchors import AnchorGenerator, base_anchors
from an2dl.models.detection.matching import match_boxes, sample_balanced
from an2dl.models.detection.rpn import (
    RegionProposalNetwork,
    RPNHead,
    logits_from_two_way,
    objectness_probability,
    two_way_from_logits,
)
from an2dl.ops import BoxCoder


def _by_hand(size: float, ratio: float) -> list[float]:
    w = size / math.sqrt(ratio)
    h = size * math.sqrt(ratio)
    return [float(round(v)) for v in (-w / 2, -h / 2, w / 2, h / 2)]  # Python's round: half to even, as torch


def test_base_anchors_are_rounded_ratio_major_boxes_of_area_size_squared():
    out = base_anchors((32, 64), (0.5, 1.0, 2.0))
    assert out.tolist()[0] == [-23.0, -11.0, 23.0, 11.0]  # s = 32, r = 0.5: w = 45.25, h = 22.63
    assert out.tolist()[2] == [-16.0, -16.0, 16.0, 16.0]  # s = 32, r = 1
    expected = [_by_hand(s, r) for r in (0.5, 1.0, 2.0) for s in (32, 64)]
    assert out.tolist() == expected


def test_grid_anchors_sit_at_stride_times_index_position_major():
    gen = AnchorGenerator(((2,),), ((1.0,),))
    anchors = gen((8, 8), [(2, 2)])  # stride 4
    assert anchors.tolist() == [[-1, -1, 1, 1], [3, -1, 5, 1], [-1, 3, 1, 5], [3, 3, 5, 5]]
    # k = 2 anchors per position: anchor a of position (i, j) is row (i * w_f + j) * k + a
    gen2 = AnchorGenerator(((2, 4),), ((1.0,),))
    a2 = gen2((8, 12), [(2, 3)])  # strides (4, 4)
    assert gen2.num_anchors_per_location() == [2]
    assert a2.shape == (2 * 3 * 2, 4)
    assert a2[(1 * 3 + 2) * 2 + 1].tolist() == [8 - 2, 4 - 2, 8 + 2, 4 + 2]
    # integer strides (image // map), as torchvision: 10 // 3 = 3
    a3 = gen((10, 10), [(3, 3)])
    assert a3[-1].tolist() == [5.0, 5.0, 7.0, 7.0]


def test_several_maps_are_concatenated_map_after_map():
    gen = AnchorGenerator(((4,), (8,)), ((0.5, 1.0, 2.0),))
    assert gen.num_anchors_per_location() == [3, 3]
    out = gen((16, 16), [(4, 4), (2, 2)])
    assert out.shape == (4 * 4 * 3 + 2 * 2 * 3, 4)
    assert out[48].tolist() == _by_hand(8, 0.5)  # first anchor of the second map, at (0, 0)


def test_anchor_generator_rejects_bad_settings():
    with pytest.raises(ConfigError, match="one sequence of sizes per feature map"):
        AnchorGenerator((8, 16, 32), ((1.0,),))
    with pytest.raises(ConfigError, match="positive numbers"):
        AnchorGenerator(((8, -1),), ((1.0,),))
    with pytest.raises(ConfigError, match="one aspect_ratios tuple per feature map"):
        AnchorGenerator(((8,), (16,), (32,)), ((1.0,), (2.0,)))
    with pytest.raises(ValueError, match="built for 1 feature map"):
        AnchorGenerator()((64, 64), [(16, 16), (8, 8)])


def test_match_boxes_thresholds_and_low_quality_matches_by_hand():
    iou = torch.tensor([[0.8, 0.5, 0.1, 0.65],
                        [0.2, 0.6, 0.05, 0.0]])
    assert match_boxes(iou, 0.7, 0.3).tolist() == [0, -2, -1, -2]
    # object 1's best anchor (1, IoU 0.6) is kept as a positive
    assert match_boxes(iou, 0.7, 0.3, allow_low_quality_matches=True).tolist() == [0, 1, -1, -2]
    # a best anchor is matched to *its* best object (torchvision's rule): anchor 0 is object 0's best but prefers 1
    iou2 = torch.tensor([[0.5, 0.2], [0.6, 0.1]])
    assert match_boxes(iou2, 0.7, 0.3, allow_low_quality_matches=True).tolist() == [1, -1]
    # the head's 0.5 / 0.5: no ignored band
    assert match_boxes(iou, 0.5, 0.5).tolist() == [0, 1, -1, 0]
    assert match_boxes(torch.zeros(0, 3), 0.7, 0.3).tolist() == [-1, -1, -1]
    with pytest.raises(ConfigError, match="low <= high"):
        match_boxes(iou, 0.3, 0.7)


def test_sample_balanced_caps_positives_and_fills_with_negatives():
    torch.manual_seed(0)
    labels = torch.cat([torch.ones(10), torch.zeros(100), -torch.ones(20)])
    pos, neg = sample_balanced(labels, 16, 0.5)
    assert len(pos) == 8 and len(neg) == 8
    assert bool((labels[pos] == 1).all()) and bool((labels[neg] == 0).all())
    few = torch.cat([torch.ones(2), torch.zeros(100)])
    pos, neg = sample_balanced(few, 16, 0.5)
    assert len(pos) == 2 and len(neg) == 14
    pos, neg = sample_balanced(-torch.ones(5), 16, 0.5)  # only ignored boxes: nothing sampled
    assert len(pos) == 0 and len(neg) == 0
    torch.manual_seed(3)
    a = sample_balanced(labels, 16, 0.5)
    torch.manual_seed(3)
    b = sample_balanced(labels, 16, 0.5)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_two_way_softmax_head_equals_torchvision_k_logit_head_after_conversion():
    torch.manual_seed(0)
    head = RPNHead(8, 3).double()
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    scores, _ = head([x])
    s = scores[0].view(2, 2, 3, 5, 6)  # (B, not/object, k, h, w)
    ours = objectness_probability(s.movedim(1, -1))  # (B, k, h, w)
    w, b = logits_from_two_way(head.cls_logits.weight, head.cls_logits.bias)
    assert w.shape == (3, 8, 1, 1) and b.shape == (3,)
    logits = F.conv2d(head.conv(x), w, b)  # torchvision's cls_logits
    torch.testing.assert_close(ours, torch.sigmoid(logits), rtol=1e-12, atol=1e-12)
    # and back: the k-logit layer as a 2k-score layer gives the same probabilities; k -> 2k -> k is exact
    w2, b2 = two_way_from_logits(w, b)
    s2 = F.conv2d(head.conv(x), w2, b2).view(2, 2, 3, 5, 6)
    torch.testing.assert_close(objectness_probability(s2.movedim(1, -1)), ours, rtol=1e-12, atol=1e-12)
    w3, b3 = logits_from_two_way(w2, b2)
    assert torch.equal(w3, w) and torch.equal(b3, b)


def test_rpn_head_shapes_match_torchvision_manifest_after_conversion():
    head = RPNHead(256, 3)
    keys = {k: list(v.shape) for k, v in head.state_dict().items()}
    assert keys["conv.0.0.weight"] == [256, 256, 3, 3]
    assert keys["cls_logits.weight"] == [6, 256, 1, 1]  # the notes' 2k
    w, b = logits_from_two_way(head.cls_logits.weight, head.cls_logits.bias)
    assert list(w.shape) == [3, 256, 1, 1] and list(b.shape) == [3]  # RPNHead(256, 3) of torchvision
    assert keys["bbox_pred.weight"] == [12, 256, 1, 1]


def _tiny_rpn(**kw) -> RegionProposalNetwork:
    gen = AnchorGenerator(((4, 8),), ((1.0,),))
    return RegionProposalNetwork(gen, RPNHead(4, 2), **kw)


def test_rpn_loss_equals_the_hand_made_targets_on_every_non_ignored_anchor():
    torch.manual_seed(0)
    rpn = _tiny_rpn(batch_size_per_image=10_000, positive_fraction=1.0).double()  # sample every anchor
    for p in rpn.parameters():
        torch.nn.init.normal_(p, std=0.3)
    features = torch.randn(1, 4, 4, 4, dtype=torch.float64)
    gt = torch.tensor([[2.0, 2.0, 9.0, 10.0]], dtype=torch.float64)
    _, _, losses = rpn([features], [(16, 16)], (16, 16), [{"boxes": gt}])
    anchors = rpn.anchor_generator((16, 16), [(4, 4)], dtype=torch.float64)
    from an2dl.ops import box_iou

    iou = box_iou(gt, anchors)[0]
    positive = (iou >= 0.7) | (iou == iou.max())
    negative = (iou < 0.3) & ~positive
    scores, deltas = rpn.head([features])
    s = scores[0].view(2, 2, 4, 4).permute(2, 3, 1, 0).reshape(-1, 2)  # (A, 2) in anchor order
    d = deltas[0].view(2, 4, 4, 4).permute(2, 3, 0, 1).reshape(-1, 4)
    keep = positive | negative
    z = s[:, 1] - s[:, 0]
    expected_obj = F.binary_cross_entropy_with_logits(z[keep], positive[keep].double())
    targets = BoxCoder((1, 1, 1, 1)).encode_single(gt.expand(int(positive.sum()), 4), anchors[positive])
    expected_box = F.smooth_l1_loss(d[positive], targets, beta=SMOOTH_L1_BETA, reduction="sum") / int(keep.sum())
    torch.testing.assert_close(losses["loss_objectness"], expected_obj)
    torch.testing.assert_close(losses["loss_rpn_box_reg"], expected_box)


def test_rpn_on_an_empty_image_learns_background_only():
    rpn = _tiny_rpn()
    _, _, losses = rpn([torch.randn(1, 4, 4, 4)], [(16, 16)], (16, 16), [{"boxes": torch.zeros(0, 4)}])
    assert losses["loss_rpn_box_reg"].item() == 0.0
    assert torch.isfinite(losses["loss_objectness"])


def test_filter_proposals_clips_drops_small_and_suppresses_overlaps():
    rpn = _tiny_rpn(pre_nms_top_n=(3, 3), post_nms_top_n=(2, 2), min_size=1.0, nms_thresh=0.5)
    rpn.eval()
    boxes = torch.tensor([[[0.0, 0.0, 10.0, 10.0],     # best
                           [0.5, 0.0, 10.5, 10.0],     # overlaps the best: suppressed
                           [5.0, 5.0, 5.5, 20.0],      # 0.5 px wide: too small
                           [-4.0, 8.0, 12.0, 30.0],    # clipped to (0, 8, 12, 16)
                           [1.0, 1.0, 2.0, 2.0]]])     # lowest score: cut by pre_nms_top_n
    logits = torch.tensor([[4.0, 3.0, 2.5, 2.0, -1.0]])
    kept, probs = rpn.filter_proposals(boxes, logits, [(16, 16)], [5])
    # top-3 are rows 0, 1, 2; row 2 is too small, row 1 suppressed: only row 0 of the top 3 survives
    assert kept[0].tolist() == [[0.0, 0.0, 10.0, 10.0]]
    torch.testing.assert_close(probs[0], torch.sigmoid(torch.tensor([4.0])))
    rpn.pre_nms_top_n = (5, 5)
    kept, _ = rpn.filter_proposals(boxes, logits, [(16, 16)], [5])
    assert kept[0].tolist() == [[0.0, 0.0, 10.0, 10.0], [0.0, 8.0, 12.0, 16.0]]  # post_nms_top_n = 2


def test_rpn_rejects_a_head_that_does_not_match_the_anchors():
    with pytest.raises(ConfigError, match="anchors per location"):
        RegionProposalNetwork(AnchorGenerator(((4, 8),), ((1.0,),)), RPNHead(4, 3))
    with pytest.raises(ConfigError, match="pre_nms_top_n"):
        _tiny_rpn(pre_nms_top_n=(0, 5))
