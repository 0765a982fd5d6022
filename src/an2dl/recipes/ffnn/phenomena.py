"""Recipes that show the phenomena of chapter 2 on the embedded digits.

* ``init-comparison`` — the six initialisations of §2.3.3 on the same deep MLP.
* ``optimizer-comparison`` — batch, stochastic and mini-batch gradient
  descent, momentum, Nesterov and Adam on the same problem (§2.3.1).
* ``vanishing-gradients`` — per-layer gradient norms of a 10-layer sigmoid
  MLP against a ReLU one (§2.2).
* ``overfitting-digits`` — a large MLP on 300 training digits, with and
  without dropout, weight decay and early stopping (§2.5).

Each trains several models with the :class:`~an2dl.engine.Trainer` (the
``trainer`` settings: epochs, batch size, seed, device, ...), draws their
curves side by side in the report and exports every model to
``run_dir/variants/<name>/model`` (``an2dl eval RUN --model NAME``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..._utils.rng import derive_seed, seed_everything
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from .._variants import export_variant
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig, standard_callbacks, trainer_kwargs
from .mlp import DigitsData

__all__ = ["InitComparison", "OptimizerComparison", "VanishingGradients", "OverfittingDigits"]


def _digits(d: DigitsData):
    from ...data import get_dataset

    return get_dataset("digits", val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)


def _trainer(cfg: Any, *, progress: bool | None, batch_size: int | None = None, callbacks: list | None = None):
    """A Trainer with the recipe's ``trainer`` settings (``batch_size`` replaces ``trainer.batch_size``), no checkpoints."""
    from ...engine.trainer import Trainer

    kw = trainer_kwargs(cfg.trainer)
    if batch_size is not None:
        kw["batch_size"] = batch_size
    return Trainer(**kw, progress=progress, checkpoint=False, callbacks=[*standard_callbacks(cfg), *(callbacks or [])])


def _batch(dataset, n: int):
    x, y = dataset.tensors[0], dataset.tensors[1]
    return x[:n], y[:n]


def _curve_plot(run_dir: Path, runs: dict[str, list[dict[str, Any]]], key: str, name: str, ylabel: str, caption: str,
                *, log: bool = False) -> None:
    from ...report.plots import figure, save_figure
    from ._common import history_series

    fig = figure(figsize=(5.5, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    for label, hist in runs.items():
        xs, ys = history_series(hist, key)
        if log:
            xs, ys = [x for x, y in zip(xs, ys) if y > 0], [y for y in ys if y > 0]
        ax.plot(xs, ys, "-", lw=1.5, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, run_dir, name, caption)


def _layer_plot(run_dir: Path, values: dict[str, list[float]], name: str, ylabel: str, caption: str, *,
                xlabel: str = "layer (input → output)") -> None:
    from ...report.plots import figure, save_figure

    fig = figure(figsize=(5.5, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    for label, ys in values.items():
        pts = [(i + 1, y) for i, y in enumerate(ys) if y > 0]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", ms=3, label=label)
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, run_dir, name, caption)


# ---------------------------------------------------------------- init-comparison
@dataclass
class InitComparisonConfig:
    schemes: list[str] = field(default_factory=lambda: ["zero", "small", "large", "xavier", "glorot", "he"])
    hidden: list[int] = field(default_factory=lambda: [64] * 5)  # a deep enough network for the scale to matter
    activation: str = "tanh"  # hidden activation of every model
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("sgd", lr=0.05, momentum=0.9))
    data: DigitsData = field(default_factory=DigitsData)
    # epochs and mini-batch of every model; seed of the initial weights and of the data order
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=32))


@register_recipe
class InitComparison(Recipe):
    """Zero, small, large, Xavier, Glorot and He initialisation of the same deep MLP (notes §2.3.3).

    For each scheme the report shows, at initialisation, the spread of the
    activations layer by layer and the gradient norm of every layer, then the
    training curves.  Zero initialisation leaves every unit of a layer
    identical (``zero/distinct_units`` counts the different first-layer units
    after training); small weights shrink the signal layer after layer; large
    ones saturate tanh units; the scaled schemes keep the signal alive.
    """

    name = "init-comparison"
    summary = "Zero, small, large, Xavier, Glorot, He initialisation of one deep MLP on the digits"
    section = "2.3.3"
    Config = InitComparisonConfig

    def _task(self, cfg: InitComparisonConfig, scheme: str):
        from ...models import get_model
        from ...tasks import ClassificationTask

        model = get_model("mlp", hidden=list(cfg.hidden), activation=cfg.activation, init=scheme)
        return ClassificationTask(model, num_classes=10, optimizer=cfg.optim)

    def models(self, cfg: InitComparisonConfig) -> list[str]:
        return list(cfg.schemes)

    def build_model(self, cfg: InitComparisonConfig, name: str | None):
        return self._task(cfg, str(name)), _digits(cfg.data)

    def run(self, cfg: InitComparisonConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...models.ffnn.analysis import hidden_activations, layer_gradient_norms
        from ...nn.init import INIT_SCHEMES

        for s in cfg.schemes:
            if s not in INIT_SCHEMES:
                raise ConfigError(f"schemes must be names of {list(INIT_SCHEMES)}; got {s!r}")
        write_run_config(run_dir, self.name, cfg)
        data = _digits(cfg.data)
        xb, yb = _batch(data.train, 512)
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        act_std, grad_norms, hists = {}, {}, {}
        for scheme in cfg.schemes:
            seed_everything(derive_seed(cfg.trainer.seed, "init-comparison", scheme))
            task = self._task(cfg, scheme)
            model = task.model
            act_std[scheme] = [float(h.std()) for h in hidden_activations(model, xb)]
            grad_norms[scheme] = layer_gradient_norms(model, xb, yb, F.cross_entropy)
            tr = _trainer(cfg, progress=progress)
            tr.fit(task, data.train, data.val)
            hists[scheme] = tr.history
            export_variant(run_dir, scheme, model, task, **self.export_info(cfg, data))
            m = tr.evaluate(task, data.test)
            metrics[f"{scheme}/test_accuracy"] = m["test/accuracy"]
            metrics[f"{scheme}/train_loss"] = tr.metrics["train/loss"]
            metrics[f"{scheme}/val_accuracy"] = tr.metrics["val/accuracy"]
            metrics[f"{scheme}/activation_std_last_layer"] = act_std[scheme][-1]
            first = model.features[0].linear.weight.detach()
            metrics[f"{scheme}/distinct_units"] = float(torch.unique(first.round(decimals=6), dim=0).shape[0])
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), compared=list(cfg.schemes))
        _layer_plot(run_dir, act_std, "init_activation_std", "std of the layer's activations",
                    f"Standard deviation of each hidden layer's {cfg.activation} outputs at initialisation, for 512 "
                    "training digits (zero initialisation gives 0 everywhere and is not drawn).", xlabel="hidden layer")
        _layer_plot(run_dir, grad_norms, "init_gradient_norms", "‖∂E/∂W‖ at initialisation",
                    "Norm of the loss gradient for each layer's weights at initialisation.")
        _curve_plot(run_dir, hists, "train/loss", "init_train_loss", "training loss",
                    "Training loss per epoch for each initialisation (same data, order and optimiser).")
        _curve_plot(run_dir, hists, "val/accuracy", "init_val_accuracy", "validation accuracy",
                    "Validation accuracy per epoch for each initialisation.")
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"activation_std": act_std, "gradient_norms": grad_norms})


# ---------------------------------------------------------------- optimizer-comparison
@dataclass
class OptimizerComparisonConfig:
    methods: list[str] = field(default_factory=lambda: ["gd", "sgd", "minibatch", "momentum", "nesterov", "adam"])
    gd_lr: float = 0.5  # batch gradient descent: one step per epoch on the mean gradient of all samples
    sgd_lr: float = 0.01  # stochastic gradient descent: one sample per step
    minibatch_lr: float = 0.05  # mini-batch gradient descent, momentum and Nesterov
    momentum: float = 0.9  # α of momentum and Nesterov
    adam_lr: float = 1e-3  # Adam
    hidden: list[int] = field(default_factory=lambda: [64])  # the MLP trained by every method
    activation: str = "tanh"
    train_limit: int | None = None  # use only the first n training samples
    data: DigitsData = field(default_factory=DigitsData)
    # max_epochs: epochs per method (the same number of gradient evaluations for all); batch_size: the mini-batch
    # of minibatch, momentum, Nesterov and Adam (gd uses every sample, sgd one); seed: the same initial weights for all
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=32))

    #: settings of older runs (config.json) and where they live now
    moved_settings: ClassVar[dict[str, str]] = {"minibatch": "trainer.batch_size"}


_METHODS = ("gd", "sgd", "minibatch", "momentum", "nesterov", "adam")


@register_recipe
class OptimizerComparison(Recipe):
    """Gradient descent variants of §2.3.1 on the same MLP, data and initial weights.

    ``gd``: batch gradient descent (one step per epoch); ``sgd``: one sample
    per step; ``minibatch``: ``trainer.batch_size`` samples per step; ``momentum`` and
    ``nesterov`` (the notes' two-step form, optimiser ``nag``): mini-batch
    steps with momentum α; ``adam``: Adam.  Every method sees every training
    sample once per epoch, so the curves compare progress per gradient
    evaluation.
    """

    name = "optimizer-comparison"
    summary = "Batch GD, SGD, mini-batch, momentum, Nesterov and Adam curves on the same MLP and digits"
    section = "2.3.1"
    Config = OptimizerComparisonConfig

    def _spec(self, cfg: OptimizerComparisonConfig, method: str, n: int) -> tuple[OptimizerSpec, int]:
        from ...engine.gd import batch_size_for

        if method == "gd":
            return OptimizerSpec("sgd", lr=cfg.gd_lr), batch_size_for("batch", n)
        if method == "sgd":
            return OptimizerSpec("sgd", lr=cfg.sgd_lr), batch_size_for("stochastic", n)
        mb = batch_size_for("minibatch", n, minibatch=cfg.trainer.batch_size)
        if method == "minibatch":
            return OptimizerSpec("sgd", lr=cfg.minibatch_lr), mb
        if method == "momentum":
            return OptimizerSpec("sgd", lr=cfg.minibatch_lr, momentum=cfg.momentum), mb
        if method == "nesterov":
            return OptimizerSpec("nag", lr=cfg.minibatch_lr, momentum=cfg.momentum), mb
        return OptimizerSpec("adam", lr=cfg.adam_lr), mb

    def _data(self, cfg: OptimizerComparisonConfig):
        """The digits, the training part cut to ``train_limit`` samples."""
        import dataclasses

        from ...data import subset

        data = _digits(cfg.data)
        if cfg.train_limit is not None:
            data = dataclasses.replace(data, train=subset(data.train, range(min(cfg.train_limit, len(data.train)))))
        return data

    def _task(self, cfg: OptimizerComparisonConfig, spec: OptimizerSpec):
        from ...models import get_model
        from ...tasks import ClassificationTask

        model = get_model("mlp", hidden=list(cfg.hidden), activation=cfg.activation, init="glorot")
        return ClassificationTask(model, num_classes=10, optimizer=spec, compute_train_metrics=False)

    def models(self, cfg: OptimizerComparisonConfig) -> list[str]:
        return list(cfg.methods)

    def build_model(self, cfg: OptimizerComparisonConfig, name: str | None):
        data = self._data(cfg)
        return self._task(cfg, self._spec(cfg, str(name), len(data.train))[0]), data

    def run(self, cfg: OptimizerComparisonConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        for m in cfg.methods:
            if m not in _METHODS:
                raise ConfigError(f"methods must be names of {list(_METHODS)}; got {m!r}")
        write_run_config(run_dir, self.name, cfg)
        data = self._data(cfg)
        train = data.train
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        hists = {}
        for method in cfg.methods:
            spec, batch = self._spec(cfg, method, len(train))
            seed_everything(cfg.trainer.seed)  # the same initial weights for every method
            task = self._task(cfg, spec)
            tr = _trainer(cfg, progress=progress, batch_size=batch)
            start = time.perf_counter()
            tr.fit(task, train, data.val)
            seconds = time.perf_counter() - start
            hists[method] = tr.history
            export_variant(run_dir, method, task.model, task, **self.export_info(cfg, data))
            final = tr.evaluate(task, train, split="train")
            metrics[f"{method}/train_loss"] = final["train/loss"]
            metrics[f"{method}/val_accuracy"] = tr.metrics["val/accuracy"]
            metrics[f"{method}/steps"] = float(tr.global_step)
            metrics[f"{method}/seconds"] = round(seconds, 3)
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), compared=list(cfg.methods))
        _curve_plot(run_dir, hists, "train/loss", "optimizers_train_loss", "training loss (epoch mean)",
                    "Training loss per epoch; every method processes each sample once per epoch.", log=True)
        _curve_plot(run_dir, hists, "val/loss", "optimizers_val_loss", "validation loss",
                    "Validation loss per epoch for each method.", log=True)
        _curve_plot(run_dir, hists, "val/accuracy", "optimizers_val_accuracy", "validation accuracy",
                    "Validation accuracy per epoch for each method.")
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"history": hists})


# ---------------------------------------------------------------- vanishing-gradients
@dataclass
class VanishingGradientsConfig:
    depth: int = 10  # hidden layers
    width: int = 64  # units per hidden layer
    activations: list[str] = field(default_factory=lambda: ["sigmoid", "tanh", "relu"])
    # initialisation per activation: Glorot for the S-shaped ones, He for ReLU
    inits: dict[str, str] = field(default_factory=lambda: {"sigmoid": "glorot", "tanh": "glorot", "relu": "he"})
    batch: int = 512  # training digits the gradient norms are measured on
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("sgd", lr=0.01, momentum=0.9))
    train: bool = True  # after measuring, train every network (false: measure at initialisation only)
    data: DigitsData = field(default_factory=DigitsData)
    # epochs and mini-batch of the training per network; seed of the initial weights and of the data order
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=10, batch_size=32))


@register_recipe
class VanishingGradients(Recipe):
    """Per-layer gradient norms of a deep sigmoid MLP against ReLU (notes §2.2, "Vanishing gradient").

    The backward pass multiplies the gradient by ``g'(a)`` at every layer;
    the sigmoid's derivative is at most 1/4, so in a 10-layer sigmoid network
    the first layers receive gradients orders of magnitude smaller than the
    last and barely learn.  ReLU's derivative is 1 where the unit is active
    and, with He initialisation, the gradient keeps its scale.
    """

    name = "vanishing-gradients"
    summary = "Per-layer gradient norms of a 10-layer sigmoid MLP vs tanh and ReLU, then their training curves"
    section = "2.2"
    Config = VanishingGradientsConfig

    def _task(self, cfg: VanishingGradientsConfig, act: str):
        from ...models import get_model
        from ...tasks import ClassificationTask

        model = get_model("mlp", hidden=[cfg.width] * cfg.depth, activation=act, init=cfg.inits.get(act, "glorot"))
        return ClassificationTask(model, num_classes=10, optimizer=cfg.optim)

    def models(self, cfg: VanishingGradientsConfig) -> list[str] | None:
        return list(cfg.activations) if cfg.train else None

    def no_model(self, cfg: VanishingGradientsConfig) -> str | None:
        if cfg.train:
            return None
        return ("this vanishing-gradients run measured gradient norms at initialisation only (train=false) and "
                "trained no model; its measurements are in results.json and report.html")

    def build_model(self, cfg: VanishingGradientsConfig, name: str | None):
        return self._task(cfg, str(name)), _digits(cfg.data)

    def run(self, cfg: VanishingGradientsConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...models.ffnn.analysis import layer_gradient_norms

        if cfg.depth < 1:
            raise ConfigError(f"depth must be >= 1; got {cfg.depth}")
        write_run_config(run_dir, self.name, cfg)
        data = _digits(cfg.data)
        xb, yb = _batch(data.train, cfg.batch)
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        at_init, after, hists = {}, {}, {}
        for act in cfg.activations:
            init = cfg.inits.get(act, "glorot")
            seed_everything(derive_seed(cfg.trainer.seed, "vanishing-gradients", act))
            task = self._task(cfg, act)
            model = task.model
            norms = layer_gradient_norms(model, xb, yb, F.cross_entropy)
            at_init[f"{act} ({init})"] = norms
            metrics[f"{act}/grad_norm_first_layer"] = norms[0]
            metrics[f"{act}/grad_norm_last_layer"] = norms[-1]
            metrics[f"{act}/grad_ratio_first_to_last"] = norms[0] / norms[-1]
            if cfg.train:
                tr = _trainer(cfg, progress=progress)
                tr.fit(task, data.train, data.val)
                hists[act] = tr.history
                metrics[f"{act}/test_accuracy"] = tr.evaluate(task, data.test)["test/accuracy"]
                after[f"{act} ({init})"] = layer_gradient_norms(model, xb, yb, F.cross_entropy)
                export_variant(run_dir, act, model, task, **self.export_info(cfg, data))
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3),
                      compared=list(cfg.activations))
        _layer_plot(run_dir, at_init, "gradient_norms_at_init", "‖∂E/∂W_l‖",
                    f"Gradient norm of every layer's weights at initialisation, {cfg.depth} hidden layers of "
                    f"{cfg.width} units, {cfg.batch} training digits. Sigmoid gradients vanish towards the input.")
        if after:
            _layer_plot(run_dir, after, "gradient_norms_after_training", "‖∂E/∂W_l‖",
                        "The same gradient norms after training.")
            _curve_plot(run_dir, hists, "train/loss", "vanishing_train_loss", "training loss",
                        "Training loss per epoch of the deep networks.")
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"gradient_norms": at_init})


# ---------------------------------------------------------------- overfitting-digits
@dataclass
class OverfittingConfig:
    train_size: int = 300  # training digits: few enough for a 512-512 MLP to overfit
    variants: list[str] = field(default_factory=lambda: ["plain", "dropout", "weight_decay", "early_stopping"])
    hidden: list[int] = field(default_factory=lambda: [512, 512])  # a large network for so few samples
    lr: float = 1e-3  # Adam's learning rate, every variant
    dropout: float = 0.5  # the dropout variant's probability
    weight_decay: float = 1e-2  # the weight-decay variant's λ: the gradient of the penalty (λ/2)‖w‖²
    patience: int = 10  # the early-stopping variant's patience (validations)
    data: DigitsData = field(default_factory=DigitsData)
    # epochs and mini-batch of every variant; seed: every variant starts from the same weights
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=150, batch_size=32))


_VARIANTS = ("plain", "dropout", "weight_decay", "early_stopping")


@register_recipe
class OverfittingDigits(Recipe):
    """Overfitting and its cures on a small digits subset (notes §2.5, §2.5.2–§2.5.4).

    A large MLP trained on ``train_size`` digits drives its training loss to
    zero while the validation loss turns upwards.  The report puts the
    training and validation curves of four variants side by side: no
    regularisation, dropout, weight decay (coupled: Adam adds ``λw`` to the
    gradient, i.e. the penalty ``(λ/2)‖w‖²`` of §2.5.3) and early stopping
    on the validation loss (best weights restored).
    """

    name = "overfitting-digits"
    summary = "Overfitting on 300 digits, and dropout, weight decay and early stopping as cures (train vs val curves)"
    section = "2.5, 2.5.2, 2.5.3, 2.5.4"
    Config = OverfittingConfig

    def _data(self, cfg: OverfittingConfig):
        """The digits, the training part cut to ``train_size`` samples."""
        import dataclasses

        from ...data import subset

        data = _digits(cfg.data)
        return dataclasses.replace(data, train=subset(data.train, range(min(cfg.train_size, len(data.train)))))

    def _task(self, cfg: OverfittingConfig, variant: str):
        from ...models import get_model
        from ...tasks import ClassificationTask

        model = get_model("mlp", hidden=list(cfg.hidden), init="he", dropout=cfg.dropout if variant == "dropout" else 0.0)
        wd = cfg.weight_decay if variant == "weight_decay" else 0.0
        return ClassificationTask(model, num_classes=10, optimizer=OptimizerSpec("adam", lr=cfg.lr, weight_decay=wd))

    def models(self, cfg: OverfittingConfig) -> list[str]:
        return list(cfg.variants)

    def build_model(self, cfg: OverfittingConfig, name: str | None):
        return self._task(cfg, str(name)), self._data(cfg)

    def run(self, cfg: OverfittingConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...engine.callbacks import EarlyStopping
        from ._common import history_series

        for v in cfg.variants:
            if v not in _VARIANTS:
                raise ConfigError(f"variants must be names of {list(_VARIANTS)}; got {v!r}")
        write_run_config(run_dir, self.name, cfg)
        data = self._data(cfg)
        train = data.train
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        hists = {}
        for variant in cfg.variants:
            seed_everything(cfg.trainer.seed)  # every variant starts from the same weights
            task = self._task(cfg, variant)
            callbacks = [EarlyStopping("val/loss", patience=cfg.patience)] if variant == "early_stopping" else None
            tr = _trainer(cfg, progress=progress, callbacks=callbacks)
            tr.fit(task, train, data.val)
            hists[variant] = tr.history
            export_variant(run_dir, variant, task.model, task, **self.export_info(cfg, data))
            _, val_losses = history_series(tr.history, "val/loss")
            final_train = tr.evaluate(task, train, split="train")
            final_val = tr.evaluate(task, data.val, split="val")
            metrics[f"{variant}/train_loss"] = final_train["train/loss"]
            metrics[f"{variant}/train_accuracy"] = final_train["train/accuracy"]
            metrics[f"{variant}/val_loss"] = final_val["val/loss"]
            metrics[f"{variant}/val_accuracy"] = final_val["val/accuracy"]
            metrics[f"{variant}/best_val_loss"] = min(val_losses)
            metrics[f"{variant}/test_accuracy"] = tr.evaluate(task, data.test)["test/accuracy"]
            metrics[f"{variant}/epochs"] = float(tr.epoch)
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), compared=list(cfg.variants))
        self._plot(run_dir, hists)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"history": hists})

    @staticmethod
    def _plot(run_dir: Path, hists: dict[str, list[dict[str, Any]]]) -> None:
        from ...report.plots import figure, save_figure
        from ._common import history_series

        n = len(hists)
        cols = min(n, 2)
        rows = -(-n // cols)
        fig = figure(figsize=(5 * cols, 3.3 * rows))
        for k, (variant, hist) in enumerate(hists.items()):
            ax = fig.add_subplot(rows, cols, k + 1)
            for key, style in (("train/loss", "-"), ("val/loss", "--")):
                xs, ys = history_series(hist, key)
                ax.plot(xs, ys, style, lw=1.5, label=key.split("/")[0])
            ax.set_yscale("log")
            ax.set_title(variant.replace("_", " "), fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("cross-entropy")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, run_dir, "overfitting_curves",
                    "Training (solid) and validation (dashed) loss of each variant. Without regularisation the "
                    "validation loss rises while the training loss keeps falling (overfitting).")
