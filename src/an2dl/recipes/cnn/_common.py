"""Shared pieces of the chapter 3.1–3.4.1 recipes: data, model and augmentation settings, figures."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...data import DataSplits, get_dataset
from ...data.transforms import (
    Compose,
    CutMix,
    GaussianNoise,
    Mixup,
    RandomAffine,
    RandomBrightness,
    RandomContrast,
    Transform,
)
from ...errors import ConfigError
from ...nn.device import module_device

__all__ = [
    "ImageData",
    "PlainCNNSettings",
    "AugmentSettings",
    "load_image_data",
    "build_plain_cnn",
    "build_augmentation",
    "summary_figure",
    "filters_figure",
    "evaluate_accuracy",
]


@dataclass
class ImageData:
    """Which image-classification data to use and how to split it."""

    name: str = "digits"  # "digits" (embedded, no download), "mnist" or "fashion-mnist"
    root: str | None = None  # folder of the MNIST IDX files (default: $AN2DL_DATA_DIR/<name>, cache, download)
    size: int | None = None  # bilinear resize to size x size (None: native 8x8 digits / 28x28 MNIST)
    val_fraction: float = 0.1  # stratified hold-out for validation
    test_fraction: float = 0.2  # digits only: hold-out for testing (MNIST has its own 10,000 test images)
    train_fraction: float = 1.0  # keep this stratified fraction of the training part (e.g. 0.1: a 10% subset)
    seed: int = 0  # seed of the splits


def _stratified_fraction(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    from ...data.splits import holdout_split

    parts = holdout_split(labels, [1.0 - fraction], seed=seed)
    return torch.as_tensor(parts[0])


def load_image_data(d: ImageData) -> DataSplits:
    """The splits of ``d``; the training part is reduced to ``train_fraction`` (stratified) when below 1."""
    if d.name == "digits":
        data = get_dataset("digits", size=d.size, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
    elif d.name in ("mnist", "fashion-mnist"):
        data = get_dataset(d.name, root=d.root, size=d.size, val_fraction=d.val_fraction, seed=d.seed)
    else:
        raise ConfigError(f"data.name must be 'digits', 'mnist' or 'fashion-mnist'; got {d.name!r}")
    if not 0 < d.train_fraction <= 1:
        raise ConfigError(f"data.train_fraction must be in (0, 1]; got {d.train_fraction!r}")
    if d.train_fraction < 1:
        from ...data.core import subset

        keep = _stratified_fraction(data.train.tensors[1], d.train_fraction, d.seed)
        data = dataclasses.replace(data, train=subset(data.train, keep))
        data.info.extra = {**data.info.extra, "train_subset": len(keep)}
    return data


@dataclass
class PlainCNNSettings:
    """The :func:`an2dl.models.vision.plain_cnn.plain_cnn` builder's settings (notes §3.3)."""

    channels: list[int] = field(default_factory=lambda: [32, 64])  # filters of each conv-pool block
    convs_per_block: int = 1  # convolutions before each 2x2 max pooling
    kernel_size: int = 3  # odd filter side
    batch_norm: bool = True  # batch norm after every convolution
    activation: str = "relu"  # relu, leaky_relu, tanh or sigmoid
    pool: str = "max"  # max or avg
    head: str = "dense"  # dense (flatten + MLP), gap (1x1 conv + global average pooling) or gap-linear
    hidden: list[int] = field(default_factory=lambda: [128])  # hidden widths of the dense head
    dropout: float = 0.25  # dropout before the dense layers of the head


def build_plain_cnn(s: PlainCNNSettings, data: DataSplits):
    """A registered ``plain_cnn`` sized for ``data`` (channels, input size, classes)."""
    from ...models import get_model

    c, h, w = data.info.input_shape
    return get_model(
        "plain_cnn",
        num_classes=data.info.num_classes,
        in_channels=c,
        input_size=[h, w],
        **dataclasses.asdict(s),
    )


@dataclass
class AugmentSettings:
    """Data augmentation (notes §3.4.1); every part is off at 0."""

    degrees: float = 0.0  # random rotation in [-degrees, degrees]
    translate: float = 0.0  # random shift up to this fraction of the image size
    scale: float = 0.0  # random zoom in [1 - scale, 1 + scale]
    brightness: float = 0.0  # brightness factor spread
    contrast: float = 0.0  # contrast factor spread
    noise_std: float = 0.0  # additive Gaussian noise
    mixup_alpha: float = 0.0  # Mixup with lambda ~ Beta(alpha, alpha) (0: off)
    cutmix_alpha: float = 0.0  # CutMix with lambda ~ Beta(alpha, alpha) (0: off)
    path: str = "batched"  # "batched" (on the device, per step) or "per-sample" (in the dataset, per index)


def build_augmentation(a: AugmentSettings, num_classes: int) -> tuple[Transform | None, Transform | None]:
    """``(batched, per_sample)`` transforms for ``a``: the per-sample part wraps the dataset, the batched part is the task's ``augment``.

    Mixup and CutMix always run batched (they mix the samples of a batch).
    """
    if a.path not in ("batched", "per-sample"):
        raise ConfigError(f"augment.path must be 'batched' or 'per-sample'; got {a.path!r}")
    if a.mixup_alpha and a.cutmix_alpha:
        raise ConfigError("choose Mixup or CutMix, not both (augment.mixup_alpha and augment.cutmix_alpha)")
    parts: list[Transform] = []
    if a.degrees or a.translate or a.scale:
        parts.append(RandomAffine(degrees=a.degrees, translate=a.translate, scale=a.scale))
    if a.brightness:
        parts.append(RandomBrightness(brightness=a.brightness))
    if a.contrast:
        parts.append(RandomContrast(contrast=a.contrast))
    if a.noise_std:
        parts.append(GaussianNoise(std=a.noise_std))
    mixing: Transform | None = None
    if a.mixup_alpha:
        mixing = Mixup(alpha=a.mixup_alpha, num_classes=num_classes)
    elif a.cutmix_alpha:
        mixing = CutMix(alpha=a.cutmix_alpha, num_classes=num_classes)
    per_sample = Compose(parts) if parts and a.path == "per-sample" else None
    batched_parts = (parts if a.path == "batched" else []) + ([mixing] if mixing is not None else [])
    batched = Compose(batched_parts) if batched_parts else None
    return batched, per_sample


def summary_figure(model: torch.nn.Module, example: torch.Tensor, run_dir: Path, *, name: str = "model_summary") -> None:
    """The per-layer summary (output shape, parameters, FLOPs) as a figure of the report."""
    from ...models.summary import summarize
    from ...report.plots import figure, save_figure

    text = summarize(model, example.to(module_device(model))).table()
    lines = text.splitlines()
    fig = figure(figsize=(0.09 * max(len(line) for line in lines) + 0.5, 0.19 * len(lines) + 0.4))
    fig.text(0.01, 0.99, text, family="monospace", fontsize=8, va="top")
    save_figure(fig, run_dir, name, "Per-layer output shape, parameters ((h_r·h_c·c)·n_f + n_f for convolutions) and "
                "forward FLOPs (a multiply-add counts 2) for one input")


def filters_figure(weight: torch.Tensor, run_dir: Path, *, name: str, caption: str, cols: int = 16) -> None:
    """Grey-level images of filters ``[F, C, h, w]`` (first channel) or templates ``[L, C, H, W]``."""
    from ...report.plots import figure, save_figure

    w = weight.detach().float().cpu()
    n = len(w)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig = figure(figsize=(cols * 0.9, rows * 0.95))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = w[i, 0] if w[i].dim() == 3 else w[i]
        ax.imshow(img.numpy(), cmap="RdBu_r", vmin=-float(img.abs().max()), vmax=float(img.abs().max()))
        ax.set_title(str(i), fontsize=7)
        ax.axis("off")
    save_figure(fig, run_dir, name, caption)


@torch.no_grad()
def evaluate_accuracy(predict, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000) -> tuple[float, float]:
    """``(accuracy, seconds)`` of ``predict(x_batch) -> scores [B, K]`` over ``(x, y)``."""
    t0 = time.perf_counter()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((predict(x[i : i + batch_size]).argmax(1).cpu() == y[i : i + batch_size]).sum())
    return correct / len(x), time.perf_counter() - t0
