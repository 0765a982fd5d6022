"""Device helpers for code that calls a trained model directly (outside the trainer's loops).

After :meth:`an2dl.engine.Trainer.fit` a model stays on the training device
(a GPU when the accelerator resolves to CUDA); inputs built on the CPU are
moved with ``x.to(module_device(model))`` and results brought back with
``.cpu()``.  Both are no-ops on the CPU.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["module_device", "randn"]


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (or buffer); the CPU for a module with neither."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def randn(*size: int, generator: torch.Generator | None, device: torch.device | str,
          dtype: torch.dtype | None = None) -> torch.Tensor:
    """``torch.randn(*size)`` on ``device``, drawn on ``generator``'s device when one is given.

    A CPU generator then gives the same numbers whatever ``device`` is (the
    draw is made on the CPU and moved); without a generator the draw is made
    on ``device`` from its global generator, as ``torch.randn(..., device=device)``.
    """
    if generator is None:
        return torch.randn(*size, device=device, dtype=dtype)
    return torch.randn(*size, generator=generator, device=generator.device, dtype=dtype).to(device)
