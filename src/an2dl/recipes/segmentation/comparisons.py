"""``encoder-decoder-vs-unet`` and ``fcn-shapes``: what skip connections add (notes §3.5.1.1–§3.5.1.2).

**encoder-decoder-vs-unet.**  Three networks on one contracting path (same
channels, same depth), trained with the same data, augmentation, loss,
optimiser and number of steps, evaluated on the same held-out images:

* ``unet`` — the expanding path concatenates the encoder's map of each level
  (Ronneberger et al. 2015);
* ``encoder_decoder`` — the same expanding path without those skips: every
  detail must pass through the bottleneck;
* ``fcn`` — class scores of the bottleneck and of two finer stages, fused by
  addition after learned ×2 upsampling, then one learned upsampling to the
  input's size (FCN-8s-style, Long et al. 2015).

The notes' claim: combining fine layers (local detail) with coarse ones
(context) gives accurate and coherent segmentations — the U-Net beats both.

**fcn-shapes.**  The FCN of Long et al. with 0, 1 and 2 fused stages
(FCN-32s, -16s, -8s: the encoder has five poolings, a total stride of 32) on
the synthetic shapes: each fused finer stage sharpens the class borders
that the 32-strided scores can only place to within their stride.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...data import DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import RunSettings, TrainerConfig
from ._common import (
    LossSettings,
    NetSettings,
    SegAugment,
    SegData,
    UNetFamilySettings,
    build_net,
    load_segmentation_data,
    prediction_figures,
    segmentation_task,
)

__all__ = ["EncoderDecoderVsUNet", "EncoderDecoderVsUNetConfig", "FCNShapes", "FCNShapesConfig"]

_NETWORKS = ("unet", "encoder_decoder", "fcn")
_LABELS = {"unet": "U-Net", "encoder_decoder": "encoder-decoder", "fcn": "FCN", "fcn32s": "FCN-32s",
           "fcn16s": "FCN-16s", "fcn8s": "FCN-8s"}


class _SegmentationComparison(ComparisonRecipe):
    """Shared flow: variants are segmentation networks on one data set; figures compare their predictions."""

    primary_metric = "test/mean_iou"
    higher_is_better = True

    def load_data(self, cfg: Any) -> DataSplits:
        return load_segmentation_data(cfg.data)

    def _network(self, cfg: Any, name: str, data: DataSplits) -> Any:
        raise TypeError(f"{type(self).__name__} must define _network")

    def build_variant(self, cfg: Any, name: str, data: DataSplits) -> Task:
        side = int(data.info.input_shape[-1])
        return segmentation_task(self._network(cfg, name, data), data, cfg.loss, cfg.optim, cfg.augment.build(side))

    def comparison_figures(self, cfg: Any, variants: list[Variant], data: DataSplits, run_dir: Path, *,
                           metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "val/mean_iou", label="validation mean IoU", name="validation_mean_iou",
                            caption="Validation mean IoU of each network during training")
        labels = {v.name: _LABELS.get(v.name, v.name) for v in variants}
        prediction_figures(run_dir, data, {labels[v.name]: v.task.model for v in variants if v.task is not None},
                           {labels[v.name]: v.metrics for v in variants}, cfg.overlays,
                           caption="Intersection over union of each class on the test images, one row per network")

    #: the variant the notes claim is best; results.json gets its margin over each other variant ``v`` as
    #: ``margin/<v>`` (its test mean IoU minus ``v``'s)
    claimed_best: str = ""

    def summarize(self, cfg: Any, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        key = self.primary_metric
        scores = {v.name: v.metrics.get(key) for v in variants}
        best = self.claimed_best if self.claimed_best in scores else variants[0].name
        extra: dict[str, Any] = {}
        notes = [f"Same data, augmentation, loss, optimiser and {variants[0].steps} steps for every network; "
                 f"{len(data.test) if data.test is not None else 0} held-out test images."]
        for name, score in scores.items():
            if name != best and score is not None and scores[best] is not None:
                extra[f"margin/{name}"] = scores[best] - score  # the report's table: row `name`, column margin
                notes.append(f"{_LABELS.get(best, best)} - {_LABELS.get(name, name)}: "
                             f"{scores[best] - score:+.4f} test mean IoU.")
        return extra, notes


# ------------------------------------------------------------------------------- encoder-decoder vs U-Net
@dataclass
class EncoderDecoderVsUNetConfig(UNetFamilySettings):
    """The settings of ``unet-membrane`` (:class:`UNetFamilySettings`) and the networks compared."""

    variants: list[str] = field(default_factory=lambda: list(_NETWORKS))  # from unet, encoder_decoder, fcn


@register_recipe
class EncoderDecoderVsUNet(_SegmentationComparison):
    """U-Net vs the same encoder–decoder without skip connections vs an FCN, one budget, the same held-out images."""

    name = "encoder-decoder-vs-unet"
    summary = "U-Net vs encoder-decoder without skips vs FCN-8s on one encoder and budget (membrane by default)"
    section = "3.5.1.1, 3.5.1.2"
    Config = EncoderDecoderVsUNetConfig
    claimed_best = "unet"
    smoke_settings = ("data.name=shapes", "data.n_train=8", "data.n_val=2", "data.n_test=2", "data.size=32",
                      "model.base_channels=4", "model.depth=2", "augment.crop=0", "trainer.max_steps=2",
                      "trainer.val_every_n_steps=2", "checkpoint.every_n_steps=2", "overlays=1")

    def check(self, cfg: EncoderDecoderVsUNetConfig) -> None:
        super().check(cfg)
        unknown = [v for v in cfg.variants if v not in _NETWORKS]
        if unknown:
            raise ConfigError(f"variants must be taken from {list(_NETWORKS)}; got {unknown}")
        if cfg.model.padding != "same":
            raise ConfigError("encoder-decoder-vs-unet compares networks with the same padding; the FCN needs "
                              f"model.padding=same; got {cfg.model.padding!r}")

    def variant_names(self, cfg: EncoderDecoderVsUNetConfig) -> list[str]:
        return list(cfg.variants)

    def _network(self, cfg: EncoderDecoderVsUNetConfig, name: str, data: DataSplits) -> Any:
        return build_net(name, cfg.model, data)


# ------------------------------------------------------------------------------- FCN-32s / 16s / 8s
_FCN_SKIPS = {"fcn32s": 0, "fcn16s": 1, "fcn8s": 2}


@dataclass
class FCNShapesConfig(RunSettings):
    data: SegData = field(default_factory=lambda: SegData(name="shapes"))
    variants: list[str] = field(default_factory=lambda: list(_FCN_SKIPS))  # from fcn32s, fcn16s, fcn8s
    model: NetSettings = field(default_factory=lambda: NetSettings(base_channels=8, depth=5))  # stride 2**5 = 32
    augment: SegAugment = field(default_factory=lambda: SegAugment(crop=0, flip=True))
    loss: LossSettings = field(default_factory=LossSettings)  # class-weighted: without, the coarse nets predict background
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=12, batch_size=16))
    overlays: int = 4  # test images shown with every network's prediction


@register_recipe
class FCNShapes(_SegmentationComparison):
    """FCN-32s, -16s and -8s (Long et al. 2015) on the synthetic shapes: each fused finer stage sharpens the borders."""

    name = "fcn-shapes"
    summary = "FCN-32s vs -16s vs -8s: learned upsampling with skip fusion on the synthetic shapes"
    section = "3.5.1.1"
    Config = FCNShapesConfig
    claimed_best = "fcn8s"
    smoke_settings = ("data.n_train=8", "data.n_val=2", "data.n_test=2", "data.size=32", "model.base_channels=2",
                      "trainer.max_epochs=1", "overlays=1")

    def check(self, cfg: FCNShapesConfig) -> None:
        super().check(cfg)
        unknown = [v for v in cfg.variants if v not in _FCN_SKIPS]
        if unknown:
            raise ConfigError(f"variants must be taken from {list(_FCN_SKIPS)}; got {unknown}")

    def variant_names(self, cfg: FCNShapesConfig) -> list[str]:
        return list(cfg.variants)

    def _network(self, cfg: FCNShapesConfig, name: str, data: DataSplits) -> Any:
        return build_net("fcn", dataclasses.replace(cfg.model, fcn_skips=_FCN_SKIPS[name]), data)

    def summarize(self, cfg: FCNShapesConfig, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        extra, notes = super().summarize(cfg, variants, data)
        stride = 2 ** cfg.model.depth
        notes.insert(0, f"Encoder stride {stride}: the coarsest class scores are {stride} pixels apart.")
        return extra, notes
