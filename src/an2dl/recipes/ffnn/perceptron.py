"""``perceptron-logic``: Rosenblatt's perceptron learns AND, OR, NAND with the Hebbian rule and fails on XOR (notes §1.3.1)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..._utils.rng import derive_seed
from ...errors import ConfigError
from ...models._checks import check_positive_int
from .._variants import export_variant, note_unused_trainer_settings
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import TrainerConfig

__all__ = ["PerceptronLogic"]


@dataclass
class PerceptronLogicConfig:
    functions: list[str] = field(default_factory=lambda: ["and", "or", "nand", "xor"])  # Boolean functions to learn
    lr: float = 0.5  # η of the Hebbian update w <- w + η t x
    init_std: float = 0.1  # initial weights ~ N(0, init_std²) ("initialise weights randomly")
    shuffle: bool = False  # visit the points in a new random order each epoch
    # max_epochs: passes over the four points at most; seed: of the initial weights and orders (the Hebbian rule
    # updates after every point on the CPU: the other trainer settings do not apply)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=50))


def _points(fn: str):
    """The four inputs of Boolean function ``fn`` with targets -1/+1, as training, validation and test set."""
    from ...data.core import ArrayDataset, DatasetInfo, DataSplits
    from ...models.ffnn import to_pm1
    from ._common import LOGIC_INPUTS, logic_gate

    ds = ArrayDataset(LOGIC_INPUTS.clone(), to_pm1(logic_gate(fn)))
    return DataSplits(ds, ds, ds, DatasetInfo(fn, input_shape=(2,)))


@register_recipe
class PerceptronLogic(Recipe):
    """The perceptron on the four points of a two-input Boolean function (notes §1.3.1).

    For each function, a perceptron with random initial weights is trained
    with the Hebbian rule until an epoch makes no mistake or
    ``trainer.max_epochs`` passes.  Linearly separable functions (AND, OR,
    NAND) are learned in a few epochs; XOR is not linearly separable, so some
    point is always misclassified and learning never ends.  Each perceptron
    is exported to ``variants/<function>/model`` as a binary classifier
    (positive when ``wᵀx > 0``); ``an2dl eval RUN --model xor`` gives its
    accuracy on the four points.
    """

    name = "perceptron-logic"
    summary = "Rosenblatt's perceptron and the Hebbian rule on AND, OR, NAND (learned) and XOR (never learned)"
    section = "1.3.1, 2.4.1"
    Config = PerceptronLogicConfig
    cannot_resume = "the Hebbian rule learns the four points in milliseconds and keeps no checkpoints"
    smoke_settings = ('functions=["and","xor"]', "trainer.max_epochs=2")

    def models(self, cfg: PerceptronLogicConfig) -> list[str]:
        return list(cfg.functions)

    def build_model(self, cfg: PerceptronLogicConfig, name: str | None):
        from ...models import get_model
        from ...tasks.regression import BinaryClassificationTask

        model = get_model("perceptron", in_features=2, init_std=cfg.init_std)
        return BinaryClassificationTask(model, loss="perceptron"), _points(str(name))

    def run(self, cfg: PerceptronLogicConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        from ...models.ffnn import Perceptron, to_pm1
        from ._common import LOGIC_INPUTS, logic_gate

        if not cfg.functions:
            raise ConfigError("perceptron-logic needs at least one function in 'functions'")
        check_positive_int(self.name, "trainer.max_epochs (passes of the Hebbian rule)", cfg.trainer.max_epochs)
        notes = note_unused_trainer_settings(self.name, cfg, ("max_epochs", "seed"),
                                             "the Hebbian rule updates after every point, on the CPU")
        write_run_config(run_dir, self.name, cfg)
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        fits = {}
        for fn in cfg.functions:
            t = to_pm1(logic_gate(fn))
            g = torch.Generator().manual_seed(derive_seed(cfg.trainer.seed, "perceptron-logic", fn))
            p = Perceptron(in_features=2, init_std=cfg.init_std, generator=g)
            res = p.fit_hebbian(LOGIC_INPUTS, t, lr=cfg.lr, max_epochs=cfg.trainer.max_epochs, shuffle=cfg.shuffle,
                                generator=g)
            metrics[f"{fn}/accuracy"] = p.accuracy(LOGIC_INPUTS, t)
            # the best any weight vector visited during learning achieved (XOR: never 1)
            xa = p.augment(LOGIC_INPUTS)
            seen = torch.sign(xa @ res.weights.T.to(xa.dtype)) == t.unsqueeze(1)  # [4, epochs + 1]
            metrics[f"{fn}/best_accuracy"] = float(seen.to(torch.float32).mean(0).max())
            metrics[f"{fn}/converged"] = float(res.converged)
            metrics[f"{fn}/epochs"] = float(res.epochs)
            metrics[f"{fn}/updates"] = float(res.updates)
            fits[fn] = (p, res, t)
            task, _ = self.build_model(cfg, fn)  # the registered perceptron, exported with the learned weights
            task.model.load_state_dict(p.state_dict())
            export_variant(run_dir, fn, task.model, task, class_names=["false", "true"],
                           preprocessing={"input_shape": [2], "value_range": [0.0, 1.0]})
        for fn, (p, res, _) in fits.items():
            w = p.weight.detach().tolist()
            notes.append(f"{fn.upper()}: {'learned' if res.converged else 'not learned'} after {res.epochs} epochs, "
                         f"{res.updates} Hebbian updates, final weights w0={w[0]:.3f}, w1={w[1]:.3f}, w2={w[2]:.3f}")
        write_results(run_dir, metrics, fit_seconds=round(time.perf_counter() - t0, 3), notes=notes)
        self._plots(run_dir, fits, LOGIC_INPUTS)
        finish_report(run_dir, device="cpu")
        return RunResult(self.name, run_dir, metrics, cfg, extra={"results": {k: v[1] for k, v in fits.items()}})

    @staticmethod
    def _plots(run_dir: Path, fits, x: torch.Tensor) -> None:
        from ...report.plots import figure, save_figure
        from ._common import decision_surface

        n = len(fits)
        fig = figure(figsize=(3.3 * n, 3.4))
        for k, (fn, (p, res, t)) in enumerate(fits.items()):
            ax = fig.add_subplot(1, n, k + 1)
            state = "learned" if res.converged else "not learned"
            decision_surface(ax, lambda g, p=p: p(g), x, t > 0,
                             title=f"{fn.upper()}: {state}, accuracy {p.accuracy(x, t):.2f}")
        save_figure(fig, run_dir, "perceptron_boundaries",
                    "Final decision boundaries wᵀx = 0 (black line; red: sign +1). AND, OR and NAND are linearly "
                    "separable; for XOR no line separates the classes.")
        fig = figure(figsize=(5, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        for fn, (_, res, _) in fits.items():
            ax.plot(range(1, res.epochs + 1), res.mistakes, "-o", ms=3, label=fn.upper())
        ax.set_xlabel("epoch")
        ax.set_ylabel("misclassified points (updates)")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, run_dir, "perceptron_mistakes",
                    "Mistakes per epoch of Hebbian learning: they reach 0 for the separable functions, never for XOR.")
