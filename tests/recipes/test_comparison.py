"""``ComparisonRecipe.run`` hands ``comparison_figures`` the metrics ``summarize`` returned (``metrics=``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch

from an2dl.data.core import ArrayDataset, DatasetInfo, DataSplits
from an2dl.models import get_model
from an2dl.recipes.base import input_preprocessing
from an2dl.recipes.comparison import ComparisonRecipe, Variant
from an2dl.recipes.config import RunSettings, TrainerConfig
from an2dl.tasks.regression import RegressionTask


@dataclass
class _ProbeConfig(RunSettings):
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=1, batch_size=4))


class _Probe(ComparisonRecipe):
    """Two linear regressors on eight points; ``summarize`` returns a new dict on every call."""

    name = "comparison-probe"
    Config = _ProbeConfig

    def __init__(self) -> None:
        self.returned: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []

    def variant_names(self, cfg: _ProbeConfig) -> list[str]:
        return ["small", "large"]

    def load_data(self, cfg: _ProbeConfig) -> DataSplits:
        x = torch.linspace(-1, 1, 16).reshape(8, 2)
        split = ArrayDataset(x, x.sum(dim=1, keepdim=True))
        return DataSplits(split, split, split, DatasetInfo("probe", input_shape=(2,)))

    def export_info(self, cfg: _ProbeConfig, data: DataSplits) -> dict[str, Any]:
        return {"preprocessing": input_preprocessing(data.info)}  # regression: no class names

    def build_variant(self, cfg: _ProbeConfig, name: str, data: DataSplits) -> RegressionTask:
        return RegressionTask(get_model("mlp", in_features=2, hidden=[], num_outputs=1, output="linear"))

    def summarize(self, cfg: _ProbeConfig, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        extra = {"probe/call": len(self.returned), **{f"probe/mse_x2_{v.name}": 2 * v.metrics["test/mse"]
                                                      for v in variants}}
        self.returned.append(extra)
        return extra, []

    def comparison_figures(self, cfg: _ProbeConfig, variants: list[Variant], data: DataSplits, run_dir, *,
                           metrics: dict[str, Any]) -> None:
        self.received.append(metrics)


def test_comparison_figures_receive_the_metrics_summarize_returned(tmp_path):
    recipe, cfg = _Probe(), _ProbeConfig()
    recipe.run(cfg, tmp_path, progress=False)
    recipe.run(cfg, tmp_path, resume=True, progress=False)  # the same recipe object again, as `an2dl resume` does
    assert len(recipe.received) == 2
    # each run's own summarize output (the same dict), not an earlier run's
    assert all(got is sent for got, sent in zip(recipe.received, recipe.returned))
    assert [m["probe/call"] for m in recipe.received] == [0, 1]
    # only summarize's metrics: the variants' own metrics and best_model stay in results.json
    stored = json.loads((tmp_path / "results.json").read_text())["metrics"]
    assert {"test/mse_small", "best_model"} <= set(stored) and set(recipe.received[1]) < set(stored)
    assert all(stored[k] == v for k, v in recipe.received[1].items())
