"""``sliding-window-shapes``: a patch classifier with a background class slid over the image (notes §3.5.4.1).

The notes' method and its two problems: a classifier of a fixed input size is slid over the image, each
window classified, a background class telling objects from the rest; it "is inefficient and it is
difficult to detect scale variability".  The recipe trains
:class:`~an2dl.models.detection.sliding_window.SlidingWindowDetector` (its patch classifier learns from
crops drawn around the objects and from background crops of the training images, inside ``forward``) with
the :class:`~an2dl.tasks.detection.DetectionTask` on ``shapes-detection`` and reports:

* the held-out COCO ``map``, ``map_50``, ``map_75`` at the trained settings (windows of 12, 18, 24 and 32
  pixels every 4 pixels): what the method reaches — the boxes are the windows themselves, so they fit
  the objects only as well as the grid of windows allows;
* **the cost**, in classifier evaluations per image, of a sweep of window grids on the same trained
  classifier — more scales (the first 1, 2, … of ``model.window_sizes``) at the trained stride, and each
  stride of ``sweep.strides`` with every scale — each measured (the windows the detector classified) and
  compared with the count ``Σ_scales (⌊(H − w) / s⌋ + 1)²``, with its mAP@0.5 and throughput (one thread):
  the cost grows linearly with the number of scales and about as ``1 / s²`` with the stride ``s``;
* the report: held-out images with the true and the detected boxes, the precision–recall curves at IoU
  0.5 per class, and the cost and mAP@0.5 of the sweep.

The default run (512 training images, 10 epochs, Adam at 10⁻²) takes about two minutes on one CPU thread,
the sweep included; at seed 0 it reaches held-out mAP@0.5 0.64 but mAP@0.75 0.06 (windows are coarse boxes),
and its sweep shows the trade-off: 1 → 4 scales cost 196 → 542 evaluations per image for mAP@0.5 0.26 → 0.72,
and stride 8 → 2 costs 146 → 2 035 evaluations for mAP@0.5 0.38 → 0.73 (no gain below stride 4).  Measured
figures are in the recipe's test (``tests/recipes/detection/test_sliding_window_shapes.py``).
"""

from __future__ import annotations

import copy
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
from ..base import Recipe, RunResult, register_recipe
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import ShapesDetectionData, detection_map, load_shapes_detection

__all__ = ["SlidingWindowShapes", "SlidingWindowShapesConfig", "SlidingWindowSettings", "CostSweep", "window_sweep",
           "images_per_second"]


@dataclass
class SlidingWindowSettings:
    """Keyword arguments of the ``sliding_window`` builder (:class:`SlidingWindowDetector`)."""

    window_sizes: list[int] = field(default_factory=lambda: [12, 18, 24, 32])  # window sides in pixels (the scales)
    stride: int = 4  # step between windows in pixels
    patch_size: int = 16  # the classifier's input side; windows are resized to it
    channels: list[int] = field(default_factory=lambda: [8, 16, 16])  # the patch classifier's convolutions
    hidden: int = 64  # its hidden dense layer
    positives_per_object: int = 4  # training crops on each object
    negatives_per_object: int = 6  # training crops around each object (wrong place or scale)
    negatives_per_image: int = 16  # training crops anywhere in the image
    nms_iou: float = 0.3  # per-class NMS threshold of the detected windows


@dataclass
class CostSweep:
    """The window grids whose cost and mAP are measured on the trained classifier."""

    strides: list[int] = field(default_factory=lambda: [2, 4, 8])  # strides tried with every scale
    images: int = 64  # held-out images of each grid's measurement (0: no sweep)


@dataclass
class SlidingWindowShapesConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=ShapesDetectionData)
    model: SlidingWindowSettings = field(default_factory=SlidingWindowSettings)
    sweep: CostSweep = field(default_factory=CostSweep)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-2))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=10, batch_size=32))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max"))
    examples: int = 8  # held-out images drawn with their true and detected boxes


def images_per_second(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 32, repeats: int = 3) -> float:
    """Detection throughput of ``model`` (evaluation mode, no gradients) on ``images`` with ONE thread.

    The best of ``repeats`` passes over the images in batches of ``batch_size``, after one warm-up batch;
    the thread count is restored afterwards.

    Shape:
        ``images``: ``[N, 3, H, W]``.
    """
    threads = torch.get_num_threads()
    was_training = model.training
    model.eval()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            model(images[:batch_size])
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                for s in range(0, len(images), batch_size):
                    model(images[s : s + batch_size])
                best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return len(images) / best


def window_sweep(model: torch.nn.Module, data: Any, grids: list[tuple[list[int], int]], *, images: int) -> list[dict]:
    """Cost and accuracy of ``model`` (a trained :class:`SlidingWindowDetector`) with other window grids.

    Args:
        model: the detector; its ``window_sizes`` and ``stride`` are restored afterwards.
        data: held-out ``(image, target)`` samples; the first ``images`` are used.
        grids: ``(window_sizes, stride)`` pairs.
        images: how many samples to measure on.

    Returns:
        per grid ``{"window_sizes", "stride", "evaluations_per_image"`` (counted during detection),
        ``"formula"`` (:func:`~an2dl.models.detection.sliding_window.window_counts` summed), ``"map_50"``,
        ``"images_per_s"`` (one thread)``}``.
    """
    from ...data.core import subset
    from ...models.detection.sliding_window import window_counts

    sizes, stride = model.window_sizes, model.stride
    part = subset(data, list(range(min(images, len(data)))))
    pixels = torch.stack([part[i][0] for i in range(len(part))])
    out = []
    try:
        for window_sizes, s in grids:
            model.window_sizes, model.stride = tuple(window_sizes), int(s)
            scores = detection_map(model, part)
            counted = sorted(set(model.last_evaluations))
            out.append({"window_sizes": list(window_sizes), "stride": int(s),
                        "evaluations_per_image": counted[0] if len(counted) == 1 else counted,
                        "formula": sum(window_counts(tuple(pixels.shape[-2:]), window_sizes, s)),
                        "map_50": scores["map_50"], "images_per_s": images_per_second(model, pixels, repeats=1)})
    finally:
        model.window_sizes, model.stride = sizes, stride
    return out


def _plot_sweep(run_dir: Any, sweep: list[dict], stride: int) -> None:
    from ...report.plots import figure, save_figure

    fig = figure(figsize=(10.5, 3.6))
    by_scales = [r for r in sweep if r["stride"] == stride and r.get("group") == "scales"]
    by_stride = [r for r in sweep if r.get("group") == "strides"]
    for k, (rows, xs, xlabel) in enumerate((
            (by_scales, [len(r["window_sizes"]) for r in by_scales], f"number of scales (stride {stride})"),
            (by_stride, [r["stride"] for r in by_stride], "stride s in pixels (every scale)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.plot(xs, [r["formula"] for r in rows], "k--", lw=1, label="count formula")
        ax.plot(xs, [r["evaluations_per_image"] for r in rows], "o", color="C0", label="evaluations / image")
        ax.set_xticks(xs)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("classifier evaluations per image")
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(xs, [r["map_50"] for r in rows], "s-", color="C1", ms=4, label="mAP@0.5")
        twin.set_ylabel("mAP@0.5", color="C1")
        twin.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper center")
    fig.subplots_adjust(wspace=0.5)
    save_figure(fig, run_dir, "window_cost",
                "The cost of the sliding window (notes 3.5.4.1): classifier evaluations per image (dots: counted "
                "while detecting; dashed: the count sum over scales of (floor((H - w) / s) + 1)^2) and the mAP@0.5 "
                "(squares) of the same trained classifier, against the number of scales and the stride.")


@register_recipe
class SlidingWindowShapes(Recipe):
    """The sliding-window detector on the synthetic shapes; its cost in classifier evaluations per image."""

    name = "sliding-window-shapes"
    summary = "Sliding-window patch classifier + background class, multi-scale, NMS; mAP and evaluations per image"
    section = "3.5.4.1"
    Config = SlidingWindowShapesConfig
    smoke_settings = ("data.n_train=16", "data.n_val=8", "data.n_test=8", "model.channels=[4,4]", "model.hidden=8",
                      "model.window_sizes=[16,32]", "model.stride=8", "sweep.strides=[8,16]", "sweep.images=4",
                      "trainer.max_epochs=1", "examples=2")

    def check(self, cfg: SlidingWindowShapesConfig) -> None:
        if not cfg.sweep.strides or not all(isinstance(s, int) and s > 0 for s in cfg.sweep.strides):
            raise ConfigError(f"{self.name}: sweep.strides must be a non-empty list of positive integers; got "
                              f"{cfg.sweep.strides!r}")

    def build(self, cfg: SlidingWindowShapesConfig) -> tuple[Task, DataSplits]:
        from ...tasks.detection import DetectionTask

        self.check(cfg)
        data = load_shapes_detection(cfg.data)
        model = get_model("sliding_window", num_classes=data.train.num_classes, **asdict(cfg.model))
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names), data

    def extra_metrics(self, cfg: SlidingWindowShapesConfig, task: Task, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        metrics: dict[str, Any] = {}
        notes: list[str] = []
        if data.test is None:
            return metrics, notes
        model = task.model
        size = tuple(data.test[0][0].shape[-2:])
        metrics["cost/evaluations_per_image"] = model.evaluations_per_image(size)
        notes.append(f"{model.evaluations_per_image(size)} classifier evaluations per {size[0]}x{size[1]} image "
                     f"(windows {list(model.window_sizes)} every {model.stride} pixels).")
        if cfg.sweep.images <= 0:
            return metrics, notes
        model = copy.deepcopy(model).cpu()  # measured on the CPU, whatever device trained it
        sizes, stride = list(cfg.model.window_sizes), cfg.model.stride
        scale_grids = [(sizes[:k], stride) for k in range(1, len(sizes) + 1)]
        stride_grids = [(sizes, s) for s in cfg.sweep.strides]
        t0 = time.perf_counter()
        rows = [dict(r, group="scales") for r in window_sweep(model, data.test, scale_grids, images=cfg.sweep.images)]
        rows += [dict(r, group="strides") for r in window_sweep(model, data.test, stride_grids, images=cfg.sweep.images)]
        for r in rows:
            key = f"sweep/{r['group']}/w{'-'.join(map(str, r['window_sizes']))}_s{r['stride']}"
            for k in ("evaluations_per_image", "formula", "map_50", "images_per_s"):
                if isinstance(r[k], (int, float)):
                    metrics[f"{key}/{k}"] = r[k]
        self._sweep = rows
        notes.append("Cost sweep on " + str(min(cfg.sweep.images, len(data.test))) + " held-out images (" +
                     f"{time.perf_counter() - t0:.0f} s): " + "; ".join(
                         f"windows {r['window_sizes']} stride {r['stride']}: {r['evaluations_per_image']} evaluations, "
                         f"mAP@0.5 {r['map_50']:.3f}, {r['images_per_s']:.0f} images/s" for r in rows) + ".")
        return metrics, notes

    def figures(self, result: RunResult) -> None:
        from ..figures import detection_figures

        detection_figures(result, n_examples=result.config.examples)
        rows = getattr(self, "_sweep", None)
        if rows:
            atomic_write_text(result.run_dir / "sweep.json", json.dumps(rows, indent=2) + "\n")
            _plot_sweep(result.run_dir, rows, result.config.model.stride)
