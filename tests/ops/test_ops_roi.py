"""RoI pooling, RoIAlign and FPN level assignment: torchvision's vectors, written-out loops, gradients, bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import an2dl.ops.roi as roi_module
from _vision_reference import tensor, vision_ops
from an2dl.ops import LevelMapper, MultiScaleRoIAlign, assign_levels, roi_align, roi_pool

SCALES = {"1_16": 1 / 16, "1_4": 1 / 4}
ALIGN_CASES = [
    f"roi_align_scale{s}_out7_sr{sr}_aligned{a}" for s in SCALES for sr in (2, -1) for a in (False, True)
] + ["roi_align_scale1_16_out5x3_sr2_alignedTrue"]
POOL_CASES = ["roi_pool_scale1_16_out7", "roi_pool_scale1_4_out7", "roi_pool_scale1_16_out5x3"]


def _settings(name: str) -> dict:
    """Call arguments encoded in a reference array's name, e.g. ``roi_align_scale1_4_out7_sr-1_alignedTrue``."""
    m = re.fullmatch(r"roi_(?:align|pool)_scale(1_\d+)_out(\d+)(?:x(\d+))?(?:_sr(-?\d+)_aligned(True|False))?", name)
    assert m, name
    scale, h, w, sr, aligned = m.groups()
    kw = {"rois": f"roi_rois_scale{scale}", "output_size": (int(h), int(w)) if w else int(h), "spatial_scale": SCALES[scale]}
    if sr is not None:
        kw.update(sampling_ratio=int(sr), aligned=aligned == "True")
    return kw


# ---------------------------------------------------------------------------------------------
# torchvision's vectors


@pytest.mark.parametrize("name", ALIGN_CASES)
def test_roi_align_matches_torchvision(name):
    kw = _settings(name)
    out = roi_align(tensor("roi_input"), tensor(kw.pop("rois")), **kw)
    np.testing.assert_allclose(out.numpy(), vision_ops()[name], rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("name", ALIGN_CASES)
def test_roi_align_in_float64_matches_torchvision(name):
    kw = _settings(name)
    out = roi_align(tensor("roi_input").double(), tensor(kw.pop("rois")).double(), **kw)
    np.testing.assert_allclose(out.numpy(), vision_ops()[name], rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("name", POOL_CASES)
def test_roi_pool_matches_torchvision_exactly(name):
    kw = _settings(name)
    out = roi_pool(tensor("roi_input"), tensor(kw.pop("rois")), **kw)
    np.testing.assert_array_equal(out.numpy(), vision_ops()[name])


def test_list_of_boxes_equals_the_k_by_5_form():
    rois = tensor("roi_rois_scale1_16")
    # regroup by image; the [K, 5] form in the same (grouped) order
    order = torch.sort(rois[:, 0], stable=True).indices
    grouped = rois[order]
    boxes = [grouped[grouped[:, 0] == i, 1:] for i in range(2)]
    x = tensor("roi_input")
    assert torch.equal(roi_align(x, boxes, 7, 1 / 16, 2, True), roi_align(x, grouped, 7, 1 / 16, 2, True))
    assert torch.equal(roi_pool(x, boxes, 7, 1 / 16), roi_pool(x, grouped, 7, 1 / 16))


# ---------------------------------------------------------------------------------------------
# the algorithms written out, sample by sample, in Python floats


def _bilinear(fmap, y, x):
    _, height, width = fmap.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return torch.zeros(fmap.shape[0], dtype=fmap.dtype)
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    y1, x1 = y0 + 1, x0 + 1
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * fmap[:, y0, x0] + (1 - ly) * lx * fmap[:, y0, x1]
        + ly * (1 - lx) * fmap[:, y1, x0] + ly * lx * fmap[:, y1, x1]
    )  # fmt: skip


def _align_by_hand(x, rois, out_h, out_w, scale, sampling_ratio, aligned):
    out = torch.zeros(len(rois), x.shape[1], out_h, out_w, dtype=x.dtype)
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sx, sy = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sx, y2 * scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / out_h)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / out_w)
        for ph in range(out_h):
            for pw in range(out_w):
                acc = torch.zeros(x.shape[1], dtype=x.dtype)
                for iy in range(gh):
                    for ix in range(gw):
                        yy = sy + ph * rh / out_h + (iy + 0.5) * (rh / out_h) / gh
                        xx = sx + pw * rw / out_w + (ix + 0.5) * (rw / out_w) / gw
                        acc += _bilinear(x[int(b)], yy, xx)
                out[k, :, ph, pw] = acc / max(gh * gw, 1)
    return out


def _c_round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def _pool_by_hand(x, rois, out_h, out_w, scale):
    _, _, height, width = x.shape
    out = torch.zeros(len(rois), x.shape[1], out_h, out_w, dtype=x.dtype)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sx, sy, ex, ey = (_c_round(v * scale) for v in (x1, y1, x2, y2))
        rw, rh = max(ex - sx + 1, 1), max(ey - sy + 1, 1)
        for ph in range(out_h):
            h0 = min(max(math.floor(ph * rh / out_h) + sy, 0), height)
            h1 = min(max(math.ceil((ph + 1) * rh / out_h) + sy, 0), height)
            for pw in range(out_w):
                w0 = min(max(math.floor(pw * rw / out_w) + sx, 0), width)
                w1 = min(max(math.ceil((pw + 1) * rw / out_w) + sx, 0), width)
                if h1 > h0 and w1 > w0:
                    out[k, :, ph, pw] = x[int(b), :, h0:h1, w0:w1].amax(dim=(1, 2))
    return out


def _edge_case_rois():
    """On a 7×9 map at scale 1/2: inside, across every border, far outside, sub-cell, degenerate."""
    return torch.tensor(
        [
            [0, 2.0, 3.0, 11.0, 9.0],
            [1, -6.0, -5.0, 5.0, 4.0],  # samples below -1 (dropped) and in [-1, 0] (clamped)
            [0, 10.0, 6.0, 19.0, 15.0],  # reaches past H = 7 and W = 9
            [1, 16.5, 12.5, 17.5, 13.5],  # samples in the last row/column band
            [0, 30.0, 30.0, 40.0, 40.0],  # entirely outside: all zero
            [1, 4.2, 4.2, 4.6, 4.4],  # smaller than a cell
            [0, 5.0, 5.0, 5.0, 5.0],  # a point
            [1, -1.0, -1.0, 19.0, 15.0],  # the whole map
            [0, 1.0, 13.0, 17.0, 14.0],  # a thin strip: adaptive grid 1 × 2
        ],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 1, 3])
def test_roi_align_equals_the_sample_loop_in_float64(aligned, sampling_ratio):
    x = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rois = _edge_case_rois()
    got = roi_align(x, rois, (3, 4), 0.5, sampling_ratio, aligned)
    expected = _align_by_hand(x, rois, 3, 4, 0.5, sampling_ratio, aligned)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert bool((got[4] == 0).all())


@pytest.mark.parametrize("output_size", [(3, 4), 5])
def test_roi_pool_equals_the_bin_loop(output_size):
    x = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rois = torch.cat((_edge_case_rois(), torch.tensor([[1, -1.0, -1.0, 1.0, 5.0], [0, 3.0, 5.0, 9.0, 7.0]], dtype=torch.float64)))
    oh, ow = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    got = roi_pool(x, rois, output_size, 0.5)
    assert torch.equal(got, _pool_by_hand(x, rois, oh, ow, 0.5))
    assert bool((got[4] == 0).all())  # empty bins give 0


def test_c_rounding_of_halves_away_from_zero():
    """-0.5 rounds to -1 (C) and not to 0 (round half to even): the RoI starts one cell earlier."""
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = roi_pool(x, torch.tensor([[0, -1.0, -1.0, 5.0, 5.0]]), 1, 0.5)  # cells -1..3 (round(2.5) = 3)
    assert out.item() == 15.0
    out = roi_pool(x, torch.tensor([[0, -1.0, -1.0, 1.0, 1.0]]), (2, 2), 0.5)  # cells -1..1 in 2 bins
    assert out[0, 0].tolist() == [[0.0, 1.0], [4.0, 5.0]]


def test_chunked_gathers_give_the_same_result(monkeypatch):
    x = torch.randn(2, 3, 16, 20, generator=torch.Generator().manual_seed(2))
    rois = tensor("roi_rois_scale1_16")
    whole_align = roi_align(x, rois, 7, 1 / 16, -1, True)
    whole_fixed = roi_align(x, rois, 7, 1 / 16, 2, False)
    whole_pool = roi_pool(x, rois, 7, 1 / 16)
    monkeypatch.setattr(roi_module, "_CHUNK_ELEMENTS", 1)  # one RoI per chunk
    # the same sums; a chunk padded to a smaller sample grid may round its products differently
    torch.testing.assert_close(roi_align(x, rois, 7, 1 / 16, -1, True), whole_align, rtol=0, atol=1e-6)
    torch.testing.assert_close(roi_align(x, rois, 7, 1 / 16, 2, False), whole_fixed, rtol=0, atol=1e-6)
    assert torch.equal(roi_pool(x, rois, 7, 1 / 16), whole_pool)


# ---------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize(("sampling_ratio", "aligned"), [(2, True), (-1, False)])
def test_roi_align_gradcheck_in_float64(sampling_ratio, aligned):
    x = torch.randn(2, 2, 5, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.3, 0.7, 7.9, 6.1], [1, -2.0, 1.0, 4.0, 11.0], [1, 6.2, 5.5, 12.6, 9.9]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (2, 3), 0.5, sampling_ratio, aligned), (x,))


def test_roi_pool_gradient_goes_to_the_maximum_of_each_bin():
    x = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.0, 0.0, 5.0, 5.0], [0, 2.0, 1.0, 4.0, 5.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, 2, 1.0), (x,))


def test_empty_rois_and_half_precision():
    x = torch.randn(1, 4, 8, 8)
    assert roi_align(x, torch.zeros(0, 5), 3).shape == (0, 4, 3, 3)
    assert roi_pool(x, [torch.zeros(0, 4)], (2, 3)).shape == (0, 4, 2, 3)
    rois = torch.tensor([[0, 1.0, 1.0, 6.0, 5.0]])
    half = roi_align(x.bfloat16(), rois, 2, 1.0, 2)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), roi_align(x, rois, 2, 1.0, 2), atol=0.05, rtol=0.02)


# ---------------------------------------------------------------------------------------------
# FPN level assignment and multi-scale RoIAlign


def test_assign_levels_follows_the_fpn_formula():
    sides = torch.tensor([10.0, 56.0, 111.9, 112.0, 223.9, 224.0, 447.0, 448.0, 1000.0, 5000.0])
    boxes = torch.stack((torch.zeros(10), torch.zeros(10), sides, sides), dim=1)
    levels = assign_levels(boxes, k_min=2, k_max=5)
    assert levels.dtype == torch.int64
    assert levels.tolist() == [2, 2, 2, 3, 3, 4, 4, 5, 5, 5]
    expected = [min(max(math.floor(4 + math.log2(s / 224) + 1e-6), 2), 5) for s in sides.tolist()]
    assert levels.tolist() == expected
    # a rectangle counts by sqrt(w·h); a list of per-image tensors is concatenated
    rect = torch.tensor([[0.0, 0.0, 448.0, 112.0]])
    assert assign_levels([rect, boxes[:2]], k_min=2, k_max=5).tolist() == [4, 2, 2]
    assert LevelMapper(2, 5)([rect, boxes[:2]]).tolist() == [2, 0, 0]
    assert assign_levels(boxes, k_min=3, k_max=6, canonical_scale=112, canonical_level=3).tolist()[3] == 3


def _pyramid(seed=5, sizes=((32, 40), (16, 20), (8, 10), (4, 5))):
    g = torch.Generator().manual_seed(seed)
    return {f"p{i + 2}": torch.randn(2, 3, h, w, generator=g, dtype=torch.float64) for i, (h, w) in enumerate(sizes)}


def test_multiscale_roi_align_pools_each_box_from_its_level():
    features = _pyramid()
    boxes = [
        torch.tensor([[0.0, 0.0, 20.0, 20.0], [10.0, 5.0, 150.0, 120.0]], dtype=torch.float64),
        torch.tensor([[5.0, 5.0, 60.0, 70.0], [0.0, 0.0, 160.0, 128.0], [30.0, 40.0, 34.0, 44.0]], dtype=torch.float64),
    ]
    pool = MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], 3, 2, canonical_scale=64, canonical_level=4)
    out = pool(features, boxes, [(128, 160), (120, 150)])
    assert out.shape == (5, 3, 3, 3)
    levels = assign_levels(boxes, k_min=2, k_max=5, canonical_scale=64, canonical_level=4)
    assert len(set(levels.tolist())) >= 3  # the case exercises several levels
    image_of = [0, 0, 1, 1, 1]
    for row, (box, level) in enumerate(zip(torch.cat(boxes), levels.tolist())):
        roi = torch.cat((torch.tensor([float(image_of[row])], dtype=torch.float64), box))[None]
        expected = roi_align(features[f"p{level}"], roi, 3, 2.0**-level, 2, False)
        torch.testing.assert_close(out[row : row + 1], expected, rtol=0, atol=0)


def test_multiscale_roi_align_single_map_list_input_and_gradients():
    features = _pyramid()
    maps = [f.requires_grad_() for f in features.values()]
    boxes = [torch.tensor([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 160.0, 128.0]], dtype=torch.float64), torch.zeros(0, 4, dtype=torch.float64)]
    out = MultiScaleRoIAlign(None, (2, 3), -1, canonical_scale=64)(maps, boxes, [(128, 160), (100, 100)])
    out.sum().backward()
    assert maps[0].grad.abs().sum() > 0 and maps[3].grad.abs().sum() > 0  # small box -> P2, large box -> P5
    single = MultiScaleRoIAlign(["p3"], 2, 2)({"p3": features["p3"].detach()}, boxes, [(128, 160), (128, 160)])
    rois = torch.cat((torch.zeros(2, 1, dtype=torch.float64), boxes[0]), dim=1)
    assert torch.equal(single, roi_align(features["p3"].detach(), rois, 2, 1 / 8, 2))


def test_multiscale_roi_align_rejects_bad_pyramids():
    boxes = [torch.tensor([[0.0, 0.0, 20.0, 20.0]], dtype=torch.float64)]
    features = _pyramid()
    with pytest.raises(ValueError, match=r"consecutive pyramid levels.*got strides \[4, 16\]"):
        MultiScaleRoIAlign(["p2", "p4"], 2, 2)(features, boxes, [(128, 160)])
    with pytest.raises(ValueError, match=r"features has no map named \['p6'\]"):
        MultiScaleRoIAlign(["p6"], 2, 2)(features, boxes, [(128, 160)])
    with pytest.raises(ValueError, match=r"different strides along H and W"):
        MultiScaleRoIAlign(None, 2, 2)([torch.zeros(1, 3, 32, 10)], boxes, [(128, 160)])
    with pytest.raises(ValueError, match=r"image_sizes must be one \(H, W\) per image \(1\)"):
        MultiScaleRoIAlign(None, 2, 2)(features, boxes, [])


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("op", [roi_align, roi_pool])
@pytest.mark.parametrize("bad", [torch.zeros(3, 4), torch.zeros(3, 6), torch.zeros(5)])
def test_rois_of_the_wrong_shape_are_rejected(op, bad):
    x = torch.zeros(1, 2, 4, 4)
    msg = r"rois must be a tensor of shape \[K, 5\] with rows \(batch_index, x1, y1, x2, y2\).*got a tensor of shape "
    with pytest.raises(ValueError, match=msg + re.escape(str(list(bad.shape)))):
        op(x, bad, 2)


@pytest.mark.parametrize("op", [roi_align, roi_pool])
def test_other_bad_arguments_are_rejected(op):
    x = torch.zeros(2, 2, 4, 4)
    rois = torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=r"rois\[1\] must be a tensor of shape \[N, 4\].*got \[1, 5\]"):
        op(x, [rois[:, 1:], rois], 2)
    with pytest.raises(ValueError, match=r"rois\[:, 0\] must hold batch indices in 0..1 \(input has 2 images\); row 1 is"):
        op(x, torch.tensor([[0, 0.0, 0.0, 2.0, 2.0], [2, 0.0, 0.0, 2.0, 2.0]]), 2)
    with pytest.raises(ValueError, match=r"output_size must be a positive int or \(height, width\); got 0"):
        op(x, rois, 0)
    with pytest.raises(ValueError, match=r"spatial_scale must be a positive number.*got -0.25"):
        op(x, rois, 2, -0.25)
    with pytest.raises(ValueError, match=r"input must be a feature map of shape \[N, C, H, W\]; got shape \[2, 4, 4\]"):
        op(x[0], rois, 2)
    with pytest.raises(TypeError, match=r"input must be a floating-point feature map.*got torch.int64"):
        op(x.long(), rois, 2)
    with pytest.raises(TypeError, match=r"rois must be a \[K, 5\] tensor or a list of \[N_i, 4\] tensors; got str"):
        op(x, "rois", 2)


def test_level_arguments_are_checked():
    with pytest.raises(ValueError, match=r"k_max must be >= k_min; got k_min=5, k_max=2"):
        assign_levels(torch.zeros(1, 4), k_min=5, k_max=2)
    with pytest.raises(ValueError, match=r"boxes must be a tensor of shape \[K, 4\].*got shape \[2, 5\]"):
        assign_levels(torch.zeros(2, 5), k_min=2, k_max=5)
    with pytest.raises(ValueError, match=r"sampling_ratio must be an int.*got 2.0"):
        MultiScaleRoIAlign(None, 7, 2.0)
    with pytest.raises(ValueError, match=r"sampling_ratio must be an int.*got 0.5"):
        roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5), 2, 1.0, 0.5)
