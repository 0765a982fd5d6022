"""Mask AP (COCO ``iouType="segm"``, notes §3.5.5.1): the mean average precision with the IoU of instance masks,
equal to pycocotools' COCOeval on the same predictions (masks given to it as RLE by ``pycocotools.mask``)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from an2dl.engine.detection_metrics import MeanAveragePrecision

SUMMARY_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
                "mar_small", "mar_medium", "mar_large")


def _blob(g: torch.Generator, h: int, w: int) -> torch.Tensor:
    """A random ellipse or rectangle, 3..60 px across, somewhere in an h x w image."""
    size = torch.randint(3, 61, (2,), generator=g)
    y0, x0 = int(torch.randint(0, h - int(size[0]) + 1, (), generator=g)), int(torch.randint(0, w - int(size[1]) + 1, (), generator=g))
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    cy, cx, ry, rx = y0 + size[0] / 2, x0 + size[1] / 2, size[0] / 2, size[1] / 2
    if torch.rand((), generator=g) < 0.5:
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return (yy >= y0) & (yy < y0 + size[0]) & (xx >= x0) & (xx < x0 + size[1])


def _box(mask: torch.Tensor) -> list[float]:
    ys, xs = mask.nonzero(as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


def _random_case(seed: int, images: int = 8):
    """Images of 96x120, 0-5 objects of 3 classes (some crowds), detections: shifted or eroded copies of the
    objects (some of the wrong class), a few stray blobs, probability masks, coarse scores (ties)."""
    g = torch.Generator().manual_seed(seed)
    h, w = 96, 120
    preds, target = [], []
    for _ in range(images):
        m = int(torch.randint(0, 6, (), generator=g))
        gm = torch.stack([_blob(g, h, w) for _ in range(m)]) if m else torch.zeros(0, h, w, dtype=torch.bool)
        gl = torch.randint(1, 4, (m,), generator=g)
        crowd = (torch.rand(m, generator=g) < 0.15).long()
        target.append({"boxes": torch.tensor([_box(x) for x in gm]).reshape(-1, 4), "labels": gl, "masks": gm,
                       "iscrowd": crowd})
        dets, labels = [], []
        for j in range(m):
            for _ in range(int(torch.randint(0, 3, (), generator=g))):
                dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
                shifted = torch.roll(gm[j], (dy, dx), (0, 1))
                if shifted.any():
                    dets.append(shifted)
                    wrong = torch.rand((), generator=g) < 0.15
                    labels.append(int(torch.randint(1, 4, (), generator=g)) if wrong else int(gl[j]))
        for _ in range(int(torch.randint(0, 3, (), generator=g))):
            dets.append(_blob(g, h, w))
            labels.append(int(torch.randint(1, 4, (), generator=g)))
        dm = torch.stack(dets) if dets else torch.zeros(0, h, w, dtype=torch.bool)
        probs = dm.float() * (0.5 + 0.5 * torch.rand(dm.shape, generator=g))  # >= 0.5 exactly on the mask
        preds.append({"boxes": torch.tensor([_box(x) for x in dm]).reshape(-1, 4), "labels": torch.tensor(labels,
                      dtype=torch.int64), "scores": torch.randint(1, 10, (len(dets),), generator=g) / 10,
                      "masks": probs[:, None]})
    return preds, target


def _cocoeval_segm(preds, target):
    try:
        from pycocotools import mask as mask_utils
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:  # pragma: no cover - CI installs it
        pytest.skip(f"pycocotools is not installed ({exc})")

    def rle(mask):
        return mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))

    annotations, results, categories, imgs = [], [], set(), []
    for i, (p, t) in enumerate(zip(preds, target), start=1):
        h, w = t["masks"].shape[-2:]
        imgs.append({"id": i, "height": int(h), "width": int(w)})
        for mask, label, crowd in zip(t["masks"], t["labels"].tolist(), t["iscrowd"].tolist()):
            r = rle(mask)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": label, "segmentation": r,
                                "area": float(mask_utils.area(r)), "bbox": mask_utils.toBbox(r).tolist(),
                                "iscrowd": crowd})
            categories.add(label)
        for mask, score, label in zip(p["masks"][:, 0] >= 0.5, p["scores"].tolist(), p["labels"].tolist()):
            results.append({"image_id": i, "category_id": label, "score": score, "segmentation": rle(mask)})
            categories.add(label)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": imgs, "annotations": annotations, "categories": [{"id": c} for c in sorted(categories)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_ap_equals_cocoeval_segm(seed):
    preds, target = _random_case(seed)
    ev = _cocoeval_segm(preds, target)
    m = MeanAveragePrecision(iou_type="segm")
    m.update(preds[:3], target[:3])  # two updates: the states of several batches join
    m.update(preds[3:], target[3:])
    out = m.compute()
    for key, expected in zip(SUMMARY_KEYS, ev.stats):
        assert float(out[key]) == pytest.approx(expected, abs=1e-6), key
    assert {float(v) for v in ev.stats} - {-1.0, 0.0, 1.0}
    # boxes alone give other numbers: the masks decide the match
    boxes = MeanAveragePrecision()
    boxes.update(preds, target)
    assert float(boxes.compute()["map"]) != pytest.approx(float(out["map"]), abs=1e-3)


def test_bad_mask_input_is_named():
    preds, target = _random_case(0, images=2)
    m = MeanAveragePrecision(iou_type="segm")
    with pytest.raises(ValueError, match=r"preds\[0\] is missing 'masks'"):
        m.update([{k: v for k, v in preds[0].items() if k != "masks"}], target[:1])
    bad = dict(preds[0], masks=preds[0]["masks"][:, :, :10])
    with pytest.raises(ValueError, match=r"preds\[0\]\['masks'\] must be \[\d+, 96, 120\]"):
        m.update([bad], target[:1])
    with pytest.raises(ValueError, match="iou_type must be one of"):
        MeanAveragePrecision(iou_type="keypoints")
