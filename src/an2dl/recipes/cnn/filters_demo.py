"""``filters-demo``: local filters on a photograph — box, Gaussian, Sobel, median, min, max (notes §3.1).

The recipe reads a colour image (by default scikit-learn's bundled
``china.jpg``, no download; ``--set image=PATH`` for your own PNG/JPEG) into
a float ``[3, H, W]`` tensor in [0, 1] (notes §3.1.1), adds Gaussian noise
and applies the correlation ``(I ⊗ w)(r, c)`` of §3.1.2 with classic kernels:

* box (moving average) and Gaussian blur, per colour channel: how much of
  the noise each removes is measured against the clean image (RMSE);
* Sobel ``g_x``, ``g_y`` and the gradient magnitude on the grey image (edges);
* a filter spanning the three channels (summed over channels, the notes'
  second formula), computed by the written-out sum and by ``F.conv2d``: the
  largest difference between the two is reported (float64);
* non-linear ``T_U``: salt-and-pepper noise (a fraction of the values set to
  0 or 1) removed by a median filter and by a box filter of the same size,
  each scored by its PSNR against the clean image, ``10·log10(1 / MSE)`` dB.
  The median ignores isolated outliers, the average spreads them over its
  window, so the median's PSNR is much higher; the minimum (erosion) and
  maximum (dilation) filters are drawn on the grey image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ...data.images import read_image, to_float_image
from ...data.transforms.photometric import rgb_to_grayscale
from ...errors import ConfigError
from ...ops import max_filter, median_filter, min_filter, salt_and_pepper
from ...ops.correlation import (
    box_kernel,
    correlate2d,
    correlate2d_reference,
    filter2d,
    gaussian_kernel,
    sobel_kernels,
    sobel_magnitude,
)
from .._variants import note_unused_trainer_settings
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig

__all__ = ["FiltersDemo", "FiltersDemoConfig"]


@dataclass
class FiltersDemoConfig:
    image: str | None = None  # PNG/JPEG path; None: scikit-learn's bundled china.jpg
    max_side: int = 240  # resize so that the longer side has this many pixels
    noise_std: float = 0.1  # Gaussian noise added before blurring
    box_size: int = 5  # side of the box (moving average) kernel
    gaussian_sigma: float = 1.5  # standard deviation of the Gaussian kernel (size 2*ceil(3 sigma) + 1)
    impulse_amount: float = 0.05  # fraction of the values hit by salt-and-pepper noise (set to 0 or 1)
    median_size: int = 3  # side of the median window, and of the box filter it is compared with
    # seed: of the noise and of the random filter bank; nothing is trained, so the other settings do not apply
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def _load(cfg: FiltersDemoConfig) -> torch.Tensor:
    if cfg.image:
        img = read_image(cfg.image, channels=3)
    else:
        from sklearn.datasets import load_sample_image

        img = to_float_image(load_sample_image("china.jpg"))
    h, w = img.shape[-2:]
    if not isinstance(cfg.max_side, int) or cfg.max_side < 8:
        raise ConfigError(f"max_side must be an integer >= 8; got {cfg.max_side!r}")
    scale = cfg.max_side / max(h, w)
    size = (max(8, round(h * scale)), max(8, round(w * scale)))
    return F.interpolate(img[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


def _rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean().sqrt())


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: ``10·log10(1 / MSE)``."""
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean().clamp(min=1e-12)))


@register_recipe
class FiltersDemo(Recipe):
    """Box, Gaussian and Sobel filters on a photograph; the correlation formula against F.conv2d."""

    name = "filters-demo"
    summary = ("local filters on a photograph: box, Gaussian, Sobel, (I ⊗ w) vs F.conv2d; median vs box on "
               "salt-and-pepper noise (notes §3.1)")
    section = "3.1"
    Config = FiltersDemoConfig
    cannot_resume = "it trains nothing: filtering one image takes seconds"
    smoke_settings = ("max_side=32",)

    def no_model(self, cfg: FiltersDemoConfig) -> str | None:
        return ("filters-demo holds no trained model to evaluate, export or predict with: it applies fixed filters "
                "(box, Gaussian, Sobel, median) to an image; its measurements are in results.json and its images in "
                "report.html")

    def run(self, cfg: FiltersDemoConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        unused = note_unused_trainer_settings(self.name, cfg, ("seed",), "it trains nothing")
        write_run_config(run_dir, self.name, cfg)
        t0 = time.perf_counter()
        clean = _load(cfg)
        g = torch.Generator().manual_seed(cfg.trainer.seed)
        noisy = (clean + cfg.noise_std * torch.randn(clean.shape, generator=g)).clamp(0, 1)
        box = filter2d(noisy, box_kernel(cfg.box_size))
        gauss = filter2d(noisy, gaussian_kernel(sigma=cfg.gaussian_sigma))
        grey = rgb_to_grayscale(clean)
        gx, gy = sobel_kernels()
        dx, dy = filter2d(grey, gx, border="replicate"), filter2d(grey, gy, border="replicate")
        magnitude = sobel_magnitude(grey)
        # the notes' multi-channel correlation: one 3-channel filter, summed over channels
        bank = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
        x64 = clean.double()
        diff = (correlate2d_reference(x64, bank) - correlate2d(x64, bank)).abs().max()
        # non-linear filters: impulse noise, median vs the box filter of the same window
        if not isinstance(cfg.median_size, int) or isinstance(cfg.median_size, bool) or cfg.median_size < 1 \
                or cfg.median_size % 2 == 0:
            raise ConfigError(f"median_size must be an odd positive integer; got {cfg.median_size!r}")
        impulsive = salt_and_pepper(clean, cfg.impulse_amount, seed=cfg.trainer.seed)
        median = median_filter(impulsive, cfg.median_size)
        box_impulse = filter2d(impulsive, box_kernel(cfg.median_size))
        eroded, dilated = min_filter(grey, cfg.median_size), max_filter(grey, cfg.median_size)
        metrics = {
            "image/height": clean.shape[1],
            "image/width": clean.shape[2],
            "denoise/rmse_noisy": _rmse(noisy, clean),
            "denoise/rmse_box": _rmse(box, clean),
            "denoise/rmse_gaussian": _rmse(gauss, clean),
            "edges/mean_magnitude": float(magnitude.mean()),
            "correlation/max_abs_diff_reference_vs_conv2d": float(diff),
            "impulse/psnr_noisy": _psnr(impulsive, clean),
            "impulse/psnr_box": _psnr(box_impulse, clean),
            "impulse/psnr_median": _psnr(median, clean),
            "time/total_s": time.perf_counter() - t0,
        }
        self._figures(run_dir, clean, noisy, box, gauss, dx, dy, magnitude, cfg)
        self._nonlinear_figure(run_dir, clean, impulsive, box_impulse, median, grey, eroded, dilated, metrics, cfg)
        write_results(run_dir, metrics, notes=[
            f"box {cfg.box_size}x{cfg.box_size} and Gaussian (sigma {cfg.gaussian_sigma}) blur applied per colour channel "
            "to the noisy image; RMSE measured against the clean image",
            "Sobel derivatives and magnitude computed on the grey image (0.299 R + 0.587 G + 0.114 B)",
            "correlation/max_abs_diff_reference_vs_conv2d: the written-out sum over offsets vs F.conv2d, float64",
            f"impulse/*: salt-and-pepper noise on {cfg.impulse_amount:.0%} of the values, removed by a "
            f"{cfg.median_size}x{cfg.median_size} median and by the box filter of the same size (reflect borders); "
            "PSNR = 10 log10(1 / MSE) dB against the clean image",
            *unused,
        ])
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg)

    def _figures(self, run_dir, clean, noisy, box, gauss, dx, dy, magnitude, cfg) -> None:
        from ...report.plots import figure, save_figure

        panels = [
            (clean, "original"), (noisy, f"noisy (σ={cfg.noise_std})"), (box, f"box {cfg.box_size}×{cfg.box_size}"),
            (gauss, f"Gaussian σ={cfg.gaussian_sigma}"), (dx, "Sobel g_x"), (dy, "Sobel g_y"), (magnitude, "gradient magnitude"),
        ]
        fig = figure(figsize=(13, 5.5))
        for i, (img, title) in enumerate(panels):
            ax = fig.add_subplot(2, 4, i + 1)
            if img.shape[0] == 3:
                ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
            else:
                a = img[0]
                signed = bool((a < 0).any())
                lim = float(a.abs().max())
                ax.imshow(a.numpy(), cmap="RdBu_r" if signed else "gray", vmin=-lim if signed else 0, vmax=lim)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        save_figure(fig, run_dir, "filters", "Local linear filters (I ⊗ w)(r, c): blur removes noise, Sobel kernels find edges")

        kernels = [(box_kernel(cfg.box_size), "box"), (gaussian_kernel(sigma=cfg.gaussian_sigma), "Gaussian"),
                   (sobel_kernels()[0], "Sobel g_x"), (sobel_kernels()[1], "Sobel g_y")]
        fig = figure(figsize=(10, 2.8))
        for i, (k, title) in enumerate(kernels):
            ax = fig.add_subplot(1, 4, i + 1)
            lim = float(k.abs().max())
            ax.imshow(k.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{title} {k.shape[0]}×{k.shape[1]}", fontsize=9)
            ax.axis("off")
        save_figure(fig, run_dir, "kernels", "The kernels w(u, v), u, v in -L..L (red positive, blue negative)")

    def _nonlinear_figure(self, run_dir, clean, impulsive, box, median, grey, eroded, dilated, metrics, cfg) -> None:
        from ...report.plots import figure, save_figure

        k = cfg.median_size
        panels = [
            (clean, "original"),
            (impulsive, f"salt and pepper ({cfg.impulse_amount:.0%}), {metrics['impulse/psnr_noisy']:.1f} dB"),
            (box, f"box {k}×{k}, {metrics['impulse/psnr_box']:.1f} dB"),
            (median, f"median {k}×{k}, {metrics['impulse/psnr_median']:.1f} dB"),
            (grey, "grey"),
            (eroded, f"min {k}×{k} (erosion)"),
            (dilated, f"max {k}×{k} (dilation)"),
        ]
        fig = figure(figsize=(13, 5.5))
        for i, (img, title) in enumerate(panels):
            ax = fig.add_subplot(2, 4, i + 1)
            if img.shape[0] == 3:
                ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
            else:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        save_figure(fig, run_dir, "nonlinear_filters",
                    "Non-linear local filters T_U: the median removes salt-and-pepper noise that the box filter "
                    "only spreads (PSNR against the clean image); erosion and dilation shrink and grow bright regions")
