"""Test-time augmentation: classify several augmented views of each test image and aggregate (notes §3.4.1).

The notes' procedure, for a batch of test images:

1. apply the augmentations to each image (one view per transform);
2. classify all the views — here in one batched forward pass over
   ``T · B`` images (or in chunks of ``batch_size``);
3. keep the class probabilities of every view, ``p_t(x)`` for ``t = 1..T``;
4. aggregate them into one decision per image:

   * ``"mean"``: ``p(x) = (1/T) Σ_t p_t(x)`` (soft voting; the usual choice);
   * ``"max"``: ``p_k(x) = max_t p_{t,k}(x)`` (the most confident view of each class; rows do not sum to 1);
   * ``"vote"``: the fraction of views whose arg-max is ``k`` (hard voting; ties go to the lower class index).

The cost is ``T`` forward passes per image, which is why the notes ask for a
careful choice of transforms: views the model has learned to be invariant to
(small shifts for digits, horizontal flips for natural images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data.transforms.base import Transform
from .errors import ConfigError
from .nn.device import module_device

__all__ = ["tta_predict", "tta_views"]

_REDUCTIONS = ("mean", "max", "vote")


def tta_views(
    x: torch.Tensor,
    transforms: Sequence[Callable[[torch.Tensor], torch.Tensor] | None],
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The augmented views ``[T, B, C, H, W]`` of a batch ``x`` ``[B, C, H, W]``.

    ``None`` stands for the original image.  An an2dl :class:`Transform` is
    applied in training mode (so random ones draw, from ``generator``) and
    put back in its previous mode; other callables are called as ``t(x)``.
    Every view must keep the input's shape.
    """
    views = []
    for i, t in enumerate(transforms):
        if t is None:
            v = x
        elif isinstance(t, Transform):
            was = t.training
            t.train()
            try:
                v = t(x, generator=generator)
            finally:
                t.train(was)
        elif callable(t):
            v = t(x)
        else:
            raise ConfigError(f"transforms[{i}] must be None, an an2dl Transform or a callable; got {type(t).__name__}")
        if not isinstance(v, torch.Tensor) or v.shape != x.shape:
            raise ValueError(f"view {i} must keep the input shape {list(x.shape)}; got {list(getattr(v, 'shape', []))}")
        views.append(v)
    return torch.stack(views)


@torch.no_grad()
def tta_predict(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    transforms: Sequence[Callable[[torch.Tensor], torch.Tensor] | None],
    *,
    reduce: str = "mean",
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    logits: bool = True,
) -> torch.Tensor:
    """Class probabilities of ``x`` aggregated over test-time augmented views (notes §3.4.1).

    Args:
        model: maps ``[N, C, H, W]`` to ``[N, K]`` logits (or probabilities with
            ``logits=False``); an ``nn.Module`` is evaluated in eval mode and
            its mode restored, on its own device (the views are moved there and
            its outputs brought back to ``x``'s device).
        x: test images ``[B, C, H, W]``.
        transforms: one entry per view; ``None`` is the original image (include
            it to keep the plain prediction among the views).
        reduce: ``"mean"``, ``"max"`` or ``"vote"`` (see the module docstring).
        batch_size: images per forward pass (default: all ``T · B`` at once).
        generator: random source of random transforms.
        logits: the model returns logits (softmax applied) rather than probabilities.

    Returns:
        ``[B, K]`` aggregated scores; ``.argmax(1)`` is the TTA prediction.

    Raises:
        ConfigError: unknown ``reduce``, no transforms, bad ``batch_size``.
        ValueError: ``x`` not ``[B, C, H, W]``; a view that changes the shape.
    """
    if reduce not in _REDUCTIONS:
        raise ConfigError(f"reduce must be one of {_REDUCTIONS}; got {reduce!r}")
    if not isinstance(transforms, Sequence) or isinstance(transforms, (str, bytes)) or len(transforms) == 0:
        raise ConfigError(f"transforms must be a non-empty list of views (None = the original); got {transforms!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a batch of images [B, C, H, W]; got {list(getattr(x, 'shape', []))}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size must be a positive integer; got {batch_size!r}")
    views = tta_views(x, transforms, generator=generator)  # (T, B, C, H, W)
    t, b = views.shape[:2]
    flat = views.reshape(t * b, *x.shape[1:])
    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    dev = module_device(model) if isinstance(model, nn.Module) else None
    try:
        step = batch_size or len(flat)
        chunks = [flat[i : i + step] for i in range(0, len(flat), step)]
        outs = [model(c) if dev is None else model(c.to(dev)).to(x.device) for c in chunks]
    finally:
        if was_training:
            model.train()
    out: Any = torch.cat(outs)
    if out.dim() != 2:
        raise ValueError(f"the model must return [N, K] scores; got {list(out.shape)}")
    probs = (out.softmax(dim=1) if logits else out).view(t, b, -1)  # (T, B, K)
    if reduce == "mean":
        return probs.mean(dim=0)
    if reduce == "max":
        return probs.amax(dim=0)
    votes = F.one_hot(probs.argmax(dim=2), probs.shape[2]).to(probs.dtype)  # (T, B, K)
    return votes.mean(dim=0)
