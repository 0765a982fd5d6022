"""``cam-weak-localize``: boxes from class labels only, by thresholding class activation maps (notes §3.5.2.1).

Three networks, one data set (the synthetic one-object shapes), one budget
(the same trainer settings: epochs, batch size, optimiser, and the same trunk
channels):

* ``gap`` — a :class:`~an2dl.models.localization.CamNet` (conv trunk → global
  average pooling → one linear layer) trained as a **classifier, with the class
  labels only**: the training and validation sets it sees hold no box;
* ``gmp`` — the same network with global max pooling;
* ``supervised`` — the two-headed localiser of ``localize-shapes`` trained with
  the boxes (``L = α S + (1 − α) R``).

Each network ends with its weights of the best validation loss (early stopping's
restore, with a patience longer than the run).

After training, each CAM network localises the test images the weakly
supervised way (:func:`~an2dl.explain.weak_localization.weak_localize`): the
class activation map of its predicted class, thresholded at 20 % of its
maximum (Zhou et al. 2016), the box of the largest connected region.  The
test boxes, never used in training, score all three (mean IoU, IoU ≥ 0.5,
class and IoU ≥ 0.5), beside the boxes that see no pixel (mean and centred
training box).

The claims shown: weak supervision localises — the GAP network's boxes are
far better than the baselines although it never saw a box — but less well
than the supervised localiser (fewer boxes with IoU ≥ 0.5); and the notes'
"GAP identifies the entire object, GMP discriminative features": the GAP
map's box covers nearly all of the true box (``box_recall`` ≈ 0.95) and is
several times its size at the 20 % threshold, while the GMP map's box covers
only part of it and is smaller (``box_area_ratio``).  On these compact
shapes the GMP map's peak region is often a good box, so GMP's IoU can be the
higher one — at the default settings it matches the supervised localiser;
Zhou et al.'s ImageNet figures (GAP ahead of GMP) come from objects with many
parts.  Measured at the defaults (seed 0, 256 test images; ``an2dl run
cam-weak-localize``): mean IoU GAP 0.399, GMP 0.589, supervised 0.582, mean
training box 0.190; IoU ≥ 0.5 on 25 %, 73 %, 69 % and 5 %; box recall GAP 0.97,
GMP 0.72; box area / true area GAP 2.8, GMP 0.97.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...data import ArrayDataset, DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ...tasks import ClassificationTask
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import EarlyStoppingConfig, RunSettings, TrainerConfig
from ._common import (
    LocalizerSettings,
    LossSettings,
    ShapesData,
    box_baselines,
    box_figure,
    box_scores,
    load_shapes,
    localizer_task,
    predict_boxes,
    score_table_figure,
)

__all__ = ["CamWeakLocalize", "CamWeakLocalizeConfig"]

_VARIANTS = ("gap", "gmp", "supervised")
_LABELS = {"gap": "CAM, GAP (class labels only)", "gmp": "CAM, GMP (class labels only)",
           "supervised": "supervised localiser (boxes)", "mean_box": "mean training box",
           "centre_box": "centred mean-size box"}


@dataclass
class CamSettings:
    """The CAM networks and the box they give."""

    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # trunk filters per block (also the localiser's)
    threshold: float = 0.2  # keep CAM values >= threshold x max (Zhou et al. 2016: 20 %)


@dataclass
class CamWeakLocalizeConfig(RunSettings):
    data: ShapesData = field(default_factory=ShapesData)
    variants: list[str] = field(default_factory=lambda: list(_VARIANTS))  # from gap, gmp, supervised
    cam: CamSettings = field(default_factory=CamSettings)
    localizer: LocalizerSettings = field(default_factory=LocalizerSettings)  # the supervised variant (channels: cam's)
    loss: LossSettings = field(default_factory=LossSettings)  # the supervised variant's α and R
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=10, batch_size=32))
    # every network ends with its weights of the best validation loss (a patience longer than the run: no early stop)
    early_stopping: EarlyStoppingConfig = field(default_factory=lambda: EarlyStoppingConfig(enabled=True, patience=1000))
    examples: int = 8  # test images drawn with their maps and boxes


def _labels_only(ds: ArrayDataset | None) -> ArrayDataset | None:
    """``(image, class)`` of ``(image, class, box)`` samples: what a weakly supervised network may see."""
    return None if ds is None else ArrayDataset(*ds.tensors[:2])


@register_recipe
class CamWeakLocalize(ComparisonRecipe):
    """CAM networks trained with class labels only localise by thresholding their maps; vs the supervised localiser."""

    name = "cam-weak-localize"
    summary = "Weakly supervised localisation: CAM (GAP vs GMP) boxes from class labels only vs a supervised localiser"
    section = "3.5.2.1"
    Config = CamWeakLocalizeConfig
    primary_metric = "test/accuracy"
    higher_is_better = True
    smoke_settings = ("data.n_train=32", "data.n_val=8", "data.n_test=8", "data.size=32", "cam.channels=[4,8]",
                      "localizer.box_hidden=16", "trainer.max_epochs=1", "examples=2")

    def check(self, cfg: CamWeakLocalizeConfig) -> None:
        super().check(cfg)
        unknown = [v for v in cfg.variants if v not in _VARIANTS]
        if unknown:
            raise ConfigError(f"variants must be taken from {list(_VARIANTS)}; got {unknown}")
        if not 0.0 <= cfg.cam.threshold < 1.0:
            raise ConfigError(f"cam.threshold must be a fraction of the map's maximum in [0, 1); got {cfg.cam.threshold!r}")

    def variant_names(self, cfg: CamWeakLocalizeConfig) -> list[str]:
        return list(cfg.variants)

    def load_data(self, cfg: CamWeakLocalizeConfig) -> DataSplits:
        return load_shapes(cfg.data)

    def variant_data(self, cfg: CamWeakLocalizeConfig, name: str, data: DataSplits) -> DataSplits:
        if name == "supervised":
            return data
        return DataSplits(_labels_only(data.train), _labels_only(data.val), _labels_only(data.test),  # type: ignore[arg-type]
                          data.info)

    def build_model(self, cfg: CamWeakLocalizeConfig, name: str | None) -> tuple[Task, DataSplits]:
        """The task of model ``name`` and the data it is evaluated on (images and labels only for a CAM network)."""
        name = name if name is not None else self.variant_names(cfg)[0]
        data = self.load_data(cfg)
        return self.build_variant(cfg, name, data), self.variant_data(cfg, name, data)

    def build_variant(self, cfg: CamWeakLocalizeConfig, name: str, data: DataSplits) -> Task:
        info = data.info
        if name == "supervised":
            s = LocalizerSettings(backbone="small_cnn", channels=list(cfg.cam.channels), box_grid=cfg.localizer.box_grid,
                                  box_hidden=cfg.localizer.box_hidden)
            return localizer_task(s, data, cfg.loss.alpha, cfg.loss, cfg.optim)
        model = get_model("camnet", num_classes=info.num_classes, in_channels=int(info.input_shape[0]),
                          channels=list(cfg.cam.channels), pool="avg" if name == "gap" else "max")
        return ClassificationTask(model, num_classes=info.num_classes, optimizer=cfg.optim)

    # ---- the boxes of every variant on the test images
    def _boxes(self, cfg: CamWeakLocalizeConfig, v: Variant, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from ...explain.weak_localization import weak_localize

        model = v.task.model  # type: ignore[union-attr]
        if v.name == "supervised":
            return predict_boxes(model, x)
        boxes, classes = weak_localize(model, x.to(next(model.parameters()).device), threshold=cfg.cam.threshold)
        return classes, boxes

    def summarize(self, cfg: CamWeakLocalizeConfig, variants: list[Variant],
                  data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        x, y, b = data.test.tensors  # type: ignore[union-attr]
        extra: dict[str, Any] = {}
        rows: dict[str, dict[str, float]] = {}
        for v in variants:
            labels, boxes = self._boxes(cfg, v, x)
            scores = box_scores(boxes, b, labels, y)
            scores["accuracy"] = float((labels == y).double().mean())
            rows[v.name] = scores
        for base_name, scores in box_baselines(data).items():
            rows[base_name] = scores
        for name, scores in rows.items():
            for k, val in scores.items():
                extra[f"localization/{name}/{k}"] = val
        notes = [f"Same data, trainer settings ({variants[0].steps if variants else 0} steps each) and trunk channels "
                 f"{list(cfg.cam.channels)} for every network; the CAM networks never saw a box.  CAM boxes: the "
                 f"largest region where the map of the predicted class is >= {cfg.cam.threshold:g} x its maximum."]
        for name, scores in rows.items():
            line = f"{_LABELS.get(name, name)}: mean IoU {scores['mean_box_iou']:.3f}, IoU >= 0.5 on " \
                   f"{100 * scores['box_accuracy_iou50']:.1f} %"
            if "accuracy_iou50" in scores:
                line += f", class and IoU >= 0.5 on {100 * scores['accuracy_iou50']:.1f} %"
            notes.append(line + f" of the {len(x)} test images.")
        return extra, notes

    def comparison_figures(self, cfg: CamWeakLocalizeConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        from ...explain.cam import class_activation_map

        plot_variant_curves(variants, run_dir, "val/accuracy", label="validation class accuracy",
                            name="validation_accuracy", caption="Validation class accuracy of each network")
        rows: dict[str, dict[str, float]] = {}  # summarize's `localization/<method>/<score>`, a row per method
        for key, value in metrics.items():
            if key.startswith("localization/"):
                method, score = key.removeprefix("localization/").rsplit("/", 1)
                rows.setdefault(_LABELS.get(method, method), {})[score] = value
        if rows:
            score_table_figure(run_dir, rows, ["mean_box_iou", "box_accuracy_iou50", "accuracy_iou50", "accuracy"],
                               name="localization_table",
                               caption="Test boxes of each method against the true boxes (never used by the CAM "
                                       "networks): mean IoU, share with IoU >= 0.5, share with the right class and "
                                       "IoU >= 0.5, class accuracy.")
        n = min(cfg.examples, len(data.test))  # type: ignore[arg-type]
        if n == 0:
            return
        x, y, b = (t[:n] for t in data.test.tensors)  # type: ignore[union-attr]
        by_name = {v.name: v for v in variants}
        for pool in ("gap", "gmp"):
            if pool not in by_name:
                continue
            v = by_name[pool]
            labels, boxes = self._boxes(cfg, v, x)
            cams = class_activation_map(v.task.model, x, labels)  # type: ignore[union-attr]
            shown = {_LABELS[pool].split(" (")[0]: boxes}
            if "supervised" in by_name:
                shown["supervised"] = self._boxes(cfg, by_name["supervised"], x)[1]
            box_figure(run_dir, x, b, shown, name=f"cam_boxes_{pool}", heatmaps=cams.float().cpu(),
                       class_names=data.info.class_names, true_labels=y,
                       caption=f"Class activation maps of the {pool.upper()} network (predicted class) over test "
                               f"images, with the box of their thresholded largest region"
                               + (" and the supervised localiser's box." if "supervised" in by_name else "."))
