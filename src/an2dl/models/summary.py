"""Model summaries: parameter counts per registered model (used by ``an2dl list models``)."""

from __future__ import annotations

import torch
from torch import nn

from ._registry import MODELS

__all__ = ["count_parameters", "registry_table"]


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (``p.numel()`` summed), optionally only those with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def registry_table(pattern: str | None = None) -> list[tuple[str, str, str]]:
    """``(name, "N params", first docstring line)`` for every registered model.

    Models are built on PyTorch's ``meta`` device: shapes only, no memory, so
    even the largest architectures are counted instantly.
    """
    rows = []
    for name in MODELS.names(pattern):
        builder = MODELS.get(name)
        with torch.device("meta"):
            try:
                n = f"{count_parameters(builder()):,} params"
            except Exception as e:  # a builder that needs arguments
                n = f"({type(e).__name__})"
        doc = (builder.__doc__ or "").strip().splitlines()
        rows.append((name, n, doc[0] if doc else ""))
    return rows
