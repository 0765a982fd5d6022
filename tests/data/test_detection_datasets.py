"""Detection data: the seeded shapes with boxes and masks, the VOC and COCO loaders, raccoon-detection (notes §3.5.4)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import torch

import an2dl
from an2dl.data.batch import Batch
from an2dl.data.datasets.detection_files import (
    DetectionDataset,
    check_annotation_boxes,
    load_coco_detection,
    load_voc_detection,
)
from an2dl.data.datasets.localization_shapes import mask_boxes
from an2dl.data.datasets.raccoon import read_voc_objects
from an2dl.data.datasets.shapes_detection import SHAPES_DETECTION_CLASSES, draw_detection_shapes
from an2dl.data.images import save_image
from an2dl.errors import ConfigError, DataError, DataNotFoundError
from an2dl.ops.boxes import check_boxes
from conftest import require_data


def _all(dataset):
    return [dataset[i] for i in range(len(dataset))]


def test_shapes_detection_is_seeded_and_follows_the_sample_contract():
    a = an2dl.get_dataset("shapes-detection", n_train=96, n_val=16, n_test=0, size=48, seed=3)
    b = an2dl.get_dataset("shapes-detection", n_train=96, n_val=16, n_test=0, size=48, seed=3)
    c = an2dl.get_dataset("shapes-detection", n_train=96, n_val=16, n_test=0, size=48, seed=4)
    assert torch.equal(a.train.images, b.train.images) and not torch.equal(a.train.images, c.train.images)
    assert all(torch.equal(s[1]["boxes"], t[1]["boxes"]) for s, t in zip(_all(a.train), _all(b.train)))
    assert a.test is None and a.sizes() == {"train": 96, "val": 16}
    assert a.train.class_names == SHAPES_DETECTION_CLASSES == ("background", "circle", "square", "triangle")
    assert a.train.num_classes == 4 and a.info.class_names == ["circle", "square", "triangle"]
    assert a.info.kind == "detection" and a.info.input_shape == (3, 48, 48)
    counts = []
    for i, (image, target) in enumerate(_all(a.train)):
        assert image.shape == (3, 48, 48) and image.dtype == torch.float32
        assert 0 <= float(image.min()) and float(image.max()) <= 1
        boxes, labels, masks = target["boxes"], target["labels"], target["masks"]
        n = len(labels)
        assert target["image_id"] == i and labels.dtype == torch.int64 and boxes.dtype == torch.float32
        assert boxes.shape == (n, 4) and masks.shape == (n, 48, 48) and masks.dtype == torch.uint8
        check_boxes(boxes, (48, 48))
        if n:
            assert 1 <= int(labels.min()) and int(labels.max()) <= 3  # 0 is the background, never a label
            assert torch.equal(mask_boxes(masks.bool()), boxes)  # each box is tight around its mask
            assert int(masks.sum(dim=0).max()) == 1  # the objects never overlap
        counts.append(n)
    assert min(counts) == 0 and max(counts) == 4 and counts.count(0) >= 5  # empty images are part of the data
    batch = a.train.collate_fn([a.train[0], a.train[1]])
    assert isinstance(batch, Batch) and batch.inputs.shape == (2, 3, 48, 48) and len(batch.targets) == 2


def test_the_scale_argument_spreads_the_object_sizes():
    g = torch.Generator().manual_seed(0)
    _, labels, boxes, _ = draw_detection_shapes(100, 96, scale=(0.03, 0.3), noise=0.0, generator=g)
    side = (boxes[..., 2] - boxes[..., 0])[labels > 0]
    # a radius r spans 2 r (circle) to 2.5 r (triangle) pixels across, give or take a pixel
    assert float(side.min()) >= 2 * 0.03 * 96 - 2 and float(side.max()) <= 2.5 * 0.3 * 96 + 1
    assert float(side.quantile(0.1)) < 12 and float(side.quantile(0.9)) > 30  # small and large objects both
    g = torch.Generator().manual_seed(0)
    _, labels, boxes, _ = draw_detection_shapes(100, 96, scale=(0.1, 0.1), noise=0.0, generator=g)
    side = (boxes[..., 2] - boxes[..., 0])[labels > 0]
    assert float(side.max() - side.min()) <= 0.6 * 0.1 * 96 + 2  # one radius: only the shapes differ


def test_shapes_detection_rejects_bad_settings():
    with pytest.raises(ConfigError, match="shapes-detection n_train must be an integer >= 1; got 0"):
        an2dl.get_dataset("shapes-detection", n_train=0)
    with pytest.raises(ConfigError, match=r"scale must be \(lo, hi\) with 0 < lo <= hi <= 0.3 .*got \(0.2, 0.1\)"):
        an2dl.get_dataset("shapes-detection", scale=(0.2, 0.1))
    with pytest.raises(ConfigError, match=r"lo \* size >= 2 pixels \(size 64\); got \(0.01, 0.2\)"):
        an2dl.get_dataset("shapes-detection", scale=(0.01, 0.2))
    with pytest.raises(ConfigError, match="DetectionDataset class_names must start with 'background'"):
        DetectionDataset(torch.rand(1, 3, 8, 8), [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}],
                         class_names=["a", "b"])
    with pytest.raises(ConfigError, match=r"targets\[0\]\['labels'\] must lie in 1\.\.1 \(0 is the background\)"):
        DetectionDataset(torch.rand(1, 3, 8, 8), [{"boxes": torch.zeros(1, 4), "labels": torch.tensor([0])}],
                         class_names=["background", "a"])


# ---------------------------------------------------------------------------------------------- files
def _voc(path, filename, size, objects):
    """Write a VOC XML: objects are (name, xmin, ymin, xmax, ymax)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    s = ET.SubElement(root, "size")
    ET.SubElement(s, "width").text, ET.SubElement(s, "height").text = str(size[1]), str(size[0])
    for name, *box in objects:
        o = ET.SubElement(root, "object")
        ET.SubElement(o, "name").text = name
        b = ET.SubElement(o, "bndbox")
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box):
            ET.SubElement(b, k).text = str(v)
    ET.ElementTree(root).write(path)
    return path


def test_voc_loader_reads_several_objects_resizes_and_loads_empty_images(tmp_path):
    save_image(tmp_path / "a.png", torch.rand(3, 40, 60))
    save_image(tmp_path / "b.png", torch.rand(3, 30, 30))
    a = _voc(tmp_path / "a.xml", "a.png", (40, 60), [("cat", 6, 4, 30, 20), ("dog", 30, 10, 60, 40)])
    b = _voc(tmp_path / "b.xml", "b.png", (30, 30), [])
    data = load_voc_detection([a, b], tmp_path, class_names=["cat", "dog"])
    assert data.class_names == ("background", "cat", "dog") and isinstance(data.images, list)
    (xa, ta), (_, tb) = data[0], data[1]
    assert xa.shape == (3, 40, 60) and ta["labels"].tolist() == [1, 2]
    assert ta["boxes"].tolist() == [[6, 4, 30, 20], [30, 10, 60, 40]]
    assert tb["boxes"].shape == (0, 4) and tb["labels"].shape == (0,) and tb["image_id"] == 1
    small = load_voc_detection([a, b], tmp_path, class_names=["background", "cat", "dog"], size=20)
    assert small.images.shape == (2, 3, 20, 20)
    assert torch.allclose(small[0][1]["boxes"], torch.tensor([[2.0, 2.0, 10.0, 10.0], [10.0, 5.0, 20.0, 20.0]]))


def test_voc_loader_names_bad_annotations(tmp_path):
    save_image(tmp_path / "a.png", torch.rand(3, 40, 60))
    cases = [
        ([("cat", 30, 4, 30, 20)], DataError, r"x\.xml: box 0 \(x1, y1, x2, y2\) = \(30, 4, 30, 20\) is degenerate"),
        ([("cat", 1, 1, 5, 5), ("cow", 6, 4, 30, 20)], DataError, r"x\.xml: unknown class name\(s\) \['cow'\]; the "
                                                                  r"known classes are \['cat', 'dog'\]"),
        ([("cat", 70, 4, 90, 20)], DataError, r"box 0 .* = \(70, 4, 90, 20\) lies wholly outside the 60x40 image"),
    ]
    for objects, error, message in cases:
        xml = _voc(tmp_path / "x.xml", "a.png", (40, 60), objects)
        with pytest.raises(error, match=message):
            load_voc_detection([xml], tmp_path, class_names=["cat", "dog"])
    xml = _voc(tmp_path / "x.xml", "a.png", (40, 60), [("dog", 50, 30, 61, 41)])
    with pytest.warns(UserWarning, match=r"x\.xml: box 0 .* = \(50, 30, 61, 41\) reaches outside the 60x40 image; "
                                         r"clipped"):
        data = load_voc_detection([xml], tmp_path, class_names=["cat", "dog"])
    assert data[0][1]["boxes"].tolist() == [[50, 30, 60, 40]]
    with pytest.raises(DataError, match="reaches outside the 60x40 image \\(outside='clip' clips it\\)"):
        load_voc_detection([xml], tmp_path, class_names=["cat", "dog"], outside="error")
    missing = _voc(tmp_path / "m.xml", "gone.png", (40, 60), [("cat", 1, 1, 5, 5)])
    with pytest.raises(DataNotFoundError, match=r"m\.xml: the image file .*gone\.png it refers to is missing"):
        load_voc_detection([missing], tmp_path, class_names=["cat"])
    with pytest.raises(DataError, match=r"has a missing or non-finite coordinate"):
        check_annotation_boxes(torch.tensor([[1.0, float("nan"), 3.0, 4.0]]), (10, 10), source="s")
    with pytest.raises(ConfigError, match=r"outside must be one of \['clip', 'error'\]; got 'drop'"):
        check_annotation_boxes(torch.zeros(0, 4), (10, 10), source="s", outside="drop")


def _coco(tmp_path, annotations, images=None):
    save_image(tmp_path / "p.png", torch.rand(3, 20, 40))
    doc = {"images": images or [{"id": 7, "file_name": "p.png", "width": 40, "height": 20}],
           "categories": [{"id": 0, "name": "_background_"}, {"id": 3, "name": "cat"}, {"id": 9, "name": "dog"}],
           "annotations": annotations}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    return tmp_path / "c.json"


def test_coco_loader_names_bad_annotations(tmp_path):
    good = {"id": 1, "image_id": 7, "category_id": 9, "bbox": [2, 3, 10, 5], "area": 30.0, "iscrowd": 1}
    data = load_coco_detection(_coco(tmp_path, [good]), size=10)
    _, t = data[0]
    assert data.class_names == ("background", "cat", "dog") and t["labels"].tolist() == [2] and t["image_id"] == 7
    assert torch.allclose(t["boxes"], torch.tensor([[0.5, 1.5, 3.0, 4.0]]))  # (2, 3, 12, 8) scaled by (1/4, 1/2)
    assert t["iscrowd"].tolist() == [1] and t["area"].tolist() == [pytest.approx(30.0 / 8)]
    flat = dict(good, bbox=[2, 3, 0, 5])
    with pytest.raises(DataError, match=r"c\.json \(image id 7, p\.png\): annotation 1 has bbox \[x, y, w, h\] = "
                                        r"\[2, 3, 0, 5\]; its width and height must be > 0"):
        load_coco_detection(_coco(tmp_path, [flat]))
    with pytest.raises(DataError, match=r"annotation 1 has category_id 4, which is not an object category of the "
                                        r"file \(ids \[3, 9\]\)"):
        load_coco_detection(_coco(tmp_path, [dict(good, category_id=4)]))
    with pytest.raises(DataError, match="category_id 0, which is not an object category"):
        load_coco_detection(_coco(tmp_path, [dict(good, category_id=0)]))  # the background is no object
    with pytest.raises(DataNotFoundError, match=r"image id 8, q\.png\): the image file .*q\.png it refers to is missing"):
        load_coco_detection(_coco(tmp_path, [], images=[{"id": 8, "file_name": "q.png"}]))
    empty = load_coco_detection(_coco(tmp_path, []))
    assert empty[0][1]["boxes"].shape == (0, 4) and empty[0][1]["iscrowd"].shape == (0,)


# ---------------------------------------------------------------------------------------------- real data
def test_coco_loader_on_the_coco_sample():
    root = require_data("coco-sample")
    data = load_coco_detection(root / "annotations.json")
    doc = json.loads((root / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert data.class_names[0] == "background" and "_background_" not in data.class_names
    assert len(data.class_names) == 21 and len(data) == 3
    assert sum(len(data[i][1]["labels"]) for i in range(3)) == 12
    first = {a["id"]: a for a in doc["annotations"]}
    for i, info in enumerate(doc["images"]):
        image, t = data[i]
        assert image.shape == (3, info["height"], info["width"]) and t["image_id"] == info["id"]
        anns = [a for a in doc["annotations"] if a["image_id"] == info["id"]]
        for k, a in enumerate(anns):
            x, y, w, h = first[a["id"]]["bbox"]
            assert t["boxes"][k].tolist() == pytest.approx([x, y, x + w, y + h], abs=1e-4)  # xywh -> xyxy
            assert data.class_names[int(t["labels"][k])] == names[a["category_id"]]
            assert float(t["area"][k]) == pytest.approx(a["area"], rel=1e-6) and int(t["iscrowd"][k]) == a["iscrowd"]


def test_raccoon_detection_keeps_every_box_and_the_documented_split():
    root = require_data("raccoon")
    data = an2dl.get_dataset("raccoon-detection", size=64, val_count=16, seed=0)
    assert data.sizes() == {"train": 144, "val": 16, "test": 40}
    assert data.train.class_names == ("background", "raccoon") and data.info.class_names == ["raccoon"]
    counts = {part: sum(len(ds[i][1]["labels"]) for i in range(len(ds)))
              for part, ds in (("train", data.train), ("val", data.val), ("test", data.test))}
    assert counts["train"] + counts["val"] == 173 and counts["test"] == 44  # the README's box counts
    assert data.train.images.shape == (144, 3, 64, 64)
    for ds in (data.train, data.val, data.test):
        for i in range(len(ds)):
            check_boxes(ds[i][1]["boxes"], (64, 64))
    # the boxes are the VOC boxes scaled per axis
    _, (h, w), boxes, _ = read_voc_objects(root / "annotations" / "raccoon-12.xml")
    (ds, i), = [(ds, i) for ds in (data.train, data.val, data.test) for i, src in enumerate(ds.sources)
                if src.endswith("raccoon-12.jpg")]
    assert len(boxes) == 2 and torch.allclose(ds[i][1]["boxes"], boxes * torch.tensor([64 / w, 64 / h] * 2))
