"""COCO mean average precision (notes §3.5.4): hand-computed cases, parity with pycocotools' COCOeval,
bad input, distributed gathering and the engine's metric registry."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from an2dl.engine.detection_metrics import MeanAveragePrecision
from an2dl.engine.metrics import build_metric, metric
from an2dl.engine.task import MetricLog
from an2dl.errors import ConfigError
from conftest import REPO, _in_ci

#: COCOeval's ``stats`` in order, by the names the metric gives them
SUMMARY_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large",
                "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")


def _pred(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.long)}


def _target(boxes, labels, **extra):
    out = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels, dtype=torch.long)}
    out.update({k: torch.tensor(v) for k, v in extra.items()})
    return out


def _compute(preds, target, **kwargs):
    m = MeanAveragePrecision(**kwargs)
    m.update(preds, target)
    return {k: v.tolist() for k, v in m.compute().items()}


# ---------------------------------------------------------------- hand-computed cases
def test_one_hit_and_one_false_positive_give_51_of_101_at_every_threshold():
    # image 1: a perfect detection (0.9) of a 40x40 object; image 2: a false positive (0.8) far from a 20x20 object
    preds = [_pred([[10, 10, 50, 50]], [0.9], [0]), _pred([[60, 60, 90, 90]], [0.8], [0])]
    target = [_target([[10, 10, 50, 50]], [0]), _target([[0, 0, 20, 20]], [0])]
    out = _compute(preds, target)
    # ranked: TP (precision 1, recall 1/2) then FP; the interpolated precision is 1 at the 51 recall
    # levels 0, 0.01, ..., 0.50 and 0 at the 50 above, so AP = 51/101 at every IoU threshold
    for key in ("map", "map_50", "map_75"):
        assert out[key] == pytest.approx(51 / 101, abs=1e-6), key
    for key in ("mar_1", "mar_10", "mar_100"):
        assert out[key] == pytest.approx(0.5, abs=1e-6), key
    # small range (area <= 32²): the 40x40 object and the detection on it are ignored, the 30x30 false
    # positive counts and the 20x20 object is missed -> AP 0, AR 0
    assert out["map_small"] == 0.0 and out["mar_small"] == 0.0
    # medium range: the 20x20 object is ignored and so is the unmatched 30x30 detection (outside the range)
    assert out["map_medium"] == pytest.approx(1.0) and out["mar_medium"] == pytest.approx(1.0)
    # no large object: COCOeval's -1
    assert out["map_large"] == -1.0 and out["mar_large"] == -1.0
    assert out["classes"] == 0  # one class: torchmetrics returns one-element results as scalars
    assert out["map_per_class"] == -1.0 and out["mar_100_per_class"] == -1.0


def test_a_detection_on_a_crowd_region_is_neither_true_nor_false_positive():
    crowd = [[100, 100, 200, 200]]
    obj = [[10, 10, 50, 50]]
    # the highest-scoring detection lies inside the crowd region: IoU with the region is |d ∩ c| / |d| = 1
    preds = [_pred([[120, 120, 150, 150], [10, 10, 50, 50]], [0.95, 0.9], [1, 1])]
    with_crowd = _compute(preds, [_target(obj + crowd, [1, 1], iscrowd=[0, 1])])
    assert with_crowd["map"] == pytest.approx(1.0) and with_crowd["mar_100"] == pytest.approx(1.0)
    # the same region as a regular object: the detection inside it (IoU 0.09) is a false positive ranked
    # first, and the region is a missed object
    without = _compute(preds, [_target(obj + crowd, [1, 1], iscrowd=[0, 0])])
    assert without["mar_100"] == pytest.approx(0.5)
    assert without["map_50"] == pytest.approx(51 / 101 * 0.5, abs=1e-6)  # precision 1/2 up to recall 1/2
    # a crowd region is never a missed object: with only a crowd region there is nothing to find
    only = _compute([_pred([[120, 120, 150, 150]], [0.9], [1])], [_target(crowd, [1], iscrowd=[1])])
    assert only["map"] == -1.0


def test_greedy_matching_prefers_regular_boxes_and_the_later_box_on_a_tie():
    # the detection covers 82% (IoU 1444/1756) of an object and lies inside a crowd region (overlap 1):
    # a regular box wins over an ignored one whatever the IoU, so it is a hit for t <= 0.80 (7 of 10)
    preds = [_pred([[12, 12, 52, 52]], [0.9], [0])]
    out = _compute(preds, [_target([[10, 10, 50, 50], [0, 0, 100, 100]], [0, 0], iscrowd=[0, 1])])
    assert out["map"] == pytest.approx(0.7, abs=1e-6) and out["mar_100"] == pytest.approx(0.7, abs=1e-6)
    # the first detection has IoU 0.6 with both objects and takes the later one, B; the second one is A
    # itself and finds A free: two hits at t = 0.5 (taking A first would leave the second a false positive)
    preds = [_pred([[10, 0, 50, 40], [0, 0, 40, 40]], [0.9, 0.8], [0, 0])]
    out = _compute(preds, [_target([[0, 0, 40, 40], [20, 0, 60, 40]], [0, 0])])
    assert out["map_50"] == pytest.approx(1.0) and out["mar_10"] == pytest.approx(0.65, abs=1e-6)
    # COCOeval caps a threshold at 1 - 1e-10: at t = 1 an IoU of 1 - 1e-11 (float64 boxes) still matches
    near = {"boxes": torch.tensor([[0.0, 0.0, 100.0, 100.0 + 1e-9]], dtype=torch.float64),
            "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}
    assert _compute([near], [_target([[0, 0, 100, 100]], [0])], iou_thresholds=[1.0])["map"] == pytest.approx(1.0)


def test_max_detections_keep_the_top_scores_of_each_image_and_class():
    # a false positive outranks the hit: it is the only detection mar_1 sees
    preds = [_pred([[200, 200, 240, 240], [10, 10, 50, 50]], [0.9, 0.6], [0, 0])]
    out = _compute(preds, [_target([[10, 10, 50, 50]], [0])])
    assert out["mar_1"] == 0.0 and out["mar_10"] == pytest.approx(1.0)
    # with a tie the first detection given ranks first (a stable sort, as COCOeval's mergesort)
    tie = _compute([_pred([[200, 200, 240, 240], [10, 10, 50, 50]], [0.7, 0.7], [0, 0])],
                   [_target([[10, 10, 50, 50]], [0])])
    assert tie["mar_1"] == 0.0
    tie = _compute([_pred([[10, 10, 50, 50], [200, 200, 240, 240]], [0.7, 0.7], [0, 0])],
                   [_target([[10, 10, 50, 50]], [0])])
    assert tie["mar_1"] == pytest.approx(1.0)


def test_a_given_area_decides_the_range_and_the_box_is_still_matched():
    box = [[0, 0, 100, 100]]  # a large box (10 000 px²) ...
    out = _compute([_pred(box, [0.9], [0])], [_target(box, [0], area=[500.0])])  # ... with a small mask area
    assert out["map_small"] == pytest.approx(1.0) and out["map_large"] == -1.0
    assert out["map"] == pytest.approx(1.0)


def test_per_class_results_and_classes_seen_only_in_predictions():
    preds = [_pred([[10, 10, 50, 50], [60, 60, 90, 90]], [0.9, 0.8], [0, 2])]
    target = [_target([[10, 10, 50, 50], [100, 100, 140, 140]], [0, 5])]
    m = MeanAveragePrecision(class_metrics=True)
    m.update(preds, target)
    out = m.compute()
    assert out["classes"].tolist() == [0, 2, 5] and out["classes"].dtype == torch.int64
    # class 0: found; class 2: only a false positive, no object (left out, -1); class 5: missed
    assert out["map_per_class"].tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert out["mar_100_per_class"].tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert float(out["map"]) == pytest.approx(0.5)  # the mean over the classes that have objects


def test_nothing_seen_and_box_formats_and_batching():
    assert set(SUMMARY_KEYS) <= set(_compute([], []))
    assert all(v == -1.0 for k, v in _compute([], []).items() if k != "classes")
    preds, target = _random_case(7)
    ref = _compute(preds, target)
    # the same boxes in the other formats give the same numbers
    for fmt in ("xywh", "cxcywh"):
        convert = {"xywh": lambda b: torch.cat([b[:, :2], b[:, 2:] - b[:, :2]], 1),
                   "cxcywh": lambda b: torch.cat([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], 1)}[fmt]
        p = [{**d, "boxes": convert(d["boxes"])} for d in preds]
        t = [{**d, "boxes": convert(d["boxes"])} for d in target]
        out = _compute(p, t, box_format=fmt)
        assert out.pop("classes") == ref["classes"]
        assert out == pytest.approx({k: v for k, v in ref.items() if k != "classes"}, abs=1e-6), fmt
    # several updates equal one: states are kept per image
    m = MeanAveragePrecision()
    for i in range(0, len(preds), 3):
        m.update(preds[i : i + 3], target[i : i + 3])
    assert {k: v.tolist() for k, v in m.compute().items()} == ref
    # an empty boxes tensor of shape [0] means no boxes
    empty = {"boxes": torch.tensor([]), "scores": torch.tensor([]), "labels": torch.tensor([], dtype=torch.long)}
    assert _compute(preds + [empty], target + [_target([], [])]) == ref


# ---------------------------------------------------------------- parity with pycocotools
def _random_case(seed, *, images=10, fractional=False, crowded=False):
    """Images of 300x300 with objects of every size (10-150 px), 3 classes, noisy detections.

    Detections: 0-2 jittered copies of each object (misses and duplicates), some with the wrong class,
    a few false positives, scores on a coarse grid (ties), some images without detections or objects.
    """
    g = torch.Generator().manual_seed(seed)

    def boxes(n):
        size = torch.randint(10, 151, (n, 2), generator=g).float()
        corner = (torch.rand(n, 2, generator=g) * (300 - size)).floor()
        if fractional:
            corner, size = corner + torch.rand(n, 2, generator=g), size - torch.rand(n, 2, generator=g)
        return torch.cat([corner, corner + size], 1)

    preds, target = [], []
    for i in range(images):
        m = 0 if torch.rand((), generator=g) < 0.15 else int(torch.randint(1, 7, (), generator=g))
        gt, gl = boxes(m), torch.randint(0, 3, (m,), generator=g)
        area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
        area = torch.where(torch.rand(m, generator=g) < 0.2, 0.6 * area, area)  # a mask smaller than its box
        target.append({"boxes": gt, "labels": gl, "iscrowd": (torch.rand(m, generator=g) < 0.15).long(), "area": area})

        copies = torch.randint(0, 3, (m,), generator=g)
        if torch.rand((), generator=g) < 0.15:
            copies.zero_()  # an image without a single detection (false positives aside)
        det = gt.repeat_interleave(copies, dim=0)
        n = det.shape[0]
        det[:, :2] += torch.randint(-6, 7, (n, 2), generator=g)
        det[:, 2:] = torch.maximum(det[:, 2:] + torch.randint(-10, 11, (n, 2), generator=g), det[:, :2] + 1)
        dl = gl.repeat_interleave(copies)
        dl = torch.where(torch.rand(n, generator=g) < 0.15, torch.randint(0, 3, (n,), generator=g), dl)
        fp = int(torch.randint(0, 4, (), generator=g)) + (130 if crowded and i == 0 else 0)
        det, dl = torch.cat([det, boxes(fp)]), torch.cat([dl, torch.randint(0, 3, (fp,), generator=g)])
        scores = torch.randint(0, 10, (det.shape[0],), generator=g) / 10
        preds.append({"boxes": det, "scores": scores, "labels": dl})
    assert sum(len(p["scores"]) for p in preds) > 0  # COCO.loadRes rejects an empty result list
    return preds, target


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        if _in_ci():
            pytest.fail(f"pycocotools is needed for the reference comparison and CI must install it ({exc})")
        pytest.skip(f"pycocotools is not installed ({exc})")
    return COCO, COCOeval


def _cocoeval(preds, target, iou_thresholds=None, max_dets=None):
    """COCOeval on the same data: xywh boxes, gt area = the given area or w·h, ids from 1."""
    COCO, COCOeval = _pycocotools()
    annotations, results, categories = [], [], set()
    for i, (p, t) in enumerate(zip(preds, target), start=1):
        area = t.get("area")
        crowd = t.get("iscrowd")
        for j, (box, label) in enumerate(zip(t["boxes"].double().tolist(), t["labels"].tolist())):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": label,
                                "bbox": [box[0], box[1], w, h], "area": w * h if area is None else float(area[j]),
                                "iscrowd": 0 if crowd is None else int(crowd[j])})
            categories.add(label)
        for box, score, label in zip(p["boxes"].double().tolist(), p["scores"].double().tolist(), p["labels"].tolist()):
            results.append({"image_id": i, "category_id": label, "score": score,
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
            categories.add(label)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in range(1, len(target) + 1)], "annotations": annotations,
                      "categories": [{"id": c} for c in sorted(categories)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        if iou_thresholds is not None:
            ev.params.iouThrs = np.array(iou_thresholds)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _per_class_means(values):
    """Per-class mean of the entries > -1 (-1 if none) of a [..., K] array."""
    values = values.reshape(-1, values.shape[-1])
    return [float(v[v > -1].mean()) if (v > -1).any() else -1.0 for v in values.T]


@pytest.mark.parametrize(
    "seed, kwargs",
    [(0, {}), (1, {}), (2, {"images": 25}), (3, {"crowded": True}), (4, {"fractional": True}),
     (5, {"images": 3}), (6, {"images": 40, "fractional": True})],
)
def test_every_summary_number_equals_cocoeval(seed, kwargs):
    preds, target = _random_case(seed, **kwargs)
    ev = _cocoeval(preds, target)
    m = MeanAveragePrecision(class_metrics=True)
    m.update(preds, target)
    out = m.compute()
    for key, expected in zip(SUMMARY_KEYS, ev.stats):
        assert float(out[key]) == pytest.approx(expected, abs=1e-6), key
    assert {float(v) for v in ev.stats} - {-1.0, 0.0, 1.0}  # the case is not degenerate
    precision, recall = ev.eval["precision"], ev.eval["recall"]  # [T, R, K, A, M], [T, K, A, M]
    assert out["classes"].tolist() == ev.params.catIds
    assert out["map_per_class"].tolist() == pytest.approx(_per_class_means(precision[:, :, :, 0, -1]), abs=1e-6)
    assert out["mar_100_per_class"].tolist() == pytest.approx(_per_class_means(recall[:, :, 0, -1]), abs=1e-6)


def test_custom_thresholds_equal_cocoeval_with_the_same_parameters():
    preds, target = _random_case(11, images=15, crowded=True)
    ev = _cocoeval(preds, target, iou_thresholds=[0.3, 0.5, 0.75, 0.9], max_dets=[1, 5, 100])
    out = _compute(preds, target, iou_thresholds=[0.3, 0.5, 0.75, 0.9], max_detection_thresholds=[5, 1, 100])
    keys = [{"mar_10": "mar_5"}.get(k, k) for k in SUMMARY_KEYS]
    for key, expected in zip(keys, ev.stats):
        assert out[key] == pytest.approx(expected, abs=1e-6), key
    # without 0.75 among the thresholds there is no map_75, as in COCOeval
    assert _compute(preds, target, iou_thresholds=[0.5])["map_75"] == -1.0


# ---------------------------------------------------------------- bad input
GOOD_P = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([1])}
GOOD_T = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([1])}


@pytest.mark.parametrize(
    "preds, target, error, match",
    [
        ({"boxes": GOOD_P["boxes"]}, [GOOD_T], TypeError, r"preds must be a list with one dict per image; got dict"),
        ([GOOD_P], [GOOD_T, GOOD_T], ValueError, r"one entry per image each; got 1 and 2"),
        ([GOOD_P["boxes"]], [GOOD_T], TypeError, r"preds\[0\] must be a dict with keys 'boxes', 'scores', 'labels'; got Tensor"),
        ([{"boxes": GOOD_P["boxes"], "labels": GOOD_P["labels"]}], [GOOD_T], ValueError, r"preds\[0\] is missing 'scores'"),
        ([{**GOOD_P, "boxes": torch.zeros(1, 5)}], [GOOD_T], ValueError, r"preds\[0\]\['boxes'\] must be a tensor of shape \[N, 4\] in xyxy format; got shape \[1, 5\]"),
        ([{**GOOD_P, "boxes": [[0, 0, 1, 1]]}], [GOOD_T], TypeError, r"preds\[0\]\['boxes'\] must be a torch.Tensor of shape \[N, 4\]; got list"),
        ([{**GOOD_P, "scores": torch.tensor([0.5, 0.4])}], [GOOD_T], ValueError, r"preds\[0\]\['scores'\] must have shape \[1\] \(one entry per box\); got shape \[2\]"),
        ([{**GOOD_P, "labels": torch.tensor([1.0])}], [GOOD_T], TypeError, r"preds\[0\]\['labels'\] must be an integer tensor of class ids; got torch.float32"),
        ([{**GOOD_P, "scores": torch.tensor([float("nan")])}], [GOOD_T], ValueError, r"preds\[0\]\['scores'\] must be finite; entry 0 is nan"),
        ([GOOD_P], [{**GOOD_T, "boxes": torch.tensor([[10.0, 0.0, 5.0, 10.0]])}], ValueError, r"target\[0\]\['boxes'\] must satisfy x2 >= x1 and y2 >= y1"),
        ([GOOD_P], [{**GOOD_T, "boxes": torch.tensor([[0.0, 0.0, 1.0, float("inf")]])}], ValueError, r"target\[0\]\['boxes'\] must be finite"),
        ([GOOD_P], [{"boxes": GOOD_T["boxes"]}], ValueError, r"target\[0\] is missing 'labels'"),
        ([GOOD_P], [{**GOOD_T, "iscrowd": torch.tensor([2])}], ValueError, r"target\[0\]\['iscrowd'\] must hold 0 or 1 \(or bools\); got \[2\]"),
        ([GOOD_P], [{**GOOD_T, "area": torch.tensor([-1.0])}], ValueError, r"target\[0\]\['area'\] must be finite and non-negative; entry 0 is -1.0"),
        ([GOOD_P], [{**GOOD_T, "area": torch.tensor([1.0, 2.0])}], ValueError, r"target\[0\]\['area'\] must have shape \[1\]"),
    ],
)
def test_bad_update_arguments_are_named(preds, target, error, match):
    m = MeanAveragePrecision()
    m.update([GOOD_P], [GOOD_T])
    with pytest.raises(error, match=match):
        m.update(preds, target)
    # a rejected batch leaves the state as it was (validated before anything is stored)
    assert [len(getattr(m, name)) for name in ("det_boxes", "gt_boxes", "det_counts")] == [1, 1, 1]
    assert float(m.compute()["map"]) == pytest.approx(1.0)


def test_bad_box_in_another_format_names_the_conversion():
    m = MeanAveragePrecision(box_format="xywh")
    with pytest.raises(ValueError, match=r"preds\[0\]\['boxes'\] \(converted from xywh\) must satisfy x2 >= x1"):
        m.update([{**GOOD_P, "boxes": torch.tensor([[0.0, 0.0, -3.0, 4.0]])}], [GOOD_T])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"box_format": "xyhw"}, ValueError, r"box_format must be one of \('xyxy', 'xywh', 'cxcywh'\); got 'xyhw'"),
        ({"iou_thresholds": [0.5, 1.5]}, ValueError, r"iou_thresholds must be a non-empty sequence of numbers in \[0, 1\]; got \[0.5, 1.5\]"),
        ({"iou_thresholds": []}, ValueError, r"iou_thresholds must be a non-empty sequence"),
        ({"max_detection_thresholds": [1, 0]}, ValueError, r"max_detection_thresholds must be a non-empty sequence of distinct positive integers; got \[1, 0\]"),
        ({"max_detection_thresholds": [10, 10]}, ValueError, r"distinct positive integers; got \[10, 10\]"),
        ({"class_metrics": "yes"}, TypeError, r"class_metrics must be a bool; got str"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        MeanAveragePrecision(**kwargs)


# ---------------------------------------------------------------- the engine's registry and log
def test_the_registry_builds_this_metric_and_the_log_keeps_per_class_tensors_as_artifacts():
    m = build_metric(metric("mean_average_precision"))
    assert isinstance(m, MeanAveragePrecision) and m.box_format == "xyxy" and not m.class_metrics
    m = build_metric(metric("mean_average_precision", box_format="xywh", iou_thresholds=[0.5],
                            max_detection_thresholds=[1, 5], class_metrics=True))
    assert (m.box_format, m.iou_thresholds, m.max_detection_thresholds, m.class_metrics) == ("xywh", [0.5], [1, 5], True)
    with pytest.raises(ConfigError, match="mean_average_precision"):
        build_metric(metric("mean_average_precision", iou_type="segm"))

    preds, target = _random_case(3, images=6)
    m = build_metric(metric("mean_average_precision", class_metrics=True))
    m.update(preds, target)
    expected = m.compute()
    log = MetricLog()
    log.add("map", m, 1.0)
    out = log.compute("val")
    assert set(out) == {f"val/{k}" for k in SUMMARY_KEYS}
    for key in SUMMARY_KEYS:
        assert out[f"val/{key}"] == pytest.approx(float(expected[key]))
    assert set(log.artifacts) == {"val/map_per_class", "val/mar_100_per_class", "val/classes"}
    assert torch.equal(log.artifacts["val/classes"], torch.tensor([0, 1, 2]))


# ---------------------------------------------------------------- gathering across processes
_DDP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    sys.path[:0] = {tests!r}
    from test_detection_map import _random_case

    def worker(rank, out, init):
        from an2dl.engine.detection_metrics import MeanAveragePrecision
        dist.init_process_group("gloo", init_method="file://" + init, rank=rank, world_size=2)
        preds, target = _random_case(21, images=6)
        uneven, idle = MeanAveragePrecision(class_metrics=True), MeanAveragePrecision()
        if rank == 0:  # rank 0: images 0-4 in two batches; rank 1: image 5 only, and nothing for `idle`
            uneven.update(preds[:2], target[:2])
            uneven.update(preds[2:5], target[2:5])
            idle.update(preds[:5], target[:5])
        else:
            uneven.update(preds[5:], target[5:])
        result = {{"uneven": uneven.compute(), "idle": idle.compute()}}
        if rank == 0:
            with open(out, "w") as f:
                json.dump({{k: {{n: v.tolist() for n, v in r.items()}} for k, r in result.items()}}, f)
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(worker, args=(sys.argv[1], sys.argv[2]), nprocs=2)
    """
)


@pytest.mark.slow
def test_two_processes_with_different_image_counts_gather_to_the_single_process_result(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(_DDP_SCRIPT.format(tests=[str(Path(__file__).resolve().parent), str(REPO / "tests")]))
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, str(script), str(out), str(tmp_path / "init")], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    preds, target = _random_case(21, images=6)
    assert got["uneven"] == _compute(preds, target, class_metrics=True)  # rank 0's images, then rank 1's
    assert got["idle"] == _compute(preds[:5], target[:5])
