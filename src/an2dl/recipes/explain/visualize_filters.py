"""``visualize-filters``: what a trained CNN's units look at — first-layer filters, top-activating patches (notes §3.5.2.2).

The notes: "the filters in the first convolutional layer are relatively
straightforward to interpret", while a deeper unit is understood through the
images that activate it most and the receptive field of the maximal unit
(their five steps under "Neuron activation").  The recipe trains a small CNN
(two conv–ReLU–pool blocks, 5×5 kernels) on the embedded 8×8 digits resized to
16×16 (``--set data.name=mnist`` for MNIST), then

* draws the first layer's filters, each min–max normalised on its own
  (:func:`an2dl.explain.plot_filters`), before and after training;
* measures how smooth they became: the correlation between neighbouring
  weights (:func:`~an2dl.recipes.explain._common.neighbour_correlation`),
  about 0 for the random initialisation and clearly positive for the
  blob- and edge-like filters training produces;
* for a few channels of the second convolution, finds the test images that
  activate them most and cuts out the receptive field of the arg-max unit
  (:func:`an2dl.explain.top_activating`, 14×14 pixels: two 5×5 convolutions
  and a 2×2 pooling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...engine.optim import OptimizerSpec
from ...explain import conv_layers, plot_filters, top_activating
from ...tasks import ClassificationTask
from ..base import Recipe, RunResult, register_recipe
from ..config import RunSettings, TrainerConfig
from ._common import DigitsData, SmallCNN, build_cnn, load_digits_data, neighbour_correlation

__all__ = ["VisualizeFilters", "VisualizeFiltersConfig"]


@dataclass
class TopConfig:
    channels: int = 6  # channels of the second convolution shown (the first ones)
    k: int = 8  # top-activating test images per channel


@dataclass
class VisualizeFiltersConfig(RunSettings):
    data: DigitsData = field(default_factory=DigitsData)
    model: SmallCNN = field(default_factory=SmallCNN)
    top: TopConfig = field(default_factory=TopConfig)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=32))


@register_recipe
class VisualizeFilters(Recipe):
    """A small CNN on digits: its first-layer filters before and after training, and top-activating patches."""

    name = "visualize-filters"
    summary = "first-layer filters (before/after training) and top-activating receptive-field patches (notes §3.5.2.2)"
    section = "3.5.2.2"
    Config = VisualizeFiltersConfig
    smoke_settings = ("trainer.max_epochs=1", "top.channels=2", "top.k=3")

    def build(self, cfg: VisualizeFiltersConfig):
        data = load_digits_data(cfg.data)
        model = build_cnn(cfg.model, data.info)
        # the initial filters (the same on a resumed run: build runs after seeding with trainer.seed)
        self._initial_filters = model.get_submodule(conv_layers(model)[0]).weight.detach().clone()
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim), data

    def extra_metrics(self, cfg: VisualizeFiltersConfig, task: ClassificationTask, data) -> tuple[dict[str, Any], list[str]]:
        model = task.model
        trained = model.get_submodule(conv_layers(model)[0]).weight
        metrics = {"filters/neighbour_correlation_init": neighbour_correlation(self._initial_filters),
                   "filters/neighbour_correlation_trained": neighbour_correlation(trained)}
        return metrics, ["filters/neighbour_correlation_*: the correlation of horizontally and vertically adjacent "
                         "weights of the first layer's filters (0: independent random weights; near 1: smooth filters)"]

    def figures(self, result: RunResult) -> None:
        super().figures(result)
        cfg, model, data = result.config, result.task.model, result.data
        plot_filters(model, result.run_dir, caption="The first layer's filters after training, each min-max "
                     "normalised on its own (bright: large positive weight)")
        init = torch.nn.Conv2d(*self._initial_filters.shape[:2][::-1], self._initial_filters.shape[-1])
        with torch.no_grad():
            init.weight.copy_(self._initial_filters)
        plot_filters(torch.nn.Sequential(init), result.run_dir, name="first_layer_filters_init",
                     caption="The same filters at initialisation (random): no structure between neighbouring weights")
        self._top_figure(cfg, model, data, result.run_dir)

    def _top_figure(self, cfg: VisualizeFiltersConfig, model, data, run_dir) -> None:
        from ...report.plots import figure, save_figure

        convs = conv_layers(model)
        layer = convs[1] if len(convs) > 1 else convs[0]
        width = model.get_submodule(layer).out_channels
        channels = list(range(min(cfg.top.channels, width)))
        x = data.test.tensors[0]
        model = model.cpu().float()
        tops = [top_activating(model, x, layer, ch, k=cfg.top.k) for ch in channels]
        fig = figure(figsize=(cfg.top.k * 0.9 + 0.6, len(channels) * 0.95 + 0.5))
        for r, top in enumerate(tops):
            for c, patch in enumerate(top.patches):
                ax = fig.add_subplot(len(channels), cfg.top.k, r * cfg.top.k + c + 1)
                ax.imshow(patch[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(f"ch {top.channel}", fontsize=7)
        f = tops[0].field
        save_figure(fig, run_dir, "top_activating_patches",
                    f"For each of {len(channels)} channels of {layer} (a row), the receptive-field patches "
                    f"({f.size[0]}x{f.size[1]} pixels, cut at the borders) of the {cfg.top.k} test images that activate "
                    "it most, best first: the image patch around the maximal unit (notes 3.5.2.2)")
