"""The shared contracts: named batches, task-owned metrics, augmentation and evaluation hooks."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from an2dl.data import (
    ArrayDataset,
    Batch,
    BatchError,
    as_batch,
    check_dense_mask,
    check_image_targets,
    collate_images,
    subset,
)
from an2dl.data.text import pad_collate
from an2dl.data.transforms import Compose, RandomHorizontalFlip, RandomVerticalFlip
from an2dl.engine import Callback, OptimizerSpec, Task, Trainer, metric, metric_names
from an2dl.engine.task import MetricLog
from an2dl.errors import ConfigError, UnknownNameError
from an2dl.tasks import ClassificationTask


# ---------------------------------------------------------------- batches
class Detection(Dataset):
    """Images of different sizes with per-image target dicts (torchvision's detection convention)."""

    def __init__(self, n=6):
        g = torch.Generator().manual_seed(0)
        self.items = []
        for i in range(n):
            h, w = 20 + 4 * i, 30 - 2 * i
            boxes = torch.tensor([[1.0, 2.0, 10.0, 12.0]] * (1 + i % 3))
            self.items.append((torch.rand(3, h, w, generator=g), {"boxes": boxes, "labels": torch.ones(len(boxes), dtype=torch.long)}))
        self.collate_fn = collate_images

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_a_detection_batch_counts_images_not_channels():
    ds = Detection()
    batch = collate_images([ds[0], ds[1]])
    assert isinstance(batch.inputs, list) and [im.shape[0] for im in batch.inputs] == [3, 3]
    assert batch.size == 2  # not 3, the channel count
    assert [len(t["boxes"]) for t in batch.targets] == [1, 2]
    same = collate_images([(torch.zeros(3, 8, 8), {}), (torch.ones(3, 8, 8), {})])
    assert same.inputs.shape == (2, 3, 8, 8) and same.size == 2


def test_batch_fields_by_name_size_and_errors():
    x, y = torch.randn(5, 4), torch.arange(5)
    b = as_batch((x, y), ("inputs", "targets"))
    assert b.inputs is x and b.targets is y and b.size == 5
    assert Batch(inputs=x, size=3).size == 3
    with pytest.raises(BatchError, match=r"no field 'mask'; it has \['inputs', 'targets'\]"):
        _ = b.mask
    with pytest.raises(BatchError, match=r"needs the batch field\(s\) \['lengths'\]"):
        b.require("inputs", "lengths", owner="MyTask")
    with pytest.raises(BatchError, match="tuple of 3 fields"):
        as_batch((x, y, y), ("inputs", "targets"), owner="MyTask")
    with pytest.raises(BatchError, match="size must be a non-negative integer; got -1"):
        Batch(inputs=x, size=-1)
    c = pickle.loads(pickle.dumps(Batch(inputs=x, size=3)))
    assert isinstance(c, Batch) and c.size == 3 and torch.equal(c.inputs, x)
    moved = Batch(inputs=[x], targets=[{"boxes": torch.zeros(1, 4)}]).to("cpu")
    assert isinstance(moved, Batch) and moved.targets[0]["boxes"].shape == (1, 4)


def test_pad_collate_pads_with_the_pad_id_and_keeps_lengths():
    b = pad_collate([(torch.tensor([5, 6, 7]), 1), (torch.tensor([8]), 0)])
    assert b.tokens.tolist() == [[5, 6, 7], [8, 0, 0]] and b.lengths.tolist() == [3, 1]
    assert b.targets.tolist() == [1, 0] and b.size == 2
    s2s = pad_collate([(torch.tensor([4]), torch.tensor([9, 9])), (torch.tensor([4, 4]), torch.tensor([9]))])
    assert s2s.targets.tolist() == [[9, 9], [9, 0]]


def test_the_trainer_weights_running_means_by_the_batch_size():
    """10 samples in batches of 4, 4, 2: the epoch mean is the sample mean, not the mean of batch means."""
    seen = []

    class Mean(Task):
        def __init__(self):
            super().__init__(OptimizerSpec("sgd", lr=1e-9))
            self.w = nn.Parameter(torch.zeros(()))

        def step(self, batch, ctx):
            seen.append(batch.size)
            ctx.log("value", batch.inputs.mean())
            return (self.w * batch.inputs).sum()

    x = torch.arange(10.0).reshape(10, 1)
    metrics = Trainer(max_epochs=1, batch_size=4, shuffle=False, progress=False).fit(Mean(), ArrayDataset(x))
    assert seen == [4, 4, 2]
    assert metrics["train/value"] == pytest.approx(4.5)  # mean of 0..9; the batch means would give 4.0


def test_subset_works_on_any_dataset_and_keeps_its_collate():
    ds = Detection()
    part = subset(ds, [4, 1])
    assert len(part) == 2 and part[0] is ds[4] and part.collate_fn is collate_images
    arr = subset(ArrayDataset(torch.arange(6)), torch.tensor([5, 0]))
    assert isinstance(arr, ArrayDataset) and arr.tensors[0].tolist() == [5, 0]
    with pytest.raises(ConfigError, match=r"subset indices must lie in \[0, 6\) .* got 9"):
        subset(ds, [0, 9])


def test_a_batch_missing_a_field_the_task_needs_fails_before_the_step():
    task = ClassificationTask(nn.Linear(4, 3), num_classes=3)
    with pytest.raises(BatchError, match=r"ClassificationTask needs the batch field\(s\) \['targets'\]"):
        Trainer(max_epochs=1, progress=False).fit(task, ArrayDataset(torch.randn(8, 4)))


# ---------------------------------------------------------------- metrics
def test_metric_declarations_name_unknown_metrics_and_bad_splits():
    assert {"accuracy", "mean_average_precision", "perplexity", "mean_iou"} <= set(metric_names())
    with pytest.raises(UnknownNameError, match="unknown metric 'acuracy'; did you mean 'accuracy'"):
        metric("acuracy")
    with pytest.raises(ConfigError, match=r"splits must be a non-empty subset of \('train', 'val', 'test'\)"):
        metric("accuracy", num_classes=3, splits=("predict",))
    task = ClassificationTask(nn.Linear(4, 3), num_classes=3, compute_train_metrics=False)
    assert "accuracy" not in task.metrics_for("train") and "confusion_matrix" in task.metrics_for("test")
    assert task.metrics_for("predict") == {}
    with pytest.raises(ConfigError, match="must be declared with metric"):
        task.declare_metrics({"accuracy": 3})


def test_dict_valued_metrics_are_logged_key_by_key_and_tensors_kept_as_artifacts():
    from an2dl.engine.detection_metrics import MeanAveragePrecision

    # two images, one ground-truth box each; a perfect detection (score 0.9) and a false positive (0.8)
    preds = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 50.0]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([0])},
             {"boxes": torch.tensor([[60.0, 60.0, 90.0, 90.0]]), "scores": torch.tensor([0.8]), "labels": torch.tensor([0])}]
    target = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 50.0]]), "labels": torch.tensor([0])},
              {"boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0]]), "labels": torch.tensor([0])}]
    task = Task()
    task.declare_metrics({"map": metric("mean_average_precision")})
    m = task.metrics_for("val")["map"]
    assert isinstance(m, MeanAveragePrecision)
    m.update(preds, target)
    log = MetricLog()
    log.add("map", m, 1.0)
    out = log.compute("val")
    # ranked: TP (precision 1, recall 1/2) then FP; the 101-point interpolated precision is 1 at recall
    # 0, 0.01, ..., 0.50 (51 points) and 0 above, so AP = 51/101 at every IoU threshold
    assert out["val/map"] == pytest.approx(51 / 101, abs=1e-4)
    assert out["val/map_50"] == pytest.approx(51 / 101, abs=1e-4)
    assert out["val/map_75"] == pytest.approx(51 / 101, abs=1e-4)
    assert out["val/mar_100"] == pytest.approx(0.5, abs=1e-4)  # one of the two objects is found
    assert "val/classes" in out or "val/classes" in log.artifacts


def test_task_owned_metrics_equal_a_direct_computation():
    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    model = nn.Linear(4, 3)
    task = ClassificationTask(model, num_classes=3, top_k=(2,))
    trainer = Trainer(max_epochs=1, eval_batch_size=7, progress=False)
    metrics = trainer.evaluate(task, ArrayDataset(x, y), split="val")
    with torch.no_grad():
        logits = model(x)
    assert metrics["val/accuracy"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    top2 = logits.topk(2, dim=1).indices
    assert metrics["val/top2_accuracy"] == pytest.approx(float((top2 == y[:, None]).any(1).float().mean()))
    assert metrics["val/loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    cm = trainer.eval_artifacts["val/confusion_matrix"]
    assert cm.sum() == 40 and torch.equal(cm.diag().sum(), (logits.argmax(1) == y).sum())


# ---------------------------------------------------------------- augmentation moves targets with the pixels
class ToySegmentation(Task):
    """Per-pixel classes from a 1x1 convolution; the mask moves with the image."""

    required_fields = ("inputs", "mask")
    batch_fields = ("inputs", "mask")
    augment_fields = {"mask": "mask"}

    def __init__(self, augment=None):
        super().__init__(OptimizerSpec("adam", lr=0.05), augment=augment)
        self.model = nn.Conv2d(1, 3, 1)
        self.seen = []

    def check_batch(self, batch, split):
        super().check_batch(batch, split)
        if split != "predict":
            check_dense_mask(batch.inputs, batch.mask, name="batch.mask")

    def step(self, batch, ctx):
        if ctx.training:
            self.seen.append((batch.inputs.clone(), batch.mask.clone()))
        loss = F.cross_entropy(self.model(batch.inputs), batch.mask)
        ctx.log("loss", loss)
        return loss


class ToyBoxes(Task):
    """Regress the one box of each image (per-image target dicts); boxes move with the image."""

    augment_fields = {"targets": "instances"}
    required_fields = ("inputs", "targets")

    def __init__(self, augment=None):
        super().__init__(OptimizerSpec("adam", lr=0.01), augment=augment)
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 4))
        self.seen = []

    def check_batch(self, batch, split):
        super().check_batch(batch, split)
        if split != "predict":
            check_image_targets(batch.inputs, batch.targets, name="batch.targets")

    def step(self, batch, ctx):
        boxes = torch.stack([t["boxes"][0] for t in batch.targets])
        if ctx.training:
            self.seen.append((batch.inputs.clone(), boxes.clone()))
        loss = F.smooth_l1_loss(self.model(batch.inputs) * 16, boxes)
        ctx.log("loss", loss)
        return loss


def _segmentation_data(n=32):
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 3, (n, 8, 8), generator=g)
    mask[:, :, :3] = 0  # asymmetric, so a flip changes it
    return ArrayDataset(mask[:, None].float() / 2, mask)


class BoxImages(Dataset):
    def __init__(self, n=32):
        g = torch.Generator().manual_seed(1)
        self.items = []
        for _ in range(n):
            x1, y1 = torch.randint(0, 8, (2,), generator=g).tolist()
            w, h = torch.randint(3, 8, (2,), generator=g).tolist()
            img = torch.zeros(1, 16, 16)
            img[:, y1:y1 + h, x1:x1 + w] = 1.0
            self.items.append((img, {"boxes": torch.tensor([[x1, y1, x1 + w, y1 + h]], dtype=torch.float32),
                                     "labels": torch.tensor([1])}))
        self.collate_fn = collate_images

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_geometric_augmentation_moves_dense_masks_with_the_pixels():
    data = _segmentation_data()
    flips = Compose([RandomHorizontalFlip(p=0.5), RandomVerticalFlip(p=0.5)])
    task = ToySegmentation(augment=flips)
    first = Trainer(max_epochs=3, batch_size=8, progress=False, seed=0).fit(task, data)
    flipped = 0
    for x, mask in task.seen:
        assert torch.equal((x[:, 0] * 2).round().long(), mask)  # the pixel still encodes its own class
        flipped += int(not torch.equal(mask[:, :, :3], torch.zeros_like(mask[:, :, :3])))
    assert flipped > 0  # some batches were flipped
    assert first["train/loss"] < 1.0  # and the task still learns (chance is ln 3 = 1.10)
    plain = ToySegmentation()
    Trainer(max_epochs=1, batch_size=8, progress=False, seed=0, shuffle=False).fit(plain, data)
    assert all(torch.equal(m[:, :, :3], torch.zeros_like(m[:, :, :3])) for _, m in plain.seen)


def test_geometric_augmentation_moves_boxes_with_the_pixels():
    data = BoxImages()
    task = ToyBoxes(augment=RandomHorizontalFlip(p=0.5))
    Trainer(max_epochs=2, batch_size=8, progress=False, seed=0).fit(task, data)
    moved = 0
    originals = {tuple(t["boxes"][0].tolist()) for _, t in data.items}
    for x, boxes in task.seen:
        for img, box in zip(x, boxes):
            ys, xs = (img[0] > 0.5).nonzero(as_tuple=True)  # resampling leaves ~1e-7 beside edges
            tight = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
            assert box.tolist() == tight  # the box still bounds the white rectangle
            moved += tuple(box.tolist()) not in originals
    assert moved > 0


def test_a_plain_module_augment_sees_the_inputs_only():
    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

    task = ClassificationTask(nn.Linear(2, 2), num_classes=2, augment=Double())

    class Ctx:
        split, training = "train", True

    b = task.prepare_batch((torch.ones(3, 2), torch.zeros(3, dtype=torch.long)), Ctx())
    assert torch.equal(b.inputs, 2 * torch.ones(3, 2)) and b.targets.tolist() == [0, 0, 0]
    Ctx.training = False
    assert torch.equal(task.prepare_batch((torch.ones(3, 2), torch.zeros(3, dtype=torch.long)), Ctx()).inputs, torch.ones(3, 2))
    with pytest.raises(ConfigError, match="augment must be an nn.Module"):
        ClassificationTask(nn.Linear(2, 2), num_classes=2, augment=lambda x: x)


# ---------------------------------------------------------------- evaluation hooks
def test_evaluation_batch_hooks_fire_with_named_batches():
    calls = []

    class Hooks(Callback):
        def on_validation_batch_end(self, trainer, task, outputs, batch, batch_idx):
            calls.append(("val", batch_idx, batch.size, isinstance(batch, Batch)))

        def on_test_batch_end(self, trainer, task, outputs, batch, batch_idx):
            calls.append(("test", batch_idx, batch.size, isinstance(batch, Batch)))

        def on_predict_batch_end(self, trainer, task, outputs, batch, batch_idx):
            calls.append(("predict", batch_idx, tuple(outputs.shape), isinstance(batch, Batch)))

    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    ds = ArrayDataset(x, y)
    task = ClassificationTask(nn.Linear(4, 3), num_classes=3)
    trainer = Trainer(max_epochs=1, batch_size=10, eval_batch_size=6, progress=False, callbacks=[Hooks()])
    trainer.fit(task, ds, ds)
    assert calls == [("val", 0, 6, True), ("val", 1, 4, True)]
    calls.clear()
    trainer.evaluate(task, ds, split="test")
    trainer.predict(task, ArrayDataset(x))
    assert calls == [("test", 0, 6, True), ("test", 1, 4, True), ("predict", 0, (6, 3), True), ("predict", 1, (4, 3), True)]


# ---------------------------------------------------------------- bad targets are named
def test_malformed_boxes_and_masks_are_named_before_the_step():
    images = torch.zeros(2, 1, 16, 16)

    def targets(**over):
        t = [{"boxes": torch.tensor([[1.0, 1.0, 5.0, 5.0]]), "labels": torch.tensor([1]),
              "masks": torch.zeros(1, 16, 16, dtype=torch.uint8)} for _ in range(2)]
        t[1].update(over)
        return t

    check_image_targets(images, targets())
    with pytest.raises(ValueError, match=r"batch.targets\[1\]\['boxes'\].*x2 >= x1.*row 0"):
        check_image_targets(images, targets(boxes=torch.tensor([[6.0, 1.0, 5.0, 5.0]])), name="batch.targets")
    with pytest.raises(ValueError, match=r"batch.targets\[1\]\['boxes'\] must lie inside the image.*row 0"):
        check_image_targets(images, targets(boxes=torch.tensor([[1.0, 1.0, 20.0, 5.0]])), name="batch.targets")
    with pytest.raises(BatchError, match=r"\['masks'\] must be \[N, 16, 16\] like image 1; got \[1, 8, 8\]"):
        check_image_targets(images, targets(masks=torch.zeros(1, 8, 8)))
    with pytest.raises(BatchError, match=r"\['labels'\] must have one row per box \(1\); got 2"):
        check_image_targets(images, targets(labels=torch.tensor([1, 2])))
    with pytest.raises(BatchError, match="one dict per image: 2 images, 1 targets"):
        check_image_targets(images, targets()[:1])
    with pytest.raises(BatchError, match=r"batch.mask must be \[B, H, W\] = \[2, 16, 16\].*got \[2, 8, 8\]"):
        check_dense_mask(images, torch.zeros(2, 8, 8, dtype=torch.long), name="batch.mask")
    with pytest.raises(BatchError, match="integer tensor"):
        check_dense_mask(images, torch.zeros(2, 16, 16))
    # through a task and the trainer: the error comes before any step
    data = _segmentation_data(8)
    bad = ArrayDataset(data.tensors[0], data.tensors[1][:, :4, :4].contiguous())
    with pytest.raises(BatchError, match=r"batch.mask must be \[B, H, W\]"):
        Trainer(max_epochs=1, batch_size=4, progress=False).fit(ToySegmentation(), bad)
