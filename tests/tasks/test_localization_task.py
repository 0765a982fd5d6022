"""LocalizationTask: the multi-task loss on named batches, box metrics, validation of the boxes (notes §3.5.2)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import an2dl
from an2dl.data import ArrayDataset, BatchError
from an2dl.engine import OptimizerSpec
from an2dl.errors import ConfigError
from an2dl.losses import encode_boxes
from an2dl.models.localization import LocalizationOutput
from an2dl.tasks import LocalizationTask
from an2dl.tasks.localization import LocalizationMetric, draw_box, paired_box_iou


class Fixed(nn.Module):
    """Returns given logits and normalised boxes, whatever the images (plus a parameter, so it can be trained)."""

    def __init__(self, logits, boxes):
        super().__init__()
        self.logits, self.boxes = logits, boxes
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return LocalizationOutput(self.logits[: len(x)] + 0 * self.w, self.boxes[: len(x)] + 0 * self.w)


def test_box_metrics_against_a_hand_computed_example():
    true = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    pred = torch.tensor([[0.0, 0.0, 10.0, 10.0],  # IoU 1
                         [0.0, 0.0, 10.0, 5.0],  # IoU 50 / 100 = 0.5
                         [5.0, 0.0, 15.0, 10.0]])  # IoU 50 / 150 = 1/3
    assert torch.allclose(paired_box_iou(pred, true), torch.tensor([1.0, 0.5, 1 / 3]))
    m = LocalizationMetric()
    m.update(pred, torch.tensor([1, 0, 1]), true, torch.tensor([1, 1, 1]))
    out = m.compute()
    assert out["mean_box_iou"].item() == pytest.approx((1 + 0.5 + 1 / 3) / 3)
    assert out["box_accuracy_iou50"].item() == pytest.approx(2 / 3)  # IoU >= 0.5 counts
    assert out["accuracy_iou50"].item() == pytest.approx(1 / 3)  # the second has the wrong class


def test_the_task_logs_the_multitask_loss_and_the_box_metrics():
    x = torch.rand(4, 1, 20, 20)
    labels = torch.tensor([0, 1, 1, 0])
    boxes = torch.tensor([[2.0, 2.0, 12.0, 12.0]]).expand(4, 4).clone()
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [5.0, 0.0]])  # 3 of 4 classes right
    perfect = encode_boxes(boxes, (20, 20))
    task = LocalizationTask(Fixed(logits, perfect), num_classes=2, alpha=0.4, optimizer=OptimizerSpec("sgd", lr=0.1))
    metrics = an2dl.Trainer(progress=False).evaluate(task, ArrayDataset(x, labels, boxes), split="test")
    assert metrics["test/mean_box_iou"] == pytest.approx(1.0)
    assert metrics["test/box_accuracy_iou50"] == 1.0 and metrics["test/accuracy_iou50"] == 0.75
    assert metrics["test/accuracy"] == 0.75
    s = torch.nn.functional.cross_entropy(logits, labels).item()
    assert metrics["test/class_loss"] == pytest.approx(s, rel=1e-5) and metrics["test/box_loss"] == pytest.approx(0.0)
    assert metrics["test/loss"] == pytest.approx(0.4 * s, rel=1e-5)
    out = an2dl.Trainer(progress=False).predict(task, ArrayDataset(x))
    got = out[0] if isinstance(out, list) else out
    assert torch.allclose(got["boxes"], boxes, atol=1e-4) and got["probs"].shape == (4, 2)


def test_a_single_class_has_no_class_term_and_no_accuracy():
    x, boxes = torch.rand(2, 1, 8, 8), torch.tensor([[1.0, 1.0, 5.0, 5.0]]).expand(2, 4).clone()
    task = LocalizationTask(Fixed(torch.zeros(2, 1), torch.full((2, 4), 0.5)), num_classes=1)
    metrics = an2dl.Trainer(progress=False).evaluate(task, ArrayDataset(x, torch.zeros(2, dtype=torch.long), boxes))
    assert metrics["test/class_loss"] == 0.0 and "test/accuracy" not in metrics


def test_bad_batches_and_settings_are_named():
    net = an2dl.get_model("localizer", num_classes=2, channels=[2], box_grid=1, box_hidden=4)
    task = LocalizationTask(net, num_classes=2)
    x, y = torch.rand(2, 1, 16, 16), torch.tensor([0, 1])
    trainer = an2dl.Trainer(max_epochs=1, progress=False)
    outside = torch.tensor([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 20.0, 12.0]])
    with pytest.raises(BatchError, match=r"LocalizationTask batch\.boxes must lie inside the image.*row \d is \[4\.0, 4\.0, 20\.0, 12\.0\]"):
        trainer.fit(task, ArrayDataset(x, y, outside))
    with pytest.raises(BatchError, match=r"batch\.boxes must be one \(x1, y1, x2, y2\) box per image, \[B, 4\] = \[2, 4\]"):
        trainer.fit(task, ArrayDataset(x, y, torch.zeros(2, 5)))
    with pytest.raises(BatchError, match=r"batch\.targets must lie in \[0, 2\); got values from 0 to 3"):
        trainer.fit(task, ArrayDataset(x, torch.tensor([0, 3]), outside[:1].expand(2, 4).clone()))
    with pytest.raises(BatchError, match=r"batch\.targets must be class ids \[B\] = \[2\] \(integers\); got \[2\] float32"):
        trainer.fit(task, ArrayDataset(x, y.float(), outside[:1].expand(2, 4).clone()))
    with pytest.raises(ConfigError, match=r"alpha must be a number in \[0, 1\]; got -0.1"):
        LocalizationTask(net, num_classes=2, alpha=-0.1)
    with pytest.raises(ConfigError, match="the model must return \\(logits \\[B, K\\], boxes \\[B, 4\\]\\)"):
        trainer.fit(LocalizationTask(nn.Sequential(nn.Flatten(), nn.Linear(256, 2)), num_classes=2),
                    ArrayDataset(x, y, outside[:1].expand(2, 4).clone()))


def test_draw_box_paints_the_outline_only():
    img = draw_box(torch.zeros(1, 10, 10), torch.tensor([2.0, 3.0, 7.0, 9.0]), color=(1.0, 0.0, 0.0))
    red = img[0] == 1
    assert img.shape == (3, 10, 10)
    assert bool(red[3, 2:7].all()) and bool(red[8, 2:7].all())  # top and bottom rows
    assert bool(red[3:9, 2].all()) and bool(red[3:9, 6].all())  # left and right columns
    assert not bool(red[4:8, 3:6].any()) and int(red.sum()) == 2 * 5 + 2 * 4
