"""Inverse problems solved by a learned image-to-image network (notes §3.7): ``superres-mnist``,
``inpaint-mnist`` and ``colorize-shapes``.

§3.7 names super-resolution, inpainting and colourisation as problems that a
model of the distribution of natural images helps to solve: the degraded image
``x = A(s)`` (averaged down, holed, greyed) has lost information about the clean
image ``s`` that no rule applied pixel by pixel can recover, but a network
trained on pairs ``(A(s), s)`` has learned what clean images look like and
fills it in.  Each recipe trains a small U-Net (``image_unet``,
Ronneberger et al. 2015) on such pairs with the mean squared error and
compares it on the test images with the classical answer:

* ``superres-mnist`` — ``A`` averages ``scale x scale`` blocks (28x28 -> 7x7 at
  ``scale=4``); the network sees the bicubic upsampling of the small image, and
  the baseline is that bicubic interpolation itself.
* ``inpaint-mnist`` — ``A`` sets a ``hole x hole`` square to 0; the network also
  sees the mask.  Baseline: *mean fill*, every hidden pixel gets the training
  images' mean at that pixel (the mean of the image's own visible pixels, a
  weaker fill, is reported too).
* ``colorize-shapes`` — ``A`` turns the ``colored-shapes`` images grey (BT.601
  luma).  Baseline: *mean colour*, every pixel gets the mean training colour of
  its grey level (a lookup table of ``grey_levels`` bins), the best any
  pixel-by-pixel rule can do in squared error; painting each grey pixel in grey is reported too.

The comparison uses two image-quality measures of torchmetrics, averaged over the test images:
the peak signal-to-noise ratio ``PSNR = 10·log10(1 / MSE)`` (images in [0, 1])
and the structural similarity SSIM of Wang et al. (2004) (Gaussian window 11,
σ = 1.5).  The report shows input, baseline, network output and target side by side.

The network's outputs keep what the input fixes, as the baselines do: the
inpainted image keeps its visible pixels (only the hole is taken from the
network), the coloured image keeps the grey level (the network supplies the
chroma); the network is trained through this, so its loss measures only what
it has to supply.

Departure from the notes: they cite generative models (GANs, VAEs) for these
problems; here the model of the clean images is a network trained with a
pixel loss on pairs, the simplest conditional model, which predicts the mean
of the plausible answers (blurred where several are plausible) rather than a
sample of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..._utils.rng import derive_seed
from ...data import get_dataset
from ...data.core import ArrayDataset, DatasetInfo, DataSplits
from ...engine.optim import OptimizerSpec
from ...engine.task import Task
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...tasks import RegressionTask
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant
from ..config import RunSettings, TrainerConfig
from ._common import MNISTImages, load_mnist

__all__ = [
    "UNetSettings",
    "NETWORKS",
    "MNISTPairs",
    "ShapesData",
    "SuperResolutionConfig",
    "InpaintingConfig",
    "ColorizeConfig",
    "ImageToImageRecipe",
    "image_quality",
    "downsample",
    "bicubic",
    "square_holes",
    "mean_colour_table",
    "SuperResolutionMNIST",
    "InpaintingMNIST",
    "ColorizeShapes",
]


# ------------------------------------------------------------------------------------------ settings
@dataclass
class UNetSettings:
    """``image_unet`` settings shared by the variants."""

    width: int = 8  # channels of the full-resolution level; level l has width·2**l
    depth: int = 2  # 2x down-samplings: 28 -> 14 -> 7
    norm: str = "batch"  # batch or none
    # none: a linear output, clamped to [0, 1] when evaluated; a sigmoid learns the exact black background of
    # digits slowly, which SSIM punishes (at the default settings: SSIM 0.39 against 0.85 for superres-mnist)
    out_activation: str = "none"

    def build(self, *, in_channels: int, out_channels: int, skip: bool, keep: str):
        return get_model("image_unet", in_channels=in_channels, out_channels=out_channels, width=self.width,
                         depth=self.depth, skip=skip, norm=self.norm, out_activation=self.out_activation, keep=keep)


#: the networks a recipe can compare: the U-Net, and the same network without its skip connections
NETWORKS: dict[str, bool] = {"unet": True, "conv-ae": False}


def _adam() -> OptimizerSpec:
    return OptimizerSpec("adam", lr=3e-3)


@dataclass
class _ImageToImageConfig(RunSettings):
    variants: list[str] = field(default_factory=lambda: ["unet"])  # networks trained: unet, conv-ae (no skips)
    model: UNetSettings = field(default_factory=UNetSettings)
    optim: OptimizerSpec = field(default_factory=_adam)
    # small batches: the networks need a few hundred steps before they beat the baselines
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=2, batch_size=16))
    figure_images: int = 12  # test images shown in the input / baseline / output / target grid


@dataclass
class MNISTPairs(MNISTImages):
    """MNIST digits (the clean images ``s``) for the image-to-image recipes."""

    limit_train: int | None = 6000  # training images (the default run takes about a minute on a CPU)
    limit_eval: int | None = 1000  # validation and test images


# ------------------------------------------------------------------------------------------ metrics
@torch.no_grad()
def image_quality(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of ``outputs`` against ``targets`` (torchmetrics, data range 1).

    PSNR is computed per image and averaged (``10·log10(1 / MSE_i)``); SSIM uses
    an 11x11 Gaussian window with σ = 1.5 (Wang et al. 2004).

    Shape:
        ``outputs``, ``targets``: ``[N, C, H, W]`` in [0, 1].
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    if outputs.shape != targets.shape or outputs.dim() != 4:
        raise ValueError(f"image_quality expects two [N, C, H, W] tensors of one shape; got {list(outputs.shape)} "
                         f"and {list(targets.shape)}")
    outputs, targets = outputs.float().clamp(0, 1), targets.float()
    psnr = peak_signal_noise_ratio(outputs, targets, data_range=1.0, dim=(1, 2, 3), reduction="elementwise_mean")
    ssim = structural_similarity_index_measure(outputs, targets, data_range=1.0)
    return {"psnr": float(psnr), "ssim": float(ssim)}


# ------------------------------------------------------------------------------------------ the base
class ImageToImageRecipe(ComparisonRecipe):
    """A network trained on pairs ``(degraded, clean)`` against a classical restoration (§3.7).

    A subclass gives :meth:`load_pairs` (the data as ``(input, target)`` image pairs),
    :meth:`baselines` (the classical answers, the first one being the reference),
    optionally :meth:`display_inputs` (how an input is drawn), and sets
    ``keep`` (what of the input the network's output keeps, see ``image_unet``).
    """

    primary_metric = "test/mse"
    higher_is_better = False
    #: channels of the network's input and output
    in_channels: ClassVar[int] = 1
    out_channels: ClassVar[int] = 1
    keep: ClassVar[str] = "none"

    # ---- what a subclass gives
    def load_pairs(self, cfg: Any) -> DataSplits:
        raise TypeError(f"{type(self).__name__} must define load_pairs(cfg)")

    def baselines(self, cfg: Any, data: DataSplits, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{name: outputs}`` of the classical methods for ``inputs``; the first is the one to beat."""
        raise TypeError(f"{type(self).__name__} must define baselines(cfg, data, inputs)")

    def display_inputs(self, cfg: Any, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The inputs as the report draws them (default: as they are)."""
        return inputs

    # ---- ComparisonRecipe
    def check(self, cfg: Any) -> None:
        super().check(cfg)
        for name in cfg.variants:
            if name not in NETWORKS:
                raise ConfigError(f"variants must be drawn from {sorted(NETWORKS)}; got {name!r}")
        if len(set(cfg.variants)) != len(cfg.variants):
            raise ConfigError(f"variants must not repeat a network; got {cfg.variants!r}")
        if isinstance(cfg.figure_images, bool) or not isinstance(cfg.figure_images, int) or cfg.figure_images < 1:
            raise ConfigError(f"figure_images must be a positive integer; got {cfg.figure_images!r}")

    def variant_names(self, cfg: Any) -> list[str]:
        return list(cfg.variants)

    def load_data(self, cfg: Any) -> DataSplits:
        return self.load_pairs(cfg)

    def build_variant(self, cfg: Any, name: str, data: DataSplits) -> Task:
        if name not in NETWORKS:
            raise ConfigError(f"{self.name} has no network {name!r}; known: {sorted(NETWORKS)}")
        model = cfg.model.build(in_channels=self.in_channels, out_channels=self.out_channels, skip=NETWORKS[name],
                                keep=self.keep)
        return RegressionTask(model, loss="mse", optimizer=cfg.optim)

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        return {"class_names": [], "preprocessing": {"input_shape": list(data.info.input_shape),
                                                     "output_shape": list(data.info.extra["target_shape"]),
                                                     "value_range": [0.0, 1.0]}}

    @torch.no_grad()
    def restore(self, task: Task, inputs: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
        """The trained network's outputs for ``inputs``, clamped to [0, 1] (eval mode, on the CPU)."""
        model = task.model
        was = model.training
        model.eval()
        try:
            dev = module_device(model)
            out = torch.cat([model(b.to(dev)).float().cpu() for b in inputs.split(batch_size)])
        finally:
            model.train(was)
        return out.clamp(0, 1)

    def summarize(self, cfg: Any, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        inputs, targets = data.test.tensors
        metrics: dict[str, Any] = {}
        baselines = self.baselines(cfg, data, inputs)
        reference = next(iter(baselines))
        for name, outputs in baselines.items():
            for k, v in image_quality(outputs, targets).items():
                metrics[f"test/{k}_{name}"] = v
        notes = [f"baseline {name}: PSNR {metrics[f'test/psnr_{name}']:.2f} dB, SSIM {metrics[f'test/ssim_{name}']:.4f}"
                 for name in baselines]
        for v in variants:
            q = image_quality(self.restore(v.task, inputs), targets)
            for k, value in q.items():
                metrics[f"test/{k}_{v.name}"] = value
                metrics[f"test/{k}_gain_{v.name}"] = value - metrics[f"test/{k}_{reference}"]
            notes.append(f"{v.name}: PSNR {q['psnr']:.2f} dB ({q['psnr'] - metrics[f'test/psnr_{reference}']:+.2f} "
                         f"against {reference}), SSIM {q['ssim']:.4f} ({q['ssim'] - metrics[f'test/ssim_{reference}']:+.4f})")
        metrics["reference_baseline"] = reference
        return metrics, notes

    def comparison_figures(self, cfg: Any, variants: list[Variant], data: DataSplits, run_dir: Path, *,
                           metrics: dict[str, Any]) -> None:
        from ...evaluation.generative import save_image_grid

        inputs, targets = data.test.tensors[0][: cfg.figure_images], data.test.tensors[1][: cfg.figure_images]
        rows = {"input": self.display_inputs(cfg, inputs, targets), **self.baselines(cfg, data, inputs),
                **{v.name: self.restore(v.task, inputs) for v in variants}, "target": targets}
        channels = max(r.shape[1] for r in rows.values())
        grid = torch.cat([r.expand(-1, channels, -1, -1) for r in rows.values()])
        save_image_grid(grid, run_dir, "input_output_target",
                        "Test images; rows from the top: " + ", ".join(rows), nrow=len(inputs))
        _quality_bars(run_dir, metrics, [n for n in rows if n not in ("input", "target")])


def _quality_bars(run_dir: Path, metrics: dict[str, Any], names: list[str]) -> None:
    """Bars of the test PSNR and SSIM of every baseline and network."""
    from ...report.plots import figure, save_figure

    fig = figure(figsize=(7.0, 3.0))
    for i, (key, label) in enumerate((("psnr", "PSNR (dB)"), ("ssim", "SSIM"))):
        ax = fig.add_subplot(1, 2, i + 1)
        values = [metrics[f"test/{key}_{n}"] for n in names]
        ax.bar(range(len(names)), values, color=[f"C{k}" for k in range(len(names))])
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylabel(label)
        for x, v in enumerate(values):
            ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    save_figure(fig, run_dir, "quality", "Test PSNR and SSIM of the classical baselines and the trained networks "
                "(higher is better)")


# ------------------------------------------------------------------------------------------ superres-mnist
@dataclass
class SuperResolutionConfig(_ImageToImageConfig):
    data: MNISTPairs = field(default_factory=MNISTPairs)
    scale: int = 4  # down-sampling factor: 28x28 digits seen at 7x7 (2: at 14x14)


def downsample(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Average ``scale x scale`` blocks (the area down-sampling of a camera with larger pixels).

    Shape:
        ``[N, C, H, W]`` -> ``[N, C, H / scale, W / scale]``.
    """
    return F.avg_pool2d(images, scale)


def bicubic(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic interpolation (Keys' a = -0.75, PyTorch's) to ``size``, clamped to [0, 1]."""
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


@register_recipe
class SuperResolutionMNIST(ImageToImageRecipe):
    """×4 (or ×2) super-resolution of MNIST digits: a U-Net against bicubic interpolation (§3.7)."""

    name = "superres-mnist"
    summary = "super-resolution of MNIST digits (7x7 -> 28x28): U-Net vs bicubic interpolation, PSNR/SSIM"
    section = "3.7"
    Config = SuperResolutionConfig
    smoke_settings = ("data.limit_train=256", "data.limit_eval=64", "trainer.max_epochs=1", "model.width=4",
                      "figure_images=4")

    def check(self, cfg: SuperResolutionConfig) -> None:
        super().check(cfg)
        if cfg.scale not in (2, 4):
            raise ConfigError(f"scale must be 2 or 4 (a divisor of 28 that leaves a digit); got {cfg.scale!r}")

    def load_pairs(self, cfg: SuperResolutionConfig) -> DataSplits:
        self.check(cfg)
        data = load_mnist(cfg.data)
        splits = []
        for ds in (data.train, data.val, data.test):
            if ds is None:
                splits.append(None)
                continue
            clean = ds.tensors[0]
            splits.append(ArrayDataset(bicubic(downsample(clean, cfg.scale), clean.shape[-2:]), clean))
        info = DatasetInfo(name=f"mnist-x{cfg.scale}", input_shape=(1, 28, 28),
                           extra={"target_shape": [1, 28, 28], "scale": cfg.scale})
        return DataSplits(*splits, info)

    def baselines(self, cfg, data, inputs):
        return {"bicubic": inputs}  # the network's input is the bicubic upsampling

    def display_inputs(self, cfg: SuperResolutionConfig, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # the low-resolution image itself, drawn with its large pixels
        return F.interpolate(downsample(targets, cfg.scale), size=targets.shape[-2:], mode="nearest")


# ------------------------------------------------------------------------------------------ inpaint-mnist
@dataclass
class InpaintingConfig(_ImageToImageConfig):
    data: MNISTPairs = field(default_factory=MNISTPairs)
    hole: int = 12  # side of the hidden square, in pixels
    margin: int = 4  # the square lies at least this far from the border (MNIST digits fill the central 20x20)


def square_holes(n: int, size: int, hole: int, margin: int, *, seed: int) -> torch.Tensor:
    """Masks ``[n, 1, size, size]`` (1 = hidden) of one ``hole x hole`` square each, placed uniformly
    with its corner in ``[margin, size - margin - hole]`` (a pure function of ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    high = size - margin - hole
    top, left = (torch.randint(margin, high + 1, (n, 1, 1), generator=g) for _ in range(2))
    rows = torch.arange(size).view(1, size, 1)
    cols = torch.arange(size).view(1, 1, size)
    inside = (rows >= top) & (rows < top + hole) & (cols >= left) & (cols < left + hole)  # [n, size, size]
    return inside.unsqueeze(1).float()


@register_recipe
class InpaintingMNIST(ImageToImageRecipe):
    """Inpainting of a hidden square of MNIST digits: a U-Net against mean fill (§3.7)."""

    name = "inpaint-mnist"
    summary = "inpainting a hidden 12x12 square of MNIST digits: U-Net vs mean fill, PSNR/SSIM"
    section = "3.7"
    Config = InpaintingConfig
    in_channels = 2  # the holed image and the mask
    keep = "visible"  # the output keeps the visible pixels: only the hole comes from the network
    smoke_settings = ("data.limit_train=256", "data.limit_eval=64", "trainer.max_epochs=1", "model.width=4",
                      "figure_images=4")

    def check(self, cfg: InpaintingConfig) -> None:
        super().check(cfg)
        for name, value in (("hole", cfg.hole), ("margin", cfg.margin)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "hole" else 0):
                raise ConfigError(f"{name} must be an integer >= {1 if name == 'hole' else 0}; got {value!r}")
        if cfg.hole + 2 * cfg.margin > 28:
            raise ConfigError(f"hole + 2·margin must be at most 28 (the digit's side); got {cfg.hole} + 2·{cfg.margin}")

    def load_pairs(self, cfg: InpaintingConfig) -> DataSplits:
        self.check(cfg)
        data = load_mnist(cfg.data)
        splits = []
        for split in ("train", "val", "test"):
            ds = getattr(data, split)
            if ds is None:
                splits.append(None)
                continue
            clean = ds.tensors[0]
            mask = square_holes(len(clean), 28, cfg.hole, cfg.margin, seed=derive_seed(cfg.data.seed, "holes", split))
            splits.append(ArrayDataset(torch.cat([clean * (1 - mask), mask], 1), clean))  # [N, 2, 28, 28]
        info = DatasetInfo(name="mnist-holes", input_shape=(2, 28, 28),
                           extra={"target_shape": [1, 28, 28], "hole": cfg.hole, "margin": cfg.margin})
        return DataSplits(*splits, info)

    def export_info(self, cfg, data) -> dict[str, Any]:
        info = super().export_info(cfg, data)
        info["preprocessing"]["channels"] = ["image with the hole set to 0", "mask (1 = hidden)"]
        return info

    def baselines(self, cfg, data, inputs):
        visible, mask = inputs[:, :1], inputs[:, 1:]
        mean_image = data.train.tensors[1].mean(0)  # [1, 28, 28]: the training images' mean at every pixel
        seen = (1 - mask).flatten(1).sum(1).clamp_min(1)
        visible_mean = (visible.flatten(1).sum(1) / seen).view(-1, 1, 1, 1)
        return {"mean-fill": visible + mask * mean_image, "visible-mean": visible + mask * visible_mean}

    def display_inputs(self, cfg, inputs, targets):
        visible, mask = inputs[:, :1], inputs[:, 1:]
        return visible + 0.5 * mask  # the hole drawn in mid-grey


# ------------------------------------------------------------------------------------------ colorize-shapes
@dataclass
class ShapesData:
    """The ``colored-shapes`` dataset (grey input, RGB target)."""

    n_train: int = 3000  # training images
    n_val: int = 300  # validation images
    n_test: int = 500  # test images
    size: int = 32  # side in pixels
    max_shapes: int = 2  # shapes per image: 1 to max_shapes
    seed: int = 0  # the images are a pure function of it


@dataclass
class ColorizeConfig(_ImageToImageConfig):
    data: ShapesData = field(default_factory=ShapesData)
    grey_levels: int = 64  # bins of the mean-colour lookup table


def mean_colour_table(grey: torch.Tensor, rgb: torch.Tensor, levels: int) -> torch.Tensor:
    """``[levels, 3]``: the mean colour of the training pixels of every grey level (bins of width 1/levels);
    an empty bin holds its grey level as a colour (R = G = B)."""
    bins = (grey.flatten() * levels).long().clamp(0, levels - 1)  # [N·H·W]
    colours = rgb.permute(1, 0, 2, 3).reshape(3, -1).T  # [N·H·W, 3]
    sums = torch.zeros(levels, 3).index_add_(0, bins, colours)
    counts = torch.bincount(bins, minlength=levels).float().unsqueeze(1)
    centres = ((torch.arange(levels) + 0.5) / levels).unsqueeze(1).expand(levels, 3)
    return torch.where(counts > 0, sums / counts.clamp_min(1), centres)


@register_recipe
class ColorizeShapes(ImageToImageRecipe):
    """Colourisation of grey images of coloured shapes: a U-Net against the mean colour of each grey level (§3.7)."""

    name = "colorize-shapes"
    summary = "colourisation of synthetic shapes (grey -> RGB): U-Net vs the mean colour of each grey level, PSNR/SSIM"
    section = "3.7"
    Config = ColorizeConfig
    out_channels = 3
    keep = "luma"  # the output keeps the input's grey level: the network supplies the chroma
    smoke_settings = ("data.n_train=256", "data.n_val=32", "data.n_test=64", "trainer.max_epochs=1", "model.width=4",
                      "figure_images=4")

    def check(self, cfg: ColorizeConfig) -> None:
        super().check(cfg)
        if isinstance(cfg.grey_levels, bool) or not isinstance(cfg.grey_levels, int) or cfg.grey_levels < 2:
            raise ConfigError(f"grey_levels must be an integer >= 2; got {cfg.grey_levels!r}")

    def load_pairs(self, cfg: ColorizeConfig) -> DataSplits:
        self.check(cfg)
        d = cfg.data
        data = get_dataset("colored-shapes", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, size=d.size,
                           max_shapes=d.max_shapes, seed=d.seed)
        return data

    def export_info(self, cfg, data) -> dict[str, Any]:
        info = super().export_info(cfg, data)
        info["preprocessing"]["grey"] = "0.299 R + 0.587 G + 0.114 B"
        return info

    def baselines(self, cfg, data, inputs):
        table = mean_colour_table(*data.train.tensors, cfg.grey_levels)  # [levels, 3], from the training pairs
        bins = (inputs[:, 0] * cfg.grey_levels).long().clamp(0, cfg.grey_levels - 1)  # [N, H, W]
        return {"mean-colour": table[bins].permute(0, 3, 1, 2).contiguous(), "grey": inputs.expand(-1, 3, -1, -1)}
