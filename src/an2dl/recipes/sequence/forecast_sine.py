"""``forecast-sine``: memoryless delay-tap predictors vs recurrent networks on a noisy sine (notes §4.1).

One noisy series, split by time into training, validation and test parts;
every model sees the same windows of past observations and predicts the next
value(s).  Compared: the linear delay-tap (AR) predictor, a feed-forward
network on the same taps, and RNN, LSTM and GRU reading the window step by
step.  The report gives each model's test RMSE next to two references: the
persistence forecast (repeat the last observation) and the noise floor (the
RMSE of a perfect prediction of the clean sine, i.e. the noise's standard
deviation, for a one-step horizon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.rng import seed_everything
from ...data import get_dataset
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...report.plots import figure, save_figure
from ...tasks.sequence import SequenceRegressionTask
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results
from ..config import CheckpointConfig, ClipConfig, EarlyStoppingConfig, TrainerConfig
from ._common import Variant, fit_variant, validation_series, write_run_config

__all__ = ["ForecastSine", "ForecastSineConfig"]

_MODELS = ("delay_tap_linear", "delay_tap_mlp", "rnn", "lstm", "gru")


@dataclass
class SineData:
    length: int = 3000  # steps of the series
    period: float = 25.0  # period of the sine in steps
    noise_std: float = 0.2  # observation noise
    window: int = 16  # delay taps: past observations per sample
    horizon: int = 1  # future observations predicted
    val_fraction: float = 0.15  # the middle part of the series
    test_fraction: float = 0.15  # the last part of the series
    seed: int = 0  # seed of the noise


@dataclass
class ForecastModels:
    names: list[str] = field(default_factory=lambda: ["delay_tap_linear", "delay_tap_mlp", "rnn", "lstm"])  # compared
    hidden_size: int = 32  # recurrent state size
    mlp_hidden: list[int] = field(default_factory=lambda: [64, 64])  # widths of the delay-tap MLP


@dataclass
class ForecastSineConfig:
    data: SineData = field(default_factory=SineData)
    model: ForecastModels = field(default_factory=ForecastModels)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=30, batch_size=32))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=lambda: EarlyStoppingConfig(enabled=True, patience=8))
    plot_steps: int = 150  # test steps drawn in the forecast plot


@register_recipe
class ForecastSine(Recipe):
    """Delay-tap linear and MLP predictors vs RNN/LSTM/GRU, one-step forecasts of a noisy sine."""

    name = "forecast-sine"
    summary = "memoryless delay-tap predictors vs RNN/LSTM on a noisy sine (test RMSE vs the noise floor)"
    section = "4.1, 4.1.1"
    Config = ForecastSineConfig

    def _model(self, name: str, cfg: ForecastSineConfig) -> Any:
        d, m = cfg.data, cfg.model
        if name == "delay_tap_linear":
            return get_model("delay_tap_linear", window=d.window, output_size=d.horizon)
        if name == "delay_tap_mlp":
            return get_model("delay_tap_mlp", window=d.window, output_size=d.horizon, hidden_sizes=list(m.mlp_hidden))
        return get_model("recurrent_regressor", input_size=1, output_size=d.horizon, cell=name, hidden_size=m.hidden_size)

    def _data(self, cfg: ForecastSineConfig) -> Any:
        d = cfg.data
        data = get_dataset("noisy-sine", length=d.length, period=d.period, noise_std=d.noise_std, window=d.window,
                           horizon=d.horizon, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
        if data.val is None or data.test is None:
            raise ConfigError("forecast-sine needs validation and test parts longer than window + horizon; "
                              "raise data.length or the fractions")
        return data

    def models(self, cfg: ForecastSineConfig) -> list[str]:
        return list(cfg.model.names)

    def build_model(self, cfg: ForecastSineConfig, name: str | None) -> tuple[SequenceRegressionTask, Any]:
        return SequenceRegressionTask(self._model(name, cfg), optimizer=cfg.optim), self._data(cfg)

    def run(self, cfg: ForecastSineConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        if not cfg.model.names:
            raise ConfigError("model.names must name at least one model")
        for n in cfg.model.names:
            if n not in _MODELS:
                raise ConfigError(f"model.names items must be among {list(_MODELS)}; got {n!r}")
        d = cfg.data
        data = self._data(cfg)
        write_run_config(run_dir, self.name, cfg)
        preprocessing = {"input_shape": [d.window, 1], "input": f"the last {d.window} observations of the series",
                         "horizon": d.horizon}
        variants: list[Variant] = []
        for name in cfg.model.names:
            seed_everything(cfg.trainer.seed)
            task = SequenceRegressionTask(self._model(name, cfg), optimizer=cfg.optim)
            variants.append(fit_variant(self, cfg, run_dir, name, task, data, resume=resume, progress=progress,
                                        preprocessing=preprocessing))

        x_test, y_test = data.test.tensors
        persistence = float(((x_test[:, -1, :].repeat(1, d.horizon) - y_test) ** 2).mean().sqrt())
        metrics: dict[str, Any] = {"test/rmse_persistence": persistence, "test/rmse_noise_floor": d.noise_std}
        notes = [f"Noise floor (RMSE of a perfect clean forecast, one step ahead): {d.noise_std:.3f}; "
                 f"persistence (repeat the last observation): {persistence:.4f}."]
        for v in variants:
            metrics[f"test/rmse_{v.name}"] = v.metrics["test/rmse"]
            metrics[f"val/rmse_{v.name}"] = v.metrics["val/rmse"]
            params = sum(p.numel() for p in v.task.parameters()) if v.task is not None else 0
            notes.append(f"{v.name}: test RMSE {v.metrics['test/rmse']:.4f} ({params:,} parameters, {v.steps} steps, "
                         f"{v.seconds:.1f} s).")
        best = min(variants, key=lambda v: v.metrics["test/rmse"])
        metrics["best_model"] = best.name
        write_results(run_dir, metrics, notes=notes, compared=[v.name for v in variants])
        _plot_forecasts(variants, data, cfg, run_dir)
        _plot_rmse(variants, persistence, d.noise_std, run_dir)
        _plot_curves(variants, run_dir)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, data=data, extra={"variants": {v.name: v for v in variants}})


def _plot_forecasts(variants: list[Variant], data: Any, cfg: ForecastSineConfig, run_dir: Path) -> None:
    x, y = data.test.tensors
    n = min(cfg.plot_steps, len(x))
    t = range(n)
    fig = figure(figsize=(8, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(t, y[:n, 0].numpy(), ".", color="gray", ms=3, label="observed (noisy)")
    first = data.info.extra["bounds"]["test"][0] + cfg.data.window  # series index of the first test target
    steps = torch.arange(first, first + n, dtype=torch.float64)
    ax.plot(t, torch.sin(2 * math.pi * steps / cfg.data.period).numpy(), "-", color="black", lw=1, label="clean sine")
    for v in variants:
        if v.task is None:
            continue
        v.task.eval()
        with torch.no_grad():
            pred = v.task.model(x[:n].to(module_device(v.task.model)))[:, 0].cpu()
        ax.plot(t, pred.numpy(), "-", lw=1.2, label=v.name)
    ax.set_xlabel("test step")
    ax.set_ylabel("value")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    save_figure(fig, run_dir, "test_forecasts",
                "One-step forecasts on the first test steps: noisy observations (dots), the clean sine and each model")


def _plot_rmse(variants: list[Variant], persistence: float, floor: float, run_dir: Path) -> None:
    fig = figure(figsize=(6, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    names = [v.name for v in variants]
    ax.bar(names, [v.metrics["test/rmse"] for v in variants], color="C0")
    ax.axhline(persistence, color="C3", ls="--", lw=1, label="persistence")
    ax.axhline(floor, color="gray", ls=":", lw=1, label="noise floor")
    ax.set_ylabel("test RMSE")
    ax.tick_params(axis="x", labelrotation=20)
    ax.legend(fontsize=8)
    save_figure(fig, run_dir, "test_rmse", "Test RMSE of each model against persistence and the noise floor")


def _plot_curves(variants: list[Variant], run_dir: Path) -> None:
    fig = figure(figsize=(6, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    for v in variants:
        steps, vals = validation_series(v.history, "val/rmse")
        ax.plot(steps, vals, "-o", ms=2, label=v.name)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("validation RMSE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, run_dir, "validation_rmse", "Validation RMSE of each model during training")
