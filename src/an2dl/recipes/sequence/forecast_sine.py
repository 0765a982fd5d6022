"""``forecast-sine``: memoryless delay-tap predictors vs recurrent networks on a sine set by cues (notes §4.1).

The notes open chapter 4 with the claim this recipe measures: memoryless
models "rely on a fixed number of past observations, delay taps", and are
"inherently limited because they lack a true memory mechanism"; models with
memory keep "a hidden state that evolves dynamically, ... influenced by noise
and external inputs", which "must be inferred to compute outputs".

The series (:func:`~an2dl.data.sequences.cued_sine`) is an input-driven
system: a carrier sine is a known input, and sparse cue events, every 20–32
steps, set its amplitude (random sign and size); the output to forecast is
the carrier at the amplitude of the latest cue, plus noise.  Every model sees
the inputs (cue, carrier) and forecasts the next output:

* ``delay_tap_linear`` / ``delay_tap_mlp`` read the last ``taps`` = 16 inputs
  — for most of the time after a cue (steps 17–32) the cue has left their
  window and the amplitude is unknown to them;
* ``rnn`` / ``lstm`` (and ``gru`` on request) read the last ``context`` = 48
  inputs step by step and can hold the amplitude in their state.

All are scored on the same forecasts of the test part.  The report gives each
model's test RMSE against the noisy output and against the clean signal, split
by whether the latest cue lies within the delay taps or beyond them, next to
the noise floor (the RMSE of a perfect forecast) and the zero forecast (what
a model that does not know the amplitude's sign can do at best on average).
The models' ordering — recurrent far below the delay taps, with the
difference made where the cue lies beyond the taps — is the notes' claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.rng import seed_everything
from ...data import get_dataset
from ...data.core import ArrayDataset, DataSplits
from ...data.sequences import cued_sine
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...report.plots import figure, save_figure
from ...tasks.sequence import SequenceRegressionTask
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results
from ..comparison import Variant, fit_variant, plot_variant_curves, write_run_config
from ..config import ClipConfig, EarlyStoppingConfig, RunSettings, TrainerConfig

__all__ = ["ForecastSine", "ForecastSineConfig"]

_MEMORYLESS = ("delay_tap_linear", "delay_tap_mlp")
_MODELS = (*_MEMORYLESS, "rnn", "lstm", "gru")


@dataclass
class CuedSineData:
    length: int = 4000  # steps of the series: 70 % training, 15 % validation, 15 % test, by time
    period: float = 25.0  # period of the carrier sine in steps
    noise_std: float = 0.1  # observation noise: the RMSE of a perfect forecast
    min_gap: int = 20  # fewest steps between two cues; above taps, so every cue leaves the delay window
    max_gap: int = 32  # most steps between two cues
    taps: int = 16  # inputs the delay-tap models read (the notes' delay taps)
    context: int = 48  # inputs the recurrent models read; above max_gap, so the latest cue is always among them
    val_fraction: float = 0.15  # the middle part of the series
    test_fraction: float = 0.15  # the last part of the series
    seed: int = 0  # seed of the series (carrier phase, cues, noise)


@dataclass
class ForecastModels:
    # the models compared (also "gru": as good as the LSTM here, and the slowest on a CPU)
    names: list[str] = field(default_factory=lambda: ["delay_tap_linear", "delay_tap_mlp", "rnn", "lstm"])
    hidden_size: int = 32  # recurrent state size
    mlp_hidden: list[int] = field(default_factory=lambda: [64, 64])  # widths of the delay-tap MLP


@dataclass
class ForecastSineConfig(RunSettings):
    data: CuedSineData = field(default_factory=CuedSineData)
    model: ForecastModels = field(default_factory=ForecastModels)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=5e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=30, batch_size=32))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))
    early_stopping: EarlyStoppingConfig = field(default_factory=lambda: EarlyStoppingConfig(enabled=True, patience=8))
    plot_steps: int = 150  # test steps drawn in the forecast plot


@register_recipe
class ForecastSine(Recipe):
    """Delay-tap linear and MLP predictors vs RNN/LSTM/GRU on a sine whose amplitude is set by cues."""

    name = "forecast-sine"
    summary = ("memoryless delay-tap predictors vs RNN/LSTM/GRU on a sine whose amplitude is set by cues "
               "beyond the delay window (test RMSE vs the noise floor)")
    section = "4.1, 4.1.1"
    Config = ForecastSineConfig
    smoke_settings = ("data.length=600", "trainer.max_epochs=1", "model.hidden_size=4", "model.mlp_hidden=[4]")

    def _window(self, cfg: ForecastSineConfig, name: str) -> int:
        return cfg.data.taps if name in _MEMORYLESS else cfg.data.context

    def _model(self, name: str, cfg: ForecastSineConfig) -> Any:
        d, m = cfg.data, cfg.model
        if name == "delay_tap_linear":
            return get_model("delay_tap_linear", window=d.taps, input_size=2)
        if name == "delay_tap_mlp":
            return get_model("delay_tap_mlp", window=d.taps, input_size=2, hidden_sizes=list(m.mlp_hidden))
        return get_model("recurrent_regressor", input_size=2, cell=name, hidden_size=m.hidden_size)

    def _data(self, cfg: ForecastSineConfig, name: str) -> DataSplits:
        """The windows model ``name`` reads; every model has the same targets (the same ``warmup``)."""
        d = cfg.data
        data = get_dataset("cued-sine", length=d.length, period=d.period, noise_std=d.noise_std, min_gap=d.min_gap,
                           max_gap=d.max_gap, window=self._window(cfg, name), warmup=max(d.taps, d.context),
                           val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
        if data.val is None or data.test is None:
            raise ConfigError(f"forecast-sine needs validation and test parts longer than max(taps, context) = "
                              f"{max(d.taps, d.context)} steps; raise data.length or the fractions")
        return data

    def _check(self, cfg: ForecastSineConfig) -> None:
        if not cfg.model.names:
            raise ConfigError("model.names must name at least one model")
        for n in cfg.model.names:
            if n not in _MODELS:
                raise ConfigError(f"model.names items must be among {list(_MODELS)}; got {n!r}")
        d = cfg.data
        if not (isinstance(d.taps, int) and isinstance(d.context, int) and 0 < d.taps and 0 < d.context):
            raise ConfigError(f"data.taps and data.context must be positive integers; got {d.taps!r}, {d.context!r}")

    def models(self, cfg: ForecastSineConfig) -> list[str]:
        return list(cfg.model.names)

    def build_model(self, cfg: ForecastSineConfig, name: str | None) -> tuple[SequenceRegressionTask, Any]:
        name = name if name is not None else cfg.model.names[0]
        return SequenceRegressionTask(self._model(name, cfg), optimizer=cfg.optim), self._data(cfg, name)

    def run(self, cfg: ForecastSineConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        self._check(cfg)
        d = cfg.data
        write_run_config(run_dir, self.name, cfg)
        variants: list[Variant] = []
        datas: dict[str, DataSplits] = {}
        for name in cfg.model.names:
            data = datas[name] = self._data(cfg, name)
            window = self._window(cfg, name)
            preprocessing = {"input_shape": [window, 2], **data.info.preprocess,
                             "input": f"the last {window} steps of the inputs (cue, carrier); the output is the "
                                      "forecast of the next step"}
            seed_everything(cfg.trainer.seed)
            task = SequenceRegressionTask(self._model(name, cfg), optimizer=cfg.optim)
            variants.append(fit_variant(self, cfg, run_dir, name, task, data, resume=resume, progress=progress,
                                        preprocessing=preprocessing))

        truth = _test_truth(cfg, next(iter(datas.values())))
        beyond = truth["beyond_taps"]
        zero = float(truth["y"].pow(2).mean().sqrt())
        metrics: dict[str, Any] = {"test/rmse_noise_floor": d.noise_std, "test/rmse_zero": zero,
                                   "test/share_beyond_taps": float(beyond.float().mean())}
        notes = [f"Noise floor (the RMSE of a perfect forecast): {d.noise_std:.3f}; the zero forecast: {zero:.4f}. "
                 f"For {100 * float(beyond.float().mean()):.0f} % of the {len(beyond)} test forecasts the latest cue "
                 f"lies more than {d.taps} steps back, beyond the delay taps."]
        predictions: dict[str, torch.Tensor] = {}
        for v in variants:
            pred = predictions[v.name] = _predict(v, datas[v.name])
            err = pred - truth["y"]
            rows = {
                "rmse": v.metrics["test/rmse"],
                "rmse_clean": float((pred - truth["clean"]).pow(2).mean().sqrt()),
                "rmse_cue_in_taps": float(err[~beyond].pow(2).mean().sqrt()) if (~beyond).any() else float("nan"),
                "rmse_cue_beyond_taps": float(err[beyond].pow(2).mean().sqrt()) if beyond.any() else float("nan"),
            }
            metrics.update({f"test/{k}_{v.name}": val for k, val in rows.items()})
            metrics[f"val/rmse_{v.name}"] = v.metrics["val/rmse"]
            notes.append(f"{v.name}: test RMSE {rows['rmse']:.4f} (against the clean signal {rows['rmse_clean']:.4f}; "
                         f"cue within the taps {rows['rmse_cue_in_taps']:.4f}, beyond them "
                         f"{rows['rmse_cue_beyond_taps']:.4f}); {v.parameters:,} parameters, {v.steps} steps, "
                         f"{v.seconds:.1f} s.")
        best = min(variants, key=lambda v: v.metrics["test/rmse"])
        metrics["best_model"] = best.name
        write_results(run_dir, metrics, notes=notes, compared=[v.name for v in variants])
        _plot_forecasts(variants, predictions, truth, cfg, run_dir)
        _plot_rmse(variants, metrics, d.noise_std, zero, run_dir)
        plot_variant_curves(variants, run_dir, "val/rmse", label="validation RMSE", name="validation_rmse",
                            caption="Validation RMSE of each model during training")
        finish_report(run_dir, device=variants[0].device if variants else "cpu")
        return RunResult(self.name, run_dir, metrics, cfg, data=datas[variants[0].name],
                         extra={"variants": {v.name: v for v in variants}, "data": datas, "truth": truth,
                                "predictions": predictions})


def _test_truth(cfg: ForecastSineConfig, data: DataSplits) -> dict[str, torch.Tensor]:
    """The test targets, the clean signal at the same steps, the cues and whether the latest cue lies beyond the taps."""
    d = cfg.data
    inputs, y, clean = cued_sine(d.length, period=d.period, noise_std=d.noise_std, min_gap=d.min_gap,
                                 max_gap=d.max_gap, seed=d.seed)
    lo, hi = data.info.extra["bounds"]["test"]
    steps = torch.arange(lo + data.info.extra["warmup"], hi)
    cue_steps = torch.nonzero(inputs[:, 0]).flatten()
    last = cue_steps[(torch.searchsorted(cue_steps, steps) - 1).clamp(min=0)]  # the latest cue before each step
    since = torch.where(last < steps, steps - last, steps + 1)  # steps before the first cue count as "beyond"
    return {"steps": steps, "y": y[steps], "clean": clean[steps], "cue": inputs[steps, 0],
            "beyond_taps": since > d.taps}


def _predict(v: Variant, data: DataSplits) -> torch.Tensor:
    """The variant's forecasts on the test windows ``[M]``."""
    assert v.task is not None and isinstance(data.test, ArrayDataset)  # fit_variant keeps the task; cued-sine's splits
    model = v.task.model
    was_training = model.training
    model.eval()
    x = data.test.tensors[0]
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1024].to(module_device(model))).cpu() for i in range(0, len(x), 1024)])
    model.train(was_training)
    return pred[:, 0]


def _plot_forecasts(variants: list[Variant], predictions: dict[str, torch.Tensor], truth: dict[str, torch.Tensor],
                    cfg: ForecastSineConfig, run_dir: Path) -> None:
    n = min(cfg.plot_steps, len(truth["y"]))
    t = truth["steps"][:n].numpy()
    fig = figure(figsize=(8, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(t, truth["y"][:n].numpy(), ".", color="gray", ms=3, label="observed (noisy)")
    ax.plot(t, truth["clean"][:n].numpy(), "-", color="black", lw=1, label="clean signal")
    for v in variants:
        ax.plot(t, predictions[v.name][:n].numpy(), "-", lw=1.1, label=v.name)
    cues = truth["cue"][:n] != 0
    for step in t[cues.numpy()]:
        ax.axvline(step, color="C3", lw=0.6, alpha=0.5)
    shade = truth["beyond_taps"][:n].numpy()
    ax.fill_between(t, 0, 1, where=shade, transform=ax.get_xaxis_transform(), color="gray", alpha=0.12, lw=0,
                    label=f"cue beyond the {cfg.data.taps} taps")
    ax.set_xlabel("step of the series")
    ax.set_ylabel("output")
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    ax.grid(alpha=0.3)
    save_figure(fig, run_dir, "test_forecasts",
                "One-step forecasts on the first test steps: noisy output (dots), the clean signal and each model; "
                "red lines mark cues, grey bands the steps whose latest cue lies beyond the delay taps")


def _plot_rmse(variants: list[Variant], metrics: dict[str, Any], floor: float, zero: float, run_dir: Path) -> None:
    fig = figure(figsize=(6.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    names = [v.name for v in variants]
    x = torch.arange(len(names)).numpy()
    for i, (key, label) in enumerate((("rmse_cue_in_taps", "cue within the taps"),
                                      ("rmse_cue_beyond_taps", "cue beyond the taps"), ("rmse", "all"))):
        ax.bar(x + (i - 1) * 0.27, [metrics[f"test/{key}_{n}"] for n in names], width=0.27, label=label)
    ax.axhline(floor, color="gray", ls=":", lw=1, label="noise floor")
    ax.axhline(zero, color="C3", ls="--", lw=1, label="zero forecast")
    ax.set_xticks(x, names)
    ax.set_ylabel("test RMSE")
    ax.tick_params(axis="x", labelrotation=20)
    ax.legend(fontsize=7)
    save_figure(fig, run_dir, "test_rmse",
                "Test RMSE of each model, on the forecasts whose latest cue lies within the delay taps, beyond them, "
                "and on all, against the noise floor and the zero forecast")
