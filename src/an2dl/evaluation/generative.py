"""Evaluating autoencoders and generators (notes §3.6–§3.7).

§3.7.1 ends on "the difficulty in quantitatively assessing the generator's
performance".  an2dl measures generated digits three ways, all with a small
MNIST classifier trained by an2dl (:func:`digit_judge`, the
``mnist_feature_cnn`` model), held out from the generative model's training:

* **reconstruction error** of autoencoders: the notes' per-image L2 norm and
  the MSE (:func:`reconstruction_error`), and the judge's accuracy on the
  reconstructions (are they still the same digit?);
* **judge scores** of generated digits (:func:`judge_scores`): the mean
  confidence ``max_k p(k | x)``, the fraction judged with confidence ≥ 0.9,
  the entropy of the predicted class distribution (``log 10 ≈ 2.303`` when
  all classes are produced equally often) and the Inception-Score formula
  ``exp(E_x KL(p(y | x) ‖ p(y)))`` of Salimans et al. (2016) evaluated with
  this judge (between 1 and 10);
* the **Fréchet distance** between Gaussians fitted to the judge's 128
  penultimate features of real and generated images (:func:`frechet_distance`),
  the statistic of the FID of Heusel et al. (2017) computed on *these*
  features, not Inception-v3's: values are comparable between an2dl runs
  only, never with published FIDs.

Callbacks record these during training: :class:`FrechetMonitor` (one value
per epoch, logged as ``val/frechet``) and :class:`SampleGrid` (a grid of
samples from fixed noise per epoch, shown in the report).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._utils.rng import derive_seed
from ..data.images import tile_images
from ..engine.callbacks.base import Callback
from ..errors import ConfigError
from ..nn.device import module_device

__all__ = [
    "extract_features",
    "gaussian_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "judge_scores",
    "judge_accuracy",
    "reconstruction_error",
    "digit_judge",
    "image_grid",
    "save_image_grid",
    "FrechetMonitor",
    "SampleGrid",
]

Sampler = Callable[[int, torch.Generator], torch.Tensor]


def _batches(x: torch.Tensor, batch_size: int):
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size]


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, *, batch_size: int = 500, progress: bool | None = False,
                     what: str = "images") -> torch.Tensor:
    """``model.forward_features`` over ``images`` in eval mode, batched: ``[N, C, H, W]`` -> ``[N, F]`` on CPU.

    Args:
        progress: show the extraction (seconds for thousands of images on a
            CPU): ``None`` on a terminal a bar, otherwise one line; ``False``
            (default) nothing.
        what: what the images are, for that display (``"test digits"``).
    """
    from .._utils.progress import activity

    if not hasattr(model, "forward_features"):
        raise ConfigError(f"extract_features needs a model with forward_features(); got {type(model).__name__}")
    was = model.training
    model.eval()
    try:
        dev = module_device(model)
        out = []
        with activity(f"extracting judge features of {len(images):,} {what}", total=len(images), enable=progress) as act:
            for b in _batches(images, batch_size):
                out.append(model.forward_features(b.to(dev)).float().cpu())
                act.advance(len(b))
        return torch.cat(out)
    finally:
        model.train(was)


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[F]`` and unbiased covariance ``[F, F]`` of ``features`` ``[N, F]`` (N ≥ 2), in float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"gaussian_statistics expects features of shape [N >= 2, F]; got {list(features.shape)}")
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(matrix)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein) distance² between ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)`` (Dowson & Landau 1982):

    ``d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})``.

    ``Tr((Σ₁Σ₂)^{1/2})`` is computed as the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}`` (which has
    the same eigenvalues as ``Σ₁Σ₂``), in float64; this avoids the complex
    round-off of a general matrix square root.

    Shape:
        ``mu`` ``[F]``, ``sigma`` ``[F, F]`` (symmetric PSD) -> float.
    """
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    f = mu1.shape[0]
    if mu1.shape != (f,) or mu2.shape != (f,) or s1.shape != (f, f) or s2.shape != (f, f):
        raise ValueError(
            f"frechet_distance needs means [F] and covariances [F, F] of one F; got {list(mu1.shape)}, "
            f"{list(sigma1.shape)}, {list(mu2.shape)}, {list(sigma2.shape)}"
        )
    root1 = _sqrt_psd(s1)
    middle = root1 @ s2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    d2 = (mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt
    return float(d2.clamp_min(0))


def frechet_distance_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """:func:`frechet_distance` between Gaussians fitted to feature sets ``[N, F]`` and ``[M, F]``."""
    return frechet_distance(*gaussian_statistics(a), *gaussian_statistics(b))


@torch.no_grad()
def _probabilities(judge: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    was = judge.training
    judge.eval()
    try:
        dev = module_device(judge)
        return torch.cat([judge(b.to(dev)).softmax(-1).double().cpu() for b in _batches(images, batch_size)])
    finally:
        judge.train(was)


def judge_scores(judge: nn.Module, images: torch.Tensor, *, batch_size: int = 500, threshold: float = 0.9) -> dict[str, Any]:
    """How a held-out classifier sees generated images (see the module docstring).

    Returns:
        ``confidence`` (mean max probability), ``confident_fraction`` (max
        probability ≥ ``threshold``), ``class_entropy`` (nats, entropy of the
        mean predicted distribution), ``classifier_score``
        (``exp(E KL(p(y|x) ‖ p(y)))``) and ``class_histogram`` (counts of the
        predicted classes, a list).
    """
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"judge_scores expects images of shape [N > 0, C, H, W]; got {list(images.shape)}")
    p = _probabilities(judge, images, batch_size)
    conf, pred = p.max(1)
    marginal = p.mean(0)
    eps = 1e-12
    kl = (p * ((p + eps).log() - (marginal + eps).log())).sum(1)
    return {
        "confidence": float(conf.mean()),
        "confident_fraction": float((conf >= threshold).double().mean()),
        "class_entropy": float(-(marginal * (marginal + eps).log()).sum()),
        "classifier_score": float(kl.mean().exp()),
        "class_histogram": torch.bincount(pred, minlength=p.shape[1]).tolist(),
    }


def judge_accuracy(judge: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500) -> float:
    """Accuracy of the judge on ``images`` ``[N, C, H, W]`` against ``labels`` ``[N]``."""
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"judge_accuracy needs as many labels as images (> 0); got {len(images)} and {len(labels)}")
    p = _probabilities(judge, images, batch_size)
    return float((p.argmax(1) == labels.cpu()).double().mean())


@torch.no_grad()
def reconstruction_error(
    model: nn.Module,
    images: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    judge: nn.Module | None = None,
    batch_size: int = 500,
) -> dict[str, float]:
    """Reconstruction error of an autoencoder (eval mode) on ``images`` ``[N, C, H, W]``.

    Returns:
        ``l2``: mean per-image ``‖s − D(E(s))‖₂`` (the notes' §3.6 loss divided
        by N); ``mse``: mean squared error per pixel; with ``judge`` and
        ``labels`` also ``judge_accuracy`` on the reconstructions and
        ``judge_accuracy_original`` on the inputs.
    """
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"reconstruction_error expects images of shape [N > 0, C, H, W]; got {list(images.shape)}")
    was = model.training
    model.eval()
    try:
        dev = module_device(model)
        recon = torch.cat([model(b.to(dev)).float().cpu() for b in _batches(images, batch_size)])
    finally:
        model.train(was)
    diff = (images.float().cpu() - recon).flatten(1).double()
    out = {"l2": float(diff.norm(dim=1).mean()), "mse": float(diff.pow(2).mean())}
    if judge is not None and labels is not None:
        out["judge_accuracy"] = judge_accuracy(judge, recon, labels, batch_size=batch_size)
        out["judge_accuracy_original"] = judge_accuracy(judge, images, labels, batch_size=batch_size)
    return out


# ------------------------------------------------------------------------------------------- the judge
_JUDGE_VERSION = 1


def digit_judge(
    *,
    root: str | os.PathLike | None = None,
    epochs: int = 2,
    limit_train: int | None = None,
    seed: int = 0,
    cache: bool = True,
    progress: bool | None = None,
) -> nn.Module:
    """The ``mnist_feature_cnn`` judge, trained by an2dl on the MNIST training split.

    Trained with :class:`~an2dl.tasks.ClassificationTask` (Adam, lr 1e-3,
    batch 128) for ``epochs`` on the first ``limit_train`` training images,
    and cached as an exported model in ``$AN2DL_CACHE/models/`` under a key
    of these settings, so later runs load it instantly.  It never sees the
    test split, which the recipes use as the held-out reference.

    Training takes minutes on a CPU the first time: it is announced with one
    line, ``training the digit judge (once, cached in FOLDER)``, followed on a
    terminal by the progress bar of its epochs (``progress``: ``None`` on a
    terminal only, ``True`` always, ``False`` never; off a terminal the line
    is all that is printed).

    Returns:
        The model in eval mode; ``model.judge_info`` holds its settings and
        its accuracy on the MNIST test split.
    """
    from .._utils.progress import activity, display_mode
    from .._utils.rng import seed_everything
    from ..data import get_dataset
    from ..data.download import cache_dir
    from ..engine.callbacks import ProgressBar
    from ..engine.checkpoint import atomic_write_text
    from ..engine.optim import OptimizerSpec
    from ..engine.trainer import Trainer
    from ..export import export, load
    from ..models import get_model
    from ..tasks import ClassificationTask

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ConfigError(f"digit_judge epochs must be a positive integer; got {epochs!r}")
    settings = {"version": _JUDGE_VERSION, "epochs": epochs, "limit_train": limit_train, "seed": seed}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir() / "models" / f"mnist_feature_cnn-{key}"
    info_path = folder / "judge.json"
    if cache and info_path.is_file() and (folder / "model.json").is_file():
        model = load(folder)
        model.judge_info = json.loads(info_path.read_text())
        return model
    where = f"once, cached in {folder}" if cache else "not cached: cache=False"
    with activity(f"training the digit judge ({where})", enable=progress, spinner=False):
        data = get_dataset("mnist", root=root, limit_train=limit_train, seed=seed)
        seed_everything(seed)
        model = get_model("mnist_feature_cnn")
        task = ClassificationTask(model, num_classes=10, optimizer=OptimizerSpec("adam", lr=1e-3))
        bar = ProgressBar(enable=display_mode(progress) == "live", label="judge")
        trainer = Trainer(max_epochs=epochs, batch_size=128, seed=seed, callbacks=[bar], val_every_n_epochs=None)
        trainer.fit(task, data.train)
        test = trainer.evaluate(task, data.test)
    info = {**settings, "test_accuracy": test["test/accuracy"], "train_images": len(data.train)}
    model.cpu().eval()
    model.judge_info = info
    if cache:
        export(model, folder, **task.export_metadata(class_names=[str(i) for i in range(10)],
                                                     preprocessing={"input_shape": [1, 28, 28], "value_range": [0.0, 1.0]}))
        atomic_write_text(info_path, json.dumps(info, indent=2) + "\n")
    return model


# ------------------------------------------------------------------------------------------ image grids
def image_grid(images: torch.Tensor, *, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile ``[N, C, H, W]`` images into one ``[rows·(H+p)+p, nrow·(W+p)+p(, C)]`` array in [0, 1]."""
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"image_grid expects images of shape [N > 0, C, H, W]; got {list(images.shape)}")
    arr = tile_images(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding).numpy()
    return arr[0] if images.shape[1] == 1 else arr.transpose(1, 2, 0)


def save_image_grid(
    images: torch.Tensor, run_dir: str | Path, name: str, caption: str, *, nrow: int = 8, title: str | None = None
) -> Path:
    """Save a grid of ``images`` as ``run_dir/plots/<name>.png`` with ``caption`` for the report."""
    from ..report.plots import figure, save_figure

    arr = image_grid(images, nrow=nrow)
    scale = 6.0 / max(arr.shape[0], arr.shape[1])
    fig = figure(figsize=(max(2.0, arr.shape[1] * scale * 1.2), max(2.0, arr.shape[0] * scale * 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, run_dir, name, caption)


# -------------------------------------------------------------------------------------------- callbacks
def _task_sampler(task: nn.Module) -> Sampler:
    sample = getattr(task, "sample", None)
    if not callable(sample):
        raise ConfigError(f"{type(task).__name__} has no sample(n, generator=...) method to draw images from")
    return lambda n, g: sample(n, generator=g)


@torch.no_grad()
def _draw(task: nn.Module, sampler: Sampler | None, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator(device=module_device(task)).manual_seed(seed)
    was = task.training
    task.eval()
    try:
        return (sampler or _task_sampler(task))(n, g).float().cpu()
    finally:
        task.train(was)


class FrechetMonitor(Callback):
    """Log the Fréchet distance of generated samples to real images after every n-th epoch.

    The samples come from the same noise every time (a generator seeded by
    ``seed``), drawn with the task in eval mode, so the curve follows the
    model only.  The value is added to the epoch's metrics as
    ``val/<name>``; ``curve`` holds ``(epoch, step, value)`` rows, with epoch
    0 for the untrained model.

    Args:
        judge: a model with ``forward_features`` (e.g. :func:`digit_judge`).
        reference: real images ``[N, C, H, W]`` (the validation split) whose
            feature statistics are the target.
        n_samples: generated images per evaluation.
        every_n_epochs: evaluation frequency.
        sampler: ``sampler(n, torch_generator) -> images``; default ``task.sample``.
        seed: seed of the fixed noise.
        name: metric name.
        progress: show the feature extraction of ``reference`` (see :func:`extract_features`).
    """

    order = 50  # before MetricsLogger (90) and Checkpoint (100)

    def __init__(
        self,
        judge: nn.Module,
        reference: torch.Tensor,
        *,
        n_samples: int = 2000,
        every_n_epochs: int = 1,
        sampler: Sampler | None = None,
        seed: int = 0,
        name: str = "frechet",
        progress: bool | None = False,
    ) -> None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise ConfigError(f"FrechetMonitor n_samples must be an integer >= 2; got {n_samples!r}")
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs <= 0:
            raise ConfigError(f"FrechetMonitor every_n_epochs must be a positive integer; got {every_n_epochs!r}")
        self.judge = judge
        self.reference_stats = gaussian_statistics(extract_features(judge, reference, progress=progress,
                                                                    what="reference images"))
        self.n_samples, self.every_n_epochs, self.sampler = n_samples, every_n_epochs, sampler
        self.seed, self.name = seed, name
        self.curve: list[tuple[int, int, float]] = []

    def value(self, task: nn.Module) -> float:
        """The Fréchet distance of ``n_samples`` current samples to the reference."""
        images = _draw(task, self.sampler, self.n_samples, derive_seed(self.seed, "frechet"))
        return frechet_distance(*gaussian_statistics(extract_features(self.judge, images)), *self.reference_stats)

    def on_fit_start(self, trainer, task) -> None:
        self.curve = [(0, 0, self.value(task))]

    def on_epoch_end(self, trainer, task, metrics) -> None:
        if (trainer.epoch + 1) % self.every_n_epochs:
            return
        fd = self.value(task)
        self.curve.append((trainer.epoch + 1, trainer.global_step, fd))
        metrics[f"val/{self.name}"] = fd
        trainer.history[-1][f"val/{self.name}"] = fd
        trainer.metrics[f"val/{self.name}"] = fd

    def state_dict(self) -> dict[str, Any]:
        return {"curve": [list(r) for r in self.curve]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curve = [(int(e), int(s), float(v)) for e, s, v in state["curve"]]


class SampleGrid(Callback):
    """Save a grid of samples from fixed noise after every n-th epoch (``plots/samples_epoch_NNN.png``).

    Args:
        n: images per grid.
        nrow: images per row.
        every_n_epochs: frequency.
        sampler: ``sampler(n, torch_generator) -> images``; default ``task.sample``.
        seed: seed of the fixed noise.
        prefix: file-name prefix.
    """

    order = 60

    def __init__(
        self, *, n: int = 64, nrow: int = 8, every_n_epochs: int = 1, sampler: Sampler | None = None, seed: int = 0,
        prefix: str = "samples",
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"SampleGrid n must be a positive integer; got {n!r}")
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs <= 0:
            raise ConfigError(f"SampleGrid every_n_epochs must be a positive integer; got {every_n_epochs!r}")
        self.n, self.nrow, self.every_n_epochs, self.sampler = n, nrow, every_n_epochs, sampler
        self.seed, self.prefix = seed, prefix
        self.saved: list[str] = []

    def on_fit_start(self, trainer, task) -> None:
        self.saved = []

    def on_epoch_end(self, trainer, task, metrics) -> None:
        epoch = trainer.epoch + 1
        if epoch % self.every_n_epochs or trainer.run_dir is None or not trainer.is_global_zero:
            return
        images = _draw(task, self.sampler, self.n, derive_seed(self.seed, "grid"))
        name = f"{self.prefix}_epoch_{epoch:03d}"
        save_image_grid(images, trainer.run_dir, name, f"Samples after epoch {epoch} (step {trainer.global_step}), "
                        "from the same noise every epoch", nrow=self.nrow, title=f"epoch {epoch}")
        self.saved.append(name)

    def state_dict(self) -> dict[str, Any]:
        return {"saved": list(self.saved)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.saved = list(state["saved"])
