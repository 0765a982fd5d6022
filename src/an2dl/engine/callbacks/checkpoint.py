"""Periodic checkpoints: keep the last N and the best N (DESIGN §6–§7)."""

from __future__ import annotations

import math
import shutil
from typing import Any

from ..._utils.files import atomic_write_text
from ...errors import ConfigError
from ..checkpoint import list_checkpoints, step_dirname
from .base import Callback

__all__ = ["Checkpoint"]


class Checkpoint(Callback):
    """Save the full training state to ``run_dir/checkpoints/<step>/``.

    Args:
        every_n_epochs: save at the end of every n-th epoch (``None``: never).
        every_n_steps: save every n optimiser steps, also mid-epoch (``None``: never).
        keep_last: number of checkpoints kept, those with the highest global steps (as recorded in
            their ``state.json``; ``checkpoints/LATEST`` names the highest).
        keep_best: number of best checkpoints (by ``monitor``) kept besides them;
            ``checkpoints/BEST`` names the best one.
        monitor, mode: the metric ranking checkpoints for ``keep_best``.
        save_on_fit_end: save the final state when fit ends.
    """

    order = 100  # after every callback whose state it records

    def __init__(
        self,
        *,
        every_n_epochs: int | None = 1,
        every_n_steps: int | None = None,
        keep_last: int = 1,
        keep_best: int = 0,
        monitor: str = "val/loss",
        mode: str = "min",
        save_on_fit_end: bool = True,
    ) -> None:
        for name, v in (("every_n_epochs", every_n_epochs), ("every_n_steps", every_n_steps)):
            if v is not None and (not isinstance(v, int) or v <= 0):
                raise ConfigError(f"Checkpoint {name} must be a positive integer or None; got {v!r}")
        if not isinstance(keep_last, int) or keep_last < 1:
            raise ConfigError(f"Checkpoint keep_last must be an integer >= 1; got {keep_last!r}")
        if not isinstance(keep_best, int) or keep_best < 0:
            raise ConfigError(f"Checkpoint keep_best must be an integer >= 0; got {keep_best!r}")
        if mode not in ("min", "max"):
            raise ConfigError(f"Checkpoint mode must be 'min' or 'max'; got {mode!r}")
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.keep_last, self.keep_best = keep_last, keep_best
        self.monitor, self.mode, self.save_on_fit_end = monitor, mode, save_on_fit_end
        self._reset()

    def _reset(self) -> None:
        self.scores: dict[str, float] = {}  # checkpoint name -> monitored value
        self.last_saved_step: int | None = None
        self._pending = False

    def on_fit_start(self, trainer, task) -> None:
        self._reset()

    def _save(self, trainer) -> None:
        score = trainer.metrics.get(self.monitor)
        name = step_dirname(trainer.global_step)
        if score is not None and math.isfinite(score):
            self.scores[name] = score
        else:
            self.scores.pop(name, None)
        self.last_saved_step = trainer.global_step
        path = trainer.save_checkpoint()
        if path is not None:
            self._prune(path.parent)

    def _prune(self, directory) -> None:
        existing = [p.name for p in list_checkpoints(directory)]
        keep = set(existing[-self.keep_last :])
        if self.keep_best:
            ranked = sorted(
                (n for n in self.scores if n in existing),
                key=lambda n: self.scores[n],
                reverse=self.mode == "max",
            )
            keep |= set(ranked[: self.keep_best])
            if ranked:
                atomic_write_text(directory / "BEST", ranked[0] + "\n")
        for n in existing:
            if n not in keep:
                shutil.rmtree(directory / n, ignore_errors=True)
                self.scores.pop(n, None)

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        if not trainer._stepped or not self.every_n_steps or trainer.global_step % self.every_n_steps:
            return
        if trainer.is_last_batch:
            self._pending = True  # saved at the end of the epoch, after its validation
        else:
            self._save(trainer)

    def on_epoch_end(self, trainer, task, metrics) -> None:
        due = bool(self.every_n_epochs) and (trainer.epoch + 1) % self.every_n_epochs == 0
        if due or self._pending:
            self._pending = False
            self._save(trainer)

    def on_fit_end(self, trainer, task) -> None:
        if self.save_on_fit_end and self.last_saved_step != trainer.global_step:
            self._save(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"scores": dict(self.scores), "last_saved_step": self.last_saved_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores = dict(state["scores"])
        self.last_saved_step = state["last_saved_step"]
