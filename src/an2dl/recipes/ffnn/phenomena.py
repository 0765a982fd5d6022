"""Recipes that show the phenomena of chapter 2 on the embedded digits.

* ``init-comparison`` — the six initialisations of §2.3.3 on the same deep MLP.
* ``optimizer-comparison`` — batch, stochastic and mini-batch gradient
  descent, momentum, Nesterov and Adam on the same problem (§2.3.1).
* ``vanishing-gradients`` — per-layer gradient norms of a 10-layer sigmoid
  MLP against a ReLU one (§2.2).
* ``overfitting-digits`` — a large MLP on 300 training digits, with and
  without dropout, weight decay and early stopping (§2.5).

Each is a :class:`~an2dl.recipes.comparison.ComparisonRecipe`: every variant
is trained with the :class:`~an2dl.engine.Trainer` (the ``trainer``
settings: epochs, batch size, seed, device, ...) from the same seed in
``variants/<name>/`` with its own checkpoints (``an2dl resume`` continues
at the variant that was running), the curves are drawn side by side in the
report and every model is exported to ``run_dir/variants/<name>/model``
(``an2dl eval RUN --model NAME``).  Metrics carry the variant's name as a
suffix (``test/accuracy_he``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..._utils.rng import seed_everything
from ...data.core import ArrayDataset, DataSplits
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models._checks import check_positive_int, check_probability
from ...tasks import ClassificationTask
from ..base import RunResult, finish_report, register_recipe, write_results
from ..comparison import ComparisonRecipe, Variant, history_series, plot_variant_curves, write_run_config
from ..config import CheckpointConfig, EarlyStoppingConfig, RunSettings, TrainerConfig
from .mlp import DigitsData

__all__ = ["InitComparison", "OptimizerComparison", "VanishingGradients", "OverfittingDigits"]


def _digits(d: DigitsData) -> DataSplits:
    from ...data import get_dataset

    return get_dataset("digits", val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)


def _first(dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` samples of a tensor dataset: the probe batch of the gradient measurements."""
    return dataset.tensors[0][:n], dataset.tensors[1][:n]


def _evaluate(cfg: Any, task: ClassificationTask, dataset, split: str) -> dict[str, float]:
    """``Trainer.evaluate`` of a trained variant on another split (the metrics ``an2dl eval --split`` gives)."""
    from ...engine.trainer import Trainer

    evaluator = Trainer(progress=False, checkpoint=False, accelerator=cfg.trainer.accelerator)
    return evaluator.evaluate(task, dataset, split=split)


def _untrained(recipe: ComparisonRecipe, cfg: Any, name: str, data: DataSplits) -> ClassificationTask:
    """Variant ``name`` as it starts training: built again from the run's seed, so the same initial weights."""
    settings = recipe.variant_settings(cfg, name)
    seed_everything(settings.trainer.seed)
    return recipe.build_variant(settings, name, data)


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


def _check_names(setting: str, given: list[str], known: tuple[str, ...]) -> None:
    unknown = [n for n in given if n not in known]
    if unknown or not given:
        raise ConfigError(f"{setting} must be a non-empty list of names of {list(known)}; got {given!r}")


# ---------------------------------------------------------------- init-comparison
@dataclass
class InitComparisonConfig(RunSettings):
    schemes: list[str] = field(default_factory=lambda: ["zero", "small", "large", "xavier", "glorot", "he"])
    hidden: list[int] = field(default_factory=lambda: [64] * 5)  # a deep enough network for the scale to matter
    activation: str = "tanh"  # hidden activation of every model
    probe_batch: int = 512  # training digits the activations and gradients at initialisation are measured on
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("sgd", lr=0.05, momentum=0.9))
    data: DigitsData = field(default_factory=DigitsData)
    # epochs and mini-batch of every model; seed of the initial weights and of the data order
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=32))


@register_recipe
class InitComparison(ComparisonRecipe):
    """Zero, small, large, Xavier, Glorot and He initialisation of the same deep MLP (notes §2.3.3).

    For each scheme the report shows, at initialisation, the spread of the
    activations layer by layer and the gradient norm of every layer, then the
    training curves.  Zero initialisation leaves every unit of a layer
    identical (``trained/distinct_units_zero`` counts the different
    first-layer units after training: 1); small weights shrink the signal
    layer after layer; large ones saturate the tanh units; the scaled schemes
    keep the signal alive and train.
    """

    name = "init-comparison"
    summary = "Zero, small, large, Xavier, Glorot, He initialisation of one deep MLP on the digits"
    section = "2.3.3"
    Config = InitComparisonConfig
    primary_metric = "test/accuracy"
    higher_is_better = True
    smoke_settings = ('schemes=["zero","xavier"]', "hidden=[16,16]", "trainer.max_epochs=1", "probe_batch=64")

    def variant_names(self, cfg: InitComparisonConfig) -> list[str]:
        return list(cfg.schemes)

    def check(self, cfg: InitComparisonConfig) -> None:
        from ...nn.init import INIT_SCHEMES

        _check_names("schemes", cfg.schemes, INIT_SCHEMES)
        check_positive_int(self.name, "probe_batch", cfg.probe_batch)

    def load_data(self, cfg: InitComparisonConfig) -> DataSplits:
        return _digits(cfg.data)

    def build_variant(self, cfg: InitComparisonConfig, name: str, data: DataSplits) -> ClassificationTask:
        from ...models import get_model

        model = get_model("mlp", hidden=list(cfg.hidden), activation=cfg.activation, init=name)
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim)

    def _at_init(self, cfg: InitComparisonConfig, data: DataSplits) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        """Per scheme: the std of every hidden layer's activations and every layer's gradient norm, untrained."""
        from ...models.ffnn.analysis import hidden_activations, layer_gradient_norms

        x, y = _first(data.train, cfg.probe_batch)
        stds, norms = {}, {}
        for name in self.variant_names(cfg):
            model = _untrained(self, cfg, name, data).model
            stds[name] = [float(h.std()) for h in hidden_activations(model, x)]
            norms[name] = layer_gradient_norms(model, x, y, F.cross_entropy)
        return stds, norms

    def summarize(self, cfg: InitComparisonConfig, variants: list[Variant], data: DataSplits):
        stds, norms = self._at_init(cfg, data)
        metrics: dict[str, Any] = {}
        for v in variants:
            metrics[f"init/activation_std_last_layer_{v.name}"] = stds[v.name][-1]
            metrics[f"init/grad_norm_first_layer_{v.name}"] = norms[v.name][0]
            first = v.task.model.features[0].linear.weight.detach()
            metrics[f"trained/distinct_units_{v.name}"] = int(torch.unique(first.round(decimals=6), dim=0).shape[0])
        notes = [f"{v.name}: {metrics[f'trained/distinct_units_{v.name}']} distinct first-layer units of "
                 f"{cfg.hidden[0]} after training" for v in variants]
        return metrics, notes

    def comparison_figures(self, cfg: InitComparisonConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        stds, norms = self._at_init(cfg, data)
        _layer_plot(run_dir, stds, "init_activation_std", "std of the layer's activations",
                    f"Standard deviation of each hidden layer's {cfg.activation} outputs at initialisation, for "
                    f"{cfg.probe_batch} training digits (zero initialisation gives 0 everywhere and is not drawn).",
                    xlabel="hidden layer")
        _layer_plot(run_dir, norms, "init_gradient_norms", "‖∂E/∂W‖ at initialisation",
                    "Norm of the loss gradient for each layer's weights at initialisation.")
        plot_variant_curves(variants, run_dir, "train/loss", label="training loss", name="init_train_loss", x="epoch",
                            caption="Training loss per epoch for each initialisation (same data, order and optimiser).")
        plot_variant_curves(variants, run_dir, "val/accuracy", label="validation accuracy", name="init_val_accuracy",
                            x="epoch", caption="Validation accuracy per epoch for each initialisation.")


# ---------------------------------------------------------------- optimizer-comparison
_METHODS = ("gd", "sgd", "minibatch", "momentum", "nesterov", "adam")


@dataclass
class OptimizerComparisonConfig(RunSettings):
    methods: list[str] = field(default_factory=lambda: list(_METHODS))
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


@register_recipe
class OptimizerComparison(ComparisonRecipe):
    """Gradient descent variants of §2.3.1 on the same MLP, data and initial weights.

    ``gd``: batch gradient descent (one step per epoch); ``sgd``: one sample
    per step; ``minibatch``: ``trainer.batch_size`` samples per step; ``momentum`` and
    ``nesterov`` (optimiser ``nag``: a prediction step and a correction step in
    Sutskever's form): mini-batch steps with momentum α; ``adam``: Adam.  Every
    method sees every training sample once per epoch, so the curves compare
    progress per gradient evaluation; ``train/loss_<method>`` is the final
    training loss of each.
    """

    name = "optimizer-comparison"
    summary = "Batch GD, SGD, mini-batch, momentum, Nesterov and Adam curves on the same MLP and digits"
    section = "2.3.1"
    Config = OptimizerComparisonConfig
    primary_metric = "val/loss"
    smoke_settings = ('methods=["gd","adam"]', "train_limit=128", "trainer.max_epochs=1")

    def variant_names(self, cfg: OptimizerComparisonConfig) -> list[str]:
        return list(cfg.methods)

    def check(self, cfg: OptimizerComparisonConfig) -> None:
        _check_names("methods", cfg.methods, _METHODS)
        if cfg.train_limit is not None:
            check_positive_int(self.name, "train_limit", cfg.train_limit)

    def load_data(self, cfg: OptimizerComparisonConfig) -> DataSplits:
        """The digits, the training part cut to ``train_limit`` samples."""
        from ...data import subset

        data = _digits(cfg.data)
        if cfg.train_limit is not None:
            data = dataclasses.replace(data, train=subset(data.train, range(min(cfg.train_limit, len(data.train)))))
        return data

    def variant_settings(self, cfg: OptimizerComparisonConfig, name: str) -> OptimizerComparisonConfig:
        """``cfg`` with the method's batch size: all samples (gd), one (sgd) or ``trainer.batch_size``."""
        from ...engine.gd import batch_size_for

        n = len(self.load_data(cfg).train)
        mode = {"gd": "batch", "sgd": "stochastic"}.get(name, "minibatch")
        batch = batch_size_for(mode, n, minibatch=cfg.trainer.batch_size)
        return dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, batch_size=batch))

    def _spec(self, cfg: OptimizerComparisonConfig, method: str) -> OptimizerSpec:
        if method == "gd":
            return OptimizerSpec("sgd", lr=cfg.gd_lr)
        if method == "sgd":
            return OptimizerSpec("sgd", lr=cfg.sgd_lr)
        if method == "minibatch":
            return OptimizerSpec("sgd", lr=cfg.minibatch_lr)
        if method == "momentum":
            return OptimizerSpec("sgd", lr=cfg.minibatch_lr, momentum=cfg.momentum)
        if method == "nesterov":
            return OptimizerSpec("nag", lr=cfg.minibatch_lr, momentum=cfg.momentum)
        return OptimizerSpec("adam", lr=cfg.adam_lr)

    def build_variant(self, cfg: OptimizerComparisonConfig, name: str, data: DataSplits) -> ClassificationTask:
        from ...models import get_model

        model = get_model("mlp", hidden=list(cfg.hidden), activation=cfg.activation, init="glorot")
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=self._spec(cfg, name),
                                  compute_train_metrics=False)

    def summarize(self, cfg: OptimizerComparisonConfig, variants: list[Variant], data: DataSplits):
        metrics: dict[str, Any] = {}
        for v in variants:
            final = _evaluate(cfg, v.task, data.train, "train")
            metrics[f"train/loss_{v.name}"] = final["train/loss"]
            metrics[f"steps_{v.name}"] = v.steps
        notes = [f"{v.name}: batch size {self.variant_settings(cfg, v.name).trainer.batch_size}, {v.steps} steps"
                 for v in variants]
        return metrics, notes

    def comparison_figures(self, cfg: OptimizerComparisonConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "train/loss", label="training loss (epoch mean)",
                            name="optimizers_train_loss", x="epoch", log=True,
                            caption="Training loss per epoch; every method processes each sample once per epoch.")
        plot_variant_curves(variants, run_dir, "val/loss", label="validation loss", name="optimizers_val_loss",
                            x="epoch", log=True, caption="Validation loss per epoch for each method.")
        plot_variant_curves(variants, run_dir, "val/accuracy", label="validation accuracy",
                            name="optimizers_val_accuracy", x="epoch",
                            caption="Validation accuracy per epoch for each method.")


# ---------------------------------------------------------------- vanishing-gradients
@dataclass
class VanishingGradientsConfig(RunSettings):
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
class VanishingGradients(ComparisonRecipe):
    """Per-layer gradient norms of a deep sigmoid MLP against ReLU (notes §2.2, "Vanishing gradient").

    The backward pass multiplies the gradient by ``g'(a)`` at every layer;
    the sigmoid's derivative is at most 1/4, so in a 10-layer sigmoid network
    the first layers receive gradients orders of magnitude smaller than the
    last and barely learn.  ReLU's derivative is 1 where the unit is active
    and, with He initialisation, the gradient keeps its scale.  The norms are
    measured at initialisation (``init/grad_ratio_first_to_last_<act>``) and
    after training (``trained/...``); the networks' test accuracies show the
    consequence.
    """

    name = "vanishing-gradients"
    summary = "Per-layer gradient norms of a 10-layer sigmoid MLP vs tanh and ReLU, then their training curves"
    section = "2.2"
    Config = VanishingGradientsConfig
    primary_metric = "test/accuracy"
    higher_is_better = True
    smoke_settings = ("depth=3", "width=16", 'activations=["sigmoid","relu"]', "batch=64", "trainer.max_epochs=1")

    def variant_names(self, cfg: VanishingGradientsConfig) -> list[str]:
        return list(cfg.activations)

    def check(self, cfg: VanishingGradientsConfig) -> None:
        super().check(cfg)
        check_positive_int(self.name, "depth", cfg.depth)
        check_positive_int(self.name, "width", cfg.width)
        check_positive_int(self.name, "batch", cfg.batch)

    def load_data(self, cfg: VanishingGradientsConfig) -> DataSplits:
        return _digits(cfg.data)

    def _init(self, cfg: VanishingGradientsConfig, act: str) -> str:
        return cfg.inits.get(act, "glorot")

    def build_variant(self, cfg: VanishingGradientsConfig, name: str, data: DataSplits) -> ClassificationTask:
        from ...models import get_model

        model = get_model("mlp", hidden=[cfg.width] * cfg.depth, activation=name, init=self._init(cfg, name))
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim)

    def models(self, cfg: VanishingGradientsConfig) -> list[str] | None:
        return list(cfg.activations) if cfg.train else None

    def no_model(self, cfg: VanishingGradientsConfig) -> str | None:
        if cfg.train:
            return None
        return ("this vanishing-gradients run measured gradient norms at initialisation only (train=false) and "
                "trained no model; its measurements are in results.json and report.html")

    def _at_init(self, cfg: VanishingGradientsConfig, data: DataSplits) -> dict[str, list[float]]:
        """Every layer's gradient norm of each untrained network, on the first ``batch`` training digits."""
        from ...models.ffnn.analysis import layer_gradient_norms

        x, y = _first(data.train, cfg.batch)
        return {act: layer_gradient_norms(_untrained(self, cfg, act, data).model, x, y, F.cross_entropy)
                for act in self.variant_names(cfg)}

    def _trained(self, cfg: VanishingGradientsConfig, variants: list[Variant], data: DataSplits) -> dict[str, list[float]]:
        """The same norms after training."""
        from ...models.ffnn.analysis import layer_gradient_norms

        x, y = _first(data.train, cfg.batch)
        return {v.name: layer_gradient_norms(v.task.model, x, y, F.cross_entropy) for v in variants}

    @staticmethod
    def _norm_metrics(stage: str, norms: dict[str, list[float]]) -> dict[str, float]:
        metrics = {}
        for act, n in norms.items():
            metrics[f"{stage}/grad_norm_first_layer_{act}"] = n[0]
            metrics[f"{stage}/grad_norm_last_layer_{act}"] = n[-1]
            metrics[f"{stage}/grad_ratio_first_to_last_{act}"] = n[0] / n[-1]
        return metrics

    def _notes(self, cfg: VanishingGradientsConfig, at_init: dict[str, list[float]]) -> list[str]:
        return [f"{act} ({self._init(cfg, act)} initialisation): first-layer gradient {n[0] / n[-1]:.2e} x the "
                "last layer's at initialisation" for act, n in at_init.items()]

    def _norms_plot(self, cfg: VanishingGradientsConfig, norms: dict[str, list[float]], run_dir: Path, *, name: str,
                    caption: str) -> None:
        _layer_plot(run_dir, {f"{act} ({self._init(cfg, act)})": n for act, n in norms.items()}, name, "‖∂E/∂W_l‖",
                    caption)

    def summarize(self, cfg: VanishingGradientsConfig, variants: list[Variant], data: DataSplits):
        at_init = self._at_init(cfg, data)
        metrics = {**self._norm_metrics("init", at_init), **self._norm_metrics("trained", self._trained(cfg, variants, data))}
        return metrics, self._notes(cfg, at_init)

    def comparison_figures(self, cfg: VanishingGradientsConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        self._norms_plot(cfg, self._at_init(cfg, data), run_dir, name="gradient_norms_at_init",
                         caption=f"Gradient norm of every layer's weights at initialisation, {cfg.depth} hidden layers "
                                 f"of {cfg.width} units, {cfg.batch} training digits. Sigmoid gradients vanish towards "
                                 "the input.")
        self._norms_plot(cfg, self._trained(cfg, variants, data), run_dir, name="gradient_norms_after_training",
                         caption="The same gradient norms after training.")
        plot_variant_curves(variants, run_dir, "train/loss", label="training loss", name="vanishing_train_loss",
                            x="epoch", caption="Training loss per epoch of the deep networks.")

    def run(self, cfg: VanishingGradientsConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        """Train and compare the networks (``train=true``), or only measure their gradient norms at initialisation."""
        if cfg.train:
            return super().run(cfg, run_dir, resume=resume, progress=progress)
        self.check(cfg)
        data = self.load_data(cfg)
        write_run_config(run_dir, self.name, cfg)
        at_init = self._at_init(cfg, data)
        metrics = self._norm_metrics("init", at_init)
        write_results(run_dir, metrics, notes=self._notes(cfg, at_init), compared=list(at_init))
        self._norms_plot(cfg, at_init, run_dir, name="gradient_norms_at_init",
                         caption=f"Gradient norm of every layer's weights at initialisation, {cfg.depth} hidden layers "
                                 f"of {cfg.width} units, {cfg.batch} training digits.")
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, data=data)


# ---------------------------------------------------------------- overfitting-digits
_CURES = ("plain", "dropout", "weight_decay", "early_stopping")


def _noisy_labels(dataset: ArrayDataset, fraction: float, *, num_classes: int, seed: int) -> ArrayDataset:
    """``dataset`` with ``round(fraction · N)`` randomly chosen labels replaced by a different, random class."""
    x, y = dataset.tensors[0], dataset.tensors[1].clone()
    g = torch.Generator().manual_seed(seed)
    flip = torch.randperm(len(y), generator=g)[: round(fraction * len(y))]
    y[flip] = (y[flip] + torch.randint(1, num_classes, (len(flip),), generator=g)) % num_classes
    return ArrayDataset(x, y)


@dataclass
class OverfittingConfig(RunSettings):
    train_size: int = 300  # training digits: few enough for a 256-256 MLP to overfit
    # fraction of the training labels replaced by another class (validation and test stay clean): the noise an
    # overfitting network learns; with clean labels (0) the cures lower the validation loss but not the test error
    label_noise: float = 0.2
    variants: list[str] = field(default_factory=lambda: list(_CURES))
    hidden: list[int] = field(default_factory=lambda: [256, 256])  # a large network for so few samples
    lr: float = 1e-3  # Adam's learning rate, every variant
    dropout: float = 0.5  # the dropout variant's probability
    weight_decay: float = 1e-2  # the weight-decay variant's λ: the gradient of the penalty (λ/2)‖w‖²
    data: DigitsData = field(default_factory=DigitsData)
    # epochs and mini-batch of every variant; seed: every variant starts from the same weights
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=40, batch_size=32))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=10))
    # the early_stopping variant's settings (that variant enables it; enabled=true stops every variant early)
    early_stopping: EarlyStoppingConfig = field(default_factory=lambda: EarlyStoppingConfig(patience=5))

    #: settings of older runs (config.json) and where they live now
    moved_settings: ClassVar[dict[str, str]] = {"patience": "early_stopping.patience"}


@register_recipe
class OverfittingDigits(ComparisonRecipe):
    """Overfitting and its cures on a small digits subset (notes §2.5, §2.5.2–§2.5.4).

    A large MLP trained on ``train_size`` digits, a fifth of them with a
    wrong label (``label_noise``), learns the training set, wrong labels
    included, while its validation loss turns upwards and its test accuracy
    falls.  The report puts the training and validation curves of four
    variants side by side: no regularisation, dropout, weight decay (coupled:
    Adam adds ``λw`` to the gradient, i.e. the penalty ``(λ/2)‖w‖²`` of
    §2.5.3) and early stopping on the validation loss (``early_stopping.*``,
    best weights restored).  Each cure raises the test accuracy by 7–12
    points over the plain network (seeds 0–2).  ``val/best_loss_<variant>``
    is the lowest validation loss of each run.

    With clean labels (``label_noise=0``) the plain network also overfits in
    the loss (its validation loss climbs from its minimum while the training
    loss reaches 1e-5) but its test accuracy does not suffer: the few digits
    it gets wrong are predicted with growing confidence, which raises the
    loss, while the argmax of the others stays right.  There the cures lower
    the validation loss (early stopping 0.30 against 0.53–0.58 for 300
    digits, 512-512 units, 150 epochs) without raising the test accuracy
    (plain 0.922–0.933, dropout 0.919–0.933, weight decay 0.900–0.908, early
    stopping 0.919–0.933; 100 digits: the same picture around 0.80).
    """

    name = "overfitting-digits"
    summary = ("Overfitting 300 digits with 20% wrong labels; dropout, weight decay and early stopping as cures "
               "(train vs val curves, test accuracy)")
    section = "2.5, 2.5.2, 2.5.3, 2.5.4"
    Config = OverfittingConfig
    primary_metric = "val/loss"
    smoke_settings = ('variants=["plain","early_stopping"]', "hidden=[32]", "train_size=100", "trainer.max_epochs=1")

    def variant_names(self, cfg: OverfittingConfig) -> list[str]:
        return list(cfg.variants)

    def check(self, cfg: OverfittingConfig) -> None:
        _check_names("variants", cfg.variants, _CURES)
        check_positive_int(self.name, "train_size", cfg.train_size)
        check_probability(self.name, "label_noise", cfg.label_noise)

    def load_data(self, cfg: OverfittingConfig) -> DataSplits:
        """The digits, the training part cut to ``train_size`` samples."""
        from ...data import subset

        data = _digits(cfg.data)
        train = subset(data.train, range(min(cfg.train_size, len(data.train))))
        if cfg.label_noise > 0:
            train = _noisy_labels(train, cfg.label_noise, num_classes=data.info.num_classes, seed=cfg.data.seed)
        return dataclasses.replace(data, train=train)

    def variant_settings(self, cfg: OverfittingConfig, name: str) -> OverfittingConfig:
        if name != "early_stopping":
            return cfg
        return dataclasses.replace(cfg, early_stopping=dataclasses.replace(cfg.early_stopping, enabled=True))

    def build_variant(self, cfg: OverfittingConfig, name: str, data: DataSplits) -> ClassificationTask:
        from ...models import get_model

        model = get_model("mlp", hidden=list(cfg.hidden), init="he", dropout=cfg.dropout if name == "dropout" else 0.0)
        wd = cfg.weight_decay if name == "weight_decay" else 0.0
        return ClassificationTask(model, num_classes=data.info.num_classes,
                                  optimizer=OptimizerSpec("adam", lr=cfg.lr, weight_decay=wd))

    def summarize(self, cfg: OverfittingConfig, variants: list[Variant], data: DataSplits):
        metrics: dict[str, Any] = {}
        for v in variants:
            final = _evaluate(cfg, v.task, data.train, "train")
            metrics[f"train/loss_{v.name}"] = final["train/loss"]
            metrics[f"train/accuracy_{v.name}"] = final["train/accuracy"]
            metrics[f"val/best_loss_{v.name}"] = min(history_series(v.history, "val/loss", x="epoch")[1])
            metrics[f"epochs_{v.name}"] = max(history_series(v.history, "val/loss", x="epoch")[0])
        wrong = round(cfg.label_noise * len(data.train))
        return metrics, [f"{len(data.train)} training digits ({wrong} with a wrong label), {len(data.val)} validation, "
                         f"{len(data.test)} test (clean labels)"]

    def comparison_figures(self, cfg: OverfittingConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        from ...report.plots import figure, save_figure

        n = len(variants)
        cols = min(n, 2)
        rows = -(-n // cols)
        fig = figure(figsize=(5 * cols, 3.3 * rows))
        for k, v in enumerate(variants):
            ax = fig.add_subplot(rows, cols, k + 1)
            for key, style in (("train/loss", "-"), ("val/loss", "--")):
                xs, ys = history_series(v.history, key, x="epoch")
                ax.plot(xs, ys, style, lw=1.5, label=key.split("/")[0])
            ax.set_yscale("log")
            ax.set_title(v.name.replace("_", " "), fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("cross-entropy")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, run_dir, "overfitting_curves",
                    "Training (solid) and validation (dashed) loss of each variant. Without regularisation the "
                    "validation loss rises while the training loss keeps falling (overfitting).")
