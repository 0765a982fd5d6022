"""DetectionTask: the loss dict of a torchvision-style detector, COCO mAP on validation, predict (notes §3.5.4)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl
from an2dl.data import BatchError, DataSplits
from an2dl.data.batch import collate_images
from an2dl.data.datasets.detection_files import DetectionDataset
from an2dl.engine import OptimizerSpec, check_task
from an2dl.engine.detection_metrics import MeanAveragePrecision
from an2dl.engine.prediction import PredictOptions
from an2dl.errors import ConfigError, DataError
from an2dl.ops import batched_nms
from an2dl.recipes.base import RunResult
from an2dl.recipes.figures import detection_figures
from an2dl.tasks import TASK_KINDS, DetectionTask, task_for_kind
from an2dl.tasks.detection import detection_class_names, draw_detections


class GridDetector(nn.Module):
    """The smallest detector that keeps torchvision's contract: one box per cell of a stride-8 grid.

    Each cell predicts an objectness logit, box adjustments to a fixed square anchor centred on the
    cell (``(cx, cy)`` offsets in strides, ``log(w / anchor)``, ``log(h / anchor)``) and C class
    logits; an object is assigned to the cell holding its centre (YOLO's rule, §3.5.4.5).
    """

    def __init__(self, num_classes: int = 4, *, anchor: float = 16.0, stride: int = 8) -> None:
        super().__init__()
        self.num_classes, self.anchor, self.stride = num_classes, anchor, stride
        layers, c = [], 3
        for width in (16, 32, 32):  # three 2x poolings: stride 8
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c = width
        self.body = nn.Sequential(*layers, nn.Conv2d(c, 32, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(32, 5 + num_classes - 1, 1)

    def forward(self, images, targets=None):
        x = images if isinstance(images, torch.Tensor) else torch.stack(list(images))
        out = self.head(self.body(x))  # (B, 5 + C, S, S)
        b, _, s, _ = out.shape
        obj, deltas, logits = out[:, 0], out[:, 1:5], out[:, 5:]
        centre = (torch.arange(s, dtype=x.dtype) + 0.5) * self.stride  # cell centres in pixels
        if self.training and targets is not None:
            t_obj = torch.zeros(b, s, s)
            t_box, t_cls, cells = [], [], []
            for i, t in enumerate(targets):
                boxes = t["boxes"]
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                col = (cx / self.stride).long().clamp(0, s - 1)
                row = (cy / self.stride).long().clamp(0, s - 1)
                t_obj[i, row, col] = 1.0
                t_box.append(torch.stack([(cx - centre[col]) / self.stride, (cy - centre[row]) / self.stride,
                                          torch.log((boxes[:, 2] - boxes[:, 0]) / self.anchor),
                                          torch.log((boxes[:, 3] - boxes[:, 1]) / self.anchor)], dim=1))
                t_cls.append(t["labels"] - 1)
                cells.append(torch.stack([torch.full_like(row, i), row, col], dim=1))
            idx = torch.cat(cells)
            loss_obj = F.binary_cross_entropy_with_logits(obj, t_obj)
            if len(idx):
                pred_box = deltas.permute(0, 2, 3, 1)[idx[:, 0], idx[:, 1], idx[:, 2]]
                pred_cls = logits.permute(0, 2, 3, 1)[idx[:, 0], idx[:, 1], idx[:, 2]]
                loss_box = F.smooth_l1_loss(pred_box, torch.cat(t_box))
                loss_cls = F.cross_entropy(pred_cls, torch.cat(t_cls))
            else:  # a batch of empty images: only the objectness term learns
                loss_box = loss_cls = out.sum() * 0.0
            return {"loss_obj": 5.0 * loss_obj, "loss_box": loss_box, "loss_cls": loss_cls}
        prob, label = logits.softmax(dim=1).max(dim=1)  # (B, S, S)
        score = torch.sigmoid(obj) * prob
        cx = centre.view(1, 1, s) + deltas[:, 0] * self.stride
        cy = centre.view(1, s, 1) + deltas[:, 1] * self.stride
        w, h = self.anchor * deltas[:, 2].clamp(max=4).exp(), self.anchor * deltas[:, 3].clamp(max=4).exp()
        size_h, size_w = x.shape[-2:]
        boxes = torch.stack([(cx - w / 2).clamp(0, size_w), (cy - h / 2).clamp(0, size_h),
                             (cx + w / 2).clamp(0, size_w), (cy + h / 2).clamp(0, size_h)], dim=-1)
        results = []
        for i in range(b):
            bx, sc, lb = boxes[i].reshape(-1, 4), score[i].reshape(-1), label[i].reshape(-1) + 1
            keep = (sc > 0.05) & (bx[:, 2] > bx[:, 0]) & (bx[:, 3] > bx[:, 1])
            bx, sc, lb = bx[keep], sc[keep], lb[keep]
            keep = batched_nms(bx, sc, lb, 0.5)
            results.append({"boxes": bx[keep], "scores": sc[keep], "labels": lb[keep]})
        return results


class Fixed(nn.Module):
    """Returns the given detections in evaluation mode, image after image in the order of the calls (an
    evaluation goes through its images in order), and a loss dict in training mode."""

    def __init__(self, detections, num_classes=3):
        super().__init__()
        self.detections, self.num_classes, self.next = detections, num_classes, 0
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, images, targets=None):
        if self.training:
            return {"loss_a": (self.w - 1) ** 2, "loss_b": 2 * self.w**2}
        out = [dict(d) for d in self.detections[self.next:self.next + len(images)]]
        self.next = (self.next + len(images)) % max(1, len(self.detections))
        return out


def _shapes(n_train=256, n_val=64, seed=0):
    return an2dl.get_dataset("shapes-detection", n_train=n_train, n_val=n_val, n_test=0, size=64, seed=seed)


def _train(data, steps, seed=0):
    torch.manual_seed(seed)
    task = DetectionTask(GridDetector(num_classes=data.train.num_classes), class_names=data.train.class_names,
                         optimizer=OptimizerSpec("adam", lr=3e-3))
    trainer = an2dl.Trainer(max_steps=steps, batch_size=16, progress=False, seed=seed, val_every_n_epochs=None) \
        if steps else None
    if trainer is not None:
        trainer.fit(task, data.train)
    metrics = an2dl.Trainer(max_epochs=1, progress=False).evaluate(task, data.val, split="val")
    return task, trainer, metrics


def _det(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.long)}


def _truth(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.long)}


def test_training_raises_the_map_of_a_grid_detector_far_above_its_untrained_value(tmp_path):
    """120 Adam steps (batch 16) of the grid detector on 256 shapes images, mAP on 64 held-out images.

    Measured (data and training seeds 0, 1, 2): untrained map_50 0.006, 0.002, 0.001 -> trained 0.120,
    0.139, 0.140 (map 0.027, 0.039, 0.045).  The test asserts map_50 >= 0.08 and at least 10 times the
    untrained value.
    """
    data = _shapes()
    _, _, before = _train(data, 0)
    task, trainer, after = _train(data, 120)
    assert before["val/map_50"] < 0.02
    assert after["val/map_50"] >= 0.08 and after["val/map_50"] >= 10 * before["val/map_50"]
    assert after["val/map"] > before["val/map"] and 0 < after["val/detections"] < before["val/detections"]
    # every loss term is logged under its name, their sum as loss
    logged = {k for k in trainer.metrics if k.startswith("train/")}
    assert {"train/loss", "train/loss_obj", "train/loss_box", "train/loss_cls"} <= logged
    # the report: PR curves from the test evaluation's artifact, held-out images with their boxes
    evaluator = an2dl.Trainer(max_epochs=1, progress=False)
    test = evaluator.evaluate(task, data.val, split="test")
    assert test["test/map_50"] == pytest.approx(after["val/map_50"])
    curve = evaluator.eval_artifacts["test/pr_curve_50"]
    assert curve.shape == (3, 101) and float(curve.mean(dim=1).mean()) == pytest.approx(test["test/map_50"], abs=1e-5)
    split = DataSplits(data.train, data.val, data.val, data.info)
    detection_figures(RunResult("detector", tmp_path, test, task=task, data=split, trainer=evaluator), n_examples=4)
    assert (tmp_path / "plots" / "pr_curves_test.png").is_file() and (tmp_path / "plots" / "detections_test.png").is_file()


def test_the_training_loss_is_the_sum_of_the_terms_each_logged_by_name():
    data = DetectionDataset(torch.rand(4, 3, 16, 16), [_truth([[1, 1, 5, 5]], [1])] * 2 + [_truth([], [])] * 2,
                            class_names=["background", "a", "b"])
    task = DetectionTask(Fixed([]), optimizer=OptimizerSpec("sgd", lr=1e-9))
    trainer = an2dl.Trainer(max_steps=1, batch_size=4, progress=False, val_every_n_epochs=None)
    trainer.fit(task, data)
    assert trainer.metrics["train/loss_a"] == pytest.approx(1.0) and trainer.metrics["train/loss_b"] == 0.0
    assert trainer.metrics["train/loss"] == pytest.approx(1.0)


def test_validation_is_the_coco_map_of_the_model_detections_with_empty_images_and_pr_curves():
    truth = [_truth([[2, 2, 12, 12], [20, 20, 30, 28]], [1, 2]), _truth([], []), _truth([[4, 4, 14, 16]], [1])]
    dets = [_det([[2, 2, 12, 11], [20, 21, 30, 28], [0, 0, 5, 5]], [0.9, 0.8, 0.7], [1, 2, 1]),
            _det([[3, 3, 9, 9]], [0.95], [2]),  # a false positive on an empty image
            _det([[5, 4, 14, 16], [4, 4, 14, 16]], [0.6, 0.3], [1, 1])]
    data = DetectionDataset(torch.rand(3, 3, 32, 32), truth, class_names=["background", "circle", "square"])
    task = DetectionTask(Fixed(dets), class_names=["circle", "square"])
    trainer = an2dl.Trainer(max_epochs=1, batch_size=2, progress=False)
    metrics = trainer.evaluate(task, data, split="test")
    ref = MeanAveragePrecision()
    ref.update([dict(d) for d in dets], [dict(t) for t in truth])
    want = ref.compute()
    for key in ("map", "map_50", "map_75", "map_small", "mar_1", "mar_10", "mar_100"):
        assert metrics[f"test/{key}"] == pytest.approx(float(want[key]), abs=1e-6), key
    assert metrics["test/detections"] == pytest.approx(2.0)
    assert not any(k.endswith(("/classes", "_per_class")) for k in metrics)
    curve = trainer.eval_artifacts["test/pr_curve_50"]
    assert curve.shape == (2, 101)
    at_50 = MeanAveragePrecision(iou_thresholds=[0.5], class_metrics=True)
    at_50.update([dict(d) for d in dets], [dict(t) for t in truth])
    per_class = at_50.compute()["map_per_class"]  # AP@0.5 of class 1, class 2
    assert torch.allclose(curve.mean(dim=1), per_class, atol=1e-6)
    # hand check of class 1: detections 0.9 (TP), 0.7 (FP), 0.6 (TP) of 2 objects -> precision 1 up to
    # recall 0.5, then 2/3 up to recall 1: AP@0.5 = (51 * 1 + 50 * 2/3) / 101
    assert float(per_class[0]) == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-6)


def test_an_image_batch_of_only_empty_images_trains_and_evaluates():
    data = DetectionDataset(torch.rand(4, 3, 64, 64), [_truth([], [])] * 4, class_names=["background", "a", "b", "c"])
    torch.manual_seed(0)
    task = DetectionTask(GridDetector(), optimizer=OptimizerSpec("adam", lr=1e-2))
    trainer = an2dl.Trainer(max_steps=3, batch_size=4, progress=False, val_every_n_epochs=None)
    trainer.fit(task, data)
    assert math.isfinite(trainer.metrics["train/loss"])
    metrics = an2dl.Trainer(max_epochs=1, progress=False).evaluate(task, data, split="test")
    assert metrics["test/map"] == -1.0  # COCO: no ground truth, no AP (not a crash)


def test_images_of_different_sizes_reach_the_model_as_a_list():
    images = [torch.rand(3, 16, 16), torch.rand(3, 24, 20)]
    batch = collate_images([(images[0], _truth([[1, 1, 4, 4]], [1])), (images[1], _truth([], []))])
    assert isinstance(batch.inputs, list)
    task = DetectionTask(Fixed([_det([[1, 1, 4, 4]], [0.9], [1]), _det([], [], [])])).eval()

    class Ctx:
        split, training = "val", False

    task.check_batch(task.as_batch(batch), "val")
    assert len(task.predict_step(batch, Ctx())) == 2


def test_the_kind_the_class_names_and_the_augmentation():
    assert task_for_kind("detection") is DetectionTask and TASK_KINDS["detection"] is DetectionTask
    assert detection_class_names(["a", "b"], 3) == ["background", "a", "b"]
    assert detection_class_names(("background", "a", "b"), 3) == ["background", "a", "b"]
    assert detection_class_names(None, 3) == ["background", "1", "2"]
    meta = DetectionTask.export_metadata(class_names=["circle", "square"], preprocessing={"input_shape": [3, 8, 8]})
    assert meta["task"] == "detection" and meta["class_names"] == ["circle", "square"]  # as given; predict reads both
    from an2dl.data.transforms import HorizontalFlip

    task = DetectionTask(Fixed([]), augment=HorizontalFlip())
    x = torch.rand(1, 3, 8, 10)

    class Ctx:
        split, training = "train", True

    target = {**_truth([[1, 2, 4, 6]], [2]), "masks": torch.zeros(1, 8, 10, dtype=torch.uint8), "image_id": 7}
    target["masks"][0, 2:6, 1:4] = 1
    batch = task.prepare_batch({"inputs": x, "targets": [target]}, Ctx())
    moved = batch.targets[0]
    assert torch.allclose(batch.inputs, x.flip(-1), atol=1e-6) and moved["boxes"].tolist() == [[6.0, 2.0, 9.0, 6.0]]
    assert moved["labels"].tolist() == [2] and torch.equal(moved["masks"], target["masks"].flip(-1))


def test_bad_batches_models_and_outputs_are_named():
    data = DetectionDataset(torch.rand(2, 3, 16, 16), [_truth([[1, 1, 5, 5]], [1])] * 2, class_names=["background", "a", "b"])
    trainer = an2dl.Trainer(max_steps=1, batch_size=2, progress=False, val_every_n_epochs=None)
    with pytest.raises(ConfigError, match="needs a model with an int attribute num_classes >= 2"):
        DetectionTask(nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"class_names must name the 2 object classes .* num_classes=3"):
        DetectionTask(Fixed([]), class_names=["a", "b", "c"])
    task = DetectionTask(Fixed([]))
    zero = DetectionDataset(torch.rand(2, 3, 16, 16), [_truth([[1, 1, 5, 5]], [1])] * 2,
                            class_names=["background", "a", "b"])
    zero.targets[1] = _truth([[1, 1, 5, 5]], [0])
    with pytest.raises(BatchError, match=r"batch\.targets\[\d\]\['labels'\] must lie in 1\.\.2 \(0 is the background\)"):
        trainer.fit(task, zero)
    outside = DetectionDataset(torch.rand(2, 3, 16, 16), [_truth([[1, 1, 5, 5]], [1]), _truth([[8, 8, 20, 12]], [2])],
                               class_names=["background", "a", "b"])
    with pytest.raises(BatchError, match=r"batch\.targets\[\d\]\['boxes'\]"):
        trainer.fit(task, outside)

    class Wrong(Fixed):
        def forward(self, images, targets=None):
            return self.w * 2 if self.training else [{"boxes": torch.zeros(0, 4)}]

    with pytest.raises(ConfigError, match="in training mode the model must return a non-empty dict of loss terms"):
        trainer.fit(DetectionTask(Wrong([])), data)
    with pytest.raises(ConfigError, match=r"in evaluation mode the model must return one dict per image \(2\); got a list of 1"):
        an2dl.Trainer(max_epochs=1, batch_size=2, progress=False).evaluate(DetectionTask(Wrong([])), data)
    with pytest.raises(ConfigError, match=r"detections\[0\]\['labels'\] must lie in 1\.\.2; got \[3\]"):
        an2dl.Trainer(max_epochs=1, batch_size=2, progress=False).evaluate(
            DetectionTask(Fixed([_det([[1, 1, 4, 4]], [0.5], [3])] * 2)), data)


def test_predict_prints_the_boxes_in_file_pixels_and_writes_a_labelled_overlay(tmp_path):
    from PIL import Image

    from an2dl.data.images import read_image, save_image

    model = Fixed([_det([[8, 16, 24, 32], [30, 30, 40, 40], [0, 0, 4, 4]], [0.9, 0.6, 0.2], [1, 3, 2])], num_classes=4)
    pre = {"input_shape": [3, 64, 64], "value_range": [0.0, 1.0],
           "pipeline": [{"op": "to_channels", "channels": 3}, {"op": "resize", "size": [64, 64], "mode": "bilinear"}],
           "raw_input": {"channels": 3, "size": [64, 64]}}
    meta = DetectionTask.export_metadata(class_names=["circle", "square", "triangle"], preprocessing=pre)
    save_image(tmp_path / "scene.png", torch.rand(3, 96, 128) * 0.3)  # the file is 128 x 96 pixels
    out = DetectionTask.predict_inputs(model.eval(), meta, [str(tmp_path / "scene.png")],
                                       options=PredictOptions(run_dir=tmp_path))
    drawing = tmp_path / "scene.boxes.png"
    assert out.files == [drawing] and out.lines[0] == f"{tmp_path / 'scene.png'}: 2 objects -> {drawing}"
    # boxes scaled from the model's 64 x 64 input to the file: x by 2, y by 1.5; the 0.2 detection is not shown
    assert out.lines[1] == "  circle 0.900 (x1, y1, x2, y2) = (16.0, 24.0, 48.0, 48.0)"
    assert out.lines[2] == "  triangle 0.600 (x1, y1, x2, y2) = (60.0, 45.0, 80.0, 60.0)"
    with Image.open(drawing) as im:
        assert im.size == (256, 192)  # enlarged twice so that the captions can be read
    overlay = read_image(drawing)
    assert overlay[0, 60, 40] > 0.9 and overlay[2, 60, 40] < 0.3  # the circle's left edge in its (red) colour
    top = DetectionTask.predict_inputs(model.eval(), meta, [str(tmp_path / "scene.png")],
                                       options=PredictOptions(run_dir=tmp_path, top=3))
    assert len(top.values[0][1]) == 3 and top.values[0][1][2][0] == "square"
    with pytest.raises(ConfigError, match="--samples does not apply to the detection model"):
        DetectionTask.predict_inputs(model, meta, [str(tmp_path / "scene.png")],
                                     options=PredictOptions(run_dir=tmp_path, samples=2))


def test_draw_detections_outlines_each_box_in_its_class_colour():
    image = torch.zeros(3, 300, 300)
    out = draw_detections(image, torch.tensor([[10.0, 20.0, 110.0, 220.0]]), torch.tensor([2]),
                          class_names=["background", "a", "b"], width=2)
    assert out.shape == (3, 300, 300)  # already large enough: not enlarged
    assert out[1, 150, 10] > 0.7 and out[0, 150, 10] < 0.3  # class 2: green left edge
    assert float(out[:, 150, 60].abs().sum()) == 0.0  # the inside is untouched
    small = draw_detections(torch.zeros(1, 32, 32), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert small.shape == (3, 256, 256)
    with pytest.raises(DataError, match="one label \\(and score\\) per box; got 1 boxes, 2 labels"):
        draw_detections(image, torch.zeros(1, 4), torch.zeros(2, dtype=torch.long))


def test_the_detection_task_conforms_to_the_task_contract():
    data = an2dl.get_dataset("shapes-detection", n_train=16, n_val=0, n_test=0, size=32, scale=(0.08, 0.15), seed=1)

    def make():
        torch.manual_seed(0)
        return DetectionTask(GridDetector(num_classes=4, anchor=8.0), optimizer=OptimizerSpec("sgd", lr=0.05))

    metrics = check_task(make, data.train, batch_size=8)
    assert {"test/map", "test/map_50", "test/map_75", "test/detections"} <= set(metrics)


def test_the_pr_curves_are_cocoevals_precision_at_iou_05():
    """pr_curve_50 row k-1 equals pycocotools' ``eval["precision"][t=0.5, :, class k, area all, maxDets 100]``."""
    import contextlib
    import io

    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:  # the `detection` extra; CI installs it
        pytest.skip(f"pycocotools is not installed ({exc})")
    g = torch.Generator().manual_seed(0)
    truth, dets, annotations, results = [], [], [], []
    for i in range(12):
        n = int(torch.randint(0, 4, (), generator=g))
        corner = torch.rand(n, 2, generator=g) * 40
        boxes = torch.cat([corner, corner + 8 + torch.rand(n, 2, generator=g) * 16], dim=1)
        labels = torch.randint(1, 4, (n,), generator=g)
        jitter = boxes + torch.randn(n, 4, generator=g) * 2
        jitter[:, 2:] = torch.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        found = torch.cat([jitter, torch.rand(2, 2, generator=g).repeat(1, 2) * 40 + torch.tensor([0, 0, 6, 6])])
        found_labels = torch.cat([torch.where(torch.rand(n, generator=g) < 0.2, torch.randint(1, 4, (n,), generator=g),
                                              labels), torch.randint(1, 4, (2,), generator=g)])
        scores = torch.rand(len(found), generator=g)
        truth.append({"boxes": boxes, "labels": labels})
        dets.append({"boxes": found, "labels": found_labels, "scores": scores})
        for b, k in zip(boxes.double().tolist(), labels.tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": k, "iscrowd": 0,
                                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])})
        for b, k, s in zip(found.double().tolist(), found_labels.tolist(), scores.double().tolist()):
            results.append({"image_id": i + 1, "category_id": k, "score": s, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i + 1} for i in range(12)], "annotations": annotations,
                      "categories": [{"id": k} for k in (1, 2, 3)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
    data = DetectionDataset(torch.zeros(12, 3, 64, 64), truth, class_names=["background", "a", "b", "c"])
    trainer = an2dl.Trainer(max_epochs=1, batch_size=5, progress=False)
    trainer.evaluate(DetectionTask(Fixed(dets, num_classes=4)), data, split="test")
    curve = trainer.eval_artifacts["test/pr_curve_50"].double()
    want = torch.from_numpy(ev.eval["precision"][0, :, :, 0, -1].T.copy())  # (K, R)
    assert torch.allclose(curve, want, atol=1e-6)
