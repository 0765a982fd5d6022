"""``vae-mnist``: a variational autoencoder on MNIST (Kingma & Welling 2014), the generative
autoencoder the notes' §3.6.2 points to.

The report shows samples from the prior, latent interpolations between test
digits, the 2-D latent map (Kingma & Welling 2014, fig. 4: with
``latent_dim=2`` the decoded grid of prior quantiles is the whole learned
manifold) and the test digits' posterior means coloured by class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..._utils.progress import activity
from ..._utils.rng import seed_everything
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ..base import RunResult, input_preprocessing, register_recipe
from ..config import RunSettings, TrainerConfig
from ._common import (
    JudgeConfig,
    MNISTImages,
    TimedRecipe,
    draw_samples,
    load_judge,
    load_mnist,
    reconstruction_rows,
    update_results,
)

__all__ = ["VAEModel", "VAEObjective", "VAEMNIST"]


@dataclass
class VAEModel:
    """``dense_vae`` or ``conv_vae`` settings."""

    kind: str = "dense"  # dense or conv
    hidden: list[int] = field(default_factory=lambda: [512, 256])  # dense: encoder hidden widths
    channels: list[int] = field(default_factory=lambda: [32, 64])  # conv: stride-2 convolution widths
    latent_dim: int = 2  # size of z; 2 draws the whole learned manifold as a map

    def build(self):
        if self.kind == "dense":
            return get_model("dense_vae", hidden=list(self.hidden), latent_dim=self.latent_dim)
        if self.kind == "conv":
            return get_model("conv_vae", channels=list(self.channels), latent_dim=self.latent_dim)
        raise ConfigError(f"model.kind must be 'dense' or 'conv'; got {self.kind!r}")


@dataclass
class VAEObjective:
    """The negative ELBO."""

    likelihood: str = "bernoulli"  # p(x | z): bernoulli (pixel probabilities) or gaussian (unit variance)
    beta: float = 1.0  # weight of the KL term (1: the ELBO)


@dataclass
class VAEFigures:
    """What the report draws."""

    samples: int = 64  # images decoded from the prior
    map_size: int = 15  # the latent map is map_size x map_size decoded codes
    interpolations: int = 8  # pairs of test digits interpolated
    steps: int = 10  # images per interpolation


@dataclass
class VAEMNISTConfig(RunSettings):
    data: MNISTImages = field(default_factory=MNISTImages)
    model: VAEModel = field(default_factory=VAEModel)
    vae: VAEObjective = field(default_factory=VAEObjective)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=128))
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    figures: VAEFigures = field(default_factory=VAEFigures)


@register_recipe
class VAEMNIST(TimedRecipe):
    """VAE on MNIST: ELBO training, prior samples, interpolation and the 2-D latent map."""

    name = "vae-mnist"
    summary = "variational autoencoder on MNIST: ELBO, sampling, latent interpolation, 2-D latent map"
    section = "3.6.2"
    Config = VAEMNISTConfig
    smoke_settings = ("data.limit_train=600", "data.limit_eval=100", "trainer.max_epochs=1", "model.hidden=[32]",
                      "figures.map_size=3", "figures.interpolations=2", "judge.limit_train=600", "judge.epochs=1",
                      "judge.n_samples=100")

    def build(self, cfg: VAEMNISTConfig):
        from ...tasks.generative import VAETask

        data = load_mnist(cfg.data)
        task = VAETask(cfg.model.build(), likelihood=cfg.vae.likelihood, beta=cfg.vae.beta, optimizer=cfg.optim)
        return task, data

    def export_info(self, cfg, data) -> dict[str, Any]:
        return {"class_names": [],
                "preprocessing": {**input_preprocessing(data.info), "latent_dim": cfg.model.latent_dim}}

    def figures(self, result: RunResult) -> None:
        from ...evaluation.generative import (
            extract_features,
            frechet_distance_from_features,
            judge_scores,
            reconstruction_error,
            save_image_grid,
        )
        from ...report.plots import figure, save_figure

        cfg, data, task = result.config, result.data, result.task
        fig_cfg: VAEFigures = cfg.figures
        model = task.model.eval()
        dev = module_device(model)
        x, y = data.test.tensors
        progress = result.trainer.progress if result.trainer is not None else None
        judge = load_judge(cfg.judge, cfg.data, progress=progress)
        g = torch.Generator().manual_seed(cfg.trainer.seed)
        n = cfg.judge.n_samples
        with activity(f"scoring {n:,} samples and the reconstructions of {len(x):,} test digits with the judge",
                      enable=progress):
            samples = draw_samples(model.sample, n, g)
            scores = judge_scores(judge, samples)
            metrics: dict[str, Any] = {
                f"samples/{k}": v for k, v in scores.items() if not isinstance(v, list)
            }
            real = extract_features(judge, x)
            metrics["samples/frechet"] = frechet_distance_from_features(extract_features(judge, samples), real)
            rec = reconstruction_error(model, x, labels=y, judge=judge)
            # the same network untrained: how far from digits the decoder's samples start
            seed_everything(cfg.trainer.seed)
            untrained = draw_samples(cfg.model.build().to(dev).eval().sample, n,
                                     torch.Generator().manual_seed(cfg.trainer.seed))
            metrics["reference/frechet_untrained"] = frechet_distance_from_features(extract_features(judge, untrained),
                                                                                    real)
        metrics.update({f"test/recon_{k}" if not k.startswith("judge") else f"test/{k}": v for k, v in rec.items()})
        metrics["judge/test_accuracy"] = judge.judge_info["test_accuracy"]
        result.metrics.update(metrics)
        update_results(result.run_dir, metrics, notes=[
            f"samples/frechet uses the features of an2dl's MNIST judge CNN (not Inception-v3); class histogram of "
            f"{n} samples: {scores['class_histogram']}"])
        run_dir = result.run_dir
        save_image_grid(samples[: fig_cfg.samples], run_dir, "samples", "Digits decoded from z ~ N(0, I), the prior")
        save_image_grid(reconstruction_rows(model, x[:16]), run_dir, "reconstructions",
                        "Test digits (top) and their reconstructions from the posterior mean (bottom)", nrow=16)
        k = fig_cfg.interpolations
        path = model.interpolate(x[:k].to(dev), x[k : 2 * k].to(dev), steps=fig_cfg.steps).cpu()
        save_image_grid(path.reshape(-1, *model.input_shape), run_dir, "interpolation",
                        "Decoded straight lines between the posterior means of pairs of test digits (one pair per row)",
                        nrow=fig_cfg.steps)
        grid = model.latent_grid(fig_cfg.map_size).cpu()
        what = "the learned 2-D manifold" if model.latent_dim == 2 else "a 2-D slice (other coordinates 0) of the latent space"
        save_image_grid(grid.reshape(-1, *model.input_shape), run_dir, "latent_map",
                        f"Latent map: decoded codes at the prior quantiles 0.05–0.95 of z₀ (across) and z₁ (down), {what}",
                        nrow=fig_cfg.map_size)
        with torch.no_grad():
            mu = torch.cat([model.encode(b.to(dev))[0].cpu() for b in x.split(1000)])
        fig = figure(figsize=(5.2, 4.4))
        ax = fig.add_subplot(1, 1, 1)
        pts = ax.scatter(mu[:, 0].numpy(), mu[:, 1].numpy(), c=y.numpy(), cmap="tab10", s=2, alpha=0.6)
        fig.colorbar(pts, ax=ax, ticks=range(10), label="digit")
        ax.set_xlabel("μ₀")
        ax.set_ylabel("μ₁")
        save_figure(fig, run_dir, "latent_scatter", "Posterior means of the test digits in the first two latent "
                    "coordinates, coloured by class")
