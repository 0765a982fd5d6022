"""Advance learning-rate schedules at the right moments."""

from __future__ import annotations

from typing import Any

import torch

from .base import Callback

__all__ = ["LRSchedule"]


class LRSchedule(Callback):
    """Step every scheduler of the trainer: per optimiser step, per epoch, or on plateau.

    The trainer adds it automatically when an :class:`~an2dl.engine.OptimizerSpec`
    has a schedule.  The learning rate of each optimiser's first group is logged
    as ``lr`` (``lr_1``, ... for further optimisers).
    """

    order = 5

    def on_fit_start(self, trainer, task) -> None:
        specs = [getattr(item, "schedule", None) for item in task.configure_optimizers()]
        self._intervals = [getattr(s, "interval", "epoch") for s in specs]
        self._monitors = [getattr(s, "monitor", "val/loss") for s in specs]

    def _lrs(self, trainer) -> dict[str, float]:
        return {
            ("lr" if i == 0 else f"lr_{i}"): opt.param_groups[0]["lr"] for i, opt in enumerate(trainer.optimizers)
        }

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        if not trainer._stepped:
            return
        for sched, interval in zip(trainer.schedulers, self._intervals):
            if sched is not None and interval == "step" and not _is_plateau(sched):
                sched.step()

    def on_validation_end(self, trainer, task, metrics) -> None:
        for sched, monitor in zip(trainer.schedulers, self._monitors):
            if sched is not None and _is_plateau(sched) and monitor in metrics:
                sched.step(metrics[monitor])

    def on_epoch_end(self, trainer, task, metrics) -> None:
        for sched, interval in zip(trainer.schedulers, self._intervals):
            if sched is not None and interval == "epoch" and not _is_plateau(sched):
                sched.step()
        lrs = self._lrs(trainer)
        metrics.update(lrs)
        trainer.history[-1].update(lrs)


def _is_plateau(sched: Any) -> bool:
    return isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
