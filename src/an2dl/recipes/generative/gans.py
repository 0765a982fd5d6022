"""GAN recipes on MNIST (notes §3.7.1): ``gan-mnist`` (MLP), ``dcgan-mnist``, ``wgan-gp-mnist``.

Each trains a generator against a discriminator (or critic) with
:class:`~an2dl.tasks.generative.GANTask` and records, after every epoch, a
grid of samples from the same noise and the Fréchet distance between
generated and real validation digits in the features of an2dl's MNIST judge
CNN (``val/frechet``; not the Inception FID).  At the end the generator is
scored on the test digits (``samples/frechet``, judge confidence, class
coverage) and exported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.progress import activity
from ..._utils.rng import derive_seed, seed_everything
from ...engine.callbacks import Callback
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results
from ..config import RunSettings, TrainerConfig, standard_callbacks
from ._common import (
    JudgeConfig,
    MNISTImages,
    Stopwatch,
    draw_samples,
    load_judge,
    load_mnist,
    plot_series,
)

__all__ = ["MLPGANModels", "DCGANModels", "GANObjective", "GANMonitor", "GANMNIST", "DCGANMNIST", "WGANGPMNIST"]


@dataclass
class MLPGANModels:
    """``mlp_generator`` and ``mlp_discriminator`` settings."""

    latent_dim: int = 64  # size of the noise z ~ N(0, I)
    g_hidden: list[int] = field(default_factory=lambda: [256, 512, 1024])  # generator hidden widths
    g_norm: str = "batch"  # generator normalisation: batch or none
    d_hidden: list[int] = field(default_factory=lambda: [512, 256])  # discriminator hidden widths
    dropout: float = 0.3  # discriminator dropout (the notes: GANs are trained with dropout)

    def build(self):
        g = get_model("mlp_generator", latent_dim=self.latent_dim, hidden=list(self.g_hidden), norm=self.g_norm)
        d = get_model("mlp_discriminator", hidden=list(self.d_hidden), dropout=self.dropout)
        return g, d


@dataclass
class DCGANModels:
    """``dcgan_generator`` and ``dcgan_discriminator`` / ``wgan_critic`` settings."""

    latent_dim: int = 64  # size of the noise z ~ N(0, I)
    g_channels: list[int] = field(default_factory=lambda: [64, 32])  # generator widths from the 7x7 map upwards
    d_channels: list[int] = field(default_factory=lambda: [32, 64])  # discriminator stride-2 convolution widths
    d_norm: str = "batch"  # discriminator normalisation: batch (DCGAN), layer (WGAN-GP critic) or none
    critic: bool = False  # build the discriminator as `wgan_critic` (same layout, read as a score)

    def build(self):
        g = get_model("dcgan_generator", latent_dim=self.latent_dim, channels=list(self.g_channels))
        d = get_model("wgan_critic" if self.critic else "dcgan_discriminator", channels=list(self.d_channels),
                      norm=self.d_norm)
        return g, d


@dataclass
class GANObjective:
    """The adversarial game (see ``GANTask``)."""

    loss: str = "nonsaturating"  # nonsaturating, minimax (the notes' log(1 - D(G(z)))), wgan, wgan-gp
    critic_steps: int = 1  # discriminator steps per generator step
    clip_value: float | None = None  # WGAN weight clipping c (loss=wgan; default 0.01 there)
    gp_weight: float = 10.0  # λ of the gradient penalty (loss=wgan-gp)


@dataclass
class GANMonitor:
    """What is measured during training."""

    frechet_samples: int = 2000  # generated images per Fréchet evaluation (each epoch, fixed noise)
    every_n_epochs: int = 1  # frequency of the Fréchet evaluation and of the sample grid
    grid: int = 64  # images per sample grid


def _adam_dcgan() -> OptimizerSpec:
    return OptimizerSpec("adam", lr=2e-4, betas=(0.5, 0.999))


def _adam_wgan_gp() -> OptimizerSpec:
    return OptimizerSpec("adam", lr=1e-4, betas=(0.0, 0.9))


@dataclass
class GANMNISTConfig(RunSettings):
    data: MNISTImages = field(default_factory=MNISTImages)
    models: MLPGANModels = field(default_factory=MLPGANModels)
    gan: GANObjective = field(default_factory=GANObjective)
    g_optim: OptimizerSpec = field(default_factory=_adam_dcgan)  # generator optimiser (params set to "generator")
    d_optim: OptimizerSpec = field(default_factory=_adam_dcgan)  # discriminator optimiser
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=10, batch_size=64))
    monitor: GANMonitor = field(default_factory=GANMonitor)
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@dataclass
class DCGANMNISTConfig(GANMNISTConfig):
    models: DCGANModels = field(default_factory=DCGANModels)  # type: ignore[assignment]
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=5, batch_size=64))


@dataclass
class WGANGPMNISTConfig(GANMNISTConfig):
    models: DCGANModels = field(default_factory=lambda: DCGANModels(d_norm="layer", critic=True))  # type: ignore[assignment]
    gan: GANObjective = field(default_factory=lambda: GANObjective(loss="wgan-gp", critic_steps=5))
    g_optim: OptimizerSpec = field(default_factory=_adam_wgan_gp)
    d_optim: OptimizerSpec = field(default_factory=_adam_wgan_gp)
    # a generator step every 5 batches: 20 epochs give 3,440 generator steps (the DCGAN recipe: 4,300 in 5 epochs)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=64))


@register_recipe
class GANMNIST(Recipe):
    """Fully-connected GAN on MNIST (Goodfellow et al. 2014) with the non-saturating generator loss."""

    name = "gan-mnist"
    summary = "MLP GAN on MNIST: alternating D/G updates, sample grid and Fréchet distance per epoch"
    section = "3.7.1"
    Config = GANMNISTConfig
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "monitor.frechet_samples=100",
                      "monitor.grid=16", "judge.limit_train=600", "judge.epochs=1", "judge.n_samples=100",
                      "models.g_hidden=[32]", "models.d_hidden=[32]")

    _extra_callbacks: list[Callback] = []

    def build(self, cfg):
        from ...tasks.generative import GANTask

        data = load_mnist(cfg.data)
        g, d = cfg.models.build()
        gan = cfg.gan
        task = GANTask(g, d, loss=gan.loss, critic_steps=gan.critic_steps, clip_value=gan.clip_value,
                       gp_weight=gan.gp_weight, g_optimizer=cfg.g_optim, d_optimizer=cfg.d_optim)
        return task, data

    def callbacks(self, cfg) -> list[Callback]:
        return standard_callbacks(cfg) + list(self._extra_callbacks)

    def run(self, cfg, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...evaluation.generative import (
            FrechetMonitor,
            SampleGrid,
            extract_features,
            frechet_distance,
            gaussian_statistics,
            judge_scores,
            save_image_grid,
        )
        from ...export import export

        mon = cfg.monitor
        if mon.frechet_samples < 2 or mon.every_n_epochs < 1 or mon.grid < 1:
            raise ConfigError(f"monitor needs frechet_samples >= 2, every_n_epochs >= 1 and grid >= 1; got {mon}")
        watch = Stopwatch()
        seed = cfg.trainer.seed
        seed_everything(seed)
        task, data = self.build(cfg)
        judge = load_judge(cfg.judge, cfg.data, progress=progress)
        x_val, x_test = data.val.tensors[0], data.test.tensors[0]
        monitor = FrechetMonitor(judge, x_val, n_samples=mon.frechet_samples, every_n_epochs=mon.every_n_epochs, seed=seed,
                                 progress=progress)
        self._extra_callbacks = [monitor, SampleGrid(n=mon.grid, every_n_epochs=mon.every_n_epochs, seed=seed)]
        trainer = self.make_trainer(cfg, run_dir, progress=progress)
        fit_start = time.perf_counter()
        trainer.fit(task, data.train, data.val, ckpt_path=trainer.checkpoint_dir if resume else None)
        fit_seconds = round(time.perf_counter() - fit_start, 3)
        metrics: dict[str, Any] = {k: v for k, v in trainer.metrics.items() if not k.startswith("time/")}
        metrics.update(trainer.evaluate(task, data.val, split="val"))
        metrics.update(trainer.evaluate(task, data.test, split="test"))
        if not trainer.is_global_zero:
            return RunResult(self.name, run_dir, metrics, cfg, task, data, trainer)
        # final scores on the held-out test digits, from noise never used during training
        n = cfg.judge.n_samples
        g = torch.Generator().manual_seed(derive_seed(seed, "final-samples"))
        task.eval()
        with activity(f"scoring {n:,} samples against the {len(x_test):,} test digits with the judge", enable=progress):
            samples = draw_samples(task.sample, n, g)
            test_feats = extract_features(judge, x_test)
            test_stats = gaussian_statistics(test_feats)
            metrics["samples/frechet"] = frechet_distance(*gaussian_statistics(extract_features(judge, samples)),
                                                          *test_stats)
            metrics["reference/frechet_val_vs_test"] = frechet_distance(*monitor.reference_stats, *test_stats)
            scores = judge_scores(judge, samples)
        metrics.update({f"samples/{k}": v for k, v in scores.items() if not isinstance(v, list)})
        metrics["judge/test_accuracy"] = judge.judge_info["test_accuracy"]
        curve = monitor.curve
        metrics["val/frechet_epoch0"] = curve[0][2]
        if len(curve) > 1:
            metrics["val/frechet_epoch1"] = curve[1][2]
        metrics["wall_seconds"] = watch.seconds()
        write_results(
            run_dir,
            metrics,
            epochs=trainer.epoch,
            steps=trainer.global_step,
            fit_seconds=fit_seconds,
            frechet_curve=[{"epoch": e, "step": s, "frechet": v} for e, s, v in curve],
            class_histogram=scores["class_histogram"],
            notes=["Fréchet distances use the 128 penultimate features of an2dl's MNIST judge CNN, not Inception-v3: "
                   "they compare an2dl runs, not published FIDs.",
                   "Fréchet distance per epoch (0 = untrained): " + ", ".join(f"{e}: {v:.1f}" for e, _, v in curve)],
        )
        plot_series(run_dir, "frechet_curve", "Fréchet distance (judge-CNN features) between generated and real "
                    "validation digits after every epoch (epoch 0: the untrained generator)",
                    [e for e, _, _ in curve], {"val/frechet": [v for _, _, v in curve]}, xlabel="epoch",
                    ylabel="Fréchet distance", logy=True)
        save_image_grid(samples[:100], run_dir, "final_samples", f"100 samples of the final generator; judge confidence "
                        f"{scores['confidence']:.3f}, class histogram {scores['class_histogram']}", nrow=10)
        export(task.generator, run_dir / "model", **task.export_metadata(
            preprocessing={"latent_dim": task.latent_dim, "output_shape": list(task.generator.output_shape),
                           "value_range": [0.0, 1.0]}))
        finish_report(run_dir, device=str(trainer.device), world_size=trainer.world_size)
        return RunResult(self.name, run_dir, metrics, cfg, task, data, trainer, extra={"frechet_curve": curve})


@register_recipe
class DCGANMNIST(GANMNIST):
    """DCGAN on MNIST (Radford et al. 2016)."""

    name = "dcgan-mnist"
    summary = "DCGAN on MNIST: transpose-convolution generator, the Fréchet distance curve per epoch"
    section = "3.7.1"
    Config = DCGANMNISTConfig
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "monitor.frechet_samples=100",
                      "monitor.grid=16", "judge.limit_train=600", "judge.epochs=1", "judge.n_samples=100",
                      "models.g_channels=[8,4]", "models.d_channels=[4,8]")


@register_recipe
class WGANGPMNIST(GANMNIST):
    """WGAN-GP on MNIST (Gulrajani et al. 2017): DCGAN generator, layer-norm critic, 5 critic steps."""

    name = "wgan-gp-mnist"
    summary = "WGAN with gradient penalty on MNIST (set gan.loss=wgan for weight clipping)"
    section = "3.7.1"
    Config = WGANGPMNISTConfig
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "monitor.frechet_samples=100",
                      "monitor.grid=16", "judge.limit_train=600", "judge.epochs=1", "judge.n_samples=100",
                      "models.g_channels=[8,4]", "models.d_channels=[4,8]", "gan.critic_steps=2")
