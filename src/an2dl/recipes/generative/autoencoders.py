"""Autoencoder recipes on MNIST (notes §3.6) and the settings the other autoencoder recipes share.

* ``ae-mnist`` / ``conv-ae-mnist`` — a dense / convolutional autoencoder
  trained on the notes' reconstruction loss (optionally with a regulariser
  ``λ·R``); the report shows reconstructions, the reconstruction error next to
  that of the best constant answer (the training images' mean image,
  ``reference/l2_mean_image``), the statistics of the code (what a sparsity
  regulariser changes) and the accuracy of a held-out classifier on the
  reconstructions.

The pre-training recipe (§3.6.1) is in :mod:`.pretrain`, the latent-size
recipes (§3.6, §3.6.2) in :mod:`.latent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..._utils.progress import activity
from ...engine.optim import OptimizerSpec
from ...models import get_model
from ...nn.device import module_device
from ..base import RunResult, input_preprocessing, register_recipe
from ..config import RunSettings, TrainerConfig
from ._common import (
    JudgeConfig,
    MNISTImages,
    TimedRecipe,
    load_judge,
    load_mnist,
    reconstruction_rows,
    update_results,
)

__all__ = [
    "DenseAEModel",
    "ConvAEModel",
    "AEObjective",
    "AEMNISTConfig",
    "ConvAEMNISTConfig",
    "AutoencoderMNIST",
    "ConvAutoencoderMNIST",
    "adam",
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


def adam(lr: float = 1e-3) -> OptimizerSpec:
    """Adam with learning rate ``lr``: the autoencoder recipes' optimiser."""
    return OptimizerSpec("adam", lr=lr)


# ------------------------------------------------------------------------------------ ae-mnist, conv-ae
@dataclass
class AEMNISTConfig(RunSettings):
    data: MNISTImages = field(default_factory=MNISTImages)
    model: DenseAEModel = field(default_factory=DenseAEModel)
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=10, batch_size=128))
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
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "model.hidden=[32]",
                      "judge.limit_train=600", "judge.epochs=1", "judge.n_samples=100")

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
        # the best image that ignores its input: the training images' mean, whose error any autoencoder must beat
        mean_image = data.train.tensors[0].mean(0)
        metrics["reference/l2_mean_image"] = float((x - mean_image).flatten(1).norm(dim=1).mean())
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
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "model.channels=[4,8]",
                      "judge.limit_train=600", "judge.epochs=1", "judge.n_samples=100")
