"""Early stopping (notes §2.5.2)."""

from __future__ import annotations

import math
from typing import Any

import torch

from ...errors import ConfigError
from .base import Callback

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` validations in a row.

    "Hold out a validation set, and while training on the training set [...] if
    the validation error starts to increase [...] halt the training" (notes
    §2.5.2).  An improvement must beat the best value by more than ``min_delta``.

    Args:
        monitor: metric name, e.g. ``"val/loss"`` or ``"val/accuracy"``.
        patience: the number of validations in a row without improvement after which
            training stops, as in Keras and Lightning (``0`` and ``1`` both stop at the
            first validation that does not improve).
        min_delta: minimum change counted as an improvement.
        mode: ``"min"`` (losses) or ``"max"`` (accuracies).
        restore_best_weights: at the end of fit, load the weights of the best validation.
    """

    order = 10

    def __init__(
        self,
        monitor: str = "val/loss",
        *,
        patience: int = 3,
        min_delta: float = 0.0,
        mode: str = "min",
        restore_best_weights: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ConfigError(f"EarlyStopping mode must be 'min' or 'max'; got {mode!r}")
        if not isinstance(patience, int) or patience < 0:
            raise ConfigError(f"EarlyStopping patience must be an integer >= 0; got {patience!r}")
        if min_delta < 0:
            raise ConfigError(f"EarlyStopping min_delta must be >= 0; got {min_delta}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.best_step: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer, task) -> None:
        self._reset()

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_validation_end(self, trainer, task, metrics: dict[str, float]) -> None:
        if self.monitor not in metrics:
            raise ConfigError(
                f"EarlyStopping monitors {self.monitor!r}, which validation did not produce; "
                f"available: {sorted(metrics)}"
            )
        value = metrics[self.monitor]
        if math.isfinite(value) and self._improved(value):
            self.best, self.best_step, self.wait = value, trainer.global_step, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in task.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.should_stop = True
            trainer.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.wait} validations "
                f"(best {self.best:.6g} at step {self.best_step})"
            )

    def on_fit_end(self, trainer, task) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            task.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step, self.wait = state["best"], state["best_step"], state["wait"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]
