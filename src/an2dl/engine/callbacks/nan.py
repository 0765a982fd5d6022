"""Stop on a non-finite loss before it reaches the weights."""

from __future__ import annotations

import math

from ...errors import TrainingDiverged
from .base import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Raise :class:`~an2dl.errors.TrainingDiverged` when the loss is NaN or infinite.

    The check runs after the backward pass and before the optimiser step, so the
    weights and every checkpoint already written stay those of the last good step.
    """

    order = -5

    def on_after_backward(self, trainer, task) -> None:
        loss = trainer.last_loss
        if loss is None:
            return
        value = float(loss)
        if not math.isfinite(value):
            where = f"epoch {trainer.epoch}, batch {trainer.batch_in_epoch}, step {trainer.global_step}"
            saved = ""
            if trainer.checkpoint_dir is not None and (trainer.checkpoint_dir / "LATEST").is_file():
                saved = f"; the last good checkpoint is kept in {trainer.checkpoint_dir}"
            raise TrainingDiverged(
                f"the loss became {value} at {where}; lower the learning rate or enable gradient clipping{saved}"
            )
