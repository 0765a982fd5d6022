"""``fpn-scales``: Faster R-CNN with and without a Feature Pyramid Network on objects of many sizes (notes §3.5.5.2).

The notes' claim (§3.5.5.2): the Feature Pyramid Network "combines
low-resolution, semantically strong features with high-resolution,
semantically weak features" through its top-down pathway and lateral
connections, so that objects of different sizes are recognised at
different levels — it helps most with *small* objects, which a single
coarse feature map resolves poorly.  The recipe trains the same detector
twice on ``shapes-detection`` images whose objects span a decade of sizes
(96×96 images, radii log-uniform in 3.4–29 px, so boxes of about 7 to 72 px):

* ``single`` — :func:`~an2dl.models.detection.faster_rcnn.faster_rcnn` on
  the last map of a four-block CNN (stride 8), every anchor size
  (8, 16, 32, 64 px × 3 ratios, k = 12) on that one map, RoIAlign from it;
* ``fpn`` — the same CNN, its blocks 1–3 (strides 2, 4, 8) feeding an FPN
  with the extra pooled level (stride 16), one anchor size per level (8 px
  on stride 2 … 64 px on stride 16; k = 3), and each RoI pooled from the
  level its size selects (:class:`~an2dl.ops.multiscale_roi.MultiScaleRoIAlign`).

Same data, optimiser, epochs and head.  The report gives COCO's AP per
object size — ``map_small`` (box area below 32² px), ``map_medium`` (32² to
96²) and ``map_large`` (above 96², rare here: ``-1`` when absent) — of both
variants and what FPN adds to each (``fpn_gain/map_small``, ...), a bar chart
of those APs and the validation mAP of both during training.  Measured
figures are in the recipe's test (``tests/recipes/detection/test_fpn_scales.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...data import DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import ShapesDetectionData, load_shapes_detection

__all__ = ["FPNScales", "FPNScalesConfig", "FPNScalesModel", "SIZE_KEYS"]

_VARIANTS = ("single", "fpn")
#: COCO's AP per object size, compared between the variants
SIZE_KEYS = ("map_small", "map_medium", "map_large")


@dataclass
class FPNScalesModel:
    """The detector both variants share (see ``faster_rcnn``); ``fpn`` only changes the feature maps and anchors."""

    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])  # four blocks: strides 1, 2, 4, 8
    fpn_channels: int = 64  # channels of every pyramid level
    anchor_sizes: list[float] = field(default_factory=lambda: [8.0, 16.0, 32.0, 64.0])  # single: all on one map
    fpn_canonical_scale: float = 56.0  # FPN: RoIs of side 56 * 2^(k-4) px are pooled from level k
    rpn_pre_nms_top_n: list[int] = field(default_factory=lambda: [600, 300])  # (training, testing), per map
    rpn_post_nms_top_n: list[int] = field(default_factory=lambda: [300, 100])
    representation_size: int = 256  # width of fc6 and fc7
    box_batch_size_per_image: int = 128  # proposals sampled for the head's loss


@dataclass
class FPNScalesConfig(RunSettings):
    data: ShapesDetectionData = field(default_factory=lambda: ShapesDetectionData(size=96, scale=[0.035, 0.3]))
    variants: list[str] = field(default_factory=lambda: list(_VARIANTS))  # single and/or fpn
    model: FPNScalesModel = field(default_factory=FPNScalesModel)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=8, batch_size=8))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(monitor="val/map", mode="max"))


@register_recipe
class FPNScales(ComparisonRecipe):
    """Faster R-CNN on one stride-8 map against the same CNN with an FPN, on objects of 7 to 72 px."""

    name = "fpn-scales"
    summary = "Faster R-CNN with vs without FPN on shapes of 7-72 px: AP of small, medium and large objects"
    section = "3.5.5.2"
    Config = FPNScalesConfig
    primary_metric = "test/map"
    higher_is_better = True
    smoke_settings = (
        "data.n_train=16",
        "data.n_val=8",
        "data.n_test=8",
        "data.size=64",
        "model.channels=[4,8,8,8]",
        "model.fpn_channels=8",
        "model.representation_size=16",
        "model.box_batch_size_per_image=16",
        "model.rpn_pre_nms_top_n=[50,50]",
        "model.rpn_post_nms_top_n=[20,20]",
        "trainer.max_epochs=1",
    )

    def check(self, cfg: FPNScalesConfig) -> None:
        super().check(cfg)
        unknown = [v for v in cfg.variants if v not in _VARIANTS]
        if unknown:
            raise ConfigError(f"{self.name}: variants must be taken from {list(_VARIANTS)}; got {unknown}")
        if len(cfg.model.channels) < 2:
            raise ConfigError(f"{self.name}: model.channels needs at least two blocks (the FPN reads blocks 1..n-1); "
                              f"got {cfg.model.channels}")

    def variant_names(self, cfg: FPNScalesConfig) -> list[str]:
        return list(cfg.variants)

    def load_data(self, cfg: FPNScalesConfig) -> DataSplits:
        return load_shapes_detection(cfg.data)

    def build_variant(self, cfg: FPNScalesConfig, name: str, data: DataSplits) -> Task:
        from ...tasks.detection import DetectionTask

        m = cfg.model
        kwargs: dict[str, Any] = {
            "num_classes": data.train.num_classes, "channels": list(m.channels),
            "anchor_sizes": list(m.anchor_sizes), "rpn_pre_nms_top_n": list(m.rpn_pre_nms_top_n),
            "rpn_post_nms_top_n": list(m.rpn_post_nms_top_n), "representation_size": m.representation_size,
            "box_batch_size_per_image": m.box_batch_size_per_image,
        }
        if name == "fpn":
            levels = len(m.channels)  # blocks 1..n-1 and the pooled level
            if len(m.anchor_sizes) != levels:
                raise ConfigError(f"{self.name}: model.anchor_sizes needs one size per pyramid level ({levels} for "
                                  f"{len(m.channels)} blocks); got {m.anchor_sizes}")
            kwargs.update(fpn=True, fpn_channels=m.fpn_channels, fpn_canonical_scale=m.fpn_canonical_scale)
        model = get_model("faster_rcnn", **kwargs)
        return DetectionTask(model, optimizer=cfg.optim, class_names=data.train.class_names)

    def summarize(self, cfg: FPNScalesConfig, variants: list[Variant], data: DataSplits
                  ) -> tuple[dict[str, Any], list[str]]:
        by_name = {v.name: v.metrics for v in variants}
        extra: dict[str, Any] = {}
        header = "| AP (test) | " + " | ".join(v.name for v in variants) + (
            " | FPN adds |" if len(by_name) == 2 else " |")
        rows = [header, "|" + "---|" * (len(variants) + 1 + (len(by_name) == 2))]
        for key in ("map", "map_50", *SIZE_KEYS):
            values = [by_name[v.name].get(f"test/{key}", float("nan")) for v in variants]
            row = f"| {key} | " + " | ".join("n/a" if x < 0 else f"{x:.3f}" for x in values)
            if {"single", "fpn"} <= set(by_name):
                s, f = by_name["single"].get(f"test/{key}", -1.0), by_name["fpn"].get(f"test/{key}", -1.0)
                if s >= 0 and f >= 0:
                    extra[f"fpn_gain/{key}"] = f - s
                    row += f" | {f - s:+.3f}"
                else:
                    row += " | n/a"
            rows.append(row + " |")
        notes = ["AP by object size (COCO's ranges: small below 32² px, medium 32²–96², large above; n/a: no "
                 "such object in the test split):", *rows]
        return extra, notes

    def comparison_figures(self, cfg: FPNScalesConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        from ...report.plots import figure, save_figure

        plot_variant_curves(variants, run_dir, "val/map", label="validation mAP@[.5:.95]", name="validation_map",
                            caption="Validation mAP during training, Faster R-CNN on one map and with an FPN",
                            x="epoch")
        sizes = [k for k in SIZE_KEYS if any(v.metrics.get(f"test/{k}", -1.0) >= 0 for v in variants)]
        if not sizes or not variants:
            return
        fig = figure(figsize=(5.5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / len(variants)
        for j, v in enumerate(variants):
            values = [max(v.metrics.get(f"test/{k}", 0.0), 0.0) for k in sizes]
            ax.bar([i + j * width for i in range(len(sizes))], values, width, label=v.name)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))])
        ax.set_xticklabels([k.removeprefix("map_") for k in sizes])
        ax.set_ylabel("test AP@[.5:.95]")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        save_figure(fig, run_dir, "ap_by_size", "Test AP of small, medium and large objects (COCO's area ranges), "
                                                "Faster R-CNN on one stride-8 map and with an FPN")
