"""The training precision a machine computes fastest: ``precision="auto"``.

Mixed precision with bfloat16 (``"bf16-mixed"``) pays only where the hardware
multiplies bfloat16 natively: GPUs from Ampere on, and CPUs with the AVX-512
BF16 or AMX instructions (oneDNN runs its matrix products and convolutions in
bfloat16 there).  Elsewhere bfloat16 is emulated through float32 and a step is
slower, not faster.  ``"auto"`` asks the device and picks ``"bf16-mixed"`` or
``"32-true"``; the :class:`~an2dl.engine.Trainer` resolves it when it is built,
so a run's ``config.json`` records the precision it really trained in (and a
resume on a machine that resolves it otherwise is refused, as for any changed
setting, until ``trainer.precision`` names the stored one).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["AUTO", "native_bf16", "resolve_precision"]

AUTO = "auto"


def native_bf16(accelerator: str = "auto") -> bool:
    """Whether the device ``accelerator`` selects multiplies bfloat16 in hardware.

    Args:
        accelerator: the Trainer's accelerator: ``"auto"`` (a CUDA GPU when there is one, else the CPU),
            ``"gpu"``/``"cuda"`` or ``"cpu"``; any other (``"mps"``) is answered ``False``.
    """
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if accelerator not in ("cpu", "auto"):
        return False
    # x86: the AVX-512 BF16 dot products or the AMX tiles; torch.cpu answers from cpuinfo
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: Any, accelerator: str = "auto") -> Any:
    """``precision`` unchanged, or for ``"auto"`` ``"bf16-mixed"`` where :func:`native_bf16`, else ``"32-true"``."""
    if precision != AUTO:
        return precision
    return "bf16-mixed" if native_bf16(accelerator) else "32-true"
