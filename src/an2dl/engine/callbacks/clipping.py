"""Gradient clipping by norm or by value."""

from __future__ import annotations

import torch

from ...errors import ConfigError
from .base import Callback

__all__ = ["GradientClipping"]


class GradientClipping(Callback):
    """Clip gradients just before each optimiser step.

    Args:
        max_norm: rescale all gradients of the optimiser so that their global
            L2 norm is at most ``max_norm`` (``torch.nn.utils.clip_grad_norm_``).
        max_value: clamp every gradient element to ``[-max_value, max_value]``.

    Exactly one of the two must be given.  The norm before clipping of the
    latest step is kept in ``last_norm``.
    """

    def __init__(self, *, max_norm: float | None = None, max_value: float | None = None) -> None:
        if (max_norm is None) == (max_value is None):
            raise ConfigError("GradientClipping needs exactly one of max_norm or max_value")
        for name, v in (("max_norm", max_norm), ("max_value", max_value)):
            if v is not None and not v > 0:
                raise ConfigError(f"GradientClipping {name} must be > 0; got {v}")
        self.max_norm, self.max_value = max_norm, max_value
        self.last_norm: float | None = None

    def on_before_optimizer_step(self, trainer, task, optimizer) -> None:
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return
        if self.max_norm is not None:
            self.last_norm = float(torch.nn.utils.clip_grad_norm_(params, self.max_norm))
        else:
            torch.nn.utils.clip_grad_value_(params, self.max_value)
