"""Dropout in the notes' two forms (§2.5.4; Srivastava et al. 2014).

During training every unit is kept with probability ``1 - p`` and set to 0
otherwise, a new mask for every sample.  The two modes differ in where the
factor ``1 - p`` (the probability of a unit being present) is compensated:

* ``"weight_scaling"`` — the notes' and the paper's form: the training output
  is ``m ⊙ x``; at test time every unit is present and its outgoing weights are
  scaled by ``1 - p``, i.e. the layer outputs ``(1 - p) x``.  This
  approximates the average of all sub-networks seen in training.
* ``"inverted"`` — the form PyTorch and Keras use: the training output is
  ``m ⊙ x / (1 - p)`` and the test output is ``x`` unchanged, so the exported
  model needs no scaling.  The fused ``F.dropout`` is its fast path.

In both modes the expected training output equals the test output,
``E[train] = test``; the two networks differ only by the constant factor
``1 - p`` inside the network, which the next layer's weights absorb
(:func:`fold_weight_scaling` converts between them exactly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["DROPOUT_MODES", "dropout", "Dropout", "fold_weight_scaling"]

#: values of ``mode``
DROPOUT_MODES = ("inverted", "weight_scaling")


def _check(p: float, mode: str) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ConfigError(f"dropout probability p must be a number in [0, 1); got {p!r}")
    if mode not in DROPOUT_MODES:
        raise ConfigError(f"dropout mode must be one of {list(DROPOUT_MODES)}; got {mode!r}")


def dropout(
    x: torch.Tensor,
    p: float,
    *,
    training: bool,
    mode: str = "inverted",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Dropout written out: a Bernoulli(1 - p) mask in training, the mode's scaling.

    Args:
        x: activations.
        p: probability of dropping a unit, in [0, 1).
        training: draw a mask (training) or apply the test-time rule.
        mode: ``"inverted"`` or ``"weight_scaling"`` (see the module docstring).
        generator: source of the mask (``None``: the global generator).

    Returns:
        Training: ``m ⊙ x / (1 - p)`` (inverted) or ``m ⊙ x`` (weight scaling),
        with ``m_i ~ Bernoulli(1 - p)``.  Test: ``x`` (inverted) or ``(1 - p) x``
        (weight scaling).

    Shape: any; the output has the shape of ``x``.
    """
    _check(p, mode)
    if not training:
        return x if mode == "inverted" or p == 0 else x * (1.0 - p)
    if p == 0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= p  # P(keep) = 1 - p
    masked = x * keep.to(x.dtype)
    return masked / (1.0 - p) if mode == "inverted" else masked


class Dropout(nn.Module):
    """Dropout layer with the notes' test-time weight scaling or inverted scaling (§2.5.4).

    Args:
        p: probability of dropping a unit, in [0, 1).
        mode: ``"inverted"`` (default, PyTorch's) or ``"weight_scaling"`` (the notes').
        fused: in inverted mode use ``F.dropout`` (default); otherwise the
            written-out :func:`dropout`.  Weight-scaling mode is always written out.

    Shape:
        input any shape; output the same.
    """

    def __init__(self, p: float = 0.5, *, mode: str = "inverted", fused: bool = True) -> None:
        super().__init__()
        _check(p, mode)
        self.p, self.mode, self.fused = float(p), mode, fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and self.mode == "inverted":
            return F.dropout(x, self.p, self.training)
        return dropout(x, self.p, training=self.training, mode=self.mode)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


def fold_weight_scaling(next_layer: nn.Linear, p: float) -> nn.Linear:
    """The notes' test-time rule as a weight change: scale ``next_layer``'s weights by ``1 - p``.

    A weight-scaling dropout layer in evaluation outputs ``(1 - p) x``; the
    linear layer after it then computes ``W (1 - p) x + b``.  Replacing ``W``
    by ``(1 - p) W`` and the dropout by the identity gives the same outputs:
    this is the "weight scaling at test time" of §2.5.4.

    Args:
        next_layer: the ``nn.Linear`` fed by the dropout layer (modified in place).
        p: the dropout probability.

    Returns:
        ``next_layer``.
    """
    _check(p, "weight_scaling")
    if not isinstance(next_layer, nn.Linear):
        raise TypeError(f"next_layer must be an nn.Linear; got {type(next_layer).__name__}")
    with torch.no_grad():
        next_layer.weight.mul_(1.0 - p)
    return next_layer
