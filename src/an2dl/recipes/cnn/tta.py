"""``tta-comparison``: the measured effect of test-time augmentation (notes §3.4.1).

A plain CNN is trained with geometric augmentation (so shifted, rotated and
zoomed digits are in its training distribution), then the test set is
classified

* plainly (one forward pass per image);
* with each test-time view alone (a 1-pixel shift, a small rotation, a zoom);
* with all the views together, aggregated by ``mean``, ``max`` and ``vote``
  (:func:`an2dl.tta.tta_predict`), with the cost in time.

The embedded digits are the default (``data.name=digits``); ``--set
data.name=mnist`` measures the same on real MNIST.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..._utils.rng import seed_everything
from ...data.transforms import Affine, RandomAffine
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...engine.trainer import Trainer
from ...errors import ConfigError
from ...export import export
from ...nn.device import module_device
from ...tasks import ClassificationTask
from ...tta import tta_predict
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig, standard_callbacks, trainer_kwargs
from ._common import (
    ImageData,
    PlainCNNSettings,
    build_plain_cnn,
    evaluate_accuracy,
    load_image_data,
)

__all__ = ["TTAComparison", "TTAComparisonConfig"]


@dataclass
class TTAViews:
    shift: float = 1.0  # views shifted by +-shift pixels in x and in y (4 views; 0: none)
    angles: list[float] = field(default_factory=lambda: [-8.0, 8.0])  # rotated views (degrees)
    scales: list[float] = field(default_factory=lambda: [0.92, 1.08])  # zoomed views
    random_views: int = 0  # extra random views drawn like the training augmentation
    reduces: list[str] = field(default_factory=lambda: ["mean", "max", "vote"])  # aggregations to compare


@dataclass
class TrainAugment:
    degrees: float = 8.0  # training rotation in [-degrees, degrees]
    translate: float = 0.08  # training shift up to this fraction of the image size
    scale: float = 0.08  # training zoom in [1 - scale, 1 + scale]


@dataclass
class TTAComparisonConfig:
    data: ImageData = field(default_factory=lambda: ImageData(name="digits", size=16))
    model: PlainCNNSettings = field(default_factory=lambda: PlainCNNSettings(channels=[16, 32], hidden=[64]))
    augment: TrainAugment = field(default_factory=TrainAugment)
    views: TTAViews = field(default_factory=TTAViews)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3, weight_decay=1e-4,
                                                                       schedule=ScheduleSpec("cosine")))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=64))
    tta_seed: int = 0  # seed of the random views


def _views(v: TTAViews, augment: TrainAugment) -> list[tuple[str, object]]:
    views: list[tuple[str, object]] = []
    if v.shift:
        s = v.shift
        views += [(f"shift x{sign * s:+g}", Affine(translate=(sign * s, 0.0))) for sign in (-1, 1)]
        views += [(f"shift y{sign * s:+g}", Affine(translate=(0.0, sign * s))) for sign in (-1, 1)]
    views += [(f"rotate {a:g}°", Affine(angle=a)) for a in v.angles]
    views += [(f"zoom {z:g}", Affine(scale=z)) for z in v.scales]
    random = RandomAffine(degrees=augment.degrees, translate=augment.translate, scale=augment.scale)
    views += [(f"random {i}", random) for i in range(v.random_views)]
    return views


@register_recipe
class TTAComparison(Recipe):
    """Test-time augmentation (shifts, rotations, zooms; mean / max / vote) against plain prediction."""

    name = "tta-comparison"
    summary = "test-time augmentation vs plain prediction on digits (default) or MNIST (notes §3.4.1)"
    section = "3.4.1"
    Config = TTAComparisonConfig

    def _task(self, cfg: TTAComparisonConfig, data) -> ClassificationTask:
        a = cfg.augment
        return ClassificationTask(build_plain_cnn(cfg.model, data), num_classes=data.info.num_classes, optimizer=cfg.optim,
                                  augment=RandomAffine(degrees=a.degrees, translate=a.translate, scale=a.scale))

    def build(self, cfg: TTAComparisonConfig):
        """The CNN's task and the data; ``an2dl eval`` gives the plain (single-view) metrics of the run's model."""
        data = load_image_data(cfg.data)
        return self._task(cfg, data), data

    def run(self, cfg: TTAComparisonConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        bad = [r for r in cfg.views.reduces if r not in ("mean", "max", "vote")]
        if bad or not cfg.views.reduces:
            raise ConfigError(f"views.reduces must be a non-empty list from mean, max, vote; got {cfg.views.reduces!r}")
        views = _views(cfg.views, cfg.augment)
        if not views:
            raise ConfigError("no test-time views: set views.shift, views.angles, views.scales or views.random_views")
        write_run_config(run_dir, self.name, cfg)
        data = load_image_data(cfg.data)
        seed_everything(cfg.trainer.seed)
        task = self._task(cfg, data)
        model = task.model
        trainer = Trainer(**trainer_kwargs(cfg.trainer), run_dir=None, checkpoint=False, progress=progress,
                          callbacks=standard_callbacks(cfg))
        t0 = time.perf_counter()
        trainer.fit(task, data.train, data.val)
        fit_s = time.perf_counter() - t0
        if trainer.is_global_zero:  # the trained CNN is the run's model (`an2dl eval`, `predict`, `export`)
            export(model, run_dir / "model", **type(task).export_metadata(**self.export_info(cfg, data)))
        model.eval()
        dev = module_device(model)
        x, y = data.test.tensors[0], data.test.tensors[1]
        plain, plain_s = evaluate_accuracy(lambda b: model(b.to(dev)), x, y)
        metrics: dict[str, float | int] = {"plain/test_accuracy": plain, "plain/seconds": plain_s, "fit_s": fit_s,
                                           "data/test_images": len(x)}
        single: dict[str, float] = {}
        for name, view in views:
            if name.startswith("random"):
                continue
            acc, _ = evaluate_accuracy(lambda b, v=view: model(v(b).to(dev)), x, y)
            single[name] = acc
            metrics[f"view/{name}/test_accuracy"] = acc
        transforms = [None] + [v for _, v in views]
        for reduce in cfg.views.reduces:
            g = torch.Generator().manual_seed(cfg.tta_seed)
            acc, secs = evaluate_accuracy(
                lambda b, r=reduce, gen=g: tta_predict(model, b, transforms, reduce=r, generator=gen), x, y
            )
            metrics[f"tta_{reduce}/test_accuracy"] = acc
            metrics[f"tta_{reduce}/seconds"] = secs
            metrics[f"tta_{reduce}/gain"] = acc - plain
        metrics["tta/views"] = len(transforms)
        self._figures(run_dir, cfg, metrics, single, plain)
        write_results(run_dir, metrics, compared=["plain", *(f"tta_{r}" for r in cfg.views.reduces),
                                                  *(f"view/{n}" for n in single)], notes=[
            f"{len(transforms)} views per test image (the original plus {len(views)} augmented); "
            f"TTA costs about {len(transforms)}x the forward passes of plain prediction",
            "gain = TTA test accuracy - plain test accuracy (same trained model)",
        ])
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg, task=task, data=data, trainer=trainer)

    def _figures(self, run_dir, cfg, metrics, single, plain) -> None:
        from ...report.plots import figure, save_figure

        names = ["plain"] + [f"TTA {r}" for r in cfg.views.reduces] + list(single)
        accs = [plain] + [metrics[f"tta_{r}/test_accuracy"] for r in cfg.views.reduces] + list(single.values())
        colors = ["#555555"] + ["#4c72b0"] * len(cfg.views.reduces) + ["#dd8452"] * len(single)
        fig = figure(figsize=(max(6.0, 0.55 * len(names)), 3.8))
        ax = fig.add_subplot(1, 1, 1)
        bars = ax.bar(range(len(names)), accs, color=colors)
        for b, acc in zip(bars, accs):
            ax.text(b.get_x() + b.get_width() / 2, acc, f"{acc:.4f}", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        lo = min(accs)
        ax.set_ylim(max(0.0, lo - 2 * (1 - lo)), 1.0)
        ax.set_ylabel("test accuracy")
        save_figure(fig, run_dir, "tta_accuracy",
                    "Test accuracy: plain, TTA over all views (blue), and each view alone (orange)")
