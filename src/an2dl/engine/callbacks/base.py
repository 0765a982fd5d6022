"""The callback protocol (DESIGN §5).

Hooks, in the order the trainer calls them: ``on_fit_start``; per epoch
``on_epoch_start``; per training batch ``on_batch_start``,
``on_after_backward``, ``on_before_optimizer_step``, ``on_batch_end``; per
evaluation batch ``on_validation_batch_end`` (validation while fitting and
``evaluate(split="val")``), ``on_test_batch_end`` (any other evaluated split)
or ``on_predict_batch_end`` (``predict``), each with the step's outputs and
the named batch; ``on_validation_end``; ``on_epoch_end``; ``on_fit_end``.
Outside ``fit`` (``evaluate``, ``predict``) only the trainer's own callbacks
get the evaluation-batch hooks.

A callback overrides the hooks it needs; every hook receives the trainer and
the task.  Callbacks reset their state in :meth:`Callback.on_fit_start`, and
expose what must survive a restart through :meth:`state_dict` (JSON values and
tensors only).  ``order`` fixes the call order (lower first): callbacks that
decide (early stopping, schedules) run before those that record (checkpoints).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..task import Task
    from ..trainer import Trainer

__all__ = ["Callback"]


class Callback:
    """Base class: every hook is a no-op."""

    #: call order among callbacks; lower runs first
    order: int = 0

    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint."""
        return type(self).__name__

    def on_fit_start(self, trainer: Trainer, task: Task) -> None: ...
    def on_epoch_start(self, trainer: Trainer, task: Task) -> None: ...
    def on_batch_start(self, trainer: Trainer, task: Task, batch: Any, batch_idx: int) -> None: ...
    def on_after_backward(self, trainer: Trainer, task: Task) -> None: ...
    def on_before_optimizer_step(self, trainer: Trainer, task: Task, optimizer: torch.optim.Optimizer) -> None: ...
    def on_batch_end(self, trainer: Trainer, task: Task, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_validation_batch_end(self, trainer: Trainer, task: Task, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_validation_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None: ...
    def on_test_batch_end(self, trainer: Trainer, task: Task, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_predict_batch_end(self, trainer: Trainer, task: Task, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_epoch_end(self, trainer: Trainer, task: Task, metrics: dict[str, float]) -> None: ...
    def on_fit_end(self, trainer: Trainer, task: Task) -> None: ...
    def on_exception(self, trainer: Trainer, task: Task, exc: BaseException) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
