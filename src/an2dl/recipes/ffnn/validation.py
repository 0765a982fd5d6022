"""Validation and restarts recipes (notes §2.3.1, §2.5.1): ``digits-kfold`` and ``restarts-demo``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ...engine.optim import OptimizerSpec
from ...models._checks import check_positive_int
from ...nn.device import module_device
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig, trainer_kwargs
from .mlp import DigitsData, MLPModel

__all__ = ["DigitsKFold", "RestartsDemo"]


# ---------------------------------------------------------------- digits-kfold
@dataclass
class DigitsKFoldConfig:
    folds: int = 5  # K of K-fold cross-validation
    refit: bool = True  # after the folds, train on all of them and evaluate on the test split
    data: DigitsData = field(default_factory=DigitsData)  # train + val are cross-validated; test stays held out
    model: MLPModel = field(default_factory=lambda: MLPModel(hidden=[128], dropout=0.0))
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=30, batch_size=32))


@register_recipe
class DigitsKFold(Recipe):
    """K-fold cross-validation of an MLP on the embedded digits (notes §2.5.1).

    The training and validation parts are joined and split into K stratified
    folds; each fold trains a fresh MLP on the other K - 1 folds and validates
    on its own.  The run prints the accuracy of every fold and their mean ±
    standard deviation, then (``refit``) trains on all folds and reports the
    accuracy on the untouched test split.  The refitted model (without
    ``refit``: the best fold's) is the run's exported model.
    """

    name = "digits-kfold"
    summary = "5-fold cross-validation of an MLP on the embedded digits: per-fold accuracy, mean ± std, refit"
    section = "2.5.1"
    Config = DigitsKFoldConfig
    cannot_resume = "cross-validation trains K short models one after the other without checkpoints; it takes seconds"
    smoke_settings = ("folds=2", "model.hidden=[16]", "trainer.max_epochs=1")

    def _data(self, cfg: DigitsKFoldConfig):
        from ...data import get_dataset

        d = cfg.data
        return get_dataset("digits", val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)

    def _task(self, cfg: DigitsKFoldConfig):
        from ...tasks import ClassificationTask
        from .mlp import _mlp

        return ClassificationTask(_mlp(cfg.model, 64, 10), num_classes=10, optimizer=cfg.optim)

    def build(self, cfg: DigitsKFoldConfig):
        """The MLP's task and the digits, on which the run's model (refitted on all folds, or the best fold's) is evaluated."""
        return self._task(cfg), self._data(cfg)

    def run(self, cfg: DigitsKFoldConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...engine.trainer import Trainer
        from ...engine.validation import cross_validate
        from ...export import export

        write_run_config(run_dir, self.name, cfg)
        data = self._data(cfg)

        def make_task():
            return self._task(cfg)

        t0 = time.perf_counter()
        trainer_kw = trainer_kwargs(cfg.trainer)
        result = cross_validate(make_task, data, folds=cfg.folds, trainer=trainer_kw, monitor="val/accuracy",
                                mode="max", seed=cfg.trainer.seed, refit=cfg.refit)
        metrics: dict[str, float] = {}
        for i, r in enumerate(result.runs):
            metrics[f"fold_{i}/train_accuracy"] = r["train/accuracy"]
            metrics[f"fold_{i}/val_accuracy"] = r["val/accuracy"]
        for key in ("val/accuracy", "val/loss", "train/accuracy"):
            name = key.replace("/", "_")
            metrics[f"cv/{name}_mean"] = result.mean[key]
            metrics[f"cv/{name}_std"] = result.std[key]
        print(result.table(["train/accuracy", "val/accuracy", "val/loss"]), flush=True)
        print(f"{cfg.folds}-fold cross-validation: {result.summary('val/accuracy')}", flush=True)
        if data.test is not None:
            evaluator = Trainer(progress=False, checkpoint=False, accelerator=cfg.trainer.accelerator)
            metrics.update(evaluator.evaluate(result.task, data.test))
            label = "model refitted on all folds" if result.selected is None else f"best fold ({result.selected})"
            print(f"test accuracy of the {label}: {metrics['test/accuracy']:.4f}", flush=True)
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), selected=result.selected,
                      sizes=[list(s) for s in result.sizes],
                      notes=[f"{cfg.folds}-fold cross-validation: {result.summary('val/accuracy')}"])
        # the model the run ends with: refitted on all folds (or the best fold's) is `an2dl eval`'s and `predict`'s
        export(result.task.model, run_dir / "model", **type(result.task).export_metadata(**self.export_info(cfg, data)))
        self._plot(run_dir, result)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, task=result.task, data=data, extra={"validation": result})

    @staticmethod
    def _plot(run_dir: Path, result) -> None:
        import numpy as np

        from ...report.plots import figure, save_figure

        k = len(result.runs)
        fig = figure(figsize=(5.5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        idx = np.arange(k)
        ax.bar(idx - 0.2, result.values("train/accuracy"), 0.4, label="training folds")
        ax.bar(idx + 0.2, result.values("val/accuracy"), 0.4, label="held-out fold")
        m, s = result.mean["val/accuracy"], result.std["val/accuracy"]
        ax.axhline(m, color="k", lw=1)
        ax.axhspan(m - s, m + s, color="k", alpha=0.1)
        low = min(result.values("val/accuracy") + result.values("train/accuracy"))
        ax.set_ylim(max(0.0, low - 0.05), 1.0)
        ax.set_xticks(idx, [f"fold {i}" for i in idx])
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"validation accuracy {m:.4f} ± {s:.4f}", fontsize=9)
        save_figure(fig, run_dir, "kfold_accuracy",
                    "Accuracy of each fold's model on its training folds and on its held-out fold; the line and band "
                    "are the mean ± standard deviation over the folds (the cross-validation estimate).")


# ---------------------------------------------------------------- restarts-demo
@dataclass
class RestartsModel:
    hidden: int = 2  # the smallest XOR network: two hidden units, prone to local minima
    activation: str = "tanh"  # hidden activation
    init: str = "glorot"  # random initialisation scheme of every restart


@dataclass
class RestartsDemoConfig:
    restarts: int = 10  # number of random initialisations
    model: RestartsModel = field(default_factory=RestartsModel)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("sgd", lr=0.5))
    # batch gradient descent on XOR's four points
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=500, batch_size=4, val_every_n_epochs=None))


@register_recipe
class RestartsDemo(Recipe):
    """Multiple restarts (notes §2.3.1) on XOR with a 2-2-1 network.

    Gradient descent from different random initial weights ends in
    different minima of the non-convex error surface: some restarts solve
    XOR, others stop in a local minimum with one or two points wrong.  The
    restart with the lowest training error is selected and exported as the
    run's model.
    """

    name = "restarts-demo"
    summary = "Multiple restarts on XOR with a 2-2-1 MLP: some end in local minima, the best one is kept"
    section = "2.3.1"
    Config = RestartsDemoConfig
    cannot_resume = "the restarts are short trainings on four points without checkpoints; they take seconds"
    smoke_settings = ("restarts=2", "trainer.max_epochs=2")

    def build(self, cfg: RestartsDemoConfig):
        """A 2-2-1 MLP's task and XOR's four points, on which the selected restart is evaluated."""
        from ...models import get_model
        from ...tasks.regression import BinaryClassificationTask
        from ._common import xor_splits

        m = get_model("mlp", in_features=2, hidden=[cfg.model.hidden], num_outputs=1,
                      activation=cfg.model.activation, output="sigmoid", init=cfg.model.init)
        return BinaryClassificationTask(m, optimizer=cfg.optim), xor_splits()

    def export_info(self, cfg, data):
        return {"class_names": ["0", "1"], "preprocessing": {"input_shape": [2], "value_range": [0.0, 1.0]}}

    def run(self, cfg: RestartsDemoConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...engine.validation import restarts
        from ...export import export
        from ._common import xor_splits

        check_positive_int(self.name, "restarts", cfg.restarts)
        write_run_config(run_dir, self.name, cfg)
        data = xor_splits()
        models = []

        def make_task():
            task, _ = self.build(cfg)
            models.append(task.model)
            return task

        t0 = time.perf_counter()
        result = restarts(make_task, data.train, cfg.restarts, trainer=trainer_kwargs(cfg.trainer), seed=cfg.trainer.seed)
        losses, accs = result.values("train/loss"), result.values("train/accuracy")
        metrics: dict[str, float] = {f"restart_{i}/train_loss": v for i, v in enumerate(losses)}
        metrics.update({
            "restarts/selected": float(result.selected),
            "restarts/best_train_loss": min(losses),
            "restarts/worst_train_loss": max(losses),
            "restarts/train_loss_mean": result.mean["train/loss"],
            "restarts/train_loss_std": result.std["train/loss"],
            "restarts/solved_fraction": sum(a == 1.0 for a in accs) / len(accs),
            "selected/train_accuracy": accs[result.selected],
        })
        print(result.table(["train/loss", "train/accuracy"]), flush=True)
        print(f"selected restart {result.selected}: {result.summary('train/loss')}", flush=True)
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), selected=result.selected,
                      notes=[f"{sum(a == 1.0 for a in accs)} of {len(accs)} restarts solve XOR; "
                             f"the selected restart {result.selected} has training loss {min(losses):.4g}"])
        # the selected restart is the run's model (`an2dl eval`, `predict`, `export`)
        export(result.task.model, run_dir / "model", **type(result.task).export_metadata(**self.export_info(cfg, data)))
        self._plot(run_dir, result, models)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, task=result.task, data=data, extra={"validation": result})

    @staticmethod
    def _plot(run_dir: Path, result, models) -> None:
        from ...report.plots import figure, save_figure
        from ._common import LOGIC_INPUTS, decision_surface, logic_gate

        losses = result.values("train/loss")
        fig = figure(figsize=(5.5, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        colors = ["tab:green" if i == result.selected else "tab:gray" for i in range(len(losses))]
        ax.bar(range(len(losses)), losses, color=colors)
        ax.set_xlabel("restart")
        ax.set_ylabel("final training loss (BCE)")
        ax.set_title("selected: lowest training error (green)", fontsize=9)
        save_figure(fig, run_dir, "restart_losses",
                    "Final training loss of every restart. Restarts with a high loss ended in a local minimum of the "
                    "error surface; the notes' rule keeps the one with the lowest training error.")
        worst = max(range(len(losses)), key=losses.__getitem__)
        fig = figure(figsize=(8, 3.8))
        for k, (i, label) in enumerate(((result.selected, "selected"), (worst, "worst"))):
            ax = fig.add_subplot(1, 2, k + 1)
            model = models[i].eval()
            dev = module_device(model)
            decision_surface(ax, lambda g, m=model, d=dev: m.output(g.to(d)).squeeze(1), LOGIC_INPUTS, logic_gate("xor"),
                             levels=[0.5], title=f"{label} restart {i}: loss {losses[i]:.3g}")
        save_figure(fig, run_dir, "restart_boundaries",
                    "Output σ(z) and decision boundary of the selected and of the worst restart.")
