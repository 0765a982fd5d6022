"""``adding-problem``: plain RNN vs LSTM vs GRU on a long-memory task, and the gradient through time (notes §4.1.1).

The adding problem (Hochreiter & Schmidhuber 1997) with T = 100 steps: the
target is the sum of two marked values, the first of which lies in the first
half of the sequence.  The recipe trains the three cells with the same
settings, reports the test mean squared error of each against the constant
predictor's 1/6, and measures ‖∂L/∂h_t‖ over the 100 steps before and after
training (:func:`~an2dl.nn.recurrent.state_gradient_norms`): the error
signal vanishes on its way back through a plain RNN, while the gated cells
learn to carry it.  The claim (§4.1.1, "Vanishing gradient"): at these
settings LSTM and GRU end at least 10× below the constant prediction's MSE,
the plain RNN does not.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..._utils.rng import seed_everything
from ...data import get_dataset
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...nn.recurrent import state_gradient_norms
from ...report.plots import figure, save_figure
from ...tasks.sequence import SequenceRegressionTask
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results
from ..comparison import Variant, fit_variant, history_series, write_run_config
from ..config import CheckpointConfig, ClipConfig, RunSettings, TrainerConfig

__all__ = ["AddingProblem", "AddingProblemConfig"]


@dataclass
class AddingData:
    length: int = 100  # T: steps between the first marker and the answer, up to T - 1
    n_train: int = 10000  # training sequences (a fixed draw)
    n_val: int = 1000  # validation sequences
    n_test: int = 2000  # test sequences
    seed: int = 0  # seed of the draw


@dataclass
class AddingModels:
    cells: list[str] = field(default_factory=lambda: ["rnn", "lstm", "gru"])  # the cells compared
    hidden_size: int = 32  # state size of every cell
    initial_state: str = "zeros"  # "zeros" or "learnable"


@dataclass
class AddingProblemConfig(RunSettings):
    data: AddingData = field(default_factory=AddingData)
    model: AddingModels = field(default_factory=AddingModels)
    # a high rate with clipping: the gated cells leave the 1/6 plateau after 250-1250 steps (seeds 0-2)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-2))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        max_epochs=None, max_steps=2000, batch_size=64, val_every_n_epochs=None, val_every_n_steps=250))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))  # BPTT over 100 steps can explode
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=None, every_n_steps=1000))
    solved_mse: float = 0.01  # test MSE below which a cell "solves" the task (6 % of the 1/6 baseline)
    probe_batch: int = 64  # test sequences used to measure the gradient through time


@register_recipe
class AddingProblem(Recipe):
    """RNN, LSTM and GRU on the adding problem (T = 100), with the gradient norm through time."""

    name = "adding-problem"
    summary = "RNN vs LSTM vs GRU on the adding problem (T=100) and ||dL/dh_t|| through time"
    section = "4.1.1"
    Config = AddingProblemConfig
    smoke_settings = ("data.length=12", "data.n_train=256", "data.n_val=64", "data.n_test=64", "trainer.max_steps=20",
                      "trainer.val_every_n_steps=10", "probe_batch=8", "model.hidden_size=8")

    def _data(self, cfg: AddingProblemConfig) -> Any:
        d = cfg.data
        return get_dataset("adding-problem", length=d.length, n_train=d.n_train, n_val=d.n_val, n_test=d.n_test,
                           seed=d.seed)

    def _model(self, cfg: AddingProblemConfig, cell: str) -> Any:
        return get_model("recurrent_regressor", input_size=2, output_size=1, cell=cell,
                         hidden_size=cfg.model.hidden_size, initial_state=cfg.model.initial_state)

    def models(self, cfg: AddingProblemConfig) -> list[str]:
        return list(cfg.model.cells)

    def build_model(self, cfg: AddingProblemConfig, name: str | None) -> tuple[SequenceRegressionTask, Any]:
        return SequenceRegressionTask(self._model(cfg, name), optimizer=cfg.optim), self._data(cfg)

    def run(self, cfg: AddingProblemConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        for cell in cfg.model.cells:
            if cell not in ("rnn", "lstm", "gru"):
                raise ConfigError(f"model.cells items must be rnn, lstm or gru; got {cell!r}")
        if not cfg.model.cells:
            raise ConfigError("model.cells must name at least one cell")
        d = cfg.data
        data = self._data(cfg)
        write_run_config(run_dir, self.name, cfg)
        probe_x, probe_y = (t[: cfg.probe_batch] for t in data.test.tensors)
        preprocessing = {"input_shape": [d.length, 2], "input": "[T, 2]: the values and the two markers (0/1)",
                         **data.info.preprocess}
        variants: list[Variant] = []
        gradients: dict[str, dict[str, torch.Tensor]] = {}
        for cell in cfg.model.cells:
            seed_everything(cfg.trainer.seed)
            model = self._model(cfg, cell)
            gradients[cell] = {"initial": _gradient_profile(model, probe_x, probe_y)}
            task = SequenceRegressionTask(model, optimizer=cfg.optim)
            variants.append(fit_variant(self, cfg, run_dir, cell, task, data, resume=resume, progress=progress,
                                        preprocessing=preprocessing))
            gradients[cell]["trained"] = _gradient_profile(model, probe_x, probe_y)

        baseline = float(((data.test.tensors[1] - 1.0) ** 2).mean())
        metrics: dict[str, Any] = {"test/baseline_mse": baseline}
        notes = [f"Constant prediction 1 (the mean of the sum): test MSE {baseline:.4f}; a cell solves the task "
                 f"below {cfg.solved_mse}."]
        for v in variants:
            mse = v.metrics["test/mse"]
            steps, vals = history_series(v.history, "val/mse")
            solved_at = next((s for s, m in zip(steps, vals) if m < cfg.solved_mse), None)
            g = gradients[v.name]
            metrics.update({
                f"test/mse_{v.name}": mse,
                f"test/baseline_over_mse_{v.name}": baseline / mse if mse > 0 else float("inf"),
                f"val/mse_{v.name}": v.metrics["val/mse"],
                f"solved_{v.name}": bool(mse < cfg.solved_mse),
                f"steps_to_solve_{v.name}": solved_at,
                f"fit_seconds_{v.name}": round(v.seconds, 2),
                f"grad_ratio_initial_{v.name}": _ratio(g["initial"]),
                f"grad_ratio_trained_{v.name}": _ratio(g["trained"]),
            })
            verdict = f"solved (validation MSE < {cfg.solved_mse} after {solved_at} steps)" if mse < cfg.solved_mse \
                else "did not solve it"
            notes.append(f"{v.name.upper()}: test MSE {mse:.4f} ({baseline / mse:.1f}× below the constant "
                         f"prediction) after {v.steps} steps, {verdict}; "
                         f"‖∂L/∂h_0‖ / ‖∂L/∂h_T‖ = {_ratio(g['initial']):.1e} at initialisation, "
                         f"{_ratio(g['trained']):.1e} after training.")
        write_results(run_dir, metrics, notes=notes, length=d.length, compared=[v.name for v in variants])
        _plot_curves(variants, baseline, cfg.solved_mse, run_dir)
        _plot_gradients(gradients, run_dir, d.length)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, data=data,
                         extra={"variants": {v.name: v for v in variants}, "gradients": gradients})


def _gradient_profile(model: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖∂L/∂h_t‖ for t = 0 … T−1, with L the task's squared error on the final prediction.

    Computed on a float64 copy: through a plain RNN the gradient 100 steps
    back falls below float32's smallest number.
    """
    twin = copy.deepcopy(model).double().eval()
    rnn, readout = twin.encoder.rnn, twin.readout
    dev = module_device(twin)
    target = y.double().to(dev)

    def loss(out: torch.Tensor, state: Any) -> torch.Tensor:
        return F.mse_loss(readout(out[:, -1]), target)

    return state_gradient_norms(rnn, x.double().to(dev), loss).cpu()


def _ratio(profile: torch.Tensor) -> float:
    first, last = float(profile[0]), float(profile[-1])
    return first / last if last > 0 else math.nan


def _plot_curves(variants: list[Variant], baseline: float, solved: float, run_dir: Path) -> None:
    fig = figure(figsize=(6, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    for v in variants:
        steps, vals = history_series(v.history, "val/mse")
        ax.plot(steps, vals, "-o", ms=3, label=v.name.upper())
    ax.axhline(baseline, color="gray", ls="--", lw=1, label="predict 1 (baseline)")
    ax.axhline(solved, color="gray", ls=":", lw=1, label="solved threshold")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("validation MSE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, run_dir, "adding_validation_mse",
                "Validation mean squared error of each cell during training (log scale); the dashed line is the "
                "error of always predicting 1")


def _plot_gradients(gradients: dict[str, dict[str, torch.Tensor]], run_dir: Path, length: int) -> None:
    fig = figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    colors = {"rnn": "C0", "lstm": "C1", "gru": "C2"}
    for cell, profiles in gradients.items():
        for when, style in (("initial", "--"), ("trained", "-")):
            p = profiles[when].clamp_min(1e-300).numpy()
            ax.plot(range(len(p)), p, style, color=colors.get(cell), label=f"{cell.upper()} {when}")
    ax.set_yscale("log")
    ax.set_xlabel("time step t (the loss is on the prediction after step T − 1)")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    save_figure(fig, run_dir, "gradient_through_time",
                f"Norm of the gradient of the loss with respect to the hidden state h_t over the {length} steps, "
                "at initialisation (dashed) and after training (solid): how much of the error reaches each step "
                "back in time")
