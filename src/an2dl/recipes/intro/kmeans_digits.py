"""``kmeans-digits``: k-means on handwritten digits, on raw pixels and on autoencoder codes (notes §1.1.2).

The notes' example of unsupervised learning is clustering: the model sees
``x_1 .. x_N`` without labels and groups similar points by their intrinsic
properties; unsupervised learning also serves dimensionality reduction.  The
recipe:

1. trains a dense autoencoder (notes §3.6) on the training images, labels
   unused, with the standard Trainer (its reconstruction error is in
   ``val/*`` and ``test/*``, the model is exported);
2. runs k-means (Lloyd's algorithm with k-means++ seeding,
   :func:`an2dl.ops.kmeans`, ``K = 10``, best of ``n_init`` runs) on the
   training images twice: on the raw pixels and on the ``latent_dim``-number
   codes ``z = E(x)``; test images are assigned to the nearest centre;
3. scores each clustering against the digit classes, which k-means never
   saw: purity (the fraction of points in their cluster's majority class)
   and the adjusted Rand index (ARI: 0 for a random partition, 1 for the
   classes up to a renaming; Hubert & Arabie 1985), next to a random
   assignment to ``K`` clusters as the chance level.

**Data.**  By default MNIST (28×28): the first 5,000 training images
(``data.limit_train``; 4,500 train and 500 validation) and all 10,000 test
images.  ``data.name=digits`` selects the embedded 8×8 scikit-learn digits
instead (no files needed; ``data.limit_*`` are then unused).

**Autoencoder.**  784-512-256-10 (ReLU, linear 10-number code, the decoder
mirrors the encoder), mean squared error, Adam (lr 1e-3), batch 32, 20
epochs (about 2,800 steps).  The code has as many numbers as there are
classes, as in DEC (Xie et al. 2016, 784-500-500-2000-10, too slow here).
The smaller 784-256-64-10 for 30 epochs costs about a quarter less and
clusters a little worse (train ARI of the codes 0.45, 0.37, 0.42 for seeds
0-2, against 0.39, 0.47, 0.45 here); with it, a 16-number code, larger
batches over the same number of images (fewer steps) and a tanh or sigmoid
code all gave a lower ARI.

**Codes are not standardised** (``cluster.standardize_codes=false``): k-means
runs on the codes as the encoder produces them.  z-scoring each coordinate
gave a lower ARI in most trials (e.g. 0.42 against 0.47, 0.33 against 0.44
on the training codes of two autoencoders): it gives the low-variance code
directions, which carry little of the digits' variation, the same weight as
the main ones.

**Restarts.**  ``n_init=20``: k-means on MNIST pixels has near-equal local
minima whose ARI differs (inertia 173,528 vs 174,030 gave ARI 0.32 vs 0.38
on the default training images, best of 10 restarts with seeds 0 and 1); with
20 restarts every seed 0-2 ends at ARI 0.32, so the comparison does not hinge
on a lucky start.  Both
spaces are clustered in float32 with the same settings.

What it shows (MNIST, seeds 0-2, tests/recipes/intro/test_kmeans_digits.py):
k-means on the 784 pixels reaches purity ≈ 0.55 and ARI ≈ 0.32-0.33, and on
the 10-number codes of the briefly trained autoencoder purity 0.61-0.66 and
ARI 0.39-0.47, on the training images and on the test images alike: every
seed's codes beat its pixels, by 0.06 to 0.15 in ARI and 0.06 to 0.12 in
purity (chance: purity ≈ 0.12, ARI ≈ 0).  On the 8×8 digits
(``data.name=digits``, same settings) the 64 pixels are already easy to
cluster (purity 0.78-0.81, ARI 0.64-0.69) and the codes are not reliably
better: ARI(codes) − ARI(pixels) is −0.05 to +0.06 over seeds 0-2 and both
parts.  The whole default run took 45-48 s of CPU time on one core
of a shared, busy machine (the autoencoder's training is most of it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import get_dataset
from ...data.core import DataSplits, subset
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...ops import cluster_purity, kmeans
from ...tasks.generative import AutoencoderTask
from ..base import Recipe, RunResult, input_preprocessing, register_recipe, write_results
from ..config import CheckpointConfig, RunSettings, TrainerConfig

__all__ = ["KMeansDigits", "KMeansDigitsConfig", "DigitImages", "CodeModel", "Clustering"]

_DATASETS = ("mnist", "digits")


@dataclass
class DigitImages:
    """Which handwritten digits are clustered (the labels only score the clusters)."""

    name: str = "mnist"  # mnist (28x28, needs the IDX files) or digits (the embedded 8x8 set, no download)
    root: str | None = None  # mnist: folder with the IDX files (default: $AN2DL_DATA_DIR/mnist, cache, download)
    limit_train: int | None = 5000  # mnist: the first n training images (before the validation split); None: all 60,000
    limit_test: int | None = None  # mnist: the first n test images; None: all 10,000
    val_fraction: float = 0.1  # validation images: monitor the autoencoder's reconstruction
    test_fraction: float = 0.2  # digits: held-out images (MNIST has its own test set)
    seed: int = 0  # seed of the split


@dataclass
class CodeModel:
    """The dense autoencoder whose codes are clustered."""

    hidden: list[int] = field(default_factory=lambda: [512, 256])  # encoder hidden widths; the decoder mirrors them
    latent_dim: int = 10  # size of the code z = E(x) (an MNIST image has 784 pixels)
    loss: str = "mse"  # reconstruction loss: mse, l2 (the notes' sum of norms), bce


@dataclass
class Clustering:
    """k-means settings, the same for pixels and codes."""

    k: int = 10  # number of clusters (the digits have 10 classes, which k-means never sees)
    n_init: int = 20  # k-means++ restarts; the lowest inertia is kept
    max_iter: int = 300  # Lloyd iterations per restart
    tol: float = 1e-4  # stop when the centres move less than tol x the mean feature variance
    standardize_codes: bool = False  # z-score each code coordinate (training mean and std) before k-means


@dataclass
class KMeansDigitsConfig(RunSettings):
    data: DigitImages = field(default_factory=DigitImages)
    model: CodeModel = field(default_factory=CodeModel)
    cluster: Clustering = field(default_factory=Clustering)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=32))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=10))


def _check_limit(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 10):
        raise ConfigError(f"{name} must be an integer >= 10 or None; got {value!r}")


def _load(d: DigitImages) -> DataSplits:
    """The splits of ``data.name``: MNIST (first ``limit_train`` / ``limit_test`` images) or the embedded digits."""
    if d.name not in _DATASETS:
        raise ConfigError(f"data.name must be one of {_DATASETS}; got {d.name!r}")
    if d.name == "digits":
        return get_dataset("digits", val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
    _check_limit("data.limit_train", d.limit_train)
    _check_limit("data.limit_test", d.limit_test)
    data = get_dataset("mnist", root=d.root, val_fraction=d.val_fraction, limit_train=d.limit_train, seed=d.seed)
    if d.limit_test is not None and len(data.test) > d.limit_test:
        data.test = subset(data.test, torch.arange(d.limit_test))
    return data


def _encode(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    dev = module_device(model)
    with torch.no_grad():
        return torch.cat([model.encode(b.to(dev)).cpu() for b in x.split(512)])


def _scores(y: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score

    return {"purity": cluster_purity(y, z), "ari": float(adjusted_rand_score(y.numpy(), z.numpy()))}


def _nearest(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, centers).argmin(1)


@register_recipe
class KMeansDigits(Recipe):
    """k-means (K=10) on handwritten digits: raw pixels vs the codes of a dense autoencoder; purity and ARI."""

    name = "kmeans-digits"
    summary = ("k-means clustering of MNIST digits (or the embedded 8x8 digits) on raw pixels vs autoencoder codes; "
               "purity and adjusted Rand index against the unseen classes (notes §1.1.2)")
    section = "1.1.2"
    Config = KMeansDigitsConfig
    smoke_settings = ("trainer.max_epochs=1", "data.limit_train=300", "data.limit_test=100", "cluster.n_init=1",
                      "model.hidden=[16]")

    def build(self, cfg: KMeansDigitsConfig):
        c = cfg.cluster
        for name, value in (("cluster.k", c.k), ("cluster.n_init", c.n_init), ("cluster.max_iter", c.max_iter)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        data = _load(cfg.data)
        model = get_model("dense_autoencoder", input_shape=list(data.info.input_shape), hidden=list(cfg.model.hidden),
                          latent_dim=cfg.model.latent_dim)
        return AutoencoderTask(model, loss=cfg.model.loss, optimizer=cfg.optim), data

    def export_info(self, cfg: KMeansDigitsConfig, data) -> dict[str, Any]:
        return {"class_names": [], "preprocessing": input_preprocessing(data.info)}

    def figures(self, result: RunResult) -> None:
        """Cluster the pixels and the codes, add the scores to ``results.json`` and draw them."""
        cfg, data, model = result.config, result.data, result.task.model
        c = cfg.cluster
        x_train, y_train = data.train.tensors
        x_test, y_test = data.test.tensors
        codes_train, codes_test = _encode(model, x_train), _encode(model, x_test)
        if c.standardize_codes:  # z-scores with the training codes' mean and standard deviation
            mean, std = codes_train.mean(0), codes_train.std(0).clamp(min=1e-12)
            codes_train, codes_test = (codes_train - mean) / std, (codes_test - mean) / std
        spaces = {"pixels": (x_train.flatten(1), x_test.flatten(1)), "codes": (codes_train, codes_test)}
        metrics: dict[str, float] = {}
        assignments: dict[str, torch.Tensor] = {}
        for space, (train, test) in spaces.items():
            fit = kmeans(train, c.k, n_init=c.n_init, max_iter=c.max_iter, tol=c.tol, seed=cfg.trainer.seed)
            z_test = _nearest(test, fit.centers)
            assignments[space] = fit.labels
            metrics[f"{space}/dim"] = train.shape[1]
            metrics[f"{space}/inertia"] = fit.inertia
            for split, y, z in (("train", y_train, fit.labels), ("test", y_test, z_test)):
                for key, value in _scores(y, z).items():
                    metrics[f"{space}/{split}_{key}"] = value
        # chance level: every point put in one of the K clusters at random
        g = torch.Generator().manual_seed(cfg.trainer.seed)
        for split, y in (("train", y_train), ("test", y_test)):
            for key, value in _scores(y, torch.randint(c.k, y.shape, generator=g)).items():
                metrics[f"chance/{split}_{key}"] = value
        for split in ("train", "test"):
            for key in ("purity", "ari"):
                metrics[f"gap/{split}_{key}_codes_minus_pixels"] = (metrics[f"codes/{split}_{key}"]
                                                                    - metrics[f"pixels/{split}_{key}"])

        path = result.run_dir / "results.json"
        doc = json.loads(path.read_text())
        merged = {**doc.pop("metrics"), **metrics}
        notes = doc.pop("notes", [])
        write_results(result.run_dir, merged, **doc, notes=[*notes, (
            f"k-means (K={c.k}, k-means++, best of {c.n_init}) fitted on the {len(y_train)} training images of "
            f"{cfg.data.name}, once on the {spaces['pixels'][0].shape[1]} pixels and once on the "
            f"{cfg.model.latent_dim}-number autoencoder codes"
            f"{' (standardised)' if c.standardize_codes else ''}; the {len(y_test)} test images go to the nearest "
            "centre; purity and adjusted Rand index against the digit classes, which neither the autoencoder nor "
            "k-means saw; chance/*: a uniformly random assignment to the K clusters")])
        result.metrics.update(metrics)
        self._draw(result, x_train, y_train, assignments, metrics)

    def _draw(self, result: RunResult, x: torch.Tensor, y: torch.Tensor, assignments: dict[str, torch.Tensor],
              metrics: dict[str, float]) -> None:
        from ...report.plots import figure, save_figure

        k = result.config.cluster.k
        fig = figure(figsize=(1.1 * k, 3.0))
        for row, (space, z) in enumerate(assignments.items()):
            for j in range(k):
                ax = fig.add_subplot(2, k, row * k + j + 1)
                members = z == j
                if members.any():
                    ax.imshow(x[members].mean(0)[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
                    majority = int(torch.bincount(y[members], minlength=10).argmax())
                    ax.set_title(f"{int(members.sum())}: '{majority}'", fontsize=7)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(space, fontsize=8)
        save_figure(fig, result.run_dir, "cluster_means",
                    "Mean training image of each cluster, found without labels on the pixels (top) and on the "
                    "autoencoder codes (bottom); titles: cluster size and majority class")

        fig = figure(figsize=(7, 3.2))
        for i, key in enumerate(("purity", "ari")):
            ax = fig.add_subplot(1, 2, i + 1)
            names = ["pixels", "codes", "chance"]
            for s, split in enumerate(("train", "test")):
                vals = [metrics[f"{n}/{split}_{key}"] for n in names]
                ax.bar([p + 0.38 * s for p in range(3)], vals, width=0.36, label=split)
            ax.set_xticks([p + 0.19 for p in range(3)])
            ax.set_xticklabels(names)
            ax.set_ylim(0, 1)
            ax.set_title("purity" if key == "purity" else "adjusted Rand index", fontsize=10)
            ax.legend(fontsize=8)
        save_figure(fig, result.run_dir, "cluster_scores",
                    "How well the K clusters match the digit classes (never shown to k-means): raw pixels, "
                    "autoencoder codes and a random assignment")
