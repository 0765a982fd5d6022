"""The :class:`Task` contract: how a model is trained, validated and used (DESIGN §5).

A task is an ``nn.Module`` that owns the model(s), the loss and the metrics.
The trainer calls its ``*_step`` methods with a batch and a
:class:`StepContext`; the task returns the loss (automatic optimisation) or
drives its optimisers itself through the context (manual optimisation, as a
GAN needs: ``ctx.optimizers``, ``ctx.backward(loss)``, ``ctx.step(opt)``).

Logging: ``ctx.log("loss", value)`` records a running mean over the epoch,
weighted by the batch size; ``ctx.log("accuracy", metric)`` with a
``torchmetrics.Metric`` records the metric's ``compute()`` at the end of the
epoch.  Names are prefixed with the split: ``train/loss``, ``val/accuracy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError
from .optim import OptimizerSpec

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

__all__ = ["Task", "StepContext", "MetricLog"]


class MetricLog:
    """Epoch accumulators behind ``ctx.log``: running means and torchmetrics objects."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, float] = {}
        self.metrics: dict[str, Any] = {}
        self.last: dict[str, torch.Tensor] = {}
        self.artifacts: dict[str, torch.Tensor] = {}  # non-scalar metric results of the last compute

    def reset(self) -> None:
        for m in self.metrics.values():
            m.reset()
        self.sums.clear()
        self.counts.clear()
        self.metrics.clear()
        self.last.clear()

    def add(self, name: str, value: Any, weight: float) -> None:
        if hasattr(value, "compute") and hasattr(value, "update"):
            self.metrics[name] = value
            return
        v = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        if v.numel() != 1:
            raise ConfigError(f"ctx.log({name!r}, ...) needs a scalar or a torchmetrics Metric; got shape {tuple(v.shape)}")
        v = v.reshape(()).float()
        self.last[name] = v
        if name in self.sums:
            self.sums[name] = self.sums[name] + v * weight
            self.counts[name] += weight
        else:
            self.sums[name] = v * weight
            self.counts[name] = weight

    def compute(self, prefix: str, reduce_sum=None) -> dict[str, float]:
        """Epoch values ``{prefix/name: float}``; ``reduce_sum`` all-reduces across processes."""
        out: dict[str, float] = {}
        names = sorted(self.sums)
        if names:
            sums = torch.stack([self.sums[n].cpu() for n in names])
            counts = torch.tensor([self.counts[n] for n in names], dtype=sums.dtype)
            if reduce_sum is not None:
                sums, counts = reduce_sum(sums), reduce_sum(counts)
            for n, s, c in zip(names, sums.tolist(), counts.tolist()):
                out[f"{prefix}/{n}"] = s / c if c else float("nan")
        self.artifacts = {}
        for n, m in sorted(self.metrics.items()):
            value = m.compute()
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                out[f"{prefix}/{n}"] = float(value)
            elif isinstance(value, torch.Tensor):
                self.artifacts[f"{prefix}/{n}"] = value.detach().cpu()
        return out

    # -- checkpointing: the running sums (metric objects are saved by the trainer through the task)
    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = {k: v.clone() for k, v in state["sums"].items()}
        self.counts = {k: float(v) for k, v in state["counts"].items()}


class StepContext:
    """What a task's step sees of the trainer.

    Attributes:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"predict"``.
        epoch: current epoch (0-based).
        global_step: optimiser steps completed so far.
        batch_idx: index of the batch within the epoch.
        optimizers: the task's optimisers, in ``configure_optimizers`` order.
        trainer: the running :class:`~an2dl.engine.Trainer`.
    """

    def __init__(self, trainer: Trainer, split: str, log: MetricLog, *, training: bool = False) -> None:
        self.trainer = trainer
        self.split = split
        self._training = training
        self._log = log
        self.batch_idx = 0
        self.batch_size = 1

    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    @property
    def global_step(self) -> int:
        return self.trainer.global_step

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return self.trainer.optimizers

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    @property
    def training(self) -> bool:
        """True inside a training step (augmentation, dropout); False in every evaluation,
        also when the training split itself is evaluated."""
        return self._training

    def log(self, name: str, value: Any, *, batch_size: int | None = None) -> None:
        """Record ``value`` (scalar tensor/float or a torchmetrics Metric) as ``split/name``."""
        self._log.add(name, value, float(batch_size if batch_size is not None else self.batch_size))

    def backward(self, loss: torch.Tensor) -> None:
        """Manual optimisation: back-propagate ``loss`` (runs the after-backward callbacks)."""
        self.trainer._manual_backward(loss)

    def step(self, optimizer: torch.optim.Optimizer, *, zero_grad: bool = True) -> None:
        """Manual optimisation: clip (callbacks), step ``optimizer`` and clear its gradients."""
        self.trainer._manual_step(optimizer, zero_grad=zero_grad)


class Task(nn.Module):
    """Base class of everything the trainer can fit.

    Subclasses implement :meth:`training_step` and usually
    :meth:`validation_step`; the defaults of the other hooks cover most tasks.

    Args:
        optimizer: one :class:`OptimizerSpec` or a sequence of them (one per
            optimiser, e.g. generator and discriminator), used by the default
            :meth:`configure_optimizers`.
    """

    #: ``False`` for tasks that call ``ctx.backward`` / ``ctx.step`` themselves.
    automatic_optimization: bool = True

    def __init__(self, optimizer: OptimizerSpec | Sequence[OptimizerSpec] | None = None) -> None:
        super().__init__()
        if optimizer is None:
            specs: list[OptimizerSpec] = [OptimizerSpec()]
        elif isinstance(optimizer, OptimizerSpec):
            specs = [optimizer]
        else:
            specs = list(optimizer)
        for s in specs:
            if not isinstance(s, OptimizerSpec):
                raise ConfigError(f"optimizer must be an OptimizerSpec or a list of them; got {type(s).__name__}")
        self.optimizer_specs = specs

    # ---- steps
    def step(self, batch: Any, ctx: StepContext) -> torch.Tensor:
        """Compute and log the loss of one batch, in training and in evaluation alike.

        Most tasks differ between training and evaluation only in ``ctx.split``
        and ``ctx.training``: they define this one method, which the default
        :meth:`training_step` and :meth:`validation_step` call.
        """
        raise TypeError(f"{type(self).__name__} must define step(batch, ctx) or training_step(batch, ctx)")

    def training_step(self, batch: Any, ctx: StepContext) -> torch.Tensor | dict[str, Any] | None:
        """Compute the loss of one training batch (or, in manual mode, step the optimisers); default: :meth:`step`."""
        return self.step(batch, ctx)

    def validation_step(self, batch: Any, ctx: StepContext) -> Any:
        """Evaluate one batch (log metrics through ``ctx``); default: :meth:`step` if the task defines it."""
        if type(self).step is not Task.step:
            return self.step(batch, ctx)
        return None

    def test_step(self, batch: Any, ctx: StepContext) -> Any:
        """Evaluate one test batch; defaults to :meth:`validation_step`."""
        return self.validation_step(batch, ctx)

    def predict_step(self, batch: Any, ctx: StepContext) -> Any:
        """Outputs for one batch; the default runs ``self(x)`` on the batch's first element."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self(x)

    def configure_optimizers(self) -> list[OptimizerSpec | torch.optim.Optimizer]:
        """The optimisers: specs (built by the trainer) or ready ``torch.optim`` objects."""
        return list(self.optimizer_specs)

    # ---- helpers for subclasses
    @staticmethod
    def batch_size_of(batch: Any) -> int:
        """Number of samples in ``batch`` (first dimension of its first tensor)."""
        while isinstance(batch, (list, tuple)) and batch:
            batch = batch[0]
        if isinstance(batch, dict) and batch:
            return Task.batch_size_of(next(iter(batch.values())))
        return int(batch.shape[0]) if isinstance(batch, torch.Tensor) and batch.dim() > 0 else 1
