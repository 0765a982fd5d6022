"""Autoencoder recipes on MNIST (notes §3.6, §3.6.1, §3.6.2).

* ``ae-mnist`` / ``conv-ae-mnist`` — a dense / convolutional autoencoder
  trained on the notes' reconstruction loss (optionally with a regulariser
  ``λ·R``); the report shows reconstructions, the reconstruction error and the
  accuracy of a held-out classifier on the reconstructions.
* ``ae-pretrain-mnist`` — §3.6.1: pre-train on the unlabelled training
  images, drop the decoder, add a fully-connected classifier and fine-tune on
  a few labels per class; compared with the same network from random
  initialisation (and with the encoder frozen).
* ``ae-latent-sweep-mnist`` — reconstruction error against the latent dimension.
* ``ae-generative-mnist`` — §3.6.2: decode codes drawn from a Gaussian
  fitted to the training codes and measure how sample quality falls as the
  latent dimension grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.progress import activity
from ..._utils.rng import derive_seed, seed_everything
from ...data.core import ArrayDataset
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...tasks.generative import AutoencoderTask, VAETask
from .._variants import export_variant, note_unused_trainer_settings
from ..base import (
    Recipe,
    RunResult,
    finish_report,
    input_preprocessing,
    register_recipe,
    write_results,
    write_run_config,
)
from ..config import CheckpointConfig, ClipConfig, EarlyStoppingConfig, TrainerConfig
from ._common import (
    PLAIN_TRAINER_SETTINGS,
    JudgeConfig,
    MNISTImages,
    Stopwatch,
    TimedRecipe,
    draw_samples,
    load_judge,
    load_mnist,
    plain_trainer,
    plot_series,
    reconstruction_rows,
    update_results,
)

__all__ = [
    "DenseAEModel",
    "ConvAEModel",
    "AEObjective",
    "AutoencoderMNIST",
    "ConvAutoencoderMNIST",
    "AutoencoderPretrainMNIST",
    "LatentSweepMNIST",
    "GenerativeAutoencoderMNIST",
]


# ------------------------------------------------------------------------------------------ settings
@dataclass
class DenseAEModel:
    """``dense_autoencoder`` settings."""

    hidden: list[int] = field(default_factory=lambda: [512, 256])  # encoder hidden widths; the decoder mirrors them
    latent_dim: int = 32  # size of the code z = E(s)
    activation: str = "relu"  # hidden activation: relu, leaky_relu, tanh, sigmoid, elu
    code_activation: str = "none"  # none (linear code), sigmoid (needed by the KL sparsity), tanh, relu

    def build(self, latent_dim: int | None = None):
        return get_model("dense_autoencoder", hidden=list(self.hidden), activation=self.activation,
                         latent_dim=self.latent_dim if latent_dim is None else latent_dim,
                         code_activation=self.code_activation)


@dataclass
class ConvAEModel:
    """``conv_autoencoder`` settings."""

    channels: list[int] = field(default_factory=lambda: [32, 64])  # stride-2 convolution widths; 28 must be a multiple of 2**len
    latent_dim: int = 16  # size of the code z = E(s)
    activation: str = "relu"  # hidden activation
    code_activation: str = "none"  # none, sigmoid, tanh, relu

    def build(self, latent_dim: int | None = None):
        return get_model("conv_autoencoder", channels=list(self.channels), activation=self.activation,
                         latent_dim=self.latent_dim if latent_dim is None else latent_dim,
                         code_activation=self.code_activation)


@dataclass
class AEObjective:
    """The loss ``Σ_s ‖s − D(E(s))‖₂ + λ·R(s)`` of §3.6."""

    loss: str = "l2"  # l2 (the notes' sum of L2 norms, per image), mse or bce
    regularizer: str = "none"  # R: none, l1 (code sparsity), kl (sparsity of a sigmoid code), tv (total variation)
    reg_weight: float = 0.0  # λ
    sparsity_target: float = 0.05  # ρ of the KL sparsity

    def task(self, model, optim: OptimizerSpec):
        from ...tasks.generative import AutoencoderTask

        reg = None if self.regularizer == "none" else self.regularizer
        return AutoencoderTask(model, loss=self.loss, regularizer=reg, reg_weight=self.reg_weight,
                               sparsity_target=self.sparsity_target, optimizer=optim)


def _adam(lr: float = 1e-3) -> OptimizerSpec:
    return OptimizerSpec("adam", lr=lr)


# ------------------------------------------------------------------------------------ ae-mnist, conv-ae
@dataclass
class AEMNISTConfig:
    data: MNISTImages = field(default_factory=MNISTImages)
    model: DenseAEModel = field(default_factory=DenseAEModel)
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=_adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=10, batch_size=128))
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@dataclass
class ConvAEMNISTConfig(AEMNISTConfig):
    model: ConvAEModel = field(default_factory=ConvAEModel)  # type: ignore[assignment]
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=5, batch_size=128))


@register_recipe
class AutoencoderMNIST(TimedRecipe):
    """Dense autoencoder on MNIST with the notes' reconstruction loss (and an optional regulariser)."""

    name = "ae-mnist"
    summary = "dense autoencoder on MNIST: reconstruction loss sum ||s - D(E(s))||, optional L1/KL/TV regulariser"
    section = "3.6"
    Config = AEMNISTConfig

    def build(self, cfg):
        data = load_mnist(cfg.data)
        return cfg.ae.task(cfg.model.build(), cfg.optim), data

    def export_info(self, cfg, data) -> dict[str, Any]:
        return {"class_names": [], "preprocessing": input_preprocessing(data.info)}

    def figures(self, result: RunResult) -> None:
        from ...evaluation.generative import reconstruction_error, save_image_grid
        from ...losses.generative import total_variation

        cfg, data, task = result.config, result.data, result.task
        model = task.model
        x, y = data.test.tensors
        progress = result.trainer.progress if result.trainer is not None else None
        judge = load_judge(cfg.judge, cfg.data, progress=progress)
        with activity(f"scoring the reconstructions of {len(x):,} test digits with the judge", enable=progress):
            rec = reconstruction_error(model, x, labels=y, judge=judge)
        metrics = {f"test/recon_{k}" if not k.startswith("judge") else f"test/{k}": v for k, v in rec.items()}
        model.eval()
        dev = module_device(model)
        with torch.no_grad():
            codes = torch.cat([model.encode(b.to(dev)).cpu() for b in x.split(1000)])
            recon = torch.cat([model(b.to(dev)).cpu() for b in x[:1000].split(500)])
        metrics["test/code_l1"] = float(codes.abs().sum(1).mean())
        metrics["test/code_mean_activation"] = float(codes.mean())
        metrics["test/code_near_zero_fraction"] = float((codes.abs() < 1e-2).float().mean())
        metrics["test/total_variation_recon"] = float(total_variation(recon))
        metrics["test/total_variation_input"] = float(total_variation(x[:1000]))
        metrics["judge/test_accuracy"] = judge.judge_info["test_accuracy"]
        result.metrics.update(metrics)
        update_results(result.run_dir, metrics)
        save_image_grid(reconstruction_rows(model, x[:16]), result.run_dir, "reconstructions",
                        "Test digits (top row) and their reconstructions D(E(s)) (bottom row)", nrow=16)


@register_recipe
class ConvAutoencoderMNIST(AutoencoderMNIST):
    """Convolutional autoencoder with a transpose-convolution decoder on MNIST."""

    name = "conv-ae-mnist"
    summary = "convolutional autoencoder (stride-2 convolutions, transpose-convolution decoder) on MNIST"
    section = "3.6"
    Config = ConvAEMNISTConfig


# ------------------------------------------------------------------------------------------ helpers
def _train_autoencoder(model, objective: AEObjective, optim: OptimizerSpec, images: torch.Tensor, tc: TrainerConfig,
                       *, progress: bool | None, seed: int):
    seed_everything(seed)
    task = objective.task(model, optim)
    plain_trainer(tc, progress=progress, seed=seed).fit(task, ArrayDataset(images))
    return model.eval()


#: why :func:`plain_trainer`'s recipes do not use some trainer settings
_PLAIN_WHY = "its models train one after the other in this process, without validation"


def _image_preprocessing(data) -> dict[str, Any]:
    """``model.json``'s preprocessing of a model of MNIST images (as :meth:`AutoencoderMNIST.export_info`)."""
    return input_preprocessing(data.info)


def _check_dims(name: str, dims: list[int]) -> list[int]:
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dims):
        raise ConfigError(f"{name} must be a non-empty list of positive integers; got {dims!r}")
    return list(dims)


# --------------------------------------------------------------------------------- ae-pretrain-mnist
@dataclass
class FinetuneConfig:
    """The supervised stage of §3.6.1 on a few labelled images."""

    labels_per_class: list[int] = field(default_factory=lambda: [50])  # labelled images per class (balanced subsets)
    repeats: int = 3  # labelled subsets drawn per size, each with its own seed
    epochs: int = 100  # fine-tuning epochs over the labelled subset
    batch_size: int = 50  # fine-tuning mini-batch
    lr: float = 1e-3  # Adam learning rate when the whole network is trained
    head_lr: float = 1e-2  # Adam learning rate of the classifier alone (frozen encoder)
    variants: list[str] = field(default_factory=lambda: ["random", "pretrained-frozen", "pretrained-finetuned"])


@dataclass
class AEPretrainConfig:
    data: MNISTImages = field(default_factory=MNISTImages)
    model: DenseAEModel = field(default_factory=lambda: DenseAEModel(latent_dim=64))
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=_adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=5, batch_size=128))
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


_VARIANTS = ("random", "pretrained-frozen", "pretrained-finetuned")


def balanced_subset(labels: torch.Tensor, per_class: int, *, seed: int) -> torch.Tensor:
    """Indices of ``per_class`` random samples of every class in ``labels`` (sorted)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise ConfigError(f"class {c} has only {len(idx)} samples; labels_per_class={per_class} is too many")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.sort(torch.cat(out)).values


@register_recipe
class AutoencoderPretrainMNIST(Recipe):
    """§3.6.1: autoencoder pre-training on unlabelled MNIST, then a classifier fine-tuned on few labels."""

    name = "ae-pretrain-mnist"
    summary = "autoencoder as initialisation: pre-train on unlabelled MNIST, fine-tune on 50 labels per class vs random init"
    section = "3.6.1"
    Config = AEPretrainConfig

    def models(self, cfg: AEPretrainConfig) -> list[str]:
        """``autoencoder`` (the pre-trained one) and ``<variant>-n<labels per class>-r<repeat>`` for every classifier."""
        ft = cfg.finetune
        return ["autoencoder"] + [f"{v}-n{n}-r{r}" for n in ft.labels_per_class for r in range(ft.repeats)
                                  for v in ft.variants]

    def build_model(self, cfg: AEPretrainConfig, name: str | None):
        """The autoencoder on the MNIST splits, or a classifier whose training split is its labelled subset."""
        from ...models.generative.autoencoder import classifier_from_autoencoder
        from ...tasks import ClassificationTask

        data = load_mnist(cfg.data)
        if name == "autoencoder":
            return cfg.ae.task(cfg.model.build(), cfg.optim), data
        _, n, r = str(name).rsplit("-", 2)
        x_train, y_train = data.train.tensors[:2]
        idx = balanced_subset(y_train, int(n[1:]), seed=derive_seed(cfg.trainer.seed, "labels", int(n[1:]), int(r[1:])))
        data.train = ArrayDataset(x_train[idx], y_train[idx])
        model = classifier_from_autoencoder(cfg.model.build(), num_classes=10, pretrained=False)
        return ClassificationTask(model, num_classes=10), data

    def run(self, cfg: AEPretrainConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...evaluation.generative import reconstruction_error
        from ...models.generative.autoencoder import classifier_from_autoencoder
        from ...tasks import ClassificationTask

        ft = cfg.finetune
        for v in ft.variants:
            if v not in _VARIANTS:
                raise ConfigError(f"finetune.variants must be drawn from {_VARIANTS}; got {v!r}")
        _check_dims("finetune.labels_per_class", ft.labels_per_class)
        if ft.repeats < 1:
            raise ConfigError(f"finetune.repeats must be >= 1; got {ft.repeats}")
        unused = note_unused_trainer_settings(self.name, cfg, PLAIN_TRAINER_SETTINGS, _PLAIN_WHY)
        watch = Stopwatch()
        write_run_config(run_dir, self.name, cfg)
        seed = cfg.trainer.seed
        data = load_mnist(cfg.data)
        x_train, y_train = data.train.tensors
        x_test = data.test.tensors[0]
        # 1. unsupervised: the autoencoder sees the training images, never their labels
        ae = _train_autoencoder(cfg.model.build(), cfg.ae, cfg.optim, x_train, cfg.trainer, progress=progress, seed=seed)
        pretrain_s = watch.seconds()
        export_variant(run_dir, "autoencoder", ae, AutoencoderTask, preprocessing=_image_preprocessing(data))
        metrics: dict[str, Any] = {f"test/recon_{k}": v for k, v in reconstruction_error(ae, x_test).items()}
        runs: list[dict[str, Any]] = []
        for n in ft.labels_per_class:
            for r in range(ft.repeats):
                idx = balanced_subset(y_train, n, seed=derive_seed(seed, "labels", n, r))
                labelled = ArrayDataset(x_train[idx], y_train[idx])
                for variant in ft.variants:
                    # 2.-4. drop the decoder, add a fully-connected layer on the code, fine-tune on the labels
                    seed_everything(derive_seed(seed, "head", n, r))  # the same head initialisation for every variant
                    model = classifier_from_autoencoder(ae, num_classes=10, pretrained=variant != "random")
                    frozen = variant == "pretrained-frozen"
                    spec = OptimizerSpec("adam", lr=ft.head_lr if frozen else ft.lr,
                                         params="model.classifier" if frozen else None)
                    task = ClassificationTask(model, num_classes=10, optimizer=spec)
                    trainer = plain_trainer(cfg.trainer, progress=progress, max_epochs=ft.epochs, batch_size=ft.batch_size,
                                            seed=derive_seed(seed, "finetune", n, r))
                    trainer.fit(task, labelled)
                    export_variant(run_dir, f"{variant}-n{n}-r{r}", model, task,
                                   class_names=[str(c) for c in range(10)], preprocessing=_image_preprocessing(data))
                    acc = trainer.evaluate(task, data.test)["test/accuracy"]
                    runs.append({"labels_per_class": n, "repeat": r, "variant": variant, "test_accuracy": acc})
        summary: dict[str, dict[int, tuple[float, float]]] = {}
        for variant in ft.variants:
            for n in ft.labels_per_class:
                accs = torch.tensor([e["test_accuracy"] for e in runs if e["variant"] == variant and e["labels_per_class"] == n])
                mean, std = float(accs.mean()), float(accs.std()) if len(accs) > 1 else 0.0
                summary.setdefault(variant, {})[n] = (mean, std)
                metrics[f"test/accuracy_{variant}_{n}"] = mean
                metrics[f"test/accuracy_{variant}_{n}_std"] = std
        metrics["wall_seconds"] = watch.seconds()
        write_results(run_dir, metrics, runs=runs, pretrain_seconds=pretrain_s, compared=list(ft.variants),
                      notes=[f"{n} labels per class: " + ", ".join(
                          f"{v} {summary[v][n][0]:.4f} ± {summary[v][n][1]:.4f}" for v in ft.variants)
                          for n in ft.labels_per_class] + unused)
        self._plot(run_dir, ft, summary)
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg, extra={"runs": runs})

    @staticmethod
    def _plot(run_dir: Path, ft: FinetuneConfig, summary: dict[str, dict[int, tuple[float, float]]]) -> None:
        from ...report.plots import figure, save_figure

        fig = figure(figsize=(5.5, 3.6))
        ax = fig.add_subplot(1, 1, 1)
        ns = list(ft.labels_per_class)
        width = 0.8 / len(ft.variants)
        for i, v in enumerate(ft.variants):
            means = [summary[v][n][0] for n in ns]
            stds = [summary[v][n][1] for n in ns]
            ax.bar([k + (i - (len(ft.variants) - 1) / 2) * width for k in range(len(ns))], means, width, yerr=stds,
                   capsize=3, label=v)
        ax.set_xticks(range(len(ns)), [f"{n} labels/class" for n in ns])
        lo = min(summary[v][n][0] for v in ft.variants for n in ns)
        ax.set_ylim(max(0.0, lo - 0.1), 1.0)
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        save_figure(fig, run_dir, "pretrain_vs_random",
                    f"Test accuracy after fine-tuning on a few labels (mean ± std over {ft.repeats} labelled subsets): "
                    "random initialisation vs the autoencoder's encoder, frozen or fine-tuned")


# ----------------------------------------------------------------------------- ae-latent-sweep-mnist
@dataclass
class LatentSweepConfig:
    data: MNISTImages = field(default_factory=MNISTImages)
    latent_dims: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64, 128])  # code sizes compared
    model: DenseAEModel = field(default_factory=DenseAEModel)  # its latent_dim is replaced by each of latent_dims
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=_adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=3, batch_size=128))
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@register_recipe
class LatentSweepMNIST(Recipe):
    """Reconstruction error of dense autoencoders against the size of their code (§3.6)."""

    name = "ae-latent-sweep-mnist"
    summary = "reconstruction error vs latent dimension of dense autoencoders on MNIST"
    section = "3.6"
    Config = LatentSweepConfig

    def models(self, cfg: LatentSweepConfig) -> list[str]:
        """``d<latent dimension>`` for every autoencoder of the sweep."""
        return [f"d{d}" for d in cfg.latent_dims]

    def build_model(self, cfg: LatentSweepConfig, name: str | None):
        return cfg.ae.task(cfg.model.build(latent_dim=int(str(name)[1:])), cfg.optim), load_mnist(cfg.data)

    def run(self, cfg: LatentSweepConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...evaluation.generative import reconstruction_error, save_image_grid

        dims = _check_dims("latent_dims", cfg.latent_dims)
        unused = note_unused_trainer_settings(self.name, cfg, PLAIN_TRAINER_SETTINGS, _PLAIN_WHY)
        watch = Stopwatch()
        write_run_config(run_dir, self.name, cfg)
        data = load_mnist(cfg.data)
        judge = load_judge(cfg.judge, cfg.data, progress=progress)
        x_test, y_test = data.test.tensors
        metrics: dict[str, Any] = {}
        curves: dict[str, list[float]] = {"l2": [], "mse": [], "judge_accuracy": []}
        rows = [x_test[:12]]
        for d in dims:
            ae = _train_autoencoder(cfg.model.build(latent_dim=d), cfg.ae, cfg.optim, data.train.tensors[0], cfg.trainer,
                                    progress=progress, seed=cfg.trainer.seed)
            export_variant(run_dir, f"d{d}", ae, AutoencoderTask, preprocessing=_image_preprocessing(data))
            with activity(f"scoring the reconstructions of {len(x_test):,} test digits (latent dimension {d}) "
                          "with the judge", enable=progress):
                rec = reconstruction_error(ae, x_test, labels=y_test, judge=judge)
            for k in curves:
                curves[k].append(rec[k])
                metrics[f"test/{k}_d{d}"] = rec[k]
            with torch.no_grad():
                rows.append(ae(x_test[:12].to(module_device(ae))).cpu())
        metrics["test/judge_accuracy_original"] = rec["judge_accuracy_original"]
        metrics["wall_seconds"] = watch.seconds()
        write_results(run_dir, metrics, latent_dims=dims, curves=curves, notes=unused, compared=[f"d{d}" for d in dims])
        plot_series(run_dir, "recon_vs_latent", "Mean per-image reconstruction error ‖s − D(E(s))‖₂ on the test set "
                    "against the latent dimension", dims, {"L2 norm per image": curves["l2"]},
                    xlabel="latent dimension", ylabel="‖s − D(E(s))‖₂", logx=True)
        plot_series(run_dir, "mse_vs_latent", "Mean squared error per pixel against the latent dimension", dims,
                    {"MSE": curves["mse"]}, xlabel="latent dimension", ylabel="MSE", logx=True, logy=True)
        plot_series(run_dir, "judge_vs_latent", "Accuracy of the held-out classifier on the reconstructions "
                    f"(on the originals: {rec['judge_accuracy_original']:.4f})", dims,
                    {"reconstructions": curves["judge_accuracy"]}, xlabel="latent dimension", ylabel="accuracy", logx=True)
        save_image_grid(torch.cat(rows), run_dir, "reconstructions_by_latent",
                        "Top row: test digits; then their reconstructions with latent dimension "
                        + ", ".join(str(d) for d in dims) + " (one row each)", nrow=12)
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg, extra={"curves": curves})


# ------------------------------------------------------------------------------- ae-generative-mnist
@dataclass
class GenerativeAEConfig:
    data: MNISTImages = field(default_factory=MNISTImages)
    latent_dims: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64, 128])  # code sizes compared
    covariances: list[str] = field(default_factory=lambda: ["full", "diagonal"])  # Gaussians fitted to the codes
    fit_images: int = 20000  # training images whose codes fit the Gaussian
    vae: bool = False  # also train a dense VAE of each latent size and sample its prior (the notes' remedy)
    model: DenseAEModel = field(default_factory=DenseAEModel)  # its latent_dim is replaced by each of latent_dims
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=_adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=3, batch_size=128))
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@register_recipe
class GenerativeAutoencoderMNIST(Recipe):
    """§3.6.2: decode codes sampled from a Gaussian fitted to the training codes, for growing latent sizes."""

    name = "ae-generative-mnist"
    summary = "generative autoencoder: sample z from a Gaussian fitted to the codes; quality vs latent dimension"
    section = "3.6.2"
    Config = GenerativeAEConfig

    def models(self, cfg: GenerativeAEConfig) -> list[str]:
        """``ae-d<latent dimension>`` for every autoencoder, and ``vae-d<latent dimension>`` with ``vae=true``."""
        return [f"{kind}-d{d}" for d in cfg.latent_dims for kind in (("ae", "vae") if cfg.vae else ("ae",))]

    def _vae_task(self, cfg: GenerativeAEConfig, d: int) -> VAETask:
        return VAETask(get_model("dense_vae", hidden=list(cfg.model.hidden), latent_dim=d), optimizer=cfg.optim)

    def build_model(self, cfg: GenerativeAEConfig, name: str | None):
        kind, d = str(name).split("-d")
        if kind == "vae":
            return self._vae_task(cfg, int(d)), load_mnist(cfg.data)
        return cfg.ae.task(cfg.model.build(latent_dim=int(d)), cfg.optim), load_mnist(cfg.data)

    def run(self, cfg: GenerativeAEConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...evaluation.generative import (
            extract_features,
            frechet_distance,
            gaussian_statistics,
            judge_scores,
            save_image_grid,
        )
        from ...models.generative.autoencoder import LatentGaussian

        dims = _check_dims("latent_dims", cfg.latent_dims)
        for c in cfg.covariances:
            if c not in ("full", "diagonal"):
                raise ConfigError(f"covariances must be drawn from ['full', 'diagonal']; got {c!r}")
        if cfg.fit_images < 2:
            raise ConfigError(f"fit_images must be >= 2; got {cfg.fit_images}")
        unused = note_unused_trainer_settings(self.name, cfg, PLAIN_TRAINER_SETTINGS, _PLAIN_WHY)
        watch = Stopwatch()
        write_run_config(run_dir, self.name, cfg)
        data = load_mnist(cfg.data)
        judge = load_judge(cfg.judge, cfg.data, progress=progress)
        x_train = data.train.tensors[0]
        x_test = data.test.tensors[0]
        reference = gaussian_statistics(extract_features(judge, x_test, progress=progress, what="test digits"))
        n = cfg.judge.n_samples

        def fd(images: torch.Tensor) -> float:
            return frechet_distance(*gaussian_statistics(extract_features(judge, images)), *reference)

        metrics: dict[str, Any] = {}
        fd_curves: dict[str, list[float]] = {"reconstructions": [], **{f"samples, {c} Gaussian": [] for c in cfg.covariances}}
        conf_curves: dict[str, list[float]] = {f"samples, {c} Gaussian": [] for c in cfg.covariances}
        if cfg.vae:
            fd_curves["VAE prior samples"] = []
            conf_curves["VAE prior samples"] = []
        grids: dict[str, list[torch.Tensor]] = {c: [] for c in cfg.covariances}
        for d in dims:
            ae = _train_autoencoder(cfg.model.build(latent_dim=d), cfg.ae, cfg.optim, x_train, cfg.trainer,
                                    progress=progress, seed=cfg.trainer.seed)
            export_variant(run_dir, f"ae-d{d}", ae, AutoencoderTask, preprocessing=_image_preprocessing(data))
            dev = module_device(ae)
            with torch.no_grad():
                recon = torch.cat([ae(b.to(dev)).cpu() for b in x_test[:n].split(1000)])
                codes = torch.cat([ae.encode(b.to(dev)).cpu() for b in x_train[: cfg.fit_images].split(1000)])
            fd_rec = fd(recon)
            fd_curves["reconstructions"].append(fd_rec)
            metrics[f"test/frechet_recon_d{d}"] = fd_rec
            for c in cfg.covariances:
                gauss = LatentGaussian(latent_dim=d, covariance=c).fit(codes)
                g = torch.Generator().manual_seed(derive_seed(cfg.trainer.seed, "codes", d))
                with torch.no_grad():
                    samples = torch.cat([ae.decode(z.to(dev)).cpu() for z in gauss.sample(n, generator=g).split(1000)])
                scores = judge_scores(judge, samples)
                value = fd(samples)
                fd_curves[f"samples, {c} Gaussian"].append(value)
                conf_curves[f"samples, {c} Gaussian"].append(scores["confidence"])
                metrics[f"samples/frechet_{c}_d{d}"] = value
                metrics[f"samples/frechet_gap_{c}_d{d}"] = value - fd_rec
                metrics[f"samples/confidence_{c}_d{d}"] = scores["confidence"]
                metrics[f"samples/classifier_score_{c}_d{d}"] = scores["classifier_score"]
                grids[c].append(samples[:12])
            if cfg.vae:
                seed_everything(cfg.trainer.seed)
                vae_task = self._vae_task(cfg, d)
                vae = vae_task.model
                plain_trainer(cfg.trainer, progress=progress).fit(vae_task, ArrayDataset(x_train))
                vae.eval()
                export_variant(run_dir, f"vae-d{d}", vae, vae_task,
                               preprocessing={**_image_preprocessing(data), "latent_dim": d})
                g = torch.Generator().manual_seed(derive_seed(cfg.trainer.seed, "vae", d))
                samples = draw_samples(vae.sample, n, g)
                value = fd(samples)
                fd_curves["VAE prior samples"].append(value)
                conf_curves["VAE prior samples"].append(judge_scores(judge, samples)["confidence"])
                metrics[f"samples/frechet_vae_d{d}"] = value
        metrics["wall_seconds"] = watch.seconds()
        write_results(run_dir, metrics, latent_dims=dims, frechet=fd_curves, confidence=conf_curves,
                      compared=[f"d{d}" for d in dims],
                      notes=["Fréchet distances use the features of an2dl's MNIST judge CNN, not Inception-v3: "
                             "compare them between an2dl runs only.", *unused])
        plot_series(run_dir, "frechet_vs_latent", "Fréchet distance (judge-CNN features) to the test digits against the "
                    "latent dimension: decoded Gaussian samples vs the decoder's own reconstructions", dims, fd_curves,
                    xlabel="latent dimension", ylabel="Fréchet distance", logx=True)
        plot_series(run_dir, "confidence_vs_latent", "Mean confidence of the held-out classifier on decoded samples "
                    "against the latent dimension", dims, conf_curves, xlabel="latent dimension", ylabel="confidence",
                    logx=True)
        for c, rows in grids.items():
            save_image_grid(torch.cat(rows), run_dir, f"samples_{c}",
                            f"Decoded samples z ~ N(mean, {c} covariance of the codes); one row per latent dimension "
                            + ", ".join(str(d) for d in dims), nrow=12)
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg, extra={"frechet": fd_curves, "confidence": conf_curves})
