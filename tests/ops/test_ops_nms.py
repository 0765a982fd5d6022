"""Non-maximum suppression: torchvision's keep lists (ties, strict threshold), a written-out greedy loop, properties."""

from __future__ import annotations

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _vision_reference import tensor, vision_ops
from an2dl.ops import batched_nms, box_iou, nms

THRESHOLDS = ["0.0", "0.3", "0.5", "0.7", "1.0"]
BATCHED_THRESHOLDS = ["0.3", "0.5", "0.7"]
# the module (the package attribute ``an2dl.ops.nms`` is the function)
nms_module = importlib.import_module("an2dl.ops.nms")


@pytest.mark.parametrize("thr", THRESHOLDS)
def test_nms_matches_torchvision(thr):
    keep = nms(tensor("nms_boxes"), tensor("nms_scores"), float(thr))
    assert keep.dtype == torch.int64
    assert keep.tolist() == vision_ops()[f"nms_iou{thr}_keep"].tolist()


def test_nms_tie_rule_matches_torchvision():
    """Equal scores are visited lower index first: rows 3 and 0 are kept, their duplicates 4 and 1 (and 2) go."""
    keep = nms(tensor("nms_tie_boxes"), tensor("nms_tie_scores"), 0.5)
    assert keep.tolist() == vision_ops()["nms_tie_iou0.5_keep"].tolist() == [3, 0]


@pytest.mark.parametrize("thr", BATCHED_THRESHOLDS)
def test_batched_nms_matches_torchvision(thr):
    keep = batched_nms(tensor("batched_nms_boxes"), tensor("batched_nms_scores"), tensor("batched_nms_idxs"), float(thr))
    assert keep.tolist() == vision_ops()[f"batched_nms_iou{thr}_keep"].tolist()


def test_threshold_one_keeps_duplicates_and_zero_keeps_touching_boxes():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0], [5.0, 5.0, 6.0, 6.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 1.0).tolist() == [0, 1, 2, 3]
    assert nms(boxes, scores, 0.0).tolist() == [0, 2]  # row 3 lies inside row 0: IoU 0.01 > 0


# ---------------------------------------------------------------------------------------------
# the greedy algorithm written out, pair by pair, in Python floats


def _greedy(boxes: list[list[float]], scores: list[float], thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # Python's sort is stable
    kept: list[int] = []
    for i in order:
        a = boxes[i]
        ok = True
        for j in kept:
            b = boxes[j]
            w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = w * h
            union = (b[2] - b[0]) * (b[3] - b[1]) + (a[2] - a[0]) * (a[3] - a[1]) - inter
            if inter / union > thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def _clustered(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes around a few centres with scores on a coarse grid (many overlaps and ties)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(8, 2, generator=g, dtype=torch.float64) * 200
    c = centres[torch.randint(0, 8, (n,), generator=g)] + torch.randn(n, 2, generator=g, dtype=torch.float64) * 10
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 10
    scores = torch.randint(0, 20, (n,), generator=g).double() / 20
    return torch.cat((c - wh / 2, c + wh / 2), dim=1), scores


@pytest.mark.parametrize(("block", "chunk"), [(3, 5), (64, 1 << 18), (256, 100)])
@pytest.mark.parametrize("thr", [0.0, 0.4, 0.8])
def test_nms_equals_the_greedy_loop_across_blocks(monkeypatch, block, chunk, thr):
    monkeypatch.setattr(nms_module, "_BLOCK", block)
    monkeypatch.setattr(nms_module, "_CHUNK_ELEMENTS", chunk)
    boxes, scores = _clustered(400, seed=int(thr * 10) + block)
    expected = _greedy(boxes.tolist(), scores.tolist(), thr)
    assert nms(boxes, scores, thr).tolist() == expected


def _per_class(boxes, scores, idxs, thr):
    keep = torch.cat([torch.nonzero(idxs == c).flatten()[nms(boxes[idxs == c], scores[idxs == c], thr)] for c in idxs.unique()])
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


@pytest.mark.parametrize("thr", [0.2, 0.5])
def test_batched_nms_is_nms_per_category(thr):
    boxes, scores = _clustered(300, seed=7)
    idxs = torch.randint(0, 5, (300,), generator=torch.Generator().manual_seed(3))
    scores = scores + torch.arange(300, dtype=torch.float64) * 1e-9  # no ties: the merge order is then unique
    assert batched_nms(boxes, scores, idxs, thr).tolist() == _per_class(boxes, scores, idxs, thr).tolist()


def test_batched_nms_separates_categories_with_negative_coordinates():
    """torchvision's offset (max + 1) would shift the class-1 box onto the class-0 one here (IoU 0.75)."""
    boxes = torch.tensor([[-10.0, -10.0, 0.5, 0.5], [-10.0, -10.0, 0.5, 0.5], [-9.0, -9.0, 0.5, 0.5]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    idxs = torch.tensor([0, 1, 0])
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == [0, 1]
    shifted = boxes + idxs[:, None] * (boxes.max() + 1)
    assert box_iou(shifted[:1], shifted[1:2]).item() > 0.5  # the failure the wider span avoids


def test_empty_input_gives_an_empty_int64_tensor():
    empty = torch.zeros(0, 4)
    assert nms(empty, torch.zeros(0), 0.5).dtype == torch.int64 and nms(empty, torch.zeros(0), 0.5).numel() == 0
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5).numel() == 0


def test_nms_does_not_track_gradients_and_accepts_boxes_that_require_them():
    boxes, scores = _clustered(20, seed=1)
    keep = nms(boxes.requires_grad_(), scores.requires_grad_(), 0.5)
    assert not keep.requires_grad and keep.numel() > 0


# ---------------------------------------------------------------------------------------------
# properties

box_rows = st.lists(
    st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(1, 40), st.floats(1, 40), st.integers(0, 9)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(box_rows, st.floats(0, 1))
def test_nms_keeps_a_sorted_non_overlapping_subset_that_covers_the_rest(rows, thr):
    t = torch.tensor(rows, dtype=torch.float64)
    boxes = torch.cat((t[:, :2], t[:, :2] + t[:, 2:4]), dim=1)
    scores = t[:, 4] / 10  # coarse: ties are common
    keep = nms(boxes, scores, thr)
    kept = keep.tolist()
    assert len(set(kept)) == len(kept) and all(0 <= i < len(rows) for i in kept)
    assert bool((scores[keep][1:] <= scores[keep][:-1]).all())  # sorted by decreasing score
    iou = box_iou(boxes[keep], boxes[keep])
    assert bool((iou.triu(diagonal=1) <= thr).all())  # no kept pair overlaps above the threshold
    dropped = [i for i in range(len(rows)) if i not in set(kept)]
    if dropped:  # every dropped box is overlapped by a kept one
        assert bool((box_iou(boxes[dropped], boxes[keep]) > thr).any(dim=1).all())
    assert kept == _greedy(boxes.tolist(), scores.tolist(), thr)


# ---------------------------------------------------------------------------------------------
# bad input


def test_nms_rejects_bad_boxes_scores_and_thresholds():
    boxes, scores = torch.zeros(3, 4), torch.zeros(3)
    with pytest.raises(ValueError, match=r"boxes must be a tensor of shape \[N, 4\].*got shape \[3, 5\]"):
        nms(torch.zeros(3, 5), scores, 0.5)
    with pytest.raises(TypeError, match=r"boxes must be a floating-point tensor \[N, 4\]; got torch.int64"):
        nms(torch.zeros(3, 4, dtype=torch.int64), scores, 0.5)
    with pytest.raises(ValueError, match=r"scores must be a 1-D tensor with one score per box \(\[3\]\); got \[2\]"):
        nms(boxes, torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match=r"iou_threshold must be a number.*got '0.5'"):
        nms(boxes, scores, "0.5")
    with pytest.raises(TypeError, match=r"idxs must be an integer tensor \[N\].*got torch.float32"):
        batched_nms(boxes, scores, torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"idxs must be a 1-D tensor with one category per box \(\[3\]\); got \[4\]"):
        batched_nms(boxes, scores, torch.zeros(4, dtype=torch.int64), 0.5)
