"""``conv-vs-dense``: a convolutional layer is a sparse, weight-shared dense layer (notes §3.3.5).

For a fixed input size a convolution is a linear map, so it has a matrix
``M`` (:func:`an2dl.ops.conv2d_as_matrix`) with ``conv(x).flatten() = M · x.flatten()``.
The recipe builds ``M`` for a convolutional layer on the embedded 8×8 digits
and measures the three differences the notes list between it and the weight
matrix of a dense layer with the same input and output sizes:

* **parameters** — ``(h·w·C_in)·C_out + C_out`` for the convolution, whatever
  the image size, against ``d_in·d_out + d_out`` for the dense layer, which
  grows with the product of the input and output sizes (a table over image
  sides, ``params/*``);
* **sparse connectivity and weight sharing** — the fraction of non-zero
  entries of ``M`` and the number of distinct weights that fill them
  (``matrix/*``), with a figure of ``M`` whose colours are the weight
  indices: every row of an output channel repeats the same few weights, shifted;
* **equality** — ``M · x`` equals ``F.conv2d(x)`` on real digits (float64,
  ``equality/*``);
* **translation equivariance** — shifting the image cyclically shifts the
  output of a stride-1 convolution with circular padding (the notes' circular
  structure): ``‖f(S x) − S f(x)‖ / ‖f(x)‖ ≈ 0``, while a dense layer with
  random weights of the same sizes gives an error of order 1
  (``equivariance/*``).  With zero padding the convolution is equivariant
  away from the border only; its whole-image error is reported too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...data import get_dataset
from ...errors import ConfigError
from ...ops import conv2d_as_matrix, conv_vs_dense_parameters, matrix_sharing, translation_equivariance_error
from .._variants import note_unused_trainer_settings
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig

__all__ = ["ConvVsDense", "ConvVsDenseConfig"]


@dataclass
class ConvVsDenseConfig:
    out_channels: int = 4  # filters of the convolutional layer (the digits have one input channel)
    kernel_size: int = 3  # filter side h = w
    stride: int = 1  # of the layer written as a matrix (the equivariance test always uses stride 1)
    padding: int = 1  # zero padding of the layer written as a matrix
    dilation: int = 1  # filter dilation
    shift: list[int] = field(default_factory=lambda: [2, 3])  # (rows, columns) of the cyclic shift S
    images: int = 64  # test digits on which the equality and the equivariance are measured
    param_sides: list[int] = field(default_factory=lambda: [8, 32, 64, 224])  # image sides of the parameter table
    # seed: of the random filters and of the dense layer; nothing is trained, so the other settings do not apply
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def _check(cfg: ConvVsDenseConfig) -> None:
    for name, value, low in (("out_channels", cfg.out_channels, 1), ("kernel_size", cfg.kernel_size, 1),
                             ("stride", cfg.stride, 1), ("padding", cfg.padding, 0), ("dilation", cfg.dilation, 1),
                             ("images", cfg.images, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}; got {value!r}")
    if not isinstance(cfg.shift, (list, tuple)) or len(cfg.shift) != 2 or not all(isinstance(v, int) for v in cfg.shift):
        raise ConfigError(f"shift must be two integers [rows, columns]; got {cfg.shift!r}")
    if not cfg.param_sides or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in cfg.param_sides):
        raise ConfigError(f"param_sides must be a non-empty list of positive integers; got {cfg.param_sides!r}")


@register_recipe
class ConvVsDense(Recipe):
    """A convolution written as a matrix: parameters, sparsity, weight sharing and equivariance vs a dense layer."""

    name = "conv-vs-dense"
    summary = ("a convolutional layer as a sparse, weight-shared matrix vs a dense layer: parameters, sparsity, "
               "equality with F.conv2d, translation equivariance (notes §3.3.5)")
    section = "3.3.5"
    Config = ConvVsDenseConfig
    cannot_resume = "it trains nothing: building the matrices takes seconds"
    smoke_settings = ("images=8", "param_sides=[8,16]")

    def no_model(self, cfg: ConvVsDenseConfig) -> str | None:
        return ("conv-vs-dense holds no trained model to evaluate, export or predict with: it compares a random "
                "convolutional layer with a dense one; its measurements are in results.json and its figures in report.html")

    def run(self, cfg: ConvVsDenseConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        _check(cfg)
        unused = note_unused_trainer_settings(self.name, cfg, ("seed",), "it trains nothing")
        write_run_config(run_dir, self.name, cfg)
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(cfg.trainer.seed)
        data = get_dataset("digits", seed=0)
        x = data.test.tensors[0][: cfg.images].double()  # (B, 1, 8, 8)
        c_in, h, w = x.shape[1:]
        k, c_out = cfg.kernel_size, cfg.out_channels
        weight = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64) / k
        layer = {"stride": cfg.stride, "padding": cfg.padding, "dilation": cfg.dilation}

        # the matrix and the layer agree on real images
        m = conv2d_as_matrix(weight, (c_in, h, w), **layer)
        y_conv = F.conv2d(x, weight, **layer).flatten(1)  # (B, C_out·H'·W')
        y_matrix = torch.sparse.mm(m, x.flatten(1).T).T
        share = matrix_sharing(weight, (c_in, h, w), **layer)
        params = conv_vs_dense_parameters(c_in, c_out, k, (h, w), **layer)

        # translation equivariance: circular padding, stride 1, output of the input's size
        pad = cfg.dilation * (k - 1) // 2
        if cfg.dilation * (k - 1) % 2:
            raise ConfigError(f"the equivariance test needs an odd window span dilation*(kernel_size-1)+1; "
                              f"got kernel_size={k}, dilation={cfg.dilation}")
        circular = nn.Conv2d(c_in, c_out, k, padding=pad, dilation=cfg.dilation, padding_mode="circular",
                             bias=False).double()
        zeros = nn.Conv2d(c_in, c_out, k, padding=pad, dilation=cfg.dilation, bias=False).double()
        with torch.no_grad():
            circular.weight.copy_(weight)
            zeros.weight.copy_(weight)
        torch.manual_seed(cfg.trainer.seed)
        dense = nn.Linear(c_in * h * w, c_out * h * w).double()

        def dense_layer(t: torch.Tensor) -> torch.Tensor:
            return dense(t.flatten(1)).view(-1, c_out, h, w)

        shift = (int(cfg.shift[0]), int(cfg.shift[1]))
        metrics: dict[str, float] = {
            "layer/in_features": params.in_features,
            "layer/out_features": params.out_features,
            "params/conv": params.conv,
            "params/dense": params.dense,
            "params/dense_over_conv": params.ratio,
            "matrix/rows": share.shape[0],
            "matrix/columns": share.shape[1],
            "matrix/entries": share.entries,
            "matrix/nonzero": share.nonzero,
            "matrix/density": share.density,
            "matrix/distinct_weights": share.distinct_weights,
            "matrix/uses_per_weight": share.uses_per_weight,
            "equality/max_abs_diff_matrix_vs_conv2d": float((y_matrix - y_conv).abs().max()),
            "equivariance/conv_circular": translation_equivariance_error(circular, x, shift),
            "equivariance/conv_zero_padding": translation_equivariance_error(zeros, x, shift),
            "equivariance/dense": translation_equivariance_error(dense_layer, x, shift),
        }
        table = []
        for side in cfg.param_sides:
            p = conv_vs_dense_parameters(c_in, c_out, k, (side, side), **layer)
            metrics[f"params/conv_{side}px"] = p.conv
            metrics[f"params/dense_{side}px"] = p.dense
            table.append((side, p.conv, p.dense))
        metrics["time/total_s"] = time.perf_counter() - t0

        self._figures(run_dir, weight, (c_in, h, w), layer, table, x, circular, dense_layer, shift, metrics)
        write_results(run_dir, metrics, notes=[
            f"a {c_out}-filter {k}x{k} convolution (stride {cfg.stride}, padding {cfg.padding}, dilation "
            f"{cfg.dilation}) on the {h}x{w} digits written as a {share.shape[0]}x{share.shape[1]} matrix; "
            "random filters (seed trainer.seed), float64",
            "params/*: the convolution against a dense layer with the same input and output sizes, biases included; "
            "params/conv_<side>px and params/dense_<side>px for square images of that side",
            f"equivariance/*: ||f(S x) - S f(x)|| / ||f(x)|| over {len(x)} test digits, S a cyclic shift by {shift}; "
            "conv_circular: stride 1 with circular padding; conv_zero_padding: the same filters with zero padding "
            "(the border breaks the equivariance); dense: nn.Linear with PyTorch's default random initialisation",
            *unused,
        ])
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg)

    def _figures(self, run_dir, weight, input_shape, layer, table, x, circular, dense_layer, shift, metrics) -> None:
        import numpy as np

        from ...report.plots import figure, save_figure

        # M with each weight replaced by its index: equal colours are the same (shared) weight
        ids = torch.arange(1, weight.numel() + 1, dtype=torch.float64).view_as(weight)
        index = conv2d_as_matrix(ids, input_shape, dense=True, **layer).numpy()
        fig = figure(figsize=(11, 5))
        ax = fig.add_subplot(1, 2, 1)
        ax.imshow(np.ma.masked_equal(index, 0), cmap="turbo", aspect="auto", interpolation="nearest")
        ax.set_title(f"convolution: {metrics['matrix/nonzero']:,} non-zero of {metrics['matrix/entries']:,} entries, "
                     f"{metrics['matrix/distinct_weights']} distinct weights", fontsize=9)
        ax.set_xlabel("input unit (channel, row, column)")
        ax.set_ylabel("output unit (filter, row, column)")
        ax = fig.add_subplot(1, 2, 2)
        own = np.random.default_rng(0).permutation(index.size).reshape(index.shape)  # one weight per entry
        ax.imshow(own, cmap="turbo", aspect="auto", interpolation="nearest")
        ax.set_title(f"dense layer: {metrics['matrix/entries']:,} entries, each its own weight", fontsize=9)
        ax.set_xlabel("input unit")
        save_figure(fig, run_dir, "conv_matrix",
                    "The weight matrix of the convolution (left; blank = 0, colour = which filter weight) against "
                    "that of a dense layer of the same sizes (right): sparse connectivity and weight sharing")

        fig = figure(figsize=(6, 4))
        ax = fig.add_subplot(1, 1, 1)
        sides = [s for s, _, _ in table]
        ax.plot(sides, [c for _, c, _ in table], "o-", label="convolution")
        ax.plot(sides, [d for _, _, d in table], "s-", label="dense, same input and output sizes")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("image side (pixels)")
        ax.set_ylabel("parameters")
        ax.legend(fontsize=8)
        save_figure(fig, run_dir, "parameters",
                    "Parameters against image size: constant for the convolution, growing as the fourth power of "
                    "the side for the dense layer")

        img = x[:1]
        rolled = torch.roll(img, shifts=shift, dims=(-2, -1))
        with torch.no_grad():
            rows = [
                ("input x", img[0, 0], "shifted S x", rolled[0, 0]),
                ("conv: f(S x)", circular(rolled)[0, 0], "conv: S f(x)", torch.roll(circular(img), shift, (-2, -1))[0, 0]),
                ("dense: f(S x)", dense_layer(rolled)[0, 0], "dense: S f(x)",
                 torch.roll(dense_layer(img), shift, (-2, -1))[0, 0]),
            ]
        fig = figure(figsize=(5, 7))
        for r, (t1, a, t2, b) in enumerate(rows):
            lim = float(max(a.abs().max(), b.abs().max()))
            for col, (title, im) in enumerate(((t1, a), (t2, b))):
                ax = fig.add_subplot(3, 2, 2 * r + col + 1)
                ax.imshow(im.numpy(), cmap="gray" if r == 0 else "RdBu_r", vmin=0 if r == 0 else -lim, vmax=lim)
                ax.set_title(title, fontsize=9)
                ax.axis("off")
        save_figure(fig, run_dir, "equivariance",
                    f"Translation equivariance: shifting then applying the layer equals applying then shifting for "
                    f"the convolution (error {metrics['equivariance/conv_circular']:.1e}), not for a dense layer "
                    f"(error {metrics['equivariance/dense']:.2f}); first output channel")
