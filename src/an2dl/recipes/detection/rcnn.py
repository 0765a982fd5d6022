"""``rcnn-shapes``: R-CNN — selective-search proposals, warped and classified by a CNN (notes §3.5.4.2).

The notes' method: a classical, unlearned algorithm proposes regions "likely to contain objects", each
proposal is warped to the CNN's input size and classified — a background class included — and refined by
box regression; its drawback is the cost, one CNN evaluation per proposal.  The recipe trains
:class:`~an2dl.models.detection.rcnn.RCNN` (proposals of :func:`~an2dl.ops.proposals.selective_search` at
three segmentation scales, 16 × 16 warps, the sliding window's patch classifier, ``L`` scores and
``4L − 4`` corrections) with the :class:`~an2dl.tasks.detection.DetectionTask` on ``shapes-detection`` and
reports:

* the held-out COCO ``map``, ``map_50``, ``map_75`` against ``baseline/untrained`` — the same network before
  training, seeded the same way, on the same proposals (what the proposals give for free);
* ``proposals/recall_50``: the proposal recall at IoU 0.5 on the held-out images (the share of objects
  some proposal overlaps with IoU ≥ 0.5: an upper bound on what the classifier can find), and
  ``proposals/recall_50_top{n}`` for the first ``n`` ranked proposals of each image;
* ``cost/cnn_evaluations_per_image``: the proposals classified per held-out image, one CNN pass each, and
  ``proposals/seconds_per_image``, the time selective search takes per image on one thread (uncached);
* the report: held-out images with the true and the detected boxes, the precision–recall curves at IoU 0.5
  per class, the two loss terms per epoch and the proposal recall against the number of proposals.

The default run (512 training images, 25 epochs, Adam at 3·10⁻³) takes 60–80 s on one CPU thread (the first
epoch pays for the proposals of the training and validation images, cached afterwards) and reaches held-out
mAP@0.5 0.927, 0.959, 0.944 (mAP@[.5:.95] 0.766, 0.791, 0.778) with seeds 0, 1, 2 against 0.132, 0.164, 0.123
untrained, from about 25 proposals — CNN evaluations — per image whose recall at IoU 0.5 is 1.0 (0.7 from the
first 5, 0.95 from the first 10).  Measured figures are in the recipe's test (``tests/recipes/detection/test_rcnn_shapes.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..._utils.files import atomic_write_text
from ...data import DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ...ops.proposals import proposal_recall, selective_search
from ..base import Recipe, RunResult, register_recipe
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import (
    ShapesDetectionData,
    detection_map,
    detector_figures,
    load_shapes_detection,
)

__all__ = ["RCNNShapes", "RCNNShapesConfig", "RCNNSettings", "recall_by_count"]

#: the loss terms of R-CNN (the detection head's two)
RCNN_TERMS = ("loss_classifier", "loss_box_reg")


@dataclass
class RCNNSettings:
    """Keyword arguments of the ``rcnn`` builder (:class:`~an2dl.models.detection.rcnn.RCNN`)."""

    warp_size: int = 16  # every proposal is warped to warp_size x warp_size pixels, the CNN's input
    channels: list[int] = field(default_factory=lambda: [8, 16, 16])  # the CNN's unpadded 3x3 convolutions
    hidden: int = 64  # its hidden dense layer, read by the class scores and the box corrections
    proposal_ks: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])  # segmentation scales, one hierarchy each
    proposal_min_size: int = 20  # smallest segment in pixels
    max_proposals: int = 2000  # proposals per image (best ranked)
    fg_iou_thresh: float = 0.5  # a training proposal overlapping an object this much takes its class
    bg_iou_thresh: float = 0.5  # below it: background (0.3: the paper's SVM negatives, [0.3, 0.5) left out)
    batch_size_per_image: int = 64  # proposals sampled per training image
    positive_fraction: float = 0.25  # the largest share of objects among them (R-CNN's 32 of 128)
    nms_thresh: float = 0.3  # per-class NMS of the refined boxes


@dataclass
class RCNNShapesConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=ShapesDetectionData)
    model: RCNNSettings = field(default_factory=RCNNSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=25, batch_size=32))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max"))
    examples: int = 8  # held-out images drawn with their true and detected boxes
    recall_counts: list[int] = field(default_factory=lambda: [1, 2, 3, 5, 10, 20, 50])  # proposals per image read


def recall_by_count(proposals: list[torch.Tensor], gt_boxes: list[torch.Tensor], counts: list[int]) -> dict[int, float]:
    """Proposal recall at IoU 0.5 when only the first ``n`` ranked proposals of each image are kept, per ``n``."""
    return {n: proposal_recall(proposals, gt_boxes, top=n) for n in counts}


def _plot_recall(run_dir: Any, curve: dict[int, float], mean_count: float) -> None:
    from ...report.plots import figure, save_figure

    fig = figure(figsize=(5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    xs = sorted(curve)
    ax.plot(xs, [curve[n] for n in xs], "-o", ms=4)
    ax.axvline(mean_count, color="k", ls="--", lw=1, label=f"mean proposals per image ({mean_count:.1f})")
    ax.set_xscale("log")
    ax.set_xlabel("proposals kept per image (best ranked)")
    ax.set_ylabel("recall at IoU 0.5")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, run_dir, "proposal_recall",
                "Selective search (notes 3.5.4.2): the share of held-out objects overlapped with IoU >= 0.5 by one of "
                "the first n ranked proposals of their image, against n; each proposal costs one CNN evaluation.")


@register_recipe
class RCNNShapes(Recipe):
    """R-CNN (selective search, warped crops, CNN with background class, box regression) on the synthetic shapes."""

    name = "rcnn-shapes"
    summary = ("R-CNN: selective-search proposals warped and classified by a CNN + box regression; mAP vs untrained, "
               "proposal recall@0.5, CNN evaluations per image")
    section = "3.5.4.2"
    Config = RCNNShapesConfig
    smoke_settings = ("data.n_train=8", "data.n_val=4", "data.n_test=4", "model.channels=[4]", "model.hidden=8",
                      "model.proposal_ks=[1.0]", "trainer.max_epochs=1", "examples=2", "recall_counts=[1,5]")

    def check(self, cfg: RCNNShapesConfig) -> None:
        if not cfg.recall_counts or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                                            for n in cfg.recall_counts):
            raise ConfigError(f"{self.name}: recall_counts must be a non-empty list of positive integers; got "
                              f"{cfg.recall_counts!r}")

    def _model(self, cfg: RCNNShapesConfig, data: DataSplits) -> torch.nn.Module:
        return get_model("rcnn", num_classes=data.train.num_classes, **asdict(cfg.model))

    def build(self, cfg: RCNNShapesConfig) -> tuple[Task, DataSplits]:
        from ...tasks.detection import DetectionTask

        self.check(cfg)
        data = load_shapes_detection(cfg.data)
        model = self._model(cfg, data)
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names), data

    def extra_metrics(self, cfg: RCNNShapesConfig, task: Task, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        metrics: dict[str, Any] = {}
        notes: list[str] = []
        if data.test is None:
            return metrics, notes
        model = task.model
        images = [data.test[i][0] for i in range(len(data.test))]
        gt = [data.test[i][1]["boxes"] for i in range(len(data.test))]
        # the held-out proposals, timed without the model's cache (one thread, as the reported figures)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            t0 = time.perf_counter()
            proposals = [selective_search(im, **model.proposal_settings) for im in images]
            seconds = (time.perf_counter() - t0) / max(len(images), 1)
        finally:
            torch.set_num_threads(threads)
        counts = [int(p.shape[0]) for p in proposals]
        mean_count = sum(counts) / max(len(counts), 1)
        recall = proposal_recall(proposals, gt)
        curve = recall_by_count(proposals, gt, sorted(set(cfg.recall_counts)))
        metrics["proposals/recall_50"] = recall
        for n, r in curve.items():
            metrics[f"proposals/recall_50_top{n}"] = r
        metrics["proposals/per_image"] = mean_count
        metrics["proposals/seconds_per_image"] = round(seconds, 5)
        metrics["cost/cnn_evaluations_per_image"] = mean_count
        self._recall = (curve, mean_count)
        notes.append(f"Selective search on {len(images)} held-out images: {mean_count:.1f} proposals per image "
                     f"(min {min(counts, default=0)}, max {max(counts, default=0)}), {1000 * seconds:.0f} ms per image "
                     f"on one thread; recall at IoU 0.5 {recall:.3f} (first n proposals: " +
                     ", ".join(f"{n}: {r:.3f}" for n, r in curve.items()) + ").")
        notes.append(f"Cost: {mean_count:.1f} CNN evaluations per image, one per warped proposal (Fast R-CNN runs "
                     "the CNN once per image instead).")
        torch.manual_seed(cfg.trainer.seed)
        base = detection_map(self._model(cfg, data), data.test)
        for k, v in base.items():
            metrics[f"baseline/untrained/{k}"] = v
        notes.append(f"Untrained network on the same proposals: test mAP@0.5 {base['map_50']:.3f}.")
        return metrics, notes

    def figures(self, result: RunResult) -> None:
        detector_figures(result, RCNN_TERMS,
                         "The two terms of the R-CNN loss per epoch (training means): the classification of the "
                         "warped proposals over the classes and the background, and the smooth-L1 box regression "
                         "of the proposals that overlap an object.")
        recall = getattr(self, "_recall", None)
        if recall is not None:
            curve, mean_count = recall
            atomic_write_text(result.run_dir / "proposal_recall.json",
                              json.dumps({"recall_50_by_count": {str(n): r for n, r in curve.items()},
                                          "proposals_per_image": mean_count}, indent=2) + "\n")
            _plot_recall(result.run_dir, curve, mean_count)
