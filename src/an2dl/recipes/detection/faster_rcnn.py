"""``faster-rcnn-shapes``: Faster R-CNN trained end to end on the synthetic shapes (notes §3.5.4.4).

The notes' claim: the Region Proposal Network and the detection head share
one feature map and are "fully trainable in an end-to-end manner" with the
four-part loss (objectness, proposal regression, classification, box
regression), and the two-stage detector is accurate.  The recipe trains
:func:`~an2dl.models.detection.faster_rcnn.faster_rcnn` (the small CNN
backbone, anchors 8/16/32 px × ratios 0.5/1/2) with the
:class:`~an2dl.tasks.detection.DetectionTask` on ``shapes-detection``
(64×64 images, 0–4 circles, squares and triangles on a textured background)
and reports the held-out COCO mAP@[.5:.95], mAP@0.5 and mAP@0.75 against two
baselines that isolate what each stage contributes:

* ``baseline/untrained``: the same network before training (seeded the same
  way): what the architecture gives for free (nothing);
* ``baseline/rpn_only``: the *trained* RPN's proposals taken as detections,
  scored by their objectness and labelled with the most frequent training
  class — the first stage alone, without the head's classification and
  second box refinement.

The defaults keep a CPU run short: 512 training images, 8 epochs of batches
of 8, and fewer boxes than the paper's (128 RoIs per image in the head, 600
/ 300 proposals before NMS and 300 / 100 after it in training / testing;
64×64 images hold at most four objects).  The report draws held-out images
with the true and the detected boxes, the precision–recall curves at IoU
0.5 per class, and the four loss terms per epoch; ``results.json`` holds the
process CPU time of the run (``time/cpu_s``).  Measured figures are in the
recipe's test (``tests/recipes/detection/test_faster_rcnn_shapes.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ...data import DataSplits, get_dataset
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

__all__ = ["FasterRCNNShapes", "FasterRCNNShapesConfig", "FasterRCNNSettings", "rpn_only_detections",
           "FasterRCNNRaccoon", "FasterRCNNRaccoonConfig", "RaccoonDetectionData"]

#: the four terms of the Faster R-CNN loss (notes §3.5.4.4)
_LOSS_TERMS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")


@dataclass
class FasterRCNNSettings:
    """Keyword arguments of the ``faster_rcnn`` builder (see its docstring)."""

    backbone: str = "small_cnn"  # or a zoo ResNet ("resnet18", ...) with frozen batch norm
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # the small CNN's blocks (stride 4)
    anchor_sizes: list[float] = field(default_factory=lambda: [8.0, 16.0, 32.0])  # anchor sides in pixels
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # anchor h / w; k = 3 x 3
    rpn_pre_nms_top_n: list[int] = field(default_factory=lambda: [600, 300])  # (training, testing), per image
    rpn_post_nms_top_n: list[int] = field(default_factory=lambda: [300, 100])  # proposals passed to the head
    rpn_batch_size_per_image: int = 256  # anchors sampled for the RPN loss (up to 50 % positives)
    roi_pool: str = "align"  # "align" (RoIAlign) or "max" (Fast R-CNN's RoI max pooling)
    roi_output_size: int = 7  # the P x P grid of each RoI
    representation_size: int = 256  # width of fc6 and fc7
    box_batch_size_per_image: int = 128  # proposals sampled for the head's loss (up to 25 % objects)
    box_score_thresh: float = 0.05  # detections scored lower are dropped
    box_nms_thresh: float = 0.5  # per-class NMS of the detections


@dataclass
class FasterRCNNShapesConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=ShapesDetectionData)
    model: FasterRCNNSettings = field(default_factory=FasterRCNNSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=8, batch_size=8))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max"))
    examples: int = 8  # held-out images drawn with their true and detected boxes


def _builder_kwargs(settings: FasterRCNNSettings, num_classes: int) -> dict[str, Any]:
    kw = asdict(settings)
    kw["num_classes"] = num_classes
    return kw


def rpn_only_detections(model: torch.nn.Module, images: Any, label: int) -> list[dict[str, torch.Tensor]]:
    """The RPN's proposals of a Faster R-CNN as detections: objectness scores, every box labelled ``label``."""
    image_list = list(images.unbind(0)) if isinstance(images, torch.Tensor) else list(images)
    batch, sizes = model.batch_images(image_list)
    features = model.backbone(batch)
    boxes, scores, _ = model.rpn([features], sizes, tuple(batch.shape[-2:]))
    return [{"boxes": b, "scores": s, "labels": torch.full_like(s, label, dtype=torch.int64)}
            for b, s in zip(boxes, scores)]


@register_recipe
class FasterRCNNShapes(Recipe):
    """Faster R-CNN (RPN + RoI heads on one feature map) on the synthetic detection shapes, vs two baselines."""

    name = "faster-rcnn-shapes"
    summary = "Faster R-CNN (2k-score RPN + L / 4L-4 head) on shapes-detection; vs untrained and RPN-only baselines"
    section = "3.5.4.4"
    Config = FasterRCNNShapesConfig
    smoke_settings = ("data.n_train=16", "data.n_val=8", "data.n_test=8", "model.channels=[4,8,8]",
                      "model.representation_size=16", "model.box_batch_size_per_image=16",
                      "model.rpn_pre_nms_top_n=[50,50]", "model.rpn_post_nms_top_n=[20,20]",
                      "trainer.max_epochs=1", "examples=2")

    def __init__(self) -> None:
        self._cpu_start: float | None = None

    def build(self, cfg: FasterRCNNShapesConfig) -> tuple[Task, DataSplits]:
        from ...tasks.detection import DetectionTask

        self._cpu_start = time.process_time()
        data = load_shapes_detection(cfg.data)
        num_classes = data.train.num_classes
        model = get_model("faster_rcnn", **_builder_kwargs(cfg.model, num_classes))
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names), data

    def extra_metrics(self, cfg: FasterRCNNShapesConfig, task: Task, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        cpu = None if self._cpu_start is None else time.process_time() - self._cpu_start
        metrics: dict[str, Any] = {}
        notes = []
        if cpu is not None:
            metrics["time/cpu_s"] = round(cpu, 2)
        if data.test is None:
            return metrics, notes
        model = task.model
        counts = Counter(int(c) for i in range(len(data.train)) for c in data.train[i][1]["labels"].tolist())
        common = counts.most_common(1)[0][0] if counts else 1
        rpn = detection_map(model, data.test, lambda x: rpn_only_detections(model, x, common))
        torch.manual_seed(cfg.trainer.seed)
        untrained = get_model("faster_rcnn", **_builder_kwargs(cfg.model, data.train.num_classes))
        base = detection_map(untrained, data.test)
        for name, scores in (("untrained", base), ("rpn_only", rpn)):
            for k, v in scores.items():
                metrics[f"baseline/{name}/{k}"] = v
        names = data.train.class_names
        notes.append(f"Untrained network: test mAP@0.5 {base['map_50']:.3f}; the trained RPN's proposals alone "
                     f"(objectness scores, all labelled '{names[common]}'): mAP@0.5 {rpn['map_50']:.3f}.")
        if cpu is not None:
            notes.append(f"Process CPU time of the run (data, training, evaluation): {cpu:.0f} s.")
        return metrics, notes

    def figures(self, result: RunResult) -> None:
        detector_figures(result, _LOSS_TERMS,
                         "The four terms of the Faster R-CNN loss per epoch (training means, log scale): RPN "
                         "objectness and box regression, head classification and box regression.")


# ------------------------------------------------------------------------------------------------ raccoon
@dataclass
class RaccoonDetectionData:
    """The raccoon photos with all their boxes (:func:`an2dl.data.datasets.detection_files.raccoon_detection`)."""

    root: str | None = None  # the folder with annotations/ and images/ (default $AN2DL_DATA_DIR/raccoon)
    size: int = 128  # side of the resized photos
    val_count: int = 16  # training photos held out for validation (the other 144 train; 40 test photos)
    seed: int = 0  # seed of the validation draw


@dataclass
class FasterRCNNRaccoonConfig(RunSettings):
    data: RaccoonDetectionData = field(default_factory=RaccoonDetectionData)
    model: FasterRCNNSettings = field(default_factory=lambda: FasterRCNNSettings(
        channels=[16, 32, 64, 64], anchor_sizes=[32.0, 64.0, 128.0]))  # stride 8; raccoons fill much of a photo
    hflip: float = 0.5  # probability of a left-right mirror of each training photo (boxes move with it)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=8))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max"))
    examples: int = 8  # test photos drawn with their true and detected boxes


@register_recipe
class FasterRCNNRaccoon(FasterRCNNShapes):
    """Faster R-CNN on the raccoon photos (one class, Pascal VOC boxes), from scratch, vs the same two baselines.

    With a single class the RPN-only baseline is a complete class-agnostic detector: the
    comparison measures what the second stage (RoI pooling, FC layers, a second box
    refinement) adds to the proposals.  No pretrained weights are available offline, so the
    backbone is the small CNN trained from scratch (four blocks, a stride-8 map) on 144 photos
    resized to 128×128, with random left-right mirroring.
    """

    name = "faster-rcnn-raccoon"
    summary = "Faster R-CNN from scratch on the raccoon photos (VOC boxes, 128 px) vs untrained and RPN-only baselines"
    section = "3.5.4.4"
    Config = FasterRCNNRaccoonConfig
    smoke_settings = ("data.size=32", "model.channels=[4,8,8]", "model.anchor_sizes=[8.0,16.0]",
                      "model.representation_size=16", "model.box_batch_size_per_image=16",
                      "model.rpn_pre_nms_top_n=[50,50]", "model.rpn_post_nms_top_n=[20,20]",
                      "trainer.max_epochs=1", "examples=2")

    def build(self, cfg: FasterRCNNRaccoonConfig) -> tuple[Task, DataSplits]:
        from ...data.transforms import RandomHorizontalFlip
        from ...tasks.detection import DetectionTask

        if not 0.0 <= cfg.hflip <= 1.0:
            raise ConfigError(f"{self.name}: hflip must be a probability in [0, 1]; got {cfg.hflip!r}")
        self._cpu_start = time.process_time()
        d = cfg.data
        data = get_dataset("raccoon-detection", root=d.root, size=d.size, val_count=d.val_count, seed=d.seed)
        model = get_model("faster_rcnn", **_builder_kwargs(cfg.model, data.train.num_classes))
        augment = RandomHorizontalFlip(p=cfg.hflip) if cfg.hflip > 0 else None
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names, augment=augment), data
