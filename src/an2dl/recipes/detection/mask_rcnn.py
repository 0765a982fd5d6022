"""``mask-rcnn-shapes``: Mask R-CNN trained end to end on the synthetic shapes with instance masks (notes §3.5.5).

The notes' claim (§3.5.5.1): Mask R-CNN "extends Faster R-CNN by adding a
branch for predicting an object mask in parallel with the existing branch
for bounding box recognition", so one network trained end to end with the
five-term loss (RPN objectness and box regression, head classification and
box regression, per-pixel mask BCE) both *detects* (box AP) and *segments
each instance* (mask AP).  The recipe trains
:func:`~an2dl.models.detection.mask_rcnn.mask_rcnn` — a small CNN (four
blocks) whose blocks 1–3 (strides 2, 4, 8) feed a 64-channel Feature Pyramid
Network (§3.5.5.2) with the extra pooled level, one anchor size per level
(8, 16, 32, 64 px), RoIAlign per level, the box head and torchvision's mask
branch with 64 channels — with :class:`~an2dl.tasks.detection.DetectionTask`
on ``shapes-detection`` (64×64 images, 0–4 circles, squares and triangles,
each with its mask), and reports the held-out COCO box AP (``test/map``,
``test/map_50``, ...) and mask AP (``test/segm_map``, ``test/segm_map_50``,
...) against the same network untrained (``baseline/untrained/...``), the
process CPU time (``time/cpu_s``), held-out images with their masks and
boxes drawn, the precision–recall curves and the five loss terms per epoch.
Measured figures are in the recipe's test
(``tests/recipes/detection/test_mask_rcnn_shapes.py``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ...data import DataSplits
from ...engine.detection_metrics import MeanAveragePrecision
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...models import get_model
from ..base import Recipe, RunResult, register_recipe
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import ShapesDetectionData, detector_figures, load_shapes_detection

__all__ = ["MaskRCNNShapes", "MaskRCNNShapesConfig", "MaskRCNNSettings", "box_and_mask_ap"]

#: the five terms of the Mask R-CNN loss (notes §3.5.5.1)
_LOSS_TERMS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask")


@dataclass
class MaskRCNNSettings:
    """Keyword arguments of the ``mask_rcnn`` builder (see its docstring)."""

    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])  # the small CNN's four blocks
    fpn_channels: int = 64  # channels of every pyramid level
    anchor_sizes: list[float] = field(default_factory=lambda: [8.0, 16.0, 32.0, 64.0])  # one per level
    fpn_canonical_scale: float = 56.0  # RoIs of side 56 * 2^(k-4) px are pooled from level k
    rpn_pre_nms_top_n: list[int] = field(default_factory=lambda: [300, 150])  # per level (training, testing)
    rpn_post_nms_top_n: list[int] = field(default_factory=lambda: [300, 100])  # proposals passed to the heads
    representation_size: int = 256  # width of fc6 and fc7
    box_batch_size_per_image: int = 128  # proposals sampled for the head's loss (up to 25 % objects)
    mask_layers: list[int] = field(default_factory=lambda: [64, 64, 64, 64])  # the mask head's 3x3 convolutions
    mask_dim_reduced: int = 64  # channels of the transposed convolution


@dataclass
class MaskRCNNShapesConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=ShapesDetectionData)
    model: MaskRCNNSettings = field(default_factory=MaskRCNNSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=8, batch_size=8))
    checkpoint: CheckpointConfig = field(
        default_factory=lambda: CheckpointConfig(monitor="val/segm_map", mode="max")
    )
    examples: int = 8  # held-out images drawn with their true boxes and detected masks and boxes


def box_and_mask_ap(model: torch.nn.Module, data: Any, *, batch_size: int = 32) -> dict[str, float]:
    """COCO box and mask ``map``/``map_50``/``map_75`` of a Mask R-CNN on ``data`` (mask keys ``segm_...``)."""
    from ...data.batch import collate_images

    boxes, masks = MeanAveragePrecision(), MeanAveragePrecision(iou_type="segm")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = collate_images([data[i] for i in range(start, min(start + batch_size, len(data)))])
            preds = model(batch.inputs)
            boxes.update([{k: p[k] for k in ("boxes", "scores", "labels")} for p in preds],
                         [{k: t[k] for k in ("boxes", "labels")} for t in batch.targets])
            masks.update([{k: p[k] for k in ("boxes", "scores", "labels", "masks")} for p in preds],
                         [{k: t[k] for k in ("boxes", "labels", "masks")} for t in batch.targets])
    model.train(was_training)
    b, m = boxes.compute(), masks.compute()
    keys = ("map", "map_50", "map_75")
    return {**{k: float(b[k]) for k in keys}, **{f"segm_{k}": float(m[k]) for k in keys}}


@register_recipe
class MaskRCNNShapes(Recipe):
    """Mask R-CNN (FPN, RPN, box head and mask branch) on the synthetic shapes with instance masks."""

    name = "mask-rcnn-shapes"
    summary = "Mask R-CNN (small CNN + FPN, 28x28 per-class masks) on shapes-detection: box AP and mask AP"
    section = "3.5.5.1"
    Config = MaskRCNNShapesConfig
    smoke_settings = (
        "data.n_train=16",
        "data.n_val=8",
        "data.n_test=8",
        "model.channels=[4,8,8,8]",
        "model.fpn_channels=8",
        "model.representation_size=16",
        "model.box_batch_size_per_image=16",
        "model.rpn_pre_nms_top_n=[50,50]",
        "model.rpn_post_nms_top_n=[20,20]",
        "model.mask_layers=[8]",
        "model.mask_dim_reduced=8",
        "trainer.max_epochs=1",
        "examples=2",
    )

    def __init__(self) -> None:
        self._cpu_start: float | None = None

    @staticmethod
    def _model(cfg: MaskRCNNShapesConfig, num_classes: int) -> torch.nn.Module:
        return get_model("mask_rcnn", num_classes=num_classes, **asdict(cfg.model))

    def build(self, cfg: MaskRCNNShapesConfig) -> tuple[Task, DataSplits]:
        from ...tasks.detection import DetectionTask

        self._cpu_start = time.process_time()
        data = load_shapes_detection(cfg.data)
        model = self._model(cfg, data.train.num_classes)
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names), data

    def extra_metrics(self, cfg: MaskRCNNShapesConfig, task: Task, data: DataSplits
                      ) -> tuple[dict[str, Any], list[str]]:
        cpu = None if self._cpu_start is None else time.process_time() - self._cpu_start
        metrics: dict[str, Any] = {}
        notes = []
        if cpu is not None:
            metrics["time/cpu_s"] = round(cpu, 2)
            notes.append(f"Process CPU time of the run (data, training, evaluation): {cpu:.0f} s.")
        if data.test is None:
            return metrics, notes
        torch.manual_seed(cfg.trainer.seed)
        base = box_and_mask_ap(self._model(cfg, data.train.num_classes), data.test)
        metrics.update({f"baseline/untrained/{k}": v for k, v in base.items()})
        notes.append(f"Untrained network: test box AP@0.5 {base['map_50']:.3f}, mask AP@0.5 "
                     f"{base['segm_map_50']:.3f}.")
        return metrics, notes

    def figures(self, result: RunResult) -> None:
        detector_figures(result, _LOSS_TERMS,
                         "The five terms of the Mask R-CNN loss per epoch (training means, log scale): RPN "
                         "objectness and box regression, head classification and box regression, and the "
                         "per-pixel mask BCE of the true class's mask.")
