"""Multi-layer perceptron recipes (notes §2.1–§2.5): ``mlp-xor``, ``mlp-sine``, ``mlp-digits``, ``mlp-mnist``."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...data import get_dataset
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...models import get_model
from ...nn.device import module_device
from ...tasks import ClassificationTask
from ...tasks.regression import BinaryClassificationTask, RegressionTask
from ..base import Recipe, RunResult, register_recipe
from ..config import CheckpointConfig, EarlyStoppingConfig, RunSettings, TrainerConfig

__all__ = ["MLPXor", "MLPSine", "MLPDigits", "MLPMNIST"]


# ---------------------------------------------------------------- mlp-xor
@dataclass
class XorModel:
    hidden: list[int] = field(default_factory=lambda: [4])  # one hidden layer suffices for XOR
    activation: str = "tanh"  # hidden activation (Table 2.1)


@dataclass
class MLPXorConfig(RunSettings):
    model: XorModel = field(default_factory=XorModel)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("sgd", lr=0.5, momentum=0.9))
    # batch gradient descent: the four points form every batch
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=200, batch_size=4, val_every_n_epochs=25))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=None))


@register_recipe
class MLPXor(Recipe):
    """XOR, which no perceptron can represent, learned by an MLP with one hidden layer (notes §1.3.1, §2.1)."""

    name = "mlp-xor"
    summary = "An MLP with one hidden layer learns XOR (sigmoid output, binary cross-entropy)"
    section = "1.3.1, 2.1, 2.2"
    Config = MLPXorConfig
    smoke_settings = ("trainer.max_epochs=1",)

    def build(self, cfg: MLPXorConfig):
        from ._common import xor_splits

        model = get_model("mlp", in_features=2, hidden=list(cfg.model.hidden), num_outputs=1,
                          activation=cfg.model.activation, output="sigmoid")
        return BinaryClassificationTask(model, optimizer=cfg.optim), xor_splits()

    def figures(self, result: RunResult) -> None:
        from ...report.plots import figure, save_figure
        from ._common import LOGIC_INPUTS, decision_surface, logic_gate

        model = result.task.model
        fig = figure(figsize=(4.2, 4))
        ax = fig.add_subplot(1, 1, 1)
        model.eval()
        dev = module_device(model)
        decision_surface(ax, lambda g: model.output(g.to(dev)).squeeze(1), LOGIC_INPUTS, logic_gate("xor"), levels=[0.5],
                         title="XOR: network output σ(z) and the 0.5 contour")
        save_figure(fig, result.run_dir, "xor_decision_surface",
                    "The MLP's output probability over the plane; the black line is the decision boundary σ(z) = 0.5. "
                    "It separates XOR's classes with a non-linear boundary, which a single perceptron cannot do.")


# ---------------------------------------------------------------- mlp-sine
@dataclass
class SineData:
    n_train: int = 256  # training points drawn uniformly on [-pi, pi]
    n_val: int = 64  # validation points
    n_test: int = 401  # evenly spaced test grid (noiseless)
    noise: float = 0.0  # standard deviation of Gaussian noise on the training targets
    seed: int = 0  # seed of the points


@dataclass
class SineModel:
    hidden: int = 16  # units of the single hidden layer
    activation: str = "sigmoid"  # the theorem's S-shaped activation


@dataclass
class MLPSineConfig(RunSettings):
    data: SineData = field(default_factory=SineData)
    model: SineModel = field(default_factory=SineModel)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=0.05, schedule=ScheduleSpec("cosine")))
    # batch gradient descent: all 256 training points in every step
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=1000, batch_size=256, val_every_n_epochs=100))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=None))


@register_recipe
class MLPSine(Recipe):
    """Universal approximation: one hidden layer of sigmoids fits sin on [-π, π] (notes §2.2.1, Theorem 2.2.1)."""

    name = "mlp-sine"
    summary = "Universal approximation: one hidden layer of sigmoids fits sin(x) on [-pi, pi] (MSE)"
    section = "2.2.1"
    Config = MLPSineConfig
    smoke_settings = ("trainer.max_epochs=1", "data.n_train=32", "data.n_test=33")

    def build(self, cfg: MLPSineConfig):
        from ._common import sine_splits

        d = cfg.data
        data = sine_splits(n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, noise=d.noise, seed=d.seed)
        model = get_model("mlp", in_features=1, hidden=[cfg.model.hidden], num_outputs=1,
                          activation=cfg.model.activation, output="linear")
        return RegressionTask(model, optimizer=cfg.optim), data

    def export_info(self, cfg, data):
        return {"class_names": [], "preprocessing": {"input_shape": [1], "value_range": [-3.141593, 3.141593]}}

    def extra_metrics(self, cfg: MLPSineConfig, task, data):
        """The constant predictor's test MSE (the mean of the training targets), and how many times lower the network's is."""
        mean = data.train.tensors[1].mean()
        baseline = float(((data.test.tensors[1] - mean) ** 2).mean())
        with torch.no_grad():
            x = data.test.tensors[0].to(module_device(task.model))
            mse = float(((task.model.eval()(x).cpu() - data.test.tensors[1]) ** 2).mean())
        return {"baseline/mse_constant": baseline, "mse_ratio_constant_to_network": baseline / mse}, [
            f"the best constant prediction (the training targets' mean, {float(mean):.3f}) has test MSE {baseline:.4f}; "
            f"the network's is {baseline / mse:.0f} times lower"]

    def figures(self, result: RunResult) -> None:
        from ...report.plots import figure, save_figure

        model, data = result.task.model, result.data
        model.eval()
        x = data.test.tensors[0]
        xd = x.to(module_device(model))
        with torch.no_grad():
            y = model(xd).squeeze(1).cpu()
            hidden = model.features[0](xd)  # [N, H] sigmoid units
            parts = (hidden * model.classifier.weight[0]).cpu()  # each unit's contribution v_j σ(w_j x + b_j)
        xs = x.squeeze(1).numpy()
        fig = figure(figsize=(9, 3.4))
        ax = fig.add_subplot(1, 2, 1)
        tx, tt = data.train.tensors
        ax.plot(tx.squeeze(1).numpy(), tt.squeeze(1).numpy(), ".", ms=3, color="0.6", label="training points")
        ax.plot(xs, data.test.tensors[1].squeeze(1).numpy(), "k-", lw=1, label="sin(x)")
        ax.plot(xs, y.numpy(), "r--", lw=1.5, label="network")
        ax.set_title(f"test MSE {result.metrics.get('test/mse', float('nan')):.2e}", fontsize=9)
        ax.legend(fontsize=8)
        ax2 = fig.add_subplot(1, 2, 2)
        for j in range(parts.shape[1]):
            ax2.plot(xs, parts[:, j].numpy(), lw=0.8)
        ax2.set_title("contributions of the hidden sigmoids", fontsize=9)
        save_figure(fig, result.run_dir, "sine_fit",
                    "Left: the network's fit of sin(x) on [-π, π]. Right: each hidden unit's weighted sigmoid; "
                    "their sum (plus the output bias) is the fit, as Theorem 2.2.1 describes.")


# ---------------------------------------------------------------- mlp-digits
@dataclass
class DigitsData:
    val_fraction: float = 0.1  # stratified hold-out for validation (early stopping watches it)
    test_fraction: float = 0.2  # stratified hold-out for testing
    seed: int = 0  # seed of the split


@dataclass
class MLPModel:
    hidden: list[int] = field(default_factory=lambda: [256, 256])  # widths of the hidden layers
    activation: str = "relu"  # hidden activation (Table 2.1)
    dropout: float = 0.3  # dropout after every hidden activation (0: none)
    dropout_mode: str = "inverted"  # "inverted" or the notes' "weight_scaling"
    batch_norm: bool = False  # batch normalisation before the activations
    init: str | None = "he"  # zero, small, large, xavier, glorot, he, or None (PyTorch's default)


@dataclass
class MLPDigitsConfig(RunSettings):
    data: DigitsData = field(default_factory=DigitsData)
    model: MLPModel = field(default_factory=MLPModel)
    # decoupled weight decay (Loshchilov & Hutter); use name=adam/sgd for the coupled penalty form
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adamw", lr=1e-3, weight_decay=1e-2))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=200, batch_size=32))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=10))
    early_stopping: EarlyStoppingConfig = field(default_factory=lambda: EarlyStoppingConfig(enabled=True, patience=20))


def _mlp(cfg_model: MLPModel, in_features: int, num_outputs: int):
    m = cfg_model
    return get_model("mlp", in_features=in_features, hidden=list(m.hidden), num_outputs=num_outputs,
                     activation=m.activation, output="softmax", dropout=m.dropout, dropout_mode=m.dropout_mode,
                     batch_norm=m.batch_norm, init=m.init)


@register_recipe
class MLPDigits(Recipe):
    """An MLP on the embedded 8×8 digits with early stopping, dropout and weight decay (notes §2.1, §2.5)."""

    name = "mlp-digits"
    summary = "MLP on the embedded 8x8 digits with early stopping, dropout and weight decay"
    section = "2.1, 2.5.2, 2.5.3, 2.5.4"
    Config = MLPDigitsConfig
    smoke_settings = ("trainer.max_epochs=1", "model.hidden=[16]")

    def build(self, cfg: MLPDigitsConfig):
        d = cfg.data
        data = get_dataset("digits", val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
        model = _mlp(cfg.model, 64, data.info.num_classes)
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim), data


# ---------------------------------------------------------------- mlp-mnist
@dataclass
class MNISTData:
    root: str | None = None  # folder with the IDX files (default: $AN2DL_DATA_DIR/mnist, cache, download)
    val_fraction: float = 1 / 12  # 5,000 of the 60,000 training images
    limit_train: int | None = None  # use only the first n training images
    seed: int = 0  # seed of the validation split


@dataclass
class MLPMNISTConfig(RunSettings):
    data: MNISTData = field(default_factory=MNISTData)
    model: MLPModel = field(default_factory=lambda: MLPModel(hidden=[1024, 1024], dropout=0.3))
    optim: OptimizerSpec = field(
        default_factory=lambda: OptimizerSpec("adamw", lr=1e-3, weight_decay=1e-2, schedule=ScheduleSpec("cosine"))
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=128))
    # the validation loss of a confident classifier rises while its accuracy still improves: watch the accuracy
    early_stopping: EarlyStoppingConfig = field(
        default_factory=lambda: EarlyStoppingConfig(enabled=True, monitor="val/accuracy", mode="max", patience=5)
    )


@register_recipe
class MLPMNIST(Recipe):
    """An MLP on real MNIST, 28×28 images flattened to 784 inputs (notes §2.1, §2.5)."""

    name = "mlp-mnist"
    summary = "MLP on real MNIST (needs the IDX files: AN2DL_DATA_DIR, --set data.root=..., or a download)"
    section = "2.1, 2.5.2, 2.5.3, 2.5.4"
    Config = MLPMNISTConfig
    smoke_settings = ("trainer.max_epochs=1", "data.limit_train=500", "data.val_fraction=0.01", "model.hidden=[16]")

    def build(self, cfg: MLPMNISTConfig):
        d = cfg.data
        data = get_dataset("mnist", root=d.root, val_fraction=d.val_fraction, limit_train=d.limit_train, seed=d.seed)
        return ClassificationTask(_mlp(cfg.model, 28 * 28, 10), num_classes=10, optimizer=cfg.optim), data
