"""Plain CNNs: ``cnn-digits`` (embedded digits) and ``cnn-mnist`` (real MNIST) (notes §3.3–§3.4.1).

A configurable stack of conv–batch-norm–ReLU–max-pool blocks with a dense
head (:func:`~an2dl.models.vision.plain_cnn.plain_cnn`), trained with
cross-entropy and geometric augmentation (random rotation, shift and zoom,
batched on the device).  The report adds the per-layer summary (output
shapes, parameters, FLOPs) and the learned first-layer filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...data.transforms import AugmentedDataset
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...tasks import ClassificationTask
from ..base import Recipe, RunResult, register_recipe
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import (
    AugmentSettings,
    ImageData,
    PlainCNNSettings,
    build_augmentation,
    build_plain_cnn,
    filters_figure,
    load_image_data,
    summary_figure,
)

__all__ = ["CNNDigits", "CNNDigitsConfig", "CNNMNIST", "CNNMNISTConfig", "PlainCNNRecipe"]


class PlainCNNRecipe(Recipe):
    """Shared build and figures of the plain-CNN recipes."""

    def build(self, cfg):
        data = load_image_data(cfg.data)
        model = build_plain_cnn(cfg.model, data)
        batched, per_sample = build_augmentation(cfg.augment, data.info.num_classes)
        if per_sample is not None:
            data.train = AugmentedDataset(data.train, per_sample, seed=cfg.trainer.seed)
        task = ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim, augment=batched)
        return task, data

    def figures(self, result: RunResult) -> None:
        super().figures(result)
        model = result.task.model
        example = torch.zeros(1, *result.data.info.input_shape)
        summary_figure(model, example, result.run_dir)
        first = next(m for m in model.features if isinstance(m, torch.nn.Conv2d))
        filters_figure(first.weight, result.run_dir, name="first_layer_filters",
                       caption="Learned filters of the first convolutional layer (first input channel)")


@dataclass
class CNNDigitsConfig(RunSettings):
    data: ImageData = field(default_factory=lambda: ImageData(name="digits", size=16))
    model: PlainCNNSettings = field(default_factory=lambda: PlainCNNSettings(channels=[32, 64], hidden=[64]))
    augment: AugmentSettings = field(default_factory=lambda: AugmentSettings(degrees=8.0, translate=0.08, scale=0.08))
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3, weight_decay=1e-4,
                                                                       schedule=ScheduleSpec("cosine")))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=30, batch_size=64))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=10))


@register_recipe
class CNNDigits(PlainCNNRecipe):
    """Plain CNN (conv-BN-ReLU-pool blocks, dense head) on the embedded digits resized to 16x16."""

    name = "cnn-digits"
    summary = "plain CNN with geometric augmentation on the embedded digits (16x16) (notes §3.3-§3.4.1)"
    section = "3.3, 3.4.1"
    Config = CNNDigitsConfig
    smoke_settings = ("trainer.max_epochs=1", "data.train_fraction=0.2", "model.channels=[4,8]", "model.hidden=[16]")


@dataclass
class CNNMNISTConfig(RunSettings):
    data: ImageData = field(default_factory=lambda: ImageData(name="mnist", val_fraction=1 / 12))
    model: PlainCNNSettings = field(default_factory=lambda: PlainCNNSettings(channels=[32, 64], hidden=[128]))
    augment: AugmentSettings = field(default_factory=lambda: AugmentSettings(degrees=10.0, translate=0.1, scale=0.1))
    optim: OptimizerSpec = field(
        default_factory=lambda: OptimizerSpec("adam", lr=2e-3, schedule=ScheduleSpec("onecycle", interval="step", max_lr=4e-3))
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=8, batch_size=128))


@register_recipe
class CNNMNIST(PlainCNNRecipe):
    """Plain CNN with geometric augmentation on real MNIST (28x28)."""

    name = "cnn-mnist"
    summary = "plain CNN with geometric augmentation on real MNIST (needs the IDX files: AN2DL_DATA_DIR or data.root)"
    section = "3.3, 3.4.1"
    Config = CNNMNISTConfig
    smoke_settings = ("trainer.max_epochs=1", "data.train_fraction=0.01", "data.val_fraction=0.01", "model.channels=[4,8]",
                      "model.hidden=[16]")
