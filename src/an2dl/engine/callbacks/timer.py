"""Wall-time measurement and an optional time budget."""

from __future__ import annotations

import time
from typing import Any

from ...errors import ConfigError
from .base import Callback

__all__ = ["Timer"]


class Timer(Callback):
    """Record the wall time of fit and of each epoch; optionally stop after ``max_seconds``.

    Time already spent before a resume is carried over in the checkpoint, so a
    budget covers the whole run.  Figures are added to the epoch metrics as
    ``time/epoch_s`` and ``time/total_s``.
    """

    order = -10

    def __init__(self, max_seconds: float | None = None) -> None:
        if max_seconds is not None and not max_seconds > 0:
            raise ConfigError(f"Timer max_seconds must be > 0; got {max_seconds}")
        self.max_seconds = max_seconds
        self.elapsed = 0.0
        self._start = self._epoch_start = time.perf_counter()

    def on_fit_start(self, trainer, task) -> None:
        self.elapsed = 0.0
        self._start = self._epoch_start = time.perf_counter()

    def total(self) -> float:
        return self.elapsed + time.perf_counter() - self._start

    def on_epoch_start(self, trainer, task) -> None:
        self._epoch_start = time.perf_counter()

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        if self.max_seconds is not None and self.total() >= self.max_seconds:
            trainer.should_stop = True
            trainer.stop_reason = f"time budget of {self.max_seconds:g} s reached"

    def on_epoch_end(self, trainer, task, metrics) -> None:
        metrics["time/epoch_s"] = time.perf_counter() - self._epoch_start
        metrics["time/total_s"] = self.total()
        times = {k: metrics[k] for k in ("time/epoch_s", "time/total_s")}
        trainer.history[-1].update(times)
        trainer.metrics.update(times)

    def on_fit_end(self, trainer, task) -> None:
        trainer.metrics["time/total_s"] = self.total()  # also when fit ends mid-epoch

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.total()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.elapsed = float(state["elapsed"])
        self._start = time.perf_counter()
