"""Looking inside an MLP: per-layer gradient norms and activations (notes §2.2 vanishing gradient, §2.3.3).

These measure the phenomena the notes describe in words: saturating
activations (sigmoid, tanh) multiply the gradient by ``g'(a) ≤ 1/4`` (sigmoid)
at every layer, so the gradient reaching the first layers of a deep network
*vanishes*; ReLU with He initialisation keeps its scale.  Initialisation
decides the scale of the activations layer after layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...errors import ConfigError
from ...nn.device import module_device
from .mlp import MLP

__all__ = ["layer_gradient_norms", "hidden_activations"]


def _check(model: MLP) -> None:
    if not isinstance(model, MLP):
        raise TypeError(f"expected an an2dl MLP; got {type(model).__name__}")


def layer_gradient_norms(
    model: MLP,
    x: torch.Tensor,
    t: torch.Tensor,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[float]:
    """The Frobenius norm ``‖∂E/∂W_l‖`` of every linear layer's weight, input layer first.

    Args:
        model: the network (its gradients are computed on a copy of the
            graph; existing ``.grad`` fields are left untouched).
        x: a batch of inputs.
        t: its targets.
        loss: ``loss(model(x), t)``.

    Returns:
        ``L + 1`` floats, one per linear layer of :meth:`MLP.linear_layers`.
    """
    _check(model)
    weights = [m.weight for m in model.linear_layers()]
    dev = module_device(model)
    value = loss(model(x.to(dev)), t.to(dev))
    grads = torch.autograd.grad(value, weights)
    return [float(g.norm()) for g in grads]


def hidden_activations(model: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    """The output ``h_l`` of every hidden layer for the batch ``x`` (no gradient).

    Returns:
        ``L`` tensors ``[B, n_l]``.
    """
    _check(model)
    if not model.features:
        raise ConfigError("the MLP has no hidden layer")
    out = []
    with torch.no_grad():
        h = model._flatten(x.to(module_device(model)))
        for block in model.features:
            h = block(h)
            out.append(h)
    return out
