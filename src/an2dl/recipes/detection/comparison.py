"""``detector-comparison``: the five detectors of the notes on the same shapes and budget (notes §3.5.4).

The notes' story of object detection is a trade-off between accuracy and speed: the sliding window "is
inefficient and it is difficult to detect scale variability" (§3.5.4.1); R-CNN classifies region proposals
but "the CNN must process each proposal independently" (§3.5.4.2); Fast R-CNN runs "the convolutional
computations ... only once per image" (§3.5.4.3); Faster R-CNN learns its proposals on the same feature map,
"high accuracy and efficiency" (§3.5.4.4); and YOLO, one forward pass: "single-shot detectors are faster but
trade off some accuracy for speed" (§3.5.4.5).  The recipe trains

* ``sliding_window`` (``sliding-window-shapes``' model, optimiser, epochs and batch size),
* ``rcnn`` (``rcnn-shapes``'), ``fast_rcnn`` (``fast-rcnn-shapes``'), ``faster_rcnn``
  (``faster-rcnn-shapes``'), ``yolo`` (``yolo-shapes``', k-means anchors on the training boxes)

one after the other on the same ``shapes-detection`` split, each with the model settings and the training
budget (optimiser, epochs, batch size) of its own recipe — ``trainer.max_epochs``, when given, sets the same
number of epochs for all — and tabulates for each, on the held-out images:

* ``test/map_50_<name>`` and ``test/map_<name>`` (COCO mAP@0.5 and mAP@[.5:.95]);
* ``speed/<name>/ms_per_image``: detection time per image on ONE thread, measured in this process, the
  median of ``timing.repeats`` passes over ``timing.images`` images (proposals recomputed on each pass);
* ``cost/<name>/cnn_evaluations_per_image``: the inputs through each network's first convolution per image,
  counted (the windows, the proposals, or 1);
* ``speed/yolo_speedup_over_faster_rcnn``: Faster R-CNN's time per image over YOLO's (same process, same
  images), and ``goal/...``: the issue's goal — Faster R-CNN mAP@0.5 ≥ 0.9, YOLO within 0.1 of it.

The table goes to ``comparison.json`` and the notes; ``plots/detector_comparison.png`` draws it as bars.  The
default run takes about 18 minutes on one CPU thread shared with other jobs (Faster R-CNN's 8 epochs five of
them) and, at seed 0, gives held-out mAP@0.5 / mAP@[.5:.95] / ms per image / CNN evaluations per image:
sliding window 0.642 / 0.193 / 33 / 542, R-CNN 0.927 / 0.766 / 99 / 25.2, Fast R-CNN 0.999 / 0.709 / 145 / 1,
Faster R-CNN 0.997 / 0.817 / 29 / 1, YOLO 0.989 / 0.731 / 3.4 / 1 — YOLO 8.4 times as fast as Faster R-CNN and
0.008 below it.  Times on a shared machine vary by tens of percent; the test
(``tests/recipes/detection/test_detector_comparison.py``) asserts counts and in-process ratios only.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.files import atomic_write_text
from ...data import DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import (
    ShapesDetectionData,
    cnn_evaluations_per_image,
    inference_ms_per_image,
    load_shapes_detection,
)
from .fast_rcnn import FastRCNNSettings, FastRCNNShapesConfig, fast_rcnn_kwargs
from .faster_rcnn import FasterRCNNSettings, FasterRCNNShapesConfig
from .rcnn import RCNNSettings, RCNNShapesConfig
from .sliding_window import SlidingWindowSettings, SlidingWindowShapesConfig
from .yolo import YoloSettings, YoloShapesConfig, yolo_kwargs

__all__ = ["DetectorComparison", "DetectorComparisonConfig", "DetectorModels", "DetectorBudget", "DetectorBudgets",
           "DETECTORS"]

#: the detectors, in the notes' order (§3.5.4.1 … §3.5.4.5)
DETECTORS = ("sliding_window", "rcnn", "fast_rcnn", "faster_rcnn", "yolo")
_LABELS = {"sliding_window": "sliding window", "rcnn": "R-CNN", "fast_rcnn": "Fast R-CNN",
           "faster_rcnn": "Faster R-CNN", "yolo": "YOLO"}
#: each detector's own recipe config, whose optimiser, epochs and batch size are its default budget
_RECIPE_CONFIGS = {"sliding_window": SlidingWindowShapesConfig, "rcnn": RCNNShapesConfig,
                   "fast_rcnn": FastRCNNShapesConfig, "faster_rcnn": FasterRCNNShapesConfig,
                   "yolo": YoloShapesConfig}


@dataclass
class DetectorModels:
    """The model settings of each detector (those of its own recipe by default)."""

    sliding_window: SlidingWindowSettings = field(default_factory=SlidingWindowSettings)
    rcnn: RCNNSettings = field(default_factory=RCNNSettings)
    fast_rcnn: FastRCNNSettings = field(default_factory=FastRCNNSettings)
    faster_rcnn: FasterRCNNSettings = field(default_factory=FasterRCNNSettings)
    yolo: YoloSettings = field(default_factory=YoloSettings)


@dataclass
class DetectorBudget:
    """How one detector trains: its optimiser, epochs and batch size."""

    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))  # optimiser and rate
    epochs: int = 10  # passes over the training images (unless trainer.max_epochs is given)
    batch_size: int = 32  # training images per step


def _recipe_budget(name: str) -> DetectorBudget:
    cfg = _RECIPE_CONFIGS[name]()
    return DetectorBudget(copy.deepcopy(cfg.optim), int(cfg.trainer.max_epochs), int(cfg.trainer.batch_size))


@dataclass
class DetectorBudgets:
    """The training budget of each detector (that of its own recipe by default)."""

    sliding_window: DetectorBudget = field(default_factory=lambda: _recipe_budget("sliding_window"))
    rcnn: DetectorBudget = field(default_factory=lambda: _recipe_budget("rcnn"))
    fast_rcnn: DetectorBudget = field(default_factory=lambda: _recipe_budget("fast_rcnn"))
    faster_rcnn: DetectorBudget = field(default_factory=lambda: _recipe_budget("faster_rcnn"))
    yolo: DetectorBudget = field(default_factory=lambda: _recipe_budget("yolo"))


@dataclass
class DetectionTiming:
    """The held-out images the inference time and the CNN evaluations are measured on."""

    images: int = 64  # held-out images timed and counted (the first ones of the test split)
    repeats: int = 5  # timed passes; the median is reported


@dataclass
class DetectorComparisonConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=ShapesDetectionData)
    detectors: list[str] = field(default_factory=lambda: list(DETECTORS))  # trained, in this order
    models: DetectorModels = field(default_factory=DetectorModels)
    budgets: DetectorBudgets = field(default_factory=DetectorBudgets)
    # shared by every detector (seed, device, ...); max_epochs None: each detector's budgets.<name>.epochs, an
    # integer: that many epochs for all; batch_size is not read (budgets.<name>.batch_size)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=None))
    checkpoint: CheckpointConfig = field(
        default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max")
    )
    timing: DetectionTiming = field(default_factory=DetectionTiming)


def _model(cfg: DetectorComparisonConfig, name: str, data: DataSplits) -> torch.nn.Module:
    """Detector ``name`` built as its own recipe builds it."""
    num_classes = data.train.num_classes
    settings = getattr(cfg.models, name)
    if name == "fast_rcnn":
        return get_model("fast_rcnn_selective_search", **fast_rcnn_kwargs(settings, num_classes))
    if name == "yolo":
        return get_model("yolo", **yolo_kwargs(settings, data, cfg.trainer.seed))
    return get_model(name, num_classes=num_classes, **asdict(settings))


@register_recipe
class DetectorComparison(ComparisonRecipe):
    """Sliding window, R-CNN, Fast R-CNN, Faster R-CNN and YOLO on the same shapes: mAP, time and CNN evaluations."""

    name = "detector-comparison"
    summary = (
        "sliding window, R-CNN, Fast R-CNN, Faster R-CNN, YOLO on one shapes split: mAP@0.5, mAP@[.5:.95], "
        "ms/image, CNN evaluations/image"
    )
    section = "3.5.4"
    Config = DetectorComparisonConfig
    primary_metric = "test/map_50"
    higher_is_better = True
    smoke_settings = (
        "data.n_train=8",
        "data.n_val=4",
        "data.n_test=4",
        "models.sliding_window.channels=[4]",
        "models.sliding_window.hidden=8",
        "models.sliding_window.window_sizes=[16,32]",
        "models.sliding_window.stride=8",
        "models.rcnn.channels=[4]",
        "models.rcnn.hidden=8",
        "models.rcnn.proposal_ks=[1.0]",
        "models.fast_rcnn.channels=[4,8]",
        "models.fast_rcnn.representation_size=16",
        "models.fast_rcnn.box_batch_size_per_image=16",
        "models.fast_rcnn.proposal_ks=[1.0]",
        "models.faster_rcnn.channels=[4,8,8]",
        "models.faster_rcnn.representation_size=16",
        "models.faster_rcnn.box_batch_size_per_image=16",
        "models.faster_rcnn.rpn_pre_nms_top_n=[50,50]",
        "models.faster_rcnn.rpn_post_nms_top_n=[20,20]",
        "models.yolo.channels=[4,8,8]",
        "models.yolo.head_channels=8",
        "trainer.max_epochs=1",
        "timing.images=2",
        "timing.repeats=1",
    )

    def check(self, cfg: DetectorComparisonConfig) -> None:
        unknown = [d for d in cfg.detectors if d not in DETECTORS]
        if not cfg.detectors or unknown or len(set(cfg.detectors)) != len(cfg.detectors):
            raise ConfigError(f"{self.name}: detectors must be a non-empty list of distinct names among "
                              f"{list(DETECTORS)}; got {cfg.detectors!r}")
        if cfg.timing.images < 1 or cfg.timing.repeats < 1:
            raise ConfigError(f"{self.name}: timing.images and timing.repeats must be positive integers; got "
                              f"{cfg.timing.images!r} and {cfg.timing.repeats!r}")

    def variant_names(self, cfg: DetectorComparisonConfig) -> list[str]:
        return list(cfg.detectors)

    def load_data(self, cfg: DetectorComparisonConfig) -> DataSplits:
        return load_shapes_detection(cfg.data)

    def variant_settings(self, cfg: DetectorComparisonConfig, name: str) -> DetectorComparisonConfig:
        """``cfg`` with detector ``name``'s epochs and batch size in ``trainer``."""
        budget: DetectorBudget = getattr(cfg.budgets, name)
        epochs = cfg.trainer.max_epochs if cfg.trainer.max_epochs is not None else budget.epochs
        return dataclasses.replace(
            cfg, trainer=dataclasses.replace(cfg.trainer, max_epochs=epochs, batch_size=budget.batch_size)
        )

    def build_variant(self, cfg: DetectorComparisonConfig, name: str, data: DataSplits) -> Task:
        from ...tasks.detection import DetectionTask

        budget: DetectorBudget = getattr(cfg.budgets, name)
        return DetectionTask(_model(cfg, name, data), optimizer=budget.optim, class_names=data.train.class_names)

    def _table(self, cfg: DetectorComparisonConfig, variants: list[Variant],
               metrics: dict[str, Any]) -> list[dict[str, Any]]:
        """A row per timed detector: its test mAPs, speed, CNN evaluations (from :meth:`summarize`'s
        ``metrics``), epochs and training time; none when the detectors were not timed (no test split)."""
        return [{"detector": v.name, "map_50": v.metrics.get("test/map_50"), "map": v.metrics.get("test/map"),
                 "ms_per_image": metrics[f"speed/{v.name}/ms_per_image"],
                 "cnn_evaluations_per_image": metrics[f"cost/{v.name}/cnn_evaluations_per_image"],
                 "epochs": self.variant_settings(cfg, v.name).trainer.max_epochs,
                 "train_seconds": round(v.seconds, 1)}
                for v in variants if f"speed/{v.name}/ms_per_image" in metrics]

    def summarize(
        self, cfg: DetectorComparisonConfig, variants: list[Variant], data: DataSplits
    ) -> tuple[dict[str, Any], list[str]]:
        extra: dict[str, Any] = {}
        notes: list[str] = []
        if data.test is None:
            return extra, notes
        images = torch.stack([data.test[i][0] for i in range(min(cfg.timing.images, len(data.test)))])
        for v in variants:
            model = copy.deepcopy(v.task.model).cpu()  # timed on the CPU, whatever device trained it
            extra[f"cost/{v.name}/cnn_evaluations_per_image"] = cnn_evaluations_per_image(model, images)
            extra[f"speed/{v.name}/ms_per_image"] = round(inference_ms_per_image(model, images,
                                                                                repeats=cfg.timing.repeats), 3)
        rows = self._table(cfg, variants, extra)
        by_name = {r["detector"]: r for r in rows}
        if {"faster_rcnn", "yolo"} <= set(by_name):
            f, y = by_name["faster_rcnn"], by_name["yolo"]
            extra["speed/yolo_speedup_over_faster_rcnn"] = round(f["ms_per_image"] / y["ms_per_image"], 3)
            extra["goal/faster_rcnn_map_50_at_least_0.9"] = bool(f["map_50"] >= 0.9)
            extra["goal/yolo_within_0.1_of_faster_rcnn"] = bool(y["map_50"] >= f["map_50"] - 0.1)
        notes.append(
            f"Held-out table ({len(images)} images timed on one thread, median of {cfg.timing.repeats} passes; "
            "CNN evaluations = inputs through the first convolution per image):"
        )
        notes.append("| detector | mAP@0.5 | mAP@[.5:.95] | ms / image | CNN evaluations / image | epochs | train s |")
        for r in rows:
            notes.append(f"| {_LABELS[r['detector']]} | {r['map_50']:.3f} | {r['map']:.3f} | {r['ms_per_image']:.2f} "
                         f"| {r['cnn_evaluations_per_image']:.1f} | {r['epochs']} | {r['train_seconds']:.0f} |")
        if "speed/yolo_speedup_over_faster_rcnn" in extra:
            notes.append(f"YOLO is {extra['speed/yolo_speedup_over_faster_rcnn']:.1f}x as fast as Faster R-CNN "
                         f"(same process, same images), mAP@0.5 {by_name['yolo']['map_50']:.3f} against "
                         f"{by_name['faster_rcnn']['map_50']:.3f}.")
        return extra, notes

    def comparison_figures(
        self, cfg: DetectorComparisonConfig, variants: list[Variant], data: DataSplits, run_dir: Path, *,
        metrics: dict[str, Any],
    ) -> None:
        rows = self._table(cfg, variants, metrics)
        if not rows:
            return
        atomic_write_text(run_dir / "comparison.json", json.dumps(rows, indent=2) + "\n")
        _plot_comparison(rows, run_dir)


def _plot_comparison(rows: list[dict[str, Any]], run_dir: Path) -> None:
    from ...report.plots import figure, save_figure

    names = [_LABELS[r["detector"]] for r in rows]
    xs = range(len(rows))
    fig = figure(figsize=(11, 3.6))
    ax = fig.add_subplot(1, 3, 1)
    width = 0.38
    ax.bar([x - width / 2 for x in xs], [r["map_50"] for r in rows], width, label="mAP@0.5")
    ax.bar([x + width / 2 for x in xs], [r["map"] for r in rows], width, label="mAP@[.5:.95]")
    ax.set_ylim(0, 1)
    ax.set_title("held-out mAP", fontsize=9)
    ax.legend(fontsize=7)
    for k, (key, label) in enumerate((("ms_per_image", "ms per image (one thread)"),
                                      ("cnn_evaluations_per_image", "CNN evaluations per image"))):
        ax2 = fig.add_subplot(1, 3, 2 + k)
        ax2.bar(list(xs), [r[key] for r in rows], color=f"C{2 + k}")
        ax2.set_yscale("log")
        ax2.set_title(label, fontsize=9)
    for a in fig.axes:
        a.set_xticks(list(xs))
        a.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        a.grid(alpha=0.3, axis="y")
    save_figure(
        fig,
        run_dir,
        "detector_comparison",
        "The five detectors of the notes on the same held-out shapes: mAP@0.5 and mAP@[.5:.95] (left), "
        "detection time per image on one thread (middle, log scale) and CNN evaluations per image (right, "
        "log scale: windows for the sliding window, proposals for R-CNN, one pass for the others).",
    )
