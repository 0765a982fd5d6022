"""Box formats, areas, IoU, generalised IoU, BoxCoder and check_boxes: torchvision's vectors, the formulas, properties."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import an2dl.ops.boxes as boxes_module
from _vision_reference import BOX_ARRAYS, NMS_ARRAYS, ROI_ARRAYS, tensor, vision_ops
from an2dl.ops import (
    BBOX_XFORM_CLIP,
    BoxCoder,
    box_area,
    box_convert,
    box_iou,
    check_boxes,
    clip_boxes_to_image,
    generalized_box_iou,
    remove_small_boxes,
)

FORMATS = ("xyxy", "xywh", "cxcywh")
PAIRS = [(a, b) for a, b in itertools.permutations(FORMATS, 2)]
WEIGHTS = {"w10_10_5_5": (10.0, 10.0, 5.0, 5.0), "w1_1_1_1": (1.0, 1.0, 1.0, 1.0)}


def test_the_test_modules_read_every_reference_array():
    z = vision_ops()
    listed = BOX_ARRAYS + NMS_ARRAYS + ROI_ARRAYS
    assert len(listed) == len(set(listed)) == 53
    assert set(listed) == set(z)


# ---------------------------------------------------------------------------------------------
# torchvision's vectors


def test_box_iou_matches_torchvision():
    got = box_iou(tensor("iou_boxes1"), tensor("iou_boxes2"))
    np.testing.assert_allclose(got.numpy(), vision_ops()["box_iou"], rtol=0, atol=1e-6)


def test_generalized_box_iou_matches_torchvision():
    got = generalized_box_iou(tensor("iou_boxes1"), tensor("iou_boxes2"))
    np.testing.assert_allclose(got.numpy(), vision_ops()["generalized_box_iou"], rtol=0, atol=1e-6)


def test_iou_of_the_hand_made_pairs():
    """Row 8 of boxes1 against rows 7-10 of boxes2: identical, nested (100/400), touching, far away."""
    iou = box_iou(tensor("iou_boxes1"), tensor("iou_boxes2"))
    assert iou[8, 7:].tolist() == [1.0, 0.25, 0.0, 0.0]
    giou = generalized_box_iou(tensor("iou_boxes1"), tensor("iou_boxes2"))
    assert giou[8, 7].item() == 1.0 and giou[8, 8].item() == 0.25
    assert giou[8, 9].item() == 0.0  # touching: the union fills the enclosing box
    assert -1.0 < giou[8, 10].item() < -0.9  # far apart: close to -1


@pytest.mark.parametrize(("in_fmt", "out_fmt"), PAIRS, ids=[f"{a}_to_{b}" for a, b in PAIRS])
def test_box_convert_matches_torchvision(in_fmt, out_fmt):
    got = box_convert(tensor(f"box_convert_in_{in_fmt}"), in_fmt, out_fmt)
    np.testing.assert_allclose(got.numpy(), vision_ops()[f"box_convert_{in_fmt}_to_{out_fmt}"], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_stored_inputs_are_the_conversions_of_the_xyxy_boxes(fmt):
    got = box_convert(tensor("box_convert_in_xyxy"), "xyxy", fmt)
    np.testing.assert_allclose(got.numpy(), vision_ops()[f"box_convert_in_{fmt}"], rtol=1e-6, atol=1e-5)


def _coder_inputs():
    return tensor("boxcoder_reference_boxes"), tensor("boxcoder_proposals"), tensor("boxcoder_rel_codes")


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_boxcoder_encode_matches_torchvision(name):
    ref, prop, _ = _coder_inputs()
    coder = BoxCoder(WEIGHTS[name])
    parts = coder.encode([ref[:6], ref[6:]], [prop[:6], prop[6:]])
    assert isinstance(parts, tuple) and [p.shape[0] for p in parts] == [6, 4]
    expected = vision_ops()[f"boxcoder_{name}_encode"]
    np.testing.assert_allclose(torch.cat(parts).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(torch.cat(parts), coder.encode_single(ref, prop))


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_boxcoder_decode_matches_torchvision_including_the_clamp(name):
    _, prop, rel = _coder_inputs()
    coder = BoxCoder(WEIGHTS[name])
    got = coder.decode(rel, [prop[:6], prop[6:]])
    assert got.shape == (10, 3, 4)
    expected = vision_ops()[f"boxcoder_{name}_decode"]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(coder.decode_single(rel, prop), got.reshape(10, 12))
    # rel[0, 2] = 10 is clamped: the width is exp(log(1000/16)) = 62.5 proposal widths
    pw = (prop[0, 2] - prop[0, 0]).item()
    clamped = min(10.0 / WEIGHTS[name][2], BBOX_XFORM_CLIP)
    assert (got[0, 0, 2] - got[0, 0, 0]).item() == pytest.approx(math.exp(clamped) * pw, rel=1e-5)


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_boxcoder_round_trip_matches_torchvision(name):
    ref, prop, _ = _coder_inputs()
    coder = BoxCoder(WEIGHTS[name])
    got = coder.decode(tensor(f"boxcoder_{name}_encode"), [prop[:6], prop[6:]])
    expected = vision_ops()[f"boxcoder_{name}_roundtrip"]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:, 0].numpy(), ref.numpy(), rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# the formulas, written out


def _iou_by_hand(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union, inter / union - (hull - union) / hull


def _random_boxes(n, generator, dtype=torch.float64):
    xy = torch.rand(n, 2, generator=generator, dtype=dtype) * 50
    wh = torch.rand(n, 2, generator=generator, dtype=dtype) * 30 + 0.5
    return torch.cat((xy, xy + wh), dim=1)


def test_iou_and_giou_equal_the_pairwise_formula_in_float64():
    g = torch.Generator().manual_seed(0)
    a, b = _random_boxes(9, g), _random_boxes(7, g)
    iou, giou = box_iou(a, b), generalized_box_iou(a, b)
    for i, j in itertools.product(range(9), range(7)):
        e_iou, e_giou = _iou_by_hand(a[i].tolist(), b[j].tolist())
        assert iou[i, j].item() == pytest.approx(e_iou, abs=1e-14)
        assert giou[i, j].item() == pytest.approx(e_giou, abs=1e-14)


def test_block_wise_pairwise_results_equal_the_one_shot_ones_with_gradients(monkeypatch):
    g = torch.Generator().manual_seed(1)
    a = _random_boxes(23, g).requires_grad_()
    b = _random_boxes(11, g)
    one = generalized_box_iou(a, b)
    (grad_one,) = torch.autograd.grad(one.sum(), a)
    monkeypatch.setattr(boxes_module, "_BLOCK_ELEMENTS", 20)  # 1 row per block
    blocks = generalized_box_iou(a, b)
    (grad_blocks,) = torch.autograd.grad(blocks.sum(), a)
    assert torch.equal(one, blocks) and torch.equal(grad_one, grad_blocks)
    assert torch.equal(box_iou(a, b), box_iou(a.detach(), b))


def test_giou_is_differentiable_in_float64():
    g = torch.Generator().manual_seed(2)
    a = _random_boxes(3, g).requires_grad_()
    b = _random_boxes(4, g).requires_grad_()
    assert torch.autograd.gradcheck(generalized_box_iou, (a, b))


def test_integer_boxes_give_float_iou():
    a = torch.tensor([[0, 0, 10, 10]])
    b = torch.tensor([[5, 0, 15, 10]])
    out = box_iou(a, b)
    assert out.is_floating_point() and out.item() == pytest.approx(1 / 3)


def test_box_area_clip_and_remove_small():
    boxes = torch.tensor([[0.0, 0.0, 4.0, 2.0], [-5.0, 3.0, 30.0, 50.0], [1.0, 1.0, 1.5, 9.0]])
    assert box_area(boxes).tolist() == [8.0, 35.0 * 47.0, 4.0]
    assert box_area(boxes[None]).shape == (1, 3)
    clipped = clip_boxes_to_image(boxes, (20, 25))
    assert clipped[1].tolist() == [0.0, 3.0, 25.0, 20.0] and torch.equal(clipped[0], boxes[0])
    assert remove_small_boxes(boxes, 1.0).tolist() == [0, 1]
    assert remove_small_boxes(boxes, 0.5).tolist() == [0, 1, 2]


def test_box_convert_identity_copies_and_works_on_leading_dimensions():
    boxes = torch.rand(2, 3, 4)
    same = box_convert(boxes, "xywh", "xywh")
    assert torch.equal(same, boxes) and same.data_ptr() != boxes.data_ptr()
    assert box_convert(boxes, "xyxy", "cxcywh").shape == (2, 3, 4)


# ---------------------------------------------------------------------------------------------
# properties

coords = st.floats(-100, 100, allow_nan=False, width=64)
sizes = st.floats(0.01, 80, allow_nan=False, width=64)
box_lists = st.lists(st.tuples(coords, coords, sizes, sizes), min_size=1, max_size=12)


def _xyxy(rows):
    t = torch.tensor(rows, dtype=torch.float64)
    return torch.cat((t[:, :2], t[:, :2] + t[:, 2:]), dim=1)


@settings(max_examples=60, deadline=None)
@given(box_lists, box_lists)
def test_iou_is_in_unit_interval_symmetric_and_one_on_the_diagonal(rows1, rows2):
    a, b = _xyxy(rows1), _xyxy(rows2)
    iou = box_iou(a, b)
    assert iou.shape == (len(rows1), len(rows2))
    assert bool(((iou >= 0) & (iou <= 1 + 1e-12)).all())
    assert torch.allclose(iou, box_iou(b, a).T, rtol=0, atol=1e-12)
    assert torch.allclose(torch.diagonal(box_iou(a, a)), torch.ones(len(rows1), dtype=torch.float64))
    giou = generalized_box_iou(a, b)
    assert bool(((giou >= -1 - 1e-12) & (giou <= iou + 1e-12)).all())


@settings(max_examples=60, deadline=None)
@given(box_lists, st.sampled_from(PAIRS))
def test_box_convert_round_trips(rows, pair):
    boxes = box_convert(_xyxy(rows), "xyxy", pair[0])
    back = box_convert(box_convert(boxes, pair[0], pair[1]), pair[1], pair[0])
    assert torch.allclose(back, boxes, rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(coords, coords, sizes, sizes, coords, coords, sizes, sizes), min_size=1, max_size=10),
    st.sampled_from(list(WEIGHTS.values())),
)
def test_decode_inverts_encode(rows, weights):
    t = torch.tensor(rows, dtype=torch.float64)
    gt = _xyxy(t[:, :4].tolist())
    prop = _xyxy(t[:, 4:].tolist())
    coder = BoxCoder(weights)
    codes = coder.encode_single(gt, prop)
    # beyond the clamp decode is deliberately not the inverse
    assume(bool((codes[:, 2:] / torch.tensor(weights[2:], dtype=codes.dtype) < BBOX_XFORM_CLIP).all()))
    assert torch.allclose(coder.decode_single(codes, prop), gt, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# check_boxes and bad input


def test_check_boxes_accepts_valid_boxes_and_returns_them():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 5.0], [3.0, 3.0, 3.0, 4.0]])
    assert check_boxes(boxes) is boxes
    assert check_boxes(boxes, (5, 10)) is boxes
    assert check_boxes(torch.zeros(0, 4), image_size=(1, 1)).shape == (0, 4)


@pytest.mark.parametrize(
    ("boxes", "image_size", "match"),
    [
        ([[0.0, 0.0, 4.0, 4.0], [5.0, 1.0, 2.0, 3.0]], None, r"x2 >= x1.*row 1 is \[5.0, 1.0, 2.0, 3.0\]"),
        ([[0.0, 6.0, 4.0, 5.0]], None, r"y2 >= y1.*row 0"),
        ([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 11.0, 4.0]], (8, 10), r"inside the image.*W\) = \(8, 10\).*row 2"),
        ([[-1.0, 0.0, 4.0, 4.0]], (8, 10), r"inside the image.*row 0"),
        ([[0.0, 0.0, 4.0, 9.0]], (8, 10), r"row 0 is \[0.0, 0.0, 4.0, 9.0\]"),
        ([[0.0, 0.0, float("nan"), 4.0]], None, r"finite; row 0"),
    ],
)
def test_check_boxes_names_the_argument_and_the_first_bad_row(boxes, image_size, match):
    with pytest.raises(ValueError, match=r"^target\['boxes'\] must .*" + match):
        check_boxes(torch.tensor(boxes), image_size, name="target['boxes']")


def test_check_boxes_rejects_wrong_types_shapes_and_sizes():
    with pytest.raises(TypeError, match=r"boxes must be a torch.Tensor.*got list"):
        check_boxes([[0, 0, 1, 1]])
    with pytest.raises(TypeError, match=r"gt must hold real coordinates.*torch.bool"):
        check_boxes(torch.ones(2, 4, dtype=torch.bool), name="gt")
    with pytest.raises(ValueError, match=r"boxes must be a tensor of shape \[N, 4\].*got shape \[3, 5\]"):
        check_boxes(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"image_size must be \(H, W\).*got \(4,\)"):
        check_boxes(torch.zeros(1, 4), (4,))


@pytest.mark.parametrize("bad", [torch.zeros(3, 5), torch.zeros(4), torch.zeros(2, 3, 4)])
def test_pairwise_ops_reject_boxes_that_are_not_n_by_4(bad):
    ok = torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"boxes2 must be a tensor of shape \[N, 4\].*got shape " + re.escape(str(list(bad.shape)))):
        box_iou(ok, bad)
    with pytest.raises(ValueError, match=r"boxes1 must be a tensor of shape \[N, 4\]"):
        generalized_box_iou(bad, ok)
    with pytest.raises(ValueError, match=r"boxes must be a tensor of shape \[N, 4\]"):
        remove_small_boxes(bad, 1.0)


def test_giou_rejects_inverted_boxes():
    with pytest.raises(ValueError, match=r"boxes2 must satisfy x2 >= x1 and y2 >= y1.*row 0"):
        generalized_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 1.0, 1.0]]))


def test_box_convert_rejects_unknown_formats_and_bad_shapes():
    boxes = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"in_fmt must be one of \('xyxy', 'xywh', 'cxcywh'\); got 'ltrb'"):
        box_convert(boxes, "ltrb", "xyxy")
    with pytest.raises(ValueError, match=r"out_fmt must be one of .*got 'XYWH'"):
        box_convert(boxes, "xyxy", "XYWH")
    with pytest.raises(ValueError, match=r"boxes must be a tensor of shape \[\.\.\., 4\]; got shape \[3, 5\]"):
        box_convert(torch.zeros(3, 5), "xyxy", "xywh")
    with pytest.raises(ValueError, match=r"size must be \(H, W\)"):
        clip_boxes_to_image(boxes, (1, 2, 3))


def test_boxcoder_rejects_bad_weights_and_mismatched_inputs():
    with pytest.raises(ValueError, match=r"weights must be four positive numbers.*got \(1.0, 1.0, 1.0\)"):
        BoxCoder((1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"weights must be four positive numbers.*got \(1, 1, 0, 1\)"):
        BoxCoder((1, 1, 0, 1))
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=r"reference_boxes and proposals must pair up.*\[1\] and \[1, 1\]"):
        coder.encode([boxes], [boxes, boxes])
    with pytest.raises(ValueError, match=r"proposals must be a tensor of shape \[N, 4\].*got \[1, 5\]"):
        coder.encode_single(boxes, torch.zeros(1, 5))
    with pytest.raises(TypeError, match=r"boxes must be a list of \[N_i, 4\] tensors.*got Tensor"):
        coder.decode(torch.zeros(1, 4), boxes)
    with pytest.raises(ValueError, match=r"rel_codes must hold 4K numbers for each of the 1 boxes; got shape \[6\]"):
        coder.decode(torch.zeros(6), [boxes])
    with pytest.raises(ValueError, match=r"rel_codes must be a tensor of shape \[N, 4K\]; got \[1, 6\]"):
        coder.decode_single(torch.zeros(1, 6), boxes)
    assert coder.decode(torch.zeros(0, 8), [torch.zeros(0, 4)]).shape == (0, 2, 4)
