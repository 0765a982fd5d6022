"""``yolo-shapes``: the single-shot detector trained on the synthetic shapes (notes §3.5.4.5).

The notes' claims: YOLO predicts every box "in a single forward pass through the image using a single
Convolutional Neural Network", and "single-shot detectors are faster but trade off some accuracy for
speed" against the two-stage detectors built on a Region Proposal Network.  The recipe trains
:class:`~an2dl.models.detection.yolo.YOLO` (an 8 × 8 grid on the 64 × 64 images, 3 anchors per cell chosen
by k-means with the ``1 − IoU`` distance on the training boxes, the four-term loss of
:mod:`an2dl.losses.yolo`) with the :class:`~an2dl.tasks.detection.DetectionTask` on ``shapes-detection``
and reports:

* the held-out COCO ``map``, ``map_50``, ``map_75``, against ``baseline/untrained`` — the same network
  before training, seeded the same way (what the architecture gives for free: nothing);
* ``speed/yolo/images_per_s``: detection throughput on held-out images with ONE thread (batches of 32,
  the best of three passes), against the same measure of Faster R-CNN (``faster_rcnn`` at the settings of
  ``faster-rcnn-shapes``; its cost hardly depends on its weights, so an untrained one is timed) and of the
  sliding-window detector (``sliding_window`` at the settings of ``sliding-window-shapes``);
* the report: held-out images with the true and the detected boxes, the precision–recall curves at
  IoU 0.5 per class (:func:`~an2dl.recipes.figures.detection_figures`) and the four loss terms per epoch.

The default run (512 training images, 25 epochs, Adam at 3·10⁻³) takes about two minutes on one CPU
thread and reaches held-out mAP@0.5 0.99, 0.96, 0.96 (mAP@[.5:.95] 0.73, 0.67, 0.70) with seeds 0, 1, 2, at
about 330–400 images/s against Faster R-CNN's 45–52 and the sliding window's 37–60 (one thread, a machine
shared with other jobs); measured figures are in the recipe's test (``tests/recipes/detection/test_yolo_shapes.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ..base import Recipe, RunResult, register_recipe
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import (
    ShapesDetectionData,
    detection_map,
    detector_figures,
    load_shapes_detection,
)
from .faster_rcnn import FasterRCNNSettings
from .sliding_window import SlidingWindowSettings, images_per_second

__all__ = ["YoloShapes", "YoloShapesConfig", "YoloSettings", "yolo_kwargs"]

#: the loss terms of YOLO, in the order they are drawn
YOLO_TERMS = ("loss_coord", "loss_obj", "loss_noobj", "loss_class")


@dataclass
class YoloSettings:
    """Keyword arguments of the ``yolo`` builder (:class:`~an2dl.models.detection.yolo.YOLO`)."""

    anchors: list[list[float]] | None = None  # (width, height) pixels; None: k-means (1 - IoU) on the training boxes
    num_anchors: int = 3  # anchors per cell when k-means chooses them
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # backbone blocks; stride 2^3 = 8
    head_channels: int = 128  # the head's 3x3 convolution
    lambda_coord: float = 5.0  # weight of the box term
    lambda_noobj: float = 0.5  # weight of the no-object term
    ignore_iou: float = 0.6  # unmatched boxes overlapping an object above it are not punished as "no object"
    score_threshold: float = 0.05  # detections scored objectness x class probability below it are dropped
    nms_iou: float = 0.5  # per-class NMS threshold


@dataclass
class YoloShapesConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=ShapesDetectionData)
    model: YoloSettings = field(default_factory=YoloSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=25, batch_size=32))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max"))
    examples: int = 8  # held-out images drawn with their true and detected boxes
    speed_images: int = 64  # held-out images timed for the images/s figures (0: no timing)


def yolo_kwargs(s: YoloSettings, data: DataSplits, seed: int) -> dict[str, Any]:
    """The ``yolo`` builder's arguments; anchors by k-means on the training boxes unless given."""
    from ...models.detection.yolo import kmeans_anchors

    anchors = s.anchors
    if anchors is None:
        boxes = torch.cat([t["boxes"].reshape(-1, 4) for t in data.train.targets])
        if boxes.shape[0] < s.num_anchors:
            raise ConfigError(f"model.num_anchors={s.num_anchors} k-means anchors need at least as many training "
                              f"boxes; got {boxes.shape[0]} (give model.anchors instead)")
        anchors = [[round(v, 3) for v in a] for a in kmeans_anchors(boxes[:, 2:] - boxes[:, :2], s.num_anchors,
                                                                     seed=seed).tolist()]
    return {"num_classes": data.train.num_classes, "anchors": anchors, "channels": list(s.channels),
            "head_channels": s.head_channels, "lambda_coord": s.lambda_coord, "lambda_noobj": s.lambda_noobj,
            "ignore_iou": s.ignore_iou, "score_threshold": s.score_threshold, "nms_iou": s.nms_iou}


def _test_images(data: DataSplits, n: int) -> torch.Tensor:
    return torch.stack([data.test[i][0] for i in range(min(n, len(data.test)))])


@register_recipe
class YoloShapes(Recipe):
    """YOLO (grid, k-means anchors, one forward pass) on the synthetic detection shapes, vs an untrained baseline."""

    name = "yolo-shapes"
    summary = "YOLO (8x8 grid, k-means anchors, 4-term loss) on shapes-detection; mAP vs untrained, images/s vs others"
    section = "3.5.4.5"
    Config = YoloShapesConfig
    smoke_settings = ("data.n_train=16", "data.n_val=8", "data.n_test=8", "model.channels=[4,8,8]",
                      "model.head_channels=8", "trainer.max_epochs=1", "examples=2", "speed_images=4")

    def build(self, cfg: YoloShapesConfig) -> tuple[Task, DataSplits]:
        from ...tasks.detection import DetectionTask

        data = load_shapes_detection(cfg.data)
        model = get_model("yolo", **yolo_kwargs(cfg.model, data, cfg.trainer.seed))
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names), data

    def extra_metrics(self, cfg: YoloShapesConfig, task: Task, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        metrics: dict[str, Any] = {}
        notes: list[str] = []
        if data.test is None:
            return metrics, notes
        kwargs = yolo_kwargs(cfg.model, data, cfg.trainer.seed)
        torch.manual_seed(cfg.trainer.seed)
        base = detection_map(get_model("yolo", **kwargs), data.test)
        for k, v in base.items():
            metrics[f"baseline/untrained/{k}"] = v
        notes.append(f"Anchors (width, height) in pixels: {kwargs['anchors']}.")
        notes.append(f"Untrained network: test mAP@0.5 {base['map_50']:.3f}.")
        if cfg.speed_images > 0:
            images = _test_images(data, cfg.speed_images)
            # timed on the CPU with one thread, whatever device trained it
            rivals: dict[str, torch.nn.Module] = {"yolo": copy.deepcopy(task.model).cpu()}
            torch.manual_seed(cfg.trainer.seed)
            rivals["faster_rcnn"] = get_model("faster_rcnn", num_classes=data.train.num_classes,
                                              **vars(FasterRCNNSettings()))
            rivals["sliding_window"] = get_model("sliding_window", num_classes=data.train.num_classes,
                                                 **vars(SlidingWindowSettings()))
            rates = {name: images_per_second(m, images) for name, m in rivals.items()}
            for name, rate in rates.items():
                metrics[f"speed/{name}/images_per_s"] = round(rate, 2)
            notes.append("Detection throughput on one thread (images/s, batches of 32, " + str(len(images)) +
                         " held-out images): " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()) + ".")
        return metrics, notes

    def figures(self, result: RunResult) -> None:
        detector_figures(result, YOLO_TERMS,
                         "The four terms of the YOLO loss per epoch (training means): box coordinates (x λ_coord), "
                         "objectness of the matched anchors, 'no object' of the unmatched ones (x λ_noobj) and "
                         "the class cross-entropy.")
