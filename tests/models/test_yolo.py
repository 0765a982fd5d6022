"""YOLO (notes §3.5.4.5): k-means anchors, the eval output contract, decoding, bad input and a quick overfit."""

from __future__ import annotations

import math

import pytest
import torch

from an2dl.data.batch import BatchError
from an2dl.engine.detection_metrics import MeanAveragePrecision
from an2dl.errors import ConfigError
from an2dl.losses.yolo import shape_iou
from an2dl.models import example_inputs, get_model
from an2dl.models.detection.yolo import YOLO, kmeans_anchors


def toy_detection_images(n: int, *, seed: int = 0, size: int = 64) -> tuple[torch.Tensor, list[dict]]:
    """``n`` noisy images with 1–3 filled squares each, coloured by class (red 1, green 2, blue 3)."""
    g = torch.Generator().manual_seed(seed)
    images = 0.2 * torch.rand(n, 3, size, size, generator=g)
    targets = []
    for k in range(n):
        boxes, labels = [], []
        for slot in range(int(torch.randint(1, 4, (1,), generator=g))):
            side = int(torch.randint(8, 20, (1,), generator=g))
            # one object per quadrant, so that two never overlap
            qx, qy = (slot % 2) * size // 2, (slot // 2) * size // 2
            x1 = qx + int(torch.randint(0, size // 2 - side + 1, (1,), generator=g))
            y1 = qy + int(torch.randint(0, size // 2 - side + 1, (1,), generator=g))
            c = int(torch.randint(1, 4, (1,), generator=g))
            images[k, c - 1, y1 : y1 + side, x1 : x1 + side] = 0.9
            boxes.append([x1, y1, x1 + side, y1 + side])
            labels.append(c)
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)})
    return images, targets


def overfit_map50(model: torch.nn.Module, images: torch.Tensor, targets: list[dict], steps: int, lr: float) -> float:
    """Train on the images for ``steps`` full-batch Adam steps, then mAP@0.5 on the same images."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    metric = MeanAveragePrecision()
    with torch.no_grad():
        metric.update(model(images), targets)
    return float(metric.compute()["map_50"])


# --------------------------------------------------------------------------------------------- anchors
def test_kmeans_anchors_find_the_shape_clusters_and_are_a_fixed_point():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[6.0, 6.0], [12.0, 24.0], [30.0, 15.0]])
    sizes = torch.cat([c * (1 + 0.05 * torch.randn(40, 2, generator=g)) for c in centres])
    anchors = kmeans_anchors(sizes, 3, seed=1)
    assert anchors.shape == (3, 2) and anchors.dtype == torch.float32
    assert (anchors[:, 0] * anchors[:, 1]).diff().gt(0).all()  # sorted by area
    torch.testing.assert_close(anchors, centres, atol=0.6, rtol=0)
    # Lloyd's fixed point with the 1 - IoU distance: each anchor is the mean of the boxes nearest to it
    x = sizes.double()
    nearest = shape_iou(x, anchors.double()).argmax(1)
    for k in range(3):
        torch.testing.assert_close(anchors[k].double(), x[nearest == k].mean(0), atol=1e-5, rtol=0)


def test_kmeans_anchors_refuse_bad_input():
    with pytest.raises(ConfigError, match=r"k must be an integer in \[1, 2\]"):
        kmeans_anchors(torch.tensor([[4.0, 4.0], [8.0, 8.0], [4.0, 4.0]]), 3)
    with pytest.raises(ConfigError, match="positive and finite"):
        kmeans_anchors(torch.tensor([[4.0, -1.0]]), 1)
    with pytest.raises(ConfigError, match=r"sizes must be a tensor \[N, 2\]"):
        kmeans_anchors(torch.ones(3), 1)


# --------------------------------------------------------------------------------------------- contract
def test_eval_output_contract_on_tensors_and_lists_of_different_sizes():
    torch.manual_seed(0)
    model = get_model("yolo", num_classes=4, score_threshold=0.0, detections_per_img=7).eval()
    assert model.num_classes == 4 and model.stride == 8
    out = model(torch.rand(2, 3, 64, 64))
    assert isinstance(out, list) and len(out) == 2
    for d in out:
        assert set(d) == {"boxes", "labels", "scores"}
        assert d["boxes"].dtype == torch.float32 and d["boxes"].shape == (7, 4)
        assert d["labels"].dtype == torch.int64 and ((d["labels"] >= 1) & (d["labels"] <= 3)).all()
        assert (d["scores"].diff() <= 0).all() and ((d["scores"] >= 0) & (d["scores"] <= 1)).all()
    # two sizes, neither a multiple of the stride: padded together, boxes clipped to each image
    out = model([torch.rand(3, 50, 61), torch.rand(3, 37, 29)])
    for d, (h, w) in zip(out, [(50, 61), (37, 29)]):
        b = d["boxes"]
        assert (b[:, 0::2] <= w).all() and (b[:, 1::2] <= h).all() and (b >= 0).all()


def test_decoding_scores_objectness_times_class_probability_and_applies_nms():
    model = YOLO(num_classes=3, anchors=[[8.0, 8.0], [16.0, 16.0]], channels=(4,), score_threshold=0.3).eval()
    raw = torch.full((1, 2, 4, 4, 7), -10.0)
    raw[..., :4] = 0.0
    # anchor 1 of cell (row 1, column 2): σ(3) objectness, classes (2, 0) -> score σ(3) · e² / (e² + 1), class 1
    raw[0, 1, 1, 2] = torch.tensor([0.0, 0.0, math.log(1.5), 0.0, 3.0, 2.0, 0.0])
    # a weaker, overlapping copy in the next cell (same class): suppressed by NMS
    raw[0, 1, 1, 3] = torch.tensor([-2.0, 0.0, math.log(1.5), 0.0, 2.0, 2.0, 0.0])
    # the same place as the first, but class 2: kept (NMS is per class)
    raw[0, 0, 1, 2] = torch.tensor([0.0, 0.0, math.log(2.0), 0.0, 3.0, 0.0, 1.0])
    (d,) = model.decode(raw, [(100, 100)])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    assert d["labels"].tolist() == [1, 2]
    assert d["scores"].tolist() == pytest.approx([sig(3) * math.exp(2) / (math.exp(2) + 1),
                                                  sig(3) * math.exp(1) / (math.exp(1) + 1)], rel=1e-5)
    # one block: stride 2.  Cell (1, 2): centre ((2 + ½) · 2, (1 + ½) · 2) = (5, 3); anchor 16 x 16 scaled by
    # (1.5, 1) -> 24 x 16, i.e. (-7, -5, 17, 11), clipped to the image; anchor 8 x 8 scaled by (2, 1) -> 16 x 8
    torch.testing.assert_close(d["boxes"], torch.tensor([[0.0, 0.0, 17.0, 11.0], [0.0, 0.0, 13.0, 7.0]]))
    (d,) = model.decode(raw, [(8, 8)])
    torch.testing.assert_close(d["boxes"], torch.tensor([[0.0, 0.0, 8.0, 8.0], [0.0, 0.0, 8.0, 7.0]]))


def test_training_returns_the_four_terms_and_empty_images_have_no_box_or_class_loss():
    torch.manual_seed(0)
    model = get_model("yolo")
    images, targets = example_inputs("yolo", 2)
    loss = model(images, targets)
    assert set(loss) == {"loss_coord", "loss_obj", "loss_noobj", "loss_class"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in loss.values())
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 2
    loss = model(images, empty)
    assert loss["loss_coord"].item() == loss["loss_obj"].item() == loss["loss_class"].item() == 0.0
    model.eval()
    assert all(d["boxes"].shape == (0, 4) for d in model(torch.zeros(2, 3, 64, 64)))


def test_bad_input_is_refused_with_the_argument_named():
    model = get_model("yolo")
    images, targets = example_inputs("yolo", 2)
    with pytest.raises(BatchError, match="training mode needs targets"):
        model(images)
    for bad in (0, 4):
        wrong = [dict(t, labels=torch.tensor([bad])) for t in targets]
        with pytest.raises(BatchError, match=r"labels'\] must lie in 1..3 .*got \[" + str(bad)):
            model(images, wrong)
    with pytest.raises(BatchError, match=r"x2 > x1"):
        model(images, [dict(t, boxes=torch.tensor([[5.0, 5.0, 5.0, 9.0]])) for t in targets])
    with pytest.raises(ValueError, match=r"lie inside the image"):
        model(images, [dict(t, boxes=torch.tensor([[5.0, 5.0, 70.0, 9.0]])) for t in targets])
    with pytest.raises(BatchError, match="one dict per image"):
        model(images, targets[:1])
    with pytest.raises(ConfigError, match="anchors must have positive"):
        get_model("yolo", anchors=[[10.0, 10.0], [0.0, 5.0]])
    with pytest.raises(ValueError, match=r"images must be a tensor \[B, 3, H, W\]"):
        model.eval()(torch.rand(2, 1, 64, 64))


def test_a_few_images_are_overfitted_to_a_high_map50():
    """Four images with 7 squares: after 120 Adam steps mAP@0.5 on them ≥ 0.9 (measured 1.0 with seeds 0, 1, 2)."""
    torch.manual_seed(0)
    images, targets = toy_detection_images(4)
    model = get_model("yolo", channels=[8, 16, 32], head_channels=32)
    assert overfit_map50(model, images, targets, steps=120, lr=1e-2) >= 0.9
