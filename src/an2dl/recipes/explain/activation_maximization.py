"""``activation-maximization``: the image of each digit class a trained CNN likes most (notes §3.5.2.2, "Generate images").

The notes' objective, with the regulariser subtracted (see
:mod:`an2dl.explain.activation_max`: with ``+λ‖I‖²`` it has no maximum):

    Î_c = argmax_I  S_c(I) − λ ‖I‖²₂ ,

found by gradient ascent on the input from a grey image, clamped to [0, 1].
The recipe trains a small CNN on the embedded digits (16×16), then optimises
one image per class twice — with the penalty ``λ = am.l2`` and without it —
and asks the network what it sees:

* ``am/mean_confidence``, ``am/min_confidence``: the softmax probability of the
  target class on its optimised image (with ``λ``), over the ten classes;
  ``am/accuracy``: the fraction of images classified as their target;
* ``am/norm_l2``, ``am/norm_free``: the mean ``‖Î_c‖₂`` with and without the
  penalty — the regulariser keeps the image small (only the pixels that raise
  the score are lit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...engine.optim import OptimizerSpec
from ...explain import maximize_class
from ...tasks import ClassificationTask
from ..base import Recipe, RunResult, register_recipe
from ..config import RunSettings, TrainerConfig
from ._common import DigitsData, SmallCNN, build_cnn, load_digits_data

__all__ = ["ActivationMaximizationRecipe", "ActivationMaximizationConfig"]


@dataclass
class AscentConfig:
    steps: int = 150  # gradient-ascent steps
    lr: float = 0.05  # step size on the input
    l2: float = 0.3  # lambda of the penalty lambda * ||I||^2 (the run also optimises with lambda = 0)
    jitter: int = 0  # random circular shift (pixels) of the image at each step; 0: none
    blur_every: int = 0  # Gaussian blur (sigma blur_sigma) every this many steps; 0: never
    blur_sigma: float = 0.5  # pixels
    seed: int = 0  # seed of the initial noise and of the jitter


@dataclass
class ActivationMaximizationConfig(RunSettings):
    data: DigitsData = field(default_factory=DigitsData)
    model: SmallCNN = field(default_factory=SmallCNN)
    am: AscentConfig = field(default_factory=AscentConfig)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=32))


@register_recipe
class ActivationMaximizationRecipe(Recipe):
    """Gradient ascent on the input for every digit class of a trained CNN, with and without the L2 penalty."""

    name = "activation-maximization"
    summary = "class images by gradient ascent on the input, argmax_I S_c(I) - lambda ||I||^2 (notes §3.5.2.2)"
    section = "3.5.2.2"
    Config = ActivationMaximizationConfig
    smoke_settings = ("trainer.max_epochs=1", "am.steps=5")

    def build(self, cfg: ActivationMaximizationConfig):
        data = load_digits_data(cfg.data)
        model = build_cnn(cfg.model, data.info)
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim), data

    def _ascend(self, cfg: ActivationMaximizationConfig, model, shape, l2: float):
        a = cfg.am
        return maximize_class(model, list(range(10)), shape, steps=a.steps, lr=a.lr, l2=l2, jitter=a.jitter,
                              blur_every=a.blur_every, blur_sigma=a.blur_sigma, seed=a.seed)

    def extra_metrics(self, cfg: ActivationMaximizationConfig, task: ClassificationTask, data) -> tuple[dict[str, Any], list[str]]:
        model = task.model
        shape = tuple(data.info.input_shape)
        tied = self._ascend(cfg, model, shape, cfg.am.l2)
        free = self._ascend(cfg, model, shape, 0.0)
        self._images = (tied, free)  # for the figures of this run
        with torch.no_grad():
            probs = model(tied.images).float().softmax(dim=1).cpu()
        target = torch.arange(10)
        p = probs[target, target]
        metrics = {
            "am/mean_confidence": float(p.mean()),
            "am/min_confidence": float(p.min()),
            "am/accuracy": float((probs.argmax(dim=1) == target).float().mean()),
            "am/norm_l2": float(tied.images.flatten(1).norm(dim=1).mean()),
            "am/norm_free": float(free.images.flatten(1).norm(dim=1).mean()),
            "am/mean_confidence_free": float(free.probabilities.mean()),
        }
        return metrics, [
            f"am/*: one image per class by {cfg.am.steps} steps of gradient ascent (step {cfg.am.lr}) on "
            f"S_c(I) - lambda ||I||^2 from a grey image, clamped to [0, 1]; lambda = {cfg.am.l2} (and 0 for *_free)",
            "am/mean_confidence, am/min_confidence: the trained network's softmax probability of the target class on "
            "its image; am/norm_*: mean ||I||_2 of the images",
        ]

    def figures(self, result: RunResult) -> None:
        from ...report.plots import figure, save_figure

        super().figures(result)
        cfg = result.config
        tied, free = self._images
        fig = figure(figsize=(12, 3.0))
        for row, (am, label) in enumerate(((tied, f"λ={cfg.am.l2}"), (free, "λ=0"))):
            for c in range(10):
                ax = fig.add_subplot(2, 10, row * 10 + c + 1)
                ax.imshow(am.images[c, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"{c}: p={float(am.probabilities[c]):.2f}", fontsize=7)
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(label, fontsize=8)
        save_figure(fig, result.run_dir, "class_images",
                    "The image of each digit class found by gradient ascent on S_c(I) - λ||I||² (top) and on S_c(I) "
                    "alone (bottom), with the network's probability of the class; the penalty keeps only the "
                    "strokes that raise the score (notes 3.5.2.2)")
        fig = figure(figsize=(5, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(tied.objective.numpy(), label=f"λ={cfg.am.l2}")
        ax.plot(free.objective.numpy(), label="λ=0")
        ax.set_xlabel("gradient-ascent step")
        ax.set_ylabel("mean S_c(I) - λ||I||²")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, result.run_dir, "ascent_objective", "The objective over the ascent, mean over the ten classes")
