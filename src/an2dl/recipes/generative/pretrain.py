"""``ae-pretrain-mnist``: an autoencoder as the initialisation of a classifier (notes §3.6.1).

The notes' procedure, with few labels and many unlabelled images:

1. train an autoencoder on the unlabelled training images ``S``;
2. drop the decoder and keep the encoder's weights;
3. add a fully-connected classification layer on the code;
4. fine-tune on the labelled images ``L`` (the encoder too when ``L`` is large enough).

The claim: the encoder's code is already a good description of the digits, so
the pre-trained classifier beats the same network trained from random
initialisation on the same few labels.  The recipe draws ``repeats`` balanced
labelled subsets of ``labels_per_class`` images per class and trains, on each,
the variants ``random`` (random initialisation), ``pretrained-frozen`` (only
the new layer is trained) and ``pretrained-finetuned`` (everything is trained
from the pre-trained encoder); every variant of a subset starts from the same
head initialisation.  ``results.json`` holds the test accuracy of every
classifier (``runs``) and the mean over the subsets
(``test/accuracy_<variant>_<labels per class>``, with ``_std``).

The autoencoder and every classifier train with the trainer and checkpoints of
their own folder ``variants/<name>``; a resumed run picks up the one that was
running, and the finished ones are only re-evaluated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.rng import derive_seed, seed_everything
from ...data.core import ArrayDataset, DataSplits
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from .._variants import export_variant
from ..base import Recipe, RunResult, finish_report, input_preprocessing, register_recipe, write_results
from ..comparison import fit_variant, write_run_config
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import MNISTImages, Stopwatch, check_dims, load_mnist
from .autoencoders import AEObjective, DenseAEModel, adam

__all__ = ["FinetuneConfig", "AEPretrainConfig", "AutoencoderPretrainMNIST", "balanced_subset", "VARIANTS"]

#: the classifiers compared on every labelled subset
VARIANTS = ("random", "pretrained-frozen", "pretrained-finetuned")


@dataclass
class FinetuneConfig:
    """The supervised stage of §3.6.1 on a few labelled images."""

    labels_per_class: list[int] = field(default_factory=lambda: [50])  # labelled images per class (balanced subsets)
    repeats: int = 3  # labelled subsets drawn per size, each with its own seed
    epochs: int = 100  # fine-tuning epochs over the labelled subset
    batch_size: int = 50  # fine-tuning mini-batch
    lr: float = 1e-3  # Adam learning rate when the whole network is trained
    head_lr: float = 1e-2  # Adam learning rate of the classifier alone (frozen encoder)
    checkpoint_every_n_epochs: int = 25  # a classifier's checkpoints (and always one at its end)
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))


@dataclass
class AEPretrainConfig(RunSettings):
    data: MNISTImages = field(default_factory=MNISTImages)
    model: DenseAEModel = field(default_factory=lambda: DenseAEModel(latent_dim=64))
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=5, batch_size=128))
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


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


def _labelled(cfg: AEPretrainConfig, data: DataSplits, n: int, r: int) -> DataSplits:
    """The splits of classifier ``(n labels per class, repeat r)``: its labelled subset, no validation, the test set."""
    x, y = data.train.tensors[:2]
    idx = balanced_subset(y, n, seed=derive_seed(cfg.trainer.seed, "labels", n, r))
    return DataSplits(ArrayDataset(x[idx], y[idx]), None, data.test, data.info)


def _finetune_settings(cfg: AEPretrainConfig, n: int, r: int) -> AEPretrainConfig:
    """``cfg`` with the trainer and checkpoint settings of the fine-tuning stage."""
    ft = cfg.finetune
    trainer = dataclasses.replace(cfg.trainer, max_epochs=ft.epochs, max_steps=None, batch_size=ft.batch_size,
                                  seed=derive_seed(cfg.trainer.seed, "finetune", n, r) % 2**31,
                                  val_every_n_epochs=None, val_every_n_steps=None)
    checkpoint = CheckpointConfig(every_n_epochs=ft.checkpoint_every_n_epochs, keep_last=1)
    return dataclasses.replace(cfg, trainer=trainer, checkpoint=checkpoint)


@register_recipe
class AutoencoderPretrainMNIST(Recipe):
    """§3.6.1: autoencoder pre-training on unlabelled MNIST, then a classifier fine-tuned on few labels."""

    name = "ae-pretrain-mnist"
    summary = "autoencoder as initialisation: pre-train on unlabelled MNIST, fine-tune on 50 labels per class vs random init"
    section = "3.6.1"
    Config = AEPretrainConfig
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "model.hidden=[32]",
                      "finetune.labels_per_class=[5]", "finetune.repeats=1", "finetune.epochs=1")

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
        if name in (None, "autoencoder"):
            return cfg.ae.task(cfg.model.build(), cfg.optim), data
        _, n, r = str(name).rsplit("-", 2)
        model = classifier_from_autoencoder(cfg.model.build(), num_classes=10, pretrained=False)
        return ClassificationTask(model, num_classes=10), _labelled(cfg, data, int(n[1:]), int(r[1:]))

    def check(self, cfg: AEPretrainConfig) -> None:
        ft = cfg.finetune
        for v in ft.variants:
            if v not in VARIANTS:
                raise ConfigError(f"finetune.variants must be drawn from {VARIANTS}; got {v!r}")
        check_dims("finetune.labels_per_class", ft.labels_per_class)
        for name in ("repeats", "epochs", "batch_size", "checkpoint_every_n_epochs"):
            value = getattr(ft, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"finetune.{name} must be an integer >= 1; got {value!r}")

    def run(self, cfg: AEPretrainConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...evaluation.generative import reconstruction_error
        from ...models.generative.autoencoder import classifier_from_autoencoder
        from ...tasks import ClassificationTask

        self.check(cfg)
        ft = cfg.finetune
        watch = Stopwatch()
        write_run_config(run_dir, self.name, cfg)
        data = load_mnist(cfg.data)
        preprocessing = input_preprocessing(data.info)
        # 1. unsupervised: the autoencoder sees the training images, never their labels
        seed_everything(cfg.trainer.seed)
        unlabelled = DataSplits(ArrayDataset(data.train.tensors[0]), data.val, data.test, data.info)
        pre = fit_variant(self, cfg, run_dir, "autoencoder", cfg.ae.task(cfg.model.build(), cfg.optim), unlabelled,
                          resume=resume, progress=progress, preprocessing=preprocessing)
        ae = pre.task.model.eval()
        pretrain_s = watch.seconds()
        metrics: dict[str, Any] = {f"test/recon_{k}": v for k, v in reconstruction_error(ae, data.test.tensors[0]).items()}
        runs: list[dict[str, Any]] = []
        for n in ft.labels_per_class:
            for r in range(ft.repeats):
                labelled = _labelled(cfg, data, n, r)
                settings = _finetune_settings(cfg, n, r)
                for variant in ft.variants:
                    # 2.-4. drop the decoder, add a fully-connected layer on the code, fine-tune on the labels
                    seed_everything(derive_seed(cfg.trainer.seed, "head", n, r))  # one head initialisation per subset
                    model = classifier_from_autoencoder(ae, num_classes=10, pretrained=variant != "random")
                    frozen = variant == "pretrained-frozen"
                    spec = OptimizerSpec("adam", lr=ft.head_lr if frozen else ft.lr,
                                         params="model.classifier" if frozen else None)
                    task = ClassificationTask(model, num_classes=10, optimizer=spec)
                    name = f"{variant}-n{n}-r{r}"
                    fitted = fit_variant(self, settings, run_dir, name, task, labelled, resume=resume,
                                         progress=progress, export=False)
                    export_variant(run_dir, name, model, task, class_names=[str(c) for c in range(10)],
                                   preprocessing=preprocessing)
                    runs.append({"labels_per_class": n, "repeat": r, "variant": variant,
                                 "test_accuracy": fitted.metrics["test/accuracy"]})
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
                          for n in ft.labels_per_class])
        self._plot(run_dir, ft, summary)
        finish_report(run_dir, device=pre.device)
        return RunResult(self.name, run_dir, metrics, cfg, data=data, extra={"runs": runs})

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
