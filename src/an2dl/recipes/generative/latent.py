"""The size of the code: ``ae-latent-sweep-mnist`` (notes §3.6) and ``ae-generative-mnist`` (§3.6.2).

* ``ae-latent-sweep-mnist`` — "the quality of the reconstruction improves as
  the latent space dimension increases": one dense autoencoder per latent size,
  their test reconstruction error ``‖s − D(E(s))‖₂`` against the size, and the
  accuracy of a held-out classifier on the reconstructions.
* ``ae-generative-mnist`` — the autoencoder as a generator: fit a Gaussian to
  the training codes, sample it and decode.  "As the dimensionality of the
  latent space increases, the likelihood of sampling from under-populated
  regions rises": the recipe measures the Fréchet distance (judge-CNN features,
  :mod:`an2dl.evaluation.generative`) of the decoded samples and of the
  decoder's own reconstructions to the test digits for every latent size;
  the gap between the two is what sampling the fitted Gaussian costs.  With
  ``vae=true`` a VAE of every size is trained too and its prior sampled (the
  notes' remedy).

Both are comparisons: each autoencoder trains in ``variants/<name>`` with its
checkpoints, and a resumed run continues the one that was running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.rng import derive_seed
from ...data.core import DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...tasks.generative import VAETask
from ..base import input_preprocessing, register_recipe
from ..comparison import ComparisonRecipe, Variant
from ..config import RunSettings, TrainerConfig
from ._common import JudgeConfig, MNISTImages, check_dims, draw_samples, load_judge, load_mnist, plot_series
from .autoencoders import AEObjective, DenseAEModel, adam

__all__ = ["LatentSweepConfig", "LatentSweepMNIST", "GenerativeAEConfig", "GenerativeAutoencoderMNIST"]


def _latent(name: str) -> int:
    """The latent size of variant ``d16``, ``ae-d16`` or ``vae-d16``."""
    return int(str(name).rsplit("d", 1)[1])


# ----------------------------------------------------------------------------- ae-latent-sweep-mnist
@dataclass
class LatentSweepConfig(RunSettings):
    data: MNISTImages = field(default_factory=MNISTImages)
    latent_dims: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64, 128])  # code sizes compared
    model: DenseAEModel = field(default_factory=DenseAEModel)  # its latent_dim is replaced by each of latent_dims
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=3, batch_size=128))
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@register_recipe
class LatentSweepMNIST(ComparisonRecipe):
    """Reconstruction error of dense autoencoders against the size of their code (§3.6)."""

    name = "ae-latent-sweep-mnist"
    summary = "reconstruction error vs latent dimension of dense autoencoders on MNIST"
    section = "3.6"
    Config = LatentSweepConfig
    primary_metric = "test/l2"
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "model.hidden=[32]",
                      "latent_dims=[2,8]", "judge.limit_train=600", "judge.epochs=1")

    def check(self, cfg: LatentSweepConfig) -> None:
        check_dims("latent_dims", cfg.latent_dims)

    def variant_names(self, cfg: LatentSweepConfig) -> list[str]:
        """``d<latent dimension>`` for every autoencoder of the sweep."""
        return [f"d{d}" for d in cfg.latent_dims]

    def load_data(self, cfg: LatentSweepConfig) -> DataSplits:
        return load_mnist(cfg.data)

    def build_variant(self, cfg: LatentSweepConfig, name: str, data: DataSplits) -> Task:
        return cfg.ae.task(cfg.model.build(latent_dim=_latent(name)), cfg.optim)

    def export_info(self, cfg, data) -> dict[str, Any]:
        return {"class_names": [], "preprocessing": input_preprocessing(data.info)}

    def summarize(self, cfg: LatentSweepConfig, variants: list[Variant], data: DataSplits):
        from ...evaluation.generative import reconstruction_error

        judge = load_judge(cfg.judge, cfg.data)
        x, y = data.test.tensors
        metrics: dict[str, Any] = {}
        for v in variants:
            rec = reconstruction_error(v.task.model, x, labels=y, judge=judge)
            metrics[f"test/judge_accuracy_{v.name}"] = rec["judge_accuracy"]
        metrics["test/judge_accuracy_original"] = rec["judge_accuracy_original"]
        dims = [_latent(v.name) for v in variants]
        l2 = [v.metrics["test/l2"] for v in variants]
        notes = ["test reconstruction error ‖s − D(E(s))‖₂ by latent size: "
                 + ", ".join(f"{d}: {e:.3f}" for d, e in zip(dims, l2))]
        return metrics, notes

    def comparison_figures(self, cfg: LatentSweepConfig, variants: list[Variant], data: DataSplits, run_dir: Path, *,
                           metrics: dict[str, Any]):
        from ...evaluation.generative import save_image_grid

        dims = [_latent(v.name) for v in variants]
        series = {k: [v.metrics[f"test/{k}"] for v in variants] for k in ("l2", "mse")}
        series["judge_accuracy"] = [metrics[f"test/judge_accuracy_{v.name}"] for v in variants]
        plot_series(run_dir, "recon_vs_latent", "Mean per-image reconstruction error ‖s − D(E(s))‖₂ on the test set "
                    "against the latent dimension", dims, {"L2 norm per image": series["l2"]},
                    xlabel="latent dimension", ylabel="‖s − D(E(s))‖₂", logx=True)
        plot_series(run_dir, "mse_vs_latent", "Mean squared error per pixel against the latent dimension", dims,
                    {"MSE": series["mse"]}, xlabel="latent dimension", ylabel="MSE", logx=True, logy=True)
        plot_series(run_dir, "judge_vs_latent", "Accuracy of the held-out classifier on the reconstructions "
                    f"(on the originals: {metrics['test/judge_accuracy_original']:.4f})", dims,
                    {"reconstructions": series["judge_accuracy"]}, xlabel="latent dimension", ylabel="accuracy",
                    logx=True)
        x = data.test.tensors[0][:12]
        rows = [x]
        for v in variants:
            model = v.task.model.eval()
            with torch.no_grad():
                rows.append(model(x.to(module_device(model))).cpu())
        save_image_grid(torch.cat(rows), run_dir, "reconstructions_by_latent",
                        "Top row: test digits; then their reconstructions with latent dimension "
                        + ", ".join(str(d) for d in dims) + " (one row each)", nrow=12)


# ------------------------------------------------------------------------------- ae-generative-mnist
@dataclass
class GenerativeAEConfig(RunSettings):
    data: MNISTImages = field(default_factory=MNISTImages)
    latent_dims: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64, 128])  # code sizes compared
    covariances: list[str] = field(default_factory=lambda: ["full", "diagonal"])  # Gaussians fitted to the codes
    fit_images: int = 20000  # training images whose codes fit the Gaussian
    vae: bool = False  # also train a dense VAE of each latent size and sample its prior (the notes' remedy)
    model: DenseAEModel = field(default_factory=DenseAEModel)  # its latent_dim is replaced by each of latent_dims
    ae: AEObjective = field(default_factory=AEObjective)
    optim: OptimizerSpec = field(default_factory=adam)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=3, batch_size=128))
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@register_recipe
class GenerativeAutoencoderMNIST(ComparisonRecipe):
    """§3.6.2: decode codes sampled from a Gaussian fitted to the training codes, for growing latent sizes."""

    name = "ae-generative-mnist"
    summary = "generative autoencoder: sample z from a Gaussian fitted to the codes; quality vs latent dimension"
    section = "3.6.2"
    Config = GenerativeAEConfig
    primary_metric = "test/mse"  # logged by the autoencoders and the VAEs alike
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "model.hidden=[32]",
                      "latent_dims=[2,8]", "fit_images=300", "vae=true", "judge.limit_train=600", "judge.epochs=1",
                      "judge.n_samples=100")

    def check(self, cfg: GenerativeAEConfig) -> None:
        check_dims("latent_dims", cfg.latent_dims)
        for c in cfg.covariances:
            if c not in ("full", "diagonal"):
                raise ConfigError(f"covariances must be drawn from ['full', 'diagonal']; got {c!r}")
        if cfg.fit_images < 2:
            raise ConfigError(f"fit_images must be >= 2; got {cfg.fit_images}")

    def variant_names(self, cfg: GenerativeAEConfig) -> list[str]:
        """``ae-d<latent dimension>`` for every autoencoder, and ``vae-d<latent dimension>`` with ``vae=true``."""
        return [f"{kind}-d{d}" for d in cfg.latent_dims for kind in (("ae", "vae") if cfg.vae else ("ae",))]

    def load_data(self, cfg: GenerativeAEConfig) -> DataSplits:
        return load_mnist(cfg.data)

    def build_variant(self, cfg: GenerativeAEConfig, name: str, data: DataSplits) -> Task:
        d = _latent(name)
        if name.startswith("vae-"):
            return VAETask(get_model("dense_vae", hidden=list(cfg.model.hidden), latent_dim=d), optimizer=cfg.optim)
        return cfg.ae.task(cfg.model.build(latent_dim=d), cfg.optim)

    def export_info(self, cfg, data) -> dict[str, Any]:
        return {"class_names": [], "preprocessing": input_preprocessing(data.info)}

    def _samples(self, cfg: GenerativeAEConfig, v: Variant, x_train: torch.Tensor, covariance: str | None,
                 n: int) -> torch.Tensor:
        """``n`` decoded samples of variant ``v``: from the prior (a VAE) or a Gaussian fitted to the codes."""
        from ...models.generative.autoencoder import LatentGaussian

        model = v.task.model.eval()
        d = _latent(v.name)
        if covariance is None:
            return draw_samples(model.sample, n, torch.Generator().manual_seed(derive_seed(cfg.trainer.seed, "vae", d)))
        dev = module_device(model)
        with torch.no_grad():
            codes = torch.cat([model.encode(b.to(dev)).cpu() for b in x_train[: cfg.fit_images].split(1000)])
            gauss = LatentGaussian(latent_dim=d, covariance=covariance).fit(codes)
            g = torch.Generator().manual_seed(derive_seed(cfg.trainer.seed, "codes", d))
            return torch.cat([model.decode(z.to(dev)).cpu() for z in gauss.sample(n, generator=g).split(1000)])

    def summarize(self, cfg: GenerativeAEConfig, variants: list[Variant], data: DataSplits):
        from ...evaluation.generative import (
            extract_features,
            frechet_distance,
            gaussian_statistics,
            judge_scores,
        )

        judge = load_judge(cfg.judge, cfg.data)
        x_train, x_test = data.train.tensors[0], data.test.tensors[0]
        reference = gaussian_statistics(extract_features(judge, x_test, what="test digits"))
        n = cfg.judge.n_samples

        def fd(images: torch.Tensor) -> float:
            return frechet_distance(*gaussian_statistics(extract_features(judge, images)), *reference)

        metrics: dict[str, Any] = {}
        for v in variants:
            d = _latent(v.name)
            if v.name.startswith("vae-"):
                metrics[f"samples/frechet_vae_d{d}"] = fd(self._samples(cfg, v, x_train, None, n))
                continue
            model = v.task.model.eval()
            with torch.no_grad():
                recon = torch.cat([model(b.to(module_device(model))).cpu() for b in x_test[:n].split(1000)])
            fd_rec = metrics[f"test/frechet_recon_d{d}"] = fd(recon)
            for c in cfg.covariances:
                samples = self._samples(cfg, v, x_train, c, n)
                scores = judge_scores(judge, samples)
                value = metrics[f"samples/frechet_{c}_d{d}"] = fd(samples)
                metrics[f"samples/frechet_gap_{c}_d{d}"] = value - fd_rec
                metrics[f"samples/confidence_{c}_d{d}"] = scores["confidence"]
                metrics[f"samples/classifier_score_{c}_d{d}"] = scores["classifier_score"]
        return metrics, ["Fréchet distances use the features of an2dl's MNIST judge CNN, not Inception-v3: "
                         "compare them between an2dl runs only."]

    def comparison_figures(self, cfg: GenerativeAEConfig, variants: list[Variant], data: DataSplits, run_dir: Path, *,
                           metrics: dict[str, Any]):
        from ...evaluation.generative import save_image_grid

        dims = list(cfg.latent_dims)
        fd_curves = {"reconstructions": [metrics[f"test/frechet_recon_d{d}"] for d in dims],
                     **{f"samples, {c} Gaussian": [metrics[f"samples/frechet_{c}_d{d}"] for d in dims]
                        for c in cfg.covariances}}
        conf_curves = {f"samples, {c} Gaussian": [metrics[f"samples/confidence_{c}_d{d}"] for d in dims]
                       for c in cfg.covariances}
        if cfg.vae:
            fd_curves["VAE prior samples"] = [metrics[f"samples/frechet_vae_d{d}"] for d in dims]
        plot_series(run_dir, "frechet_vs_latent", "Fréchet distance (judge-CNN features) to the test digits against the "
                    "latent dimension: decoded Gaussian samples vs the decoder's own reconstructions", dims, fd_curves,
                    xlabel="latent dimension", ylabel="Fréchet distance", logx=True)
        plot_series(run_dir, "confidence_vs_latent", "Mean confidence of the held-out classifier on decoded samples "
                    "against the latent dimension", dims, conf_curves, xlabel="latent dimension", ylabel="confidence",
                    logx=True)
        x_train = data.train.tensors[0]
        autoencoders = [v for v in variants if v.name.startswith("ae-")]
        for c in cfg.covariances:
            rows = [self._samples(cfg, v, x_train, c, 12) for v in autoencoders]
            save_image_grid(torch.cat(rows), run_dir, f"samples_{c}",
                            f"Decoded samples z ~ N(mean, {c} covariance of the codes); one row per latent dimension "
                            + ", ".join(str(d) for d in dims), nrow=12)
