"""Settings and helpers shared by the autoencoder, VAE and GAN recipes (notes §3.6–§3.7)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..._utils.files import atomic_write_text
from ...data import get_dataset
from ...data.core import DataSplits, subset
from ...errors import ConfigError
from ...nn.device import module_device
from ..base import Recipe, RunResult

__all__ = [
    "MNISTImages",
    "JudgeConfig",
    "load_mnist",
    "load_judge",
    "update_results",
    "TimedRecipe",
    "plot_series",
    "draw_samples",
    "reconstruction_rows",
    "Stopwatch",
    "check_dims",
]


@dataclass
class MNISTImages:
    """MNIST digits as 28x28 images in [0, 1]."""

    root: str | None = None  # folder with the IDX files (default: $AN2DL_DATA_DIR/mnist, cache, download)
    val_fraction: float = 1 / 12  # 5,000 of the 60,000 training images held out for validation
    limit_train: int | None = None  # use only the first n training images (quick runs)
    limit_eval: int | None = None  # evaluate on the first n validation and test images only (quick runs)
    seed: int = 0  # seed of the validation split


@dataclass
class JudgeConfig:
    """The held-out MNIST classifier whose confidence and features score generated digits."""

    epochs: int = 2  # training epochs of the judge CNN (trained once, then cached)
    limit_train: int | None = None  # train the judge on the first n MNIST training images only
    n_samples: int = 5000  # generated images scored at the end of a run


def load_mnist(d: MNISTImages) -> DataSplits:
    """The MNIST splits of the recipe's data settings (28x28, no padding)."""
    data = get_dataset("mnist", root=d.root, val_fraction=d.val_fraction, limit_train=d.limit_train, seed=d.seed)
    if d.limit_eval is not None:
        if isinstance(d.limit_eval, bool) or d.limit_eval < 2:
            raise ConfigError(f"data.limit_eval must be an integer >= 2 or None; got {d.limit_eval!r}")
        for split in ("val", "test"):
            ds = getattr(data, split)
            if ds is not None and len(ds) > d.limit_eval:
                setattr(data, split, subset(ds, torch.arange(d.limit_eval)))
    return data


def load_judge(j: JudgeConfig, d: MNISTImages, *, progress: bool | None = None) -> nn.Module:
    """The cached ``mnist_feature_cnn`` judge (trained on first use, which is announced; see ``digit_judge``)."""
    from ...evaluation.generative import digit_judge

    return digit_judge(root=d.root, epochs=j.epochs, limit_train=j.limit_train, progress=progress)


def update_results(run_dir: Path, metrics: dict[str, Any], **extra: Any) -> None:
    """Merge ``metrics`` (and top-level ``extra``) into ``results.json`` and rewrite ``report.html``.

    Only the page is rewritten: ``env.json`` and the curves stay as :func:`~.base.finish_report` wrote them.
    """
    from ...report.html import write_report

    path = Path(run_dir) / "results.json"
    doc = json.loads(path.read_text()) if path.is_file() else {"metrics": {}}
    doc.setdefault("metrics", {}).update(metrics)
    doc.update(extra)
    atomic_write_text(path, json.dumps(doc, indent=2, default=float) + "\n")
    if (Path(run_dir) / "config.json").is_file():
        write_report(run_dir)


class TimedRecipe(Recipe):
    """A standard training recipe that also records its wall time, ``wall_seconds``, in ``results.json``."""

    def run(self, cfg: Any, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        watch = Stopwatch()
        result = super().run(cfg, run_dir, resume=resume, progress=progress)
        if result.trainer is None or result.trainer.is_global_zero:
            result.metrics["wall_seconds"] = watch.seconds()
            update_results(run_dir, {"wall_seconds": result.metrics["wall_seconds"]})
        return result


def plot_series(
    run_dir: Path,
    name: str,
    caption: str,
    x: list[float],
    series: dict[str, list[float]],
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
) -> Path:
    """A line plot of one or more series over ``x``, saved for the report."""
    from ...report.plots import figure, save_figure

    fig = figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for label, ys in series.items():
        ax.plot(x[: len(ys)], ys, "-o", ms=4, label=label)
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(v) for v in x])
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, run_dir, name, caption)


@torch.no_grad()
def draw_samples(sample: Callable[..., torch.Tensor], n: int, generator: torch.Generator, *,
                 chunk: int = 1000) -> torch.Tensor:
    """``n`` images of ``sample(k, generator=generator)``, drawn ``chunk`` at a time, on the CPU."""
    return torch.cat([sample(min(chunk, n - i), generator=generator).cpu() for i in range(0, n, chunk)])


@torch.no_grad()
def reconstruction_rows(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Originals followed by their reconstructions (eval mode): ``[2N, C, H, W]`` for a grid of N columns."""
    if len(images) == 0:
        raise ConfigError("reconstruction_rows needs at least one image")
    was = model.training
    model.eval()
    try:
        recon = model(images.to(module_device(model))).float().cpu()
    finally:
        model.train(was)
    return torch.cat([images.float().cpu(), recon])


class Stopwatch:
    """Wall-clock seconds since construction (the recipes' stated CPU wall time)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 1)


def check_dims(name: str, dims: list[int]) -> list[int]:
    """``dims`` if it is a non-empty list of positive integers (latent sizes, labels per class), else a ConfigError."""
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dims):
        raise ConfigError(f"{name} must be a non-empty list of positive integers; got {dims!r}")
    return list(dims)
