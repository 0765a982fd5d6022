"""Composing transforms: one after the other, consecutive geometric steps fused (notes §3.4.1).

:class:`Compose` sits above both the transform contract
(:mod:`~an2dl.data.transforms.base`) and the geometric transforms
(:mod:`~an2dl.data.transforms.geometric`): it multiplies the matrices of
consecutive geometric steps and resamples the image once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .base import Transform
from .geometric import GeometricTransform, warp_batch
from .targets import TargetBatch

__all__ = ["Compose"]


class Compose(Transform):
    """Apply transforms one after the other (each one's random draws in order from the same generator).

    Consecutive geometric transforms are fused: their matrices are multiplied
    and the image is resampled once, which is faster and avoids the blur of
    repeated interpolation (the targets are mapped by the same product).

    Args:
        transforms: the transforms, in order.
        fuse: fuse consecutive geometric transforms (default ``True``).
    """

    random = False  # activity is decided by each member

    def __init__(self, transforms: Sequence[Transform], *, fuse: bool = True) -> None:
        super().__init__()
        for i, t in enumerate(transforms):
            if not isinstance(t, Transform):
                raise ConfigError(f"Compose transforms[{i}] must be an an2dl Transform; got {type(t).__name__}")
        self.transforms = nn.ModuleList(transforms)
        self.fuse = fuse

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        pending: list[GeometricTransform] = []

        def flush(b: TargetBatch) -> TargetBatch:
            if not pending:
                return b
            plans = []
            size = b.size
            for t in pending:
                plan = t.plan(b.batch_size, size, generator, device=b.image.device)
                plans.append(plan)
                size = plan.out_size
            pending.clear()
            return warp_batch(b, plans)

        for t in self.transforms:
            if not t.active:
                continue
            if self.fuse and isinstance(t, GeometricTransform):
                pending.append(t)
                continue
            batch = flush(batch)
            batch = t.apply_batch(batch, generator)
        return flush(batch)
