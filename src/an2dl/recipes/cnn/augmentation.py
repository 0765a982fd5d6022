"""``augmentation-comparison``: the same CNN trained without augmentation, with geometric augmentation and with Mixup (notes §3.4.1).

Small data is where augmentation matters: by default every variant trains
on a stratified 10% subset of the MNIST training set (5,500 images) and is
tested on the full 10,000-image test set.  All variants start from the
same initial weights and see the same batches; only the augmentation of
each batch differs (batched, on the device):

* ``none`` — the images as they are;
* ``geometric`` — random rotation, shift and zoom (``geometric.*`` settings);
* ``mixup`` — Mixup, λ ~ Beta(α, α) (Zhang et al. 2018), soft-target cross-entropy;
* ``cutmix`` and ``geometric+mixup`` can be added to ``variants``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..._utils.rng import seed_everything
from ...data.transforms import Compose, CutMix, Mixup, RandomAffine, Transform
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...engine.trainer import Trainer
from ...errors import ConfigError
from ...tasks import ClassificationTask
from .._variants import export_variant
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig, standard_callbacks, trainer_kwargs
from ._common import ImageData, PlainCNNSettings, build_plain_cnn, load_image_data

__all__ = ["AugmentationComparison", "AugmentationComparisonConfig"]

_VARIANTS = ("none", "geometric", "mixup", "cutmix", "geometric+mixup")


@dataclass
class GeometricSettings:
    degrees: float = 12.0  # random rotation in [-degrees, degrees]
    translate: float = 0.1  # random shift up to this fraction of the image size
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]


@dataclass
class AugmentationComparisonConfig:
    data: ImageData = field(default_factory=lambda: ImageData(name="mnist", val_fraction=1 / 12, train_fraction=0.1))
    model: PlainCNNSettings = field(default_factory=PlainCNNSettings)
    variants: list[str] = field(default_factory=lambda: ["none", "geometric", "mixup"])  # from none, geometric, mixup, cutmix, geometric+mixup
    geometric: GeometricSettings = field(default_factory=GeometricSettings)
    mixup_alpha: float = 0.4  # Mixup lambda ~ Beta(alpha, alpha)
    cutmix_alpha: float = 1.0  # CutMix lambda ~ Beta(alpha, alpha)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=2e-3, weight_decay=1e-4,
                                                                       schedule=ScheduleSpec("cosine")))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=64))


def _augmentation(name: str, cfg: AugmentationComparisonConfig, num_classes: int) -> Transform | None:
    g = cfg.geometric
    geometric = RandomAffine(degrees=g.degrees, translate=g.translate, scale=g.scale)
    if name == "none":
        return None
    if name == "geometric":
        return geometric
    if name == "mixup":
        return Mixup(alpha=cfg.mixup_alpha, num_classes=num_classes)
    if name == "cutmix":
        return CutMix(alpha=cfg.cutmix_alpha, num_classes=num_classes)
    return Compose([geometric, Mixup(alpha=cfg.mixup_alpha, num_classes=num_classes)])


@register_recipe
class AugmentationComparison(Recipe):
    """No augmentation vs geometric vs Mixup: one CNN, a 10% MNIST subset, the full test set."""

    name = "augmentation-comparison"
    summary = "no augmentation vs geometric vs Mixup on a 10% MNIST subset, full test set (notes §3.4.1)"
    section = "3.4.1"
    Config = AugmentationComparisonConfig

    def _task(self, cfg: AugmentationComparisonConfig, variant: str, data) -> ClassificationTask:
        k = data.info.num_classes
        return ClassificationTask(build_plain_cnn(cfg.model, data), num_classes=k, optimizer=cfg.optim,
                                  augment=_augmentation(variant, cfg, k))

    def models(self, cfg: AugmentationComparisonConfig) -> list[str]:
        return list(cfg.variants)

    def build_model(self, cfg: AugmentationComparisonConfig, name: str | None):
        data = load_image_data(cfg.data)
        return self._task(cfg, str(name), data), data

    def run(self, cfg: AugmentationComparisonConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        unknown = [v for v in cfg.variants if v not in _VARIANTS]
        if unknown or not cfg.variants:
            raise ConfigError(f"variants must be a non-empty list from {_VARIANTS}; got {cfg.variants!r}")
        write_run_config(run_dir, self.name, cfg)
        data = load_image_data(cfg.data)
        metrics: dict[str, float | int] = {"data/train_images": len(data.train), "data/test_images": len(data.test)}
        histories: dict[str, list[dict]] = {}
        samples: dict[str, torch.Tensor] = {}
        for variant in cfg.variants:
            seed_everything(cfg.trainer.seed)  # same initial weights for every variant
            task = self._task(cfg, variant, data)
            augment = task.augment
            trainer = Trainer(**trainer_kwargs(cfg.trainer), run_dir=None, checkpoint=False, progress=progress,
                              callbacks=standard_callbacks(cfg))
            t0 = time.perf_counter()
            trainer.fit(task, data.train, data.val)
            metrics[f"{variant}/fit_s"] = time.perf_counter() - t0
            if trainer.is_global_zero:
                export_variant(run_dir, variant, task.model, task, **self.export_info(cfg, data))
            test = trainer.evaluate(task, data.test, split="test")
            metrics[f"{variant}/test_accuracy"] = test["test/accuracy"]
            metrics[f"{variant}/test_loss"] = test["test/loss"]
            metrics[f"{variant}/val_accuracy"] = trainer.metrics.get("val/accuracy", float("nan"))
            metrics[f"{variant}/train_accuracy"] = trainer.metrics.get("train/accuracy", float("nan"))
            histories[variant] = list(trainer.history)
            if augment is not None:
                x, y = data.train.tensors[0][:8], data.train.tensors[1][:8]
                augment.train()
                samples[variant] = augment(x, y, generator=torch.Generator().manual_seed(0))[0]
        best = max(cfg.variants, key=lambda v: metrics[f"{v}/test_accuracy"])
        self._figures(run_dir, cfg, metrics, histories, samples, data)
        write_results(run_dir, metrics, best_variant=best, compared=list(cfg.variants), notes=[
            f"training images: {len(data.train)} (stratified {cfg.data.train_fraction:.0%} of the training split); "
            f"test images: {len(data.test)}",
            "every variant starts from the same weights and sees the same batches; only the augmentation differs",
            f"best test accuracy: {best} ({metrics[f'{best}/test_accuracy']:.4f})",
        ])
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg, data=data, extra={"histories": histories})

    def _figures(self, run_dir, cfg, metrics, histories, samples, data) -> None:
        from ...report.plots import figure, save_figure

        fig = figure(figsize=(5.5, 3.6))
        ax = fig.add_subplot(1, 1, 1)
        accs = [metrics[f"{v}/test_accuracy"] for v in cfg.variants]
        bars = ax.bar(cfg.variants, accs, color="#4c72b0")
        for b, a in zip(bars, accs):
            ax.text(b.get_x() + b.get_width() / 2, a, f"{a:.4f}", ha="center", va="bottom", fontsize=8)
        lo = min(accs)
        ax.set_ylim(max(0.0, lo - (1 - lo)), 1.0)
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{len(data.train)} training images, {len(data.test)} test images", fontsize=9)
        save_figure(fig, run_dir, "test_accuracy", "Test accuracy of each augmentation variant")

        fig = figure(figsize=(5.5, 3.6))
        ax = fig.add_subplot(1, 1, 1)
        for v, rows in histories.items():
            pts = [(r["epoch"], r["val/accuracy"]) for r in rows if r.get("val/accuracy") is not None]
            if pts:
                ax.plot(*zip(*pts), "-o", ms=3, label=v)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, run_dir, "val_accuracy", "Validation accuracy per epoch for each variant")

        if samples:
            rows = len(samples) + 1
            fig = figure(figsize=(8, 1.1 * rows))
            originals = data.train.tensors[0][:8]
            for r, (name, imgs) in enumerate([("original", originals), *samples.items()]):
                for c in range(8):
                    ax = fig.add_subplot(rows, 8, r * 8 + c + 1)
                    ax.imshow(imgs[c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                    ax.axis("off")
                    if c == 0:
                        ax.set_title(name, fontsize=8, loc="left")
            save_figure(fig, run_dir, "augmented_samples", "The first training images and one augmented draw of each variant")
