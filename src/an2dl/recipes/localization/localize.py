"""``localize-shapes`` and ``localize-raccoon``: a class and a box from one network, ``L = α S + (1 − α) R`` (notes §3.5.2).

**localize-shapes.**  The notes train localisation as a multi-task problem
— the class (categorical) and the box ``(x, y, h, w)`` (continuous) from one
network — with the weighted loss ``L = α S + (1 − α) R``, and recommend
choosing α by cross-validation.  The recipe does exactly that on the
synthetic one-object shapes:

1. **the α sweep**: for each α of ``sweep.alphas``, k-fold cross-validation
   (:func:`~an2dl.engine.validation.cross_validate`, the engine's k-fold; the
   training and validation images are joined and cut into ``sweep.folds``
   stratified folds) trains a fresh network per fold with the run's trainer
   settings and scores it on its held-out fold; the α with the best mean
   ``sweep.monitor`` (default: accuracy at IoU ≥ 0.5 with the right class,
   the criterion of a correct localisation) is chosen.  The sweep is plotted
   (``plots/alpha_sweep.png``: mean ± std over the folds of each α);
2. **the final network** is trained with the chosen α on the training images
   (validated on the validation images, checkpointed), evaluated on the test
   images and exported;
3. **baselines that see no pixel**: the mean training box, and a box of the
   mean size centred in the image.  The claim shown: the network reads the
   object's position from the image — its mean IoU is far above both.

A resumed run (``an2dl resume``) reads the finished sweep from ``sweep.json``
and continues the final training from its last checkpoint (an interrupted
sweep is run again: its folds are short and not checkpointed).

**localize-raccoon.**  The same two-headed network on single-raccoon crops of
the raccoon photos (:mod:`an2dl.data.datasets.raccoon`: 160 training photos,
40 test photos, Pascal VOC boxes; a crop is letterboxed where it reaches past
its photo, so the photo's edge is one of the cues the network may use).  With a single class the classification
term is identically 0, so α only scales the box loss and there is nothing to
sweep; the claim is the same as above, on real photographs: the predicted box
beats the boxes that ignore the image.  A crop letterboxed past its photo shows
where the photo is, and a raccoon often fills its photo, so the box of the
crop's non-black pixels (``baseline/photo_box``) is a third, much stronger
baseline; the network beats it too (defaults, seed 0: mean IoU 0.626 vs 0.563,
IoU ≥ 0.5 on 87.5 % vs 55 % of the 40 test crops; mean box 0.255).  No pretrained weights are available
offline, so the default backbone is the small CNN trained from scratch (a zoo
backbone is one setting away: ``model.backbone=resnet18``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._utils.files import atomic_write_text
from ..._utils.rng import seed_everything
from ...data import DataSplits, get_dataset
from ...engine.checkpoint import has_checkpoint
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ..base import (
    Recipe,
    RunResult,
    finish_report,
    input_preprocessing,
    register_recipe,
    write_results,
    write_run_config,
)
from ..config import RunSettings, TrainerConfig, trainer_kwargs
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
)

__all__ = ["LocalizeShapes", "LocalizeShapesConfig", "LocalizeRaccoon", "LocalizeRaccoonConfig", "alpha_sweep"]

#: the fold metrics recorded and plotted for each α
_SWEEP_METRICS = ("val/accuracy_iou50", "val/mean_box_iou", "val/accuracy", "val/box_accuracy_iou50")


@dataclass
class SweepSettings:
    """Choosing α by k-fold cross-validation (notes §3.5.2, §2.5.1)."""

    alphas: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])  # [] skips the sweep (loss.alpha)
    folds: int = 3  # k of the k-fold cross-validation of each α
    monitor: str = "val/accuracy_iou50"  # the fold metric whose mean chooses α (higher is better)


@dataclass
class LocalizeShapesConfig(RunSettings):
    data: ShapesData = field(default_factory=ShapesData)
    model: LocalizerSettings = field(default_factory=LocalizerSettings)
    loss: LossSettings = field(default_factory=LossSettings)  # loss.alpha is used only when the sweep is skipped
    sweep: SweepSettings = field(default_factory=SweepSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=12, batch_size=32))
    examples: int = 12  # test images drawn with their true and predicted boxes


def alpha_sweep(make_task, data: DataSplits, alphas: list[float], *, folds: int, trainer: dict[str, Any],
                monitor: str, seed: int) -> dict[str, Any]:
    """k-fold cross-validation of each α (``make_task(alpha)`` builds a fresh task).

    Returns:
        ``{"alphas": [...], "runs": {alpha: [fold metrics]}, "mean": {alpha: {metric: mean}}, "std": {...},
        "monitor": monitor, "chosen_alpha": best α}`` (α keys as ``f"{alpha:g}"``).
    """
    from ...engine.validation import cross_validate

    out: dict[str, Any] = {"alphas": list(alphas), "runs": {}, "mean": {}, "std": {}, "monitor": monitor}
    best, best_value = None, -math.inf
    for a in alphas:
        result = cross_validate(lambda a=a: make_task(a), data, folds=folds, trainer=trainer, monitor=monitor,
                                mode="max", seed=seed, evaluate_train=False)
        key = f"{a:g}"
        out["runs"][key] = result.runs
        out["mean"][key] = {m: result.mean[m] for m in result.mean}
        out["std"][key] = {m: result.std[m] for m in result.std}
        value = result.mean.get(monitor, -math.inf)
        print(f"alpha = {key}: {result.summary(monitor)}", flush=True)
        if value > best_value:
            best, best_value = a, value
    out["chosen_alpha"] = best
    return out


def _plot_sweep(run_dir: Path, sweep: dict[str, Any]) -> None:
    from ...report.plots import figure, save_figure

    alphas = sweep["alphas"]
    keys = [f"{a:g}" for a in alphas]
    fig = figure(figsize=(6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    labels = {"val/accuracy_iou50": "accuracy at IoU >= 0.5 (class and box)", "val/mean_box_iou": "mean box IoU",
              "val/accuracy": "class accuracy", "val/box_accuracy_iou50": "IoU >= 0.5 (box only)"}
    for m in _SWEEP_METRICS:
        if all(m in sweep["mean"][k] for k in keys):
            ax.errorbar(alphas, [sweep["mean"][k][m] for k in keys], yerr=[sweep["std"][k][m] for k in keys],
                        marker="o", ms=3, capsize=3, label=labels[m])
    chosen = sweep.get("chosen_alpha")
    if chosen is not None:
        ax.axvline(chosen, color="k", lw=0.8, ls="--")
    ax.set_xlabel("α (weight of the classification loss)")
    ax.set_ylabel("held-out fold score")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    folds = len(next(iter(sweep["runs"].values()))) if sweep["runs"] else 0
    save_figure(fig, run_dir, "alpha_sweep",
                f"The α sweep: {folds}-fold cross-validation of L = α S + (1 − α) R for each α; mean ± std over the "
                f"held-out folds; the dashed line marks the chosen α = {chosen:g} (best mean "
                f"{sweep['monitor']}).")


@register_recipe
class LocalizeShapes(Recipe):
    """Localisation with the multi-task loss on the synthetic shapes, α chosen by k-fold cross-validation."""

    name = "localize-shapes"
    summary = "Class + box from one network, L = a*S + (1-a)*R, a chosen by k-fold CV; vs mean/centre-box baselines"
    section = "3.5.2"
    Config = LocalizeShapesConfig
    smoke_settings = ("data.n_train=48", "data.n_val=16", "data.n_test=16", "data.size=32", "model.channels=[4,8]",
                      "model.box_hidden=16", "sweep.alphas=[0.3,0.7]", "sweep.folds=2", "trainer.max_epochs=1",
                      "examples=2")

    def check(self, cfg: LocalizeShapesConfig) -> None:
        for a in cfg.sweep.alphas + [cfg.loss.alpha]:
            if not 0.0 <= a <= 1.0:
                raise ConfigError(f"{self.name}: every α (sweep.alphas, loss.alpha) must lie in [0, 1]; got {a!r}")
        if isinstance(cfg.sweep.folds, bool) or cfg.sweep.folds < 2:
            raise ConfigError(f"{self.name}: sweep.folds must be an integer >= 2; got {cfg.sweep.folds!r}")

    def build(self, cfg: LocalizeShapesConfig) -> tuple[Task, DataSplits]:
        """The final network's task (with ``loss.alpha``; α only weighs the loss) and the shapes."""
        data = load_shapes(cfg.data)
        return localizer_task(cfg.model, data, cfg.loss.alpha, cfg.loss, cfg.optim), data

    def run(self, cfg: LocalizeShapesConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        from ...export import export

        self.check(cfg)
        write_run_config(run_dir, self.name, cfg)
        data = load_shapes(cfg.data)
        t0 = time.perf_counter()
        sweep_path = run_dir / "sweep.json"
        sweep: dict[str, Any] | None = None
        if resume and sweep_path.is_file():
            sweep = json.loads(sweep_path.read_text())
        elif cfg.sweep.alphas:
            sweep = alpha_sweep(lambda a: localizer_task(cfg.model, data, a, cfg.loss, cfg.optim), data,
                                list(cfg.sweep.alphas), folds=cfg.sweep.folds, trainer=trainer_kwargs(cfg.trainer),
                                monitor=cfg.sweep.monitor, seed=cfg.trainer.seed)
            atomic_write_text(sweep_path, json.dumps(sweep, indent=2) + "\n")
        alpha = float(sweep["chosen_alpha"]) if sweep is not None else cfg.loss.alpha
        sweep_s = time.perf_counter() - t0

        seed_everything(cfg.trainer.seed)
        task = localizer_task(cfg.model, data, alpha, cfg.loss, cfg.optim)
        trainer = self.make_trainer(cfg, run_dir, progress=progress)
        ckpt = trainer.checkpoint_dir if resume and has_checkpoint(trainer.checkpoint_dir) else None
        trainer.fit(task, data.train, data.val, ckpt_path=ckpt)
        metrics: dict[str, Any] = {"alpha": alpha}
        if data.val is not None:
            metrics.update(trainer.evaluate(task, data.val, split="val"))
        metrics.update(trainer.evaluate(task, data.test, split="test"))
        notes = [f"α = {alpha:g}" + (f", chosen by {cfg.sweep.folds}-fold cross-validation among "
                                     f"{', '.join(f'{a:g}' for a in sweep['alphas'])} on {sweep['monitor']}"
                                     if sweep is not None else " (loss.alpha; no sweep)") + "."]
        if sweep is not None:
            for key, means in sweep["mean"].items():
                for m in _SWEEP_METRICS:
                    if m in means:
                        metrics[f"cv/alpha_{key}/{m.split('/', 1)[1]}_mean"] = means[m]
                        metrics[f"cv/alpha_{key}/{m.split('/', 1)[1]}_std"] = sweep["std"][key][m]
        for base_name, scores in box_baselines(data).items():
            for k, v in scores.items():
                metrics[f"baseline/{base_name}/{k}"] = v
            notes.append(f"{base_name.replace('_', ' ')} baseline: mean IoU {scores['mean_box_iou']:.3f}, "
                         f"IoU >= 0.5 on {100 * scores['box_accuracy_iou50']:.1f} % of the test images.")
        notes.append(f"Network: mean IoU {metrics['test/mean_box_iou']:.3f}, class and IoU >= 0.5 on "
                     f"{100 * metrics['test/accuracy_iou50']:.1f} % of the test images.")
        if trainer.is_global_zero:
            write_results(run_dir, metrics, epochs=trainer.epoch, steps=trainer.global_step,
                          fit_seconds=round(time.perf_counter() - t0, 3), sweep_seconds=round(sweep_s, 3), notes=notes)
            export(task.model, run_dir / "model", **type(task).export_metadata(**self.export_info(cfg, data)))
            if sweep is not None:
                _plot_sweep(run_dir, sweep)
            x, y, b = (t[: cfg.examples] for t in data.test.tensors)  # type: ignore[attr-defined]
            if len(x):
                labels, boxes = predict_boxes(task.model, x)
                box_figure(run_dir, x, b, {"network": boxes}, name="test_boxes", class_names=data.info.class_names,
                           true_labels=y, caption="Test images with the true box and the network's box (IoU above).")
            finish_report(run_dir, device=str(trainer.device), world_size=trainer.world_size)
        trainer.close()
        return RunResult(self.name, run_dir, metrics, cfg, task, data, trainer, extra={"sweep": sweep})


# ------------------------------------------------------------------------------------------------ raccoon
@dataclass
class RaccoonData:
    """Single-raccoon crops (:func:`an2dl.data.datasets.raccoon.raccoon`)."""

    root: str | None = None  # the folder with annotations/ and images/ (default $AN2DL_DATA_DIR/raccoon)
    size: int = 96  # side of the square crops
    train_crops: int = 4  # crops per training photo (different windows, half mirrored)
    val_count: int = 16  # training photos held out for validation
    crop_min: float = 1.5  # the crop's sides are U(crop_min, crop_max) times the box's
    crop_max: float = 3.5
    seed: int = 0  # seed of the crops and of the validation draw


@dataclass
class LocalizeRaccoonConfig(RunSettings):
    data: RaccoonData = field(default_factory=RaccoonData)
    model: LocalizerSettings = field(default_factory=lambda: LocalizerSettings(channels=[16, 32, 64, 128]))
    loss: LossSettings = field(default_factory=lambda: LossSettings(alpha=0.0))  # one class: S = 0, α scales R only
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=25, batch_size=32))
    examples: int = 8  # test crops drawn with their true and predicted boxes


@register_recipe
class LocalizeRaccoon(Recipe):
    """The two-headed localiser on single-raccoon crops of real photographs (Pascal VOC boxes)."""

    name = "localize-raccoon"
    summary = "Box regression on single-raccoon crops of the raccoon photos (VOC XML) vs mean/centre-box baselines"
    section = "3.5.2"
    Config = LocalizeRaccoonConfig
    smoke_settings = ("data.size=32", "data.train_crops=1", "model.channels=[4,8]", "model.box_hidden=16",
                      "trainer.max_epochs=1", "examples=2")

    def _data(self, cfg: LocalizeRaccoonConfig) -> DataSplits:
        d = cfg.data
        return get_dataset("raccoon", root=d.root, size=d.size, train_crops=d.train_crops, val_count=d.val_count,
                           crop_min=d.crop_min, crop_max=d.crop_max, seed=d.seed)

    def build(self, cfg: LocalizeRaccoonConfig) -> tuple[Task, DataSplits]:
        if not 0.0 <= cfg.loss.alpha < 1.0:
            raise ConfigError(f"{self.name}: loss.alpha must lie in [0, 1) (1 would leave no box loss); got "
                              f"{cfg.loss.alpha!r}")
        data = self._data(cfg)
        return localizer_task(cfg.model, data, cfg.loss.alpha, cfg.loss, cfg.optim), data

    def export_info(self, cfg: LocalizeRaccoonConfig, data: DataSplits) -> dict[str, Any]:
        return {"class_names": list(data.info.class_names), "preprocessing": input_preprocessing(data.info)}

    def extra_metrics(self, cfg: LocalizeRaccoonConfig, task: Task, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        extra: dict[str, Any] = {}
        notes = []
        for base_name, scores in box_baselines(data).items():
            for k, v in scores.items():
                extra[f"baseline/{base_name}/{k}"] = v
            notes.append(f"{base_name.replace('_', ' ')} baseline: mean IoU {scores['mean_box_iou']:.3f}, "
                         f"IoU >= 0.5 on {100 * scores['box_accuracy_iou50']:.1f} % of the test crops.")
        x, _, b = data.test.tensors  # type: ignore[attr-defined]
        # the letterboxed crops give away where the photo is: the box of the photo's pixels is a baseline too
        from ...data.datasets.localization_shapes import mask_boxes

        photo = box_scores(mask_boxes(x.amax(dim=1) > 0.02), b)
        for k, v in photo.items():
            extra[f"baseline/photo_box/{k}"] = v
        notes.append(f"photo box baseline (the box of the crop's non-black pixels): mean IoU "
                     f"{photo['mean_box_iou']:.3f}, IoU >= 0.5 on {100 * photo['box_accuracy_iou50']:.1f} % of the "
                     "test crops.")
        _, boxes = predict_boxes(task.model, x)
        ours = box_scores(boxes, b)
        notes.append(f"Network: mean IoU {ours['mean_box_iou']:.3f}, IoU >= 0.5 on "
                     f"{100 * ours['box_accuracy_iou50']:.1f} % of the {len(x)} test crops (one per test photo).")
        return extra, notes

    def figures(self, result: RunResult) -> None:
        data, task = result.data, result.task
        n = result.config.examples
        x, y, b = (t[:n] for t in data.test.tensors)  # type: ignore[union-attr]
        if len(x):
            _, boxes = predict_boxes(task.model, x)  # type: ignore[union-attr]
            box_figure(result.run_dir, x, b, {"network": boxes}, name="test_boxes",
                       caption="Test crops with the true box and the network's box (IoU above).")
