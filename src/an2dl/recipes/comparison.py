"""Recipes that train several variants side by side and compare them (a comparison, a sweep).

:class:`ComparisonRecipe` holds the run sequence such recipes share: write
``config.json``, then for every variant seed the random generators with
``trainer.seed``, build the variant's task, train it with the recipe's
trainer settings in ``variants/<name>/`` (checkpoints included), evaluate it on
the validation and test splits and export its model to
``variants/<name>/model``; finally write ``results.json`` (each variant's
metrics suffixed with its name, e.g. ``test/rmse_lstm``), the recipe's
figures and the report.

A resumed run (``an2dl resume``) goes through the variants again: a finished
variant continues from its last checkpoint, which ends its training at once, and is
only re-evaluated; the variant that was running continues where it stopped;
the ones after it start.

A subclass gives :meth:`~ComparisonRecipe.variant_names`,
:meth:`~ComparisonRecipe.load_data` and :meth:`~ComparisonRecipe.build_variant`,
and optionally :meth:`~ComparisonRecipe.variant_settings` (a variant's own
settings, e.g. its batch size), :meth:`~ComparisonRecipe.summarize`
(reference values, notes) and :meth:`~ComparisonRecipe.comparison_figures`,
which receives the metrics ``summarize`` returned (``metrics=``) so that a
figure draws what was measured without measuring it again or keeping it on the
recipe between the two calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .._utils.rng import seed_everything
from ..data.core import DataSplits
from ..engine.checkpoint import has_checkpoint
from ..engine.task import Task
from ..errors import ConfigError
from . import base
from ._variants import export_variant, variant_dir
from .base import Recipe, RunResult, finish_report, write_results

__all__ = ["ComparisonRecipe", "Variant", "fit_variant", "history_series", "plot_variant_curves", "write_run_config"]


@dataclass
class Variant:
    """The outcome of one variant of a comparison: final metrics, history and the trained task."""

    name: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    task: Task | None = None
    seconds: float = 0.0
    steps: int = 0
    device: str = "cpu"

    @property
    def parameters(self) -> int:
        """Number of parameters of the variant's model (0 without a task)."""
        return sum(p.numel() for p in self.task.parameters()) if self.task is not None else 0


def write_run_config(run_dir: Path, recipe: str, cfg: Any) -> None:
    """``config.json`` of a recipe that runs several trainers (the layout ``an2dl resume`` reads)."""
    base.write_run_config(run_dir, recipe, cfg)
    (run_dir / "checkpoints").mkdir(exist_ok=True)  # the variants' checkpoints live in variants/<name>/checkpoints


def fit_variant(recipe: Recipe, cfg: Any, run_dir: Path, name: str, task: Task, data: DataSplits, *,
                resume: bool = False, progress: bool | None = None,
                preprocessing: dict[str, Any] | None = None, class_names: list[str] | None = None,
                export: bool = True) -> Variant:
    """Train ``task`` in ``run_dir/variants/<name>`` with the recipe's trainer settings, evaluate it and
    export its final model to ``run_dir/variants/<name>/model`` (with ``preprocessing`` and ``class_names``
    in ``model.json``).

    A resumed run continues the variant from its latest checkpoint (a
    finished variant is only re-evaluated).

    Returns:
        :class:`Variant` with the validation and test metrics (``val/...``, ``test/...``).
    """
    sub = variant_dir(run_dir, name)
    trainer = recipe.make_trainer(cfg, sub, progress=progress)
    ckpt = sub / "checkpoints"
    t0 = time.perf_counter()
    trainer.fit(task, data.train, data.val, ckpt_path=ckpt if resume and has_checkpoint(ckpt) else None)
    seconds = time.perf_counter() - t0  # this call's wall time (a resumed variant: the time since resuming)
    metrics: dict[str, Any] = {}
    if data.val is not None:
        metrics.update(trainer.evaluate(task, data.val, split="val"))
    if data.test is not None:
        metrics.update(trainer.evaluate(task, data.test, split="test"))
    if export and trainer.is_global_zero:
        export_variant(run_dir, name, task.model, task, class_names=class_names, preprocessing=preprocessing)
    return Variant(name, metrics, list(trainer.history), task, float(seconds), trainer.global_step,
                   str(trainer.device))


def history_series(history: list[dict[str, Any]], key: str, *, x: str = "step") -> tuple[list[int], list[float]]:
    """``(xs, values)`` of ``key`` (e.g. ``"val/loss"``) over a trainer's history.

    Args:
        history: the trainer's history rows (``Trainer.history``).
        key: the metric.
        x: ``"step"`` (optimiser steps) or ``"epoch"`` (counted from 1).

    A row that repeats an earlier x (an epoch-end row after a step-level
    validation at the same step) replaces it.
    """
    if x not in ("step", "epoch"):
        raise ConfigError(f"history_series x must be 'step' or 'epoch'; got {x!r}")
    seen: dict[int, float] = {}
    for row in history:
        if row.get(key) is not None and row.get(x) is not None:
            seen[int(row[x])] = float(row[key])
    xs = sorted(seen)
    return xs, [seen[i] for i in xs]


def plot_variant_curves(variants: list[Variant], run_dir: Path, key: str, *, label: str, name: str,
                        caption: str, x: str = "step", log: bool = False) -> None:
    """One curve of ``key`` per variant over training, saved as ``plots/<name>.png`` with ``caption``."""
    from ..report.plots import figure, save_figure

    fig = figure(figsize=(6, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    for v in variants:
        xs, vals = history_series(v.history, key, x=x)
        ax.plot(xs, vals, "-o", ms=2, label=v.name)
    ax.set_xlabel("optimiser step" if x == "step" else "epoch")
    ax.set_ylabel(label)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, run_dir, name, caption)


class ComparisonRecipe(Recipe):
    """A recipe that trains :meth:`variant_names` one after the other on the same data and compares them.

    Class attributes:
        primary_metric: the metric that picks ``best_model`` (e.g. ``"test/rmse"``).
        higher_is_better: whether a larger ``primary_metric`` is better.
    """

    primary_metric: ClassVar[str] = "test/loss"
    higher_is_better: ClassVar[bool] = False

    # ---- what a subclass gives
    def variant_names(self, cfg: Any) -> list[str]:
        """The variants trained, in order."""
        raise TypeError(f"{type(self).__name__} must define variant_names(cfg)")

    def load_data(self, cfg: Any) -> DataSplits:
        """The data every variant is trained and evaluated on."""
        raise TypeError(f"{type(self).__name__} must define load_data(cfg)")

    def build_variant(self, cfg: Any, name: str, data: DataSplits) -> Task:
        """The untrained task of variant ``name``."""
        raise TypeError(f"{type(self).__name__} must define build_variant(cfg, name, data)")

    def variant_settings(self, cfg: Any, name: str) -> Any:
        """The settings variant ``name`` is built and trained with (e.g. its own batch size); by default ``cfg``."""
        return cfg

    def variant_data(self, cfg: Any, name: str, data: DataSplits) -> DataSplits:
        """The data variant ``name`` trains and is evaluated on (e.g. another training pipeline of the same
        images, keeping the shared validation and test splits); by default ``data``."""
        return data

    def check(self, cfg: Any) -> None:
        """Refuse settings the recipe cannot run (raise :class:`~an2dl.errors.ConfigError`)."""
        if not self.variant_names(cfg):
            raise ConfigError(f"{self.name} needs at least one variant to train")

    def preprocessing(self, cfg: Any, data: DataSplits) -> dict[str, Any] | None:
        """What the exported models expect as input (written to each ``model.json``)."""
        return self.export_info(cfg, data).get("preprocessing")

    def summarize(self, cfg: Any, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        """Extra metrics (references, baselines) and notes for ``results.json``; by default none.

        :meth:`run` hands the metrics to :meth:`comparison_figures` as well.
        """
        return {}, []

    def comparison_figures(self, cfg: Any, variants: list[Variant], data: DataSplits, run_dir: Path, *,
                           metrics: dict[str, Any]) -> None:
        """The recipe's figures, saved under ``run_dir/plots``; by default the validation loss of every variant.

        :meth:`run` calls it after :meth:`summarize` and after writing ``results.json``, in every run
        (a resumed one included, which goes through :meth:`run` again).

        Args:
            cfg: the run's settings.
            variants: the trained variants, in :meth:`variant_names` order (each with its own
                ``metrics``, ``history`` and ``task``).
            data: the data of the run (:meth:`load_data`).
            run_dir: the run directory.
            metrics: the metrics :meth:`summarize` has just returned for this run (the same dict,
                without the variants' own metrics, which are in ``variants``); read what a figure
                draws from here rather than measuring it again or reading ``results.json`` back.
        """
        plot_variant_curves(variants, run_dir, "val/loss", label="validation loss", name="validation_loss",
                            caption="Validation loss of each variant during training")

    # ---- the shared flow
    def models(self, cfg: Any) -> list[str]:
        return list(self.variant_names(cfg))

    def build_model(self, cfg: Any, name: str | None) -> tuple[Task, DataSplits]:
        data = self.load_data(cfg)
        name = name if name is not None else self.variant_names(cfg)[0]
        return self.build_variant(self.variant_settings(cfg, name), name, data), data

    def run(self, cfg: Any, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        self.check(cfg)
        data = self.load_data(cfg)
        write_run_config(run_dir, self.name, cfg)
        preprocessing = self.preprocessing(cfg, data)
        class_names = self.export_info(cfg, data).get("class_names") or None
        variants: list[Variant] = []
        for name in self.variant_names(cfg):
            settings = self.variant_settings(cfg, name)
            seed_everything(settings.trainer.seed)
            task = self.build_variant(settings, name, data)
            variants.append(fit_variant(self, settings, run_dir, name, task, self.variant_data(settings, name, data),
                                        resume=resume, progress=progress, preprocessing=preprocessing,
                                        class_names=class_names))
        metrics: dict[str, Any] = {}
        for v in variants:
            for key, value in v.metrics.items():
                metrics[f"{key}_{v.name}"] = value
        extra, notes = self.summarize(cfg, variants, data)
        metrics.update(extra)
        ranked = [v for v in variants if self.primary_metric in v.metrics]
        if ranked:
            best = (max if self.higher_is_better else min)(ranked, key=lambda v: v.metrics[self.primary_metric])
            metrics["best_model"] = best.name
        notes = notes + [f"{v.name}: {self.primary_metric} {v.metrics.get(self.primary_metric, float('nan')):.4g} "
                         f"({v.parameters:,} parameters, {v.steps} steps, {v.seconds:.1f} s)." for v in variants]
        write_results(run_dir, metrics, notes=notes, compared=[v.name for v in variants])
        self.comparison_figures(cfg, variants, data, run_dir, metrics=extra)
        finish_report(run_dir, device=variants[0].device if variants else "cpu")
        return RunResult(self.name, run_dir, metrics, cfg, data=data, extra={"variants": {v.name: v for v in variants}})
