"""``patch-vs-full``: patch-based against full-image training of one network (notes §3.5.1.3).

The network is a :class:`~an2dl.models.segmentation.PatchClassifier` —
unpadded convolutions without pooling and a dense head over its ``P × P``
receptive field — made fully convolutional (:func:`~an2dl.models.segmentation.convolutionalize`):
on a ``P × P`` patch it is the classifier of that patch's centre pixel, on a
larger image it scores every pixel whose window lies inside, sharing the
convolutions of overlapping windows.  Both variants train it with the same
:class:`~an2dl.tasks.SegmentationTask`, the same optimiser and the same
number of steps; only the data pipeline differs:

* ``patch`` — mini-batches of ``patch_batch`` patches cropped around random
  pixels, each labelled by its centre pixel, drawn with class-balanced
  resampling (:class:`~an2dl.data.patches.CenterPixelPatches`);
* ``full`` — mini-batches of image regions (``full_crop`` pixels, whole
  images with ``full_crop=0``), every pixel of which is a training example;
  the loss is weighted by class from the label frequencies, and random
  square regions of it are masked at each step to give back some
  stochasticity.

Both are evaluated the same way, on every pixel of the held-out images.
The recipe reports each variant's training throughput — labelled pixels
per second of training steps — and their ratio, and the accuracy and IoU of
both: the notes' trade-off, full-image training being far cheaper per
labelled pixel because convolutions are not recomputed for overlapping
patches.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...data import DataSplits
from ...data.patches import CenterPixelPatches
from ...engine.callbacks import Callback
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import (
    LossSettings,
    SegAugment,
    SegData,
    load_segmentation_data,
    prediction_figures,
    segmentation_task,
)

__all__ = ["PatchVsFull", "PatchVsFullConfig", "PixelThroughput"]

_MODES = ("patch", "full")


class PixelThroughput(Callback):
    """Labelled pixels per second of training steps (forward, backward and optimiser step; no evaluation).

    A step's labelled pixels are the network's output pixels on the batch:
    ``B · (H − 2c) · (W − 2c)`` with ``c`` the network's ``context()``
    (one per patch for a ``P × P`` patch, every scored pixel for an image).
    The first step of a run is not timed (one-off allocation costs).
    """

    def __init__(self) -> None:
        self.seconds, self.pixels, self.steps = 0.0, 0, 0
        self._t0 = 0.0

    def on_fit_start(self, trainer, task) -> None:
        self.seconds, self.pixels, self.steps = 0.0, 0, 0

    def on_batch_start(self, trainer, task, batch, batch_idx) -> None:
        self._t0 = time.perf_counter()

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        self.steps += 1
        if self.steps == 1:
            return  # the first step of a fit pays one-off costs (allocations, lazy initialisation)
        self.seconds += time.perf_counter() - self._t0
        c = task.model.context() if hasattr(task.model, "context") else 0
        h, w = batch.inputs.shape[-2:]
        self.pixels += batch.size * (h - 2 * c) * (w - 2 * c)

    @property
    def pixels_per_second(self) -> float:
        return self.pixels / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class PatchNet:
    """The patch classifier (see :class:`~an2dl.models.segmentation.PatchClassifier`)."""

    patch_size: int = 17  # P: the receptive field, odd
    channels: list[int] = field(default_factory=lambda: [16, 32, 32])  # filters of each unpadded convolution
    kernel_size: int = 5  # side of those filters (each trims kernel_size - 1 pixels)
    hidden: int = 32  # width of the hidden dense layer (a 1x1 convolution once convolutionalised)


@dataclass
class PatchVsFullConfig(RunSettings):
    data: SegData = field(default_factory=SegData)
    variants: list[str] = field(default_factory=lambda: list(_MODES))  # patch and/or full
    model: PatchNet = field(default_factory=PatchNet)
    patch_batch: int = 256  # patch mode: patches per mini-batch
    patch_stride: int = 2  # patch mode: candidate centres every n pixels (n = 1: every pixel)
    full_crop: int = 128  # full mode: side of the image regions in a mini-batch (0: whole images)
    augment: SegAugment = field(default_factory=lambda: SegAugment(crop=0, flip=True))  # full mode, after the crop
    loss: LossSettings = field(default_factory=lambda: LossSettings(class_weights="inverse", random_mask=0.25))
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        max_epochs=None, max_steps=400, batch_size=4, eval_batch_size=2, val_every_n_epochs=None,
        val_every_n_steps=200))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=None,
                                                                                   every_n_steps=200))
    overlays: int = 2  # held-out images shown with both predictions


@register_recipe
class PatchVsFull(ComparisonRecipe):
    """One network trained on centre-labelled patches (class-balanced) or on whole image regions (class-weighted loss)."""

    name = "patch-vs-full"
    summary = "patch-based (centre-pixel labels, class-balanced resampling) vs full-image training: pixels/s and accuracy"
    section = "3.5.1.3"
    Config = PatchVsFullConfig
    primary_metric = "test/mean_iou"
    higher_is_better = True
    smoke_settings = ("data.name=shapes", "data.n_train=4", "data.n_val=2", "data.n_test=2", "data.size=32",
                      "model.channels=[4]", "model.hidden=8", "patch_batch=16", "full_crop=0",
                      "trainer.max_steps=2", "trainer.val_every_n_steps=2", "checkpoint.every_n_steps=2", "overlays=1")

    def __init__(self) -> None:
        self._meters: list[PixelThroughput] = []

    def check(self, cfg: PatchVsFullConfig) -> None:
        super().check(cfg)
        unknown = [v for v in cfg.variants if v not in _MODES]
        if unknown:
            raise ConfigError(f"variants must be taken from {list(_MODES)}; got {unknown}")
        if cfg.model.patch_size % 2 == 0:
            raise ConfigError(f"model.patch_size must be odd (a centre pixel); got {cfg.model.patch_size}")

    def variant_names(self, cfg: PatchVsFullConfig) -> list[str]:
        return list(cfg.variants)

    def load_data(self, cfg: PatchVsFullConfig) -> DataSplits:
        return load_segmentation_data(cfg.data)

    def variant_settings(self, cfg: PatchVsFullConfig, name: str) -> PatchVsFullConfig:
        if name != "patch":
            return cfg
        return dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, batch_size=cfg.patch_batch))

    def variant_data(self, cfg: PatchVsFullConfig, name: str, data: DataSplits) -> DataSplits:
        if name != "patch":
            return data
        x, m = data.train.tensors
        patches = CenterPixelPatches(x, m, patch_size=cfg.model.patch_size, stride=cfg.patch_stride, balance=True,
                                     ignore_index=data.info.ignore_index, mask_patches=True)
        return dataclasses.replace(data, train=patches)

    def _network(self, cfg: PatchVsFullConfig, data: DataSplits) -> Any:
        p = cfg.model
        kwargs = {"in_channels": data.info.input_shape[0], "num_classes": data.info.num_classes,
                  "patch_size": p.patch_size, "channels": list(p.channels), "kernel_size": p.kernel_size,
                  "hidden": p.hidden}
        # shift and stitch with stride 1 is one pass; "none": scores the pixels whose patch lies inside
        return get_model("fcn_from_classifier", classifier="patch_cnn", classifier_kwargs=kwargs,
                         method="shift_and_stitch", pad_mode="none")

    def build_variant(self, cfg: PatchVsFullConfig, name: str, data: DataSplits) -> Task:
        net = self._network(cfg, data)
        if name == "patch":  # balance comes from resampling; no class weights, no masking
            loss = dataclasses.replace(cfg.loss, class_weights="none", random_mask=0.0)
            return segmentation_task(net, data, loss, cfg.optim, None)
        side = int(data.info.input_shape[-1])
        crop = cfg.full_crop + cfg.model.patch_size - 1 if cfg.full_crop else 0  # the scored region is full_crop
        augment = dataclasses.replace(cfg.augment, crop=crop)
        return segmentation_task(net, data, cfg.loss, cfg.optim, augment.build(side))

    def callbacks(self, cfg: PatchVsFullConfig) -> list[Callback]:
        meter = PixelThroughput()
        self._meters.append(meter)
        return [*super().callbacks(cfg), meter]

    def summarize(self, cfg: PatchVsFullConfig, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        meters = self._meters[-len(variants):]
        extra: dict[str, Any] = {}
        notes = [f"Both variants: the same network ({variants[0].parameters:,} parameters, receptive field "
                 f"{cfg.model.patch_size}x{cfg.model.patch_size}), optimiser and {cfg.trainer.max_steps} steps."]
        rates = {}
        for v, meter in zip(variants, meters):
            rates[v.name] = meter.pixels_per_second
            extra[f"train_pixels_per_s_{v.name}"] = meter.pixels_per_second
            extra[f"train_pixels_{v.name}"] = meter.pixels
            extra[f"train_step_seconds_{v.name}"] = meter.seconds
            notes.append(f"{v.name}: {meter.pixels:,} labelled pixels in {meter.steps - 1} timed steps, {meter.seconds:.1f} s "
                         f"of training steps ({meter.pixels_per_second:,.0f} pixels/s); test pixel accuracy "
                         f"{v.metrics.get('test/pixel_accuracy', float('nan')):.4f}, mean IoU "
                         f"{v.metrics.get('test/mean_iou', float('nan')):.4f}.")
        if "patch" in rates and "full" in rates and rates["patch"] > 0:
            extra["pixels_per_s_ratio_full_over_patch"] = rates["full"] / rates["patch"]
            notes.insert(1, f"Full-image training processes {rates['full'] / rates['patch']:.1f}x the labelled "
                            "pixels per second of patch-based training.")
        return extra, notes

    def comparison_figures(self, cfg: PatchVsFullConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "val/mean_iou", label="validation mean IoU", name="validation_mean_iou",
                            caption="Validation mean IoU against optimiser steps, patch-based and full-image training")
        prediction_figures(run_dir, data, {f"{v.name} training": v.task.model for v in variants if v.task is not None},
                           {v.name: v.metrics for v in variants}, cfg.overlays,
                           caption="Intersection over union of each class on the test images, patch-based and "
                                   "full-image training")
