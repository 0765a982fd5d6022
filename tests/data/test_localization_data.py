"""Localisation data: the seeded one-object shapes and the raccoon photos' single-object crops (notes §3.5.2)."""

from __future__ import annotations

import pytest
import torch

import an2dl
from an2dl.data.datasets.localization_shapes import draw_localization_shapes, mask_boxes
from an2dl.data.datasets.raccoon import read_voc_boxes
from an2dl.errors import ConfigError, DataError, DataNotFoundError
from an2dl.ops.boxes import check_boxes
from conftest import require_data


def test_mask_boxes_are_tight_continuous_pixel_boxes():
    masks = torch.zeros(2, 6, 8, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True  # rows 1-2, columns 2-4
    masks[1, 5, 7] = True  # one pixel in the corner
    assert mask_boxes(masks).tolist() == [[2.0, 1.0, 5.0, 3.0], [7.0, 5.0, 8.0, 6.0]]
    with pytest.raises(ValueError, match="mask 0 is empty"):
        mask_boxes(torch.zeros(1, 3, 3, dtype=torch.bool))


def test_localization_shapes_are_seeded_with_one_box_per_image_around_the_object():
    a = an2dl.get_dataset("localization-shapes", n_train=64, n_val=0, n_test=16, size=32, seed=3)
    b = an2dl.get_dataset("localization-shapes", n_train=64, n_val=0, n_test=16, size=32, seed=3)
    assert all(torch.equal(s, t) for s, t in zip(a.train.tensors, b.train.tensors))
    assert a.val is None and a.info.class_names == ["circle", "square", "triangle", "cross"]
    x, y, boxes = a.train.tensors
    assert x.shape == (64, 1, 32, 32) and y.dtype == torch.long and boxes.shape == (64, 4)
    check_boxes(boxes, (32, 32))
    assert set(y.tolist()) == {0, 1, 2, 3}
    # without noise or clutter the object is the only bright region: its box is the box of the bright pixels
    g = torch.Generator().manual_seed(0)
    img, _, bx = draw_localization_shapes(16, 32, clutter=0, noise=0.0, generator=g)
    assert torch.equal(mask_boxes(img[:, 0] >= 0.55), bx)
    with pytest.raises(ConfigError, match="localization-shapes n_train must be an integer >= 1; got 0"):
        an2dl.get_dataset("localization-shapes", n_train=0)


VOC = """<annotation><filename>{name}</filename><size><width>40</width><height>30</height><depth>3</depth></size>
<object><name>raccoon</name><bndbox><xmin>{x1}</xmin><ymin>2</ymin><xmax>{x2}</xmax><ymax>20</ymax></bndbox></object>
</annotation>"""


def test_voc_boxes_are_read_and_a_box_outside_the_image_is_named(tmp_path):
    good = tmp_path / "a.xml"
    good.write_text(VOC.format(name="a.jpg", x1=5, x2=25))
    name, size, boxes = read_voc_boxes(good)
    assert name == "a.jpg" and size == (30, 40) and boxes.tolist() == [[5.0, 2.0, 25.0, 20.0]]
    bad = tmp_path / "b.xml"
    bad.write_text(VOC.format(name="b.jpg", x1=5, x2=45))
    with pytest.raises(DataError, match=r"b\.xml: box 0 \(xmin, ymin, xmax, ymax\) = \(5, 2, 45, 20\) must lie inside "
                                        r"the 40x30 image"):
        read_voc_boxes(bad)


def test_a_missing_raccoon_folder_is_named(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match=f"raccoon data not found in {tmp_path}: it has no annotations/ or "
                                                "images/ folder"):
        an2dl.get_dataset("raccoon", root=tmp_path)
    monkeypatch.delenv("AN2DL_DATA_DIR", raising=False)
    with pytest.raises(DataNotFoundError, match="needs root=PATH .* AN2DL_DATA_DIR is not set"):
        an2dl.get_dataset("raccoon")


def test_raccoon_crops_follow_the_documented_split():
    require_data("raccoon")
    d = an2dl.get_dataset("raccoon", size=32, train_crops=2, val_count=16)
    assert d.sizes() == {"train": 2 * 144, "val": 16, "test": 40}  # 160 training photos (16 validate), 40 test photos
    x, y, boxes = d.test.tensors
    assert x.shape == (40, 3, 32, 32) and bool((y == 0).all()) and d.info.class_names == ["raccoon"]
    check_boxes(boxes, (32, 32))
    # the crop keeps context around the box: the box's sides are 1 / U(1.5, 3.5) of the crop's (letterboxed photos)
    sides = torch.cat([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    assert 32 / 3.5 - 1 <= float(sides.min()) and float(sides.max()) <= 32 / 1.5 + 1
