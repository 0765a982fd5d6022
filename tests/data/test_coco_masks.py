"""COCO instance masks (notes §3.5.5.1): polygons and both RLE forms decoded by our own code, checked
pixel for pixel against ``pycocotools.mask`` (test-only), and the loader on the coco-sample photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from an2dl.data.datasets.detection_files import coco_segmentation_mask, load_coco_detection
from an2dl.data.images import save_image
from an2dl.errors import DataError
from conftest import require_data

mask_api = pytest.importorskip("pycocotools.mask")


def _uncompressed(mask: np.ndarray) -> list[int]:
    """Column-major run lengths of ``mask`` (zeros first), written out by hand."""
    flat = mask.T.ravel().astype(np.int64)
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if flat.size and flat[0] == 1 else runs


def test_hand_computed_examples():
    # a 2x2 square from (1, 1) to (3, 3) covers the pixels whose centres lie inside: rows/columns 1 and 2
    square = coco_segmentation_mask([[1, 1, 3, 1, 3, 3, 1, 3]], (4, 5))
    expected = torch.zeros(4, 5, dtype=torch.uint8)
    expected[1:3, 1:3] = 1
    assert torch.equal(square, expected)
    # column-major runs: [[0, 1], [1, 1]] is 1 zero then 3 ones
    assert coco_segmentation_mask({"size": [2, 2], "counts": [1, 3]}, (2, 2)).tolist() == [[0, 1], [1, 1]]
    # the same mask compressed: counts 1 and 3 are the characters chr(48 + 1) and chr(48 + 3)
    assert coco_segmentation_mask({"size": [2, 2], "counts": "13"}, (2, 2)).tolist() == [[0, 1], [1, 1]]


def test_polygons_equal_pycocotools():
    """Random polygons (self-intersecting, partly outside the image, fractional, several per object)."""
    rng = np.random.default_rng(0)
    for _ in range(120):
        h, w = int(rng.integers(3, 50)), int(rng.integers(3, 50))
        polygons = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(3, 10))
            xy = rng.uniform(-3, 3, 2 * n) + rng.uniform(0, 1, 2 * n) * np.tile([w, h], n)
            polygons.append(xy.round(int(rng.integers(0, 4))).tolist())
        expected = mask_api.decode(mask_api.merge(mask_api.frPyObjects(polygons, h, w)))
        assert np.array_equal(coco_segmentation_mask(polygons, (h, w)).numpy(), expected)


def test_rles_equal_pycocotools():
    rng = np.random.default_rng(1)
    for _ in range(80):
        h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        mask = np.asfortranarray((rng.random((h, w)) < rng.random()).astype(np.uint8))
        compressed = mask_api.encode(mask)
        assert np.array_equal(coco_segmentation_mask(compressed, (h, w)).numpy(), mask)
        plain = {"size": [h, w], "counts": _uncompressed(mask)}
        expected = mask_api.decode(mask_api.frPyObjects(plain, h, w))
        assert np.array_equal(expected, mask)
        assert np.array_equal(coco_segmentation_mask(plain, (h, w)).numpy(), expected)


def test_coco_sample_masks_equal_ann_to_mask():
    """All 12 polygon masks equal pycocotools' ``annToMask`` exactly (pixel counts included) and lie in their boxes."""
    from pycocotools.coco import COCO

    root = require_data("coco-sample")
    data = load_coco_detection(root / "annotations.json", masks=True)
    coco = COCO(str(root / "annotations.json"))
    count = 0
    for i in range(len(data)):
        image, target = data[i]
        masks = target["masks"]
        assert masks.dtype == torch.uint8 and masks.shape == (len(target["boxes"]), *image.shape[-2:])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=target["image_id"]))
        for k, ann in enumerate(anns):
            expected = coco.annToMask(ann)
            assert int(masks[k].sum()) == int(expected.sum()) > 0
            assert np.array_equal(masks[k].numpy(), expected)
            ys, xs = masks[k].nonzero(as_tuple=True)
            x1, y1, x2, y2 = target["boxes"][k].tolist()
            assert x1 <= int(xs.min()) and int(xs.max()) + 1 <= x2 and y1 <= int(ys.min()) and int(ys.max()) + 1 <= y2
            count += 1
    assert count == 12
    small = load_coco_detection(root / "annotations.json", masks=True, size=64)
    for i in range(len(small)):
        image, target = small[i]
        assert target["masks"].shape == (len(target["labels"]), 64, 64) and target["masks"].dtype == torch.uint8
        assert bool(target["masks"].flatten(1).any(dim=1).all())


def _coco(tmp_path, segmentation):
    save_image(tmp_path / "p.png", torch.rand(3, 20, 40))
    doc = {"images": [{"id": 7, "file_name": "p.png", "width": 40, "height": 20}],
           "categories": [{"id": 3, "name": "cat"}],
           "annotations": [{"id": 5, "image_id": 7, "category_id": 3, "bbox": [2, 3, 10, 5],
                            "segmentation": segmentation}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    return tmp_path / "c.json"


def test_bad_segmentations_name_file_annotation_and_value(tmp_path):
    good = load_coco_detection(_coco(tmp_path, [[2, 3, 12, 3, 12, 8, 2, 8]]), masks=True)
    assert good[0][1]["masks"].sum() == 50
    with pytest.raises(DataError, match=r"c\.json.*annotation 5: polygon 0 must list at least 3 points .*got 4 value"):
        load_coco_detection(_coco(tmp_path, [[2, 3, 12, 3]]), masks=True)
    with pytest.raises(DataError, match=r"c\.json.*annotation 5: RLE 'size' must be the image's \[height, width\] = "
                                        r"\[20, 40\]; got \[40, 20\]"):
        load_coco_detection(_coco(tmp_path, {"size": [40, 20], "counts": [800]}), masks=True)
    with pytest.raises(DataError, match=r"annotation 5: RLE runs must .* add up to height\*width = 800; they add up "
                                        r"to 799"):
        load_coco_detection(_coco(tmp_path, {"size": [20, 40], "counts": [799]}), masks=True)
    with pytest.raises(DataError, match=r"c\.json.*annotation 5: its segmentation .* covers no pixel of the 40x20 "
                                        r"image; an instance mask needs at least one pixel"):
        load_coco_detection(_coco(tmp_path, {"size": [20, 40], "counts": [800]}), masks=True)
    with pytest.raises(DataError, match=r"annotation 5: 'segmentation' must be a list of polygons"):
        load_coco_detection(_coco(tmp_path, "oops"), masks=True)
    # a sliver one pixel thick vanishes in a nearest-neighbour resize to 8x8: dropped with a warning
    sliver = [[0, 3, 40, 3, 40, 4, 0, 4]]  # row 3 only; the resize reads rows 0, 2, 5, 7, ...
    with pytest.warns(UserWarning, match=r"annotation\(s\) \[5\] has no pixel left at 8x8; dropped"):
        dropped = load_coco_detection(_coco(tmp_path, sliver), masks=True, size=8)
    target = dropped[0][1]
    assert target["masks"].shape == (0, 8, 8) and target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
