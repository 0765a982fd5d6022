"""Backpropagation written out, without autograd (notes §2.3.1; Rumelhart, Hinton & Williams 1986).

The notes describe backpropagation in two steps:

1. *Forward pass*: the input propagates through the network; the local
   derivatives of every unit, which depend only on its immediate inputs, are
   computed and stored.
2. *Backward pass*: the error's partial derivatives are propagated backwards
   with the chain rule, using the stored values.

For layer ``l = 1 .. L`` with input ``h_{l-1}`` (``h_0 = x``)::

    forward    a_l = h_{l-1} W_lᵀ + b_l        h_l = g_l(a_l)        store h_{l-1} and g_l'(a_l)
    backward   δ_l = ∂E/∂a_l = ∂E/∂h_l ⊙ g_l'(a_l)     (softmax output: ∂E/∂z = y ⊙ (∂E/∂y - Σ y ⊙ ∂E/∂y))
               ∂E/∂W_l = δ_lᵀ h_{l-1}     ∂E/∂b_l = Σ_batch δ_l     ∂E/∂h_{l-1} = δ_l W_l

:class:`ManualMLP` does exactly this with plain tensors (it never builds an
autograd graph), and :func:`loss_gradient` gives ``∂E/∂y`` for the losses of
§2.3–§2.4.  The tests show its gradients equal autograd's to 1e-10 in float64
for every activation of Table 2.1 and every output layer; ``an2dl bench
backprop`` times it against autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .activations import ACTIVATIONS, get_activation, softmax, softmax_backward
from .init import init_weight_

__all__ = ["ManualMLP", "Gradients", "loss_value", "loss_gradient", "LOSS_NAMES"]

#: losses with a written-out gradient
LOSS_NAMES = ("sse", "mse", "bce", "cross_entropy")
_OUTPUTS = ("linear", "sigmoid", "tanh", "softmax")


@dataclass
class Gradients:
    """∂E/∂W_l, ∂E/∂b_l for every layer and ∂E/∂x.

    Attributes:
        weights: ``[n_l, n_{l-1}]`` per layer.
        biases: ``[n_l]`` per layer.
        input: ``[B, n_0]``.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    input: torch.Tensor


def _check_pair(name: str, y: torch.Tensor, t: torch.Tensor) -> None:
    if y.shape != t.shape:
        raise ValueError(f"{name}: output and target must have the same shape; got {list(y.shape)} and {list(t.shape)}")


def loss_value(name: str, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The loss ``E(y, t)`` of the network output ``y`` (not logits).

    ``sse``: ``Σ (t - y)²``; ``mse``: its mean over all elements; ``bce``:
    ``-(1/B) Σ [t log y + (1 - t) log(1 - y)]``; ``cross_entropy``:
    ``-(1/B) Σ_n Σ_k t_nk log y_nk`` with one-hot or probability targets.

    Shape: ``y`` and ``t`` the same shape ``[B, K]``.
    """
    _check_pair("loss_value", y, t)
    B = y.shape[0]
    if name == "sse":
        return ((t - y) ** 2).sum()
    if name == "mse":
        return ((t - y) ** 2).mean()
    if name == "bce":
        return -(t * torch.log(y) + (1 - t) * torch.log(1 - y)).sum() / B
    if name == "cross_entropy":
        return -(t * torch.log(y)).sum() / B
    raise ConfigError(f"loss must be one of {list(LOSS_NAMES)}; got {name!r}")


def loss_gradient(name: str, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``∂E/∂y`` of :func:`loss_value`, written out.

    ``sse``: ``2 (y - t)``; ``mse``: ``2 (y - t) / N``; ``bce``:
    ``(y - t) / (y (1 - y)) / B``; ``cross_entropy``: ``-t / y / B``.  Through a
    sigmoid or softmax output these combine into the familiar ``(y - t) / B``.
    """
    _check_pair("loss_gradient", y, t)
    B = y.shape[0]
    if name == "sse":
        return 2 * (y - t)
    if name == "mse":
        return 2 * (y - t) / y.numel()
    if name == "bce":
        return (y - t) / (y * (1 - y)) / B
    if name == "cross_entropy":
        return -t / y / B
    raise ConfigError(f"loss must be one of {list(LOSS_NAMES)}; got {name!r}")


class ManualMLP:
    """A fully connected network trained by written-out backpropagation (no autograd).

    Args:
        weights: ``W_l`` of shape ``[n_l, n_{l-1}]``, input to output.
        biases: ``b_l`` of shape ``[n_l]``.
        activation: hidden activation, a Table 2.1 name.
        output: output activation: ``linear``, ``sigmoid``, ``tanh`` or ``softmax``.
        alpha: the ELU's α.

    Shape:
        ``forward``: ``x [B, n_0]`` -> ``y [B, n_L]``; ``backward``: ``∂E/∂y [B, n_L]``
        -> :class:`Gradients`.
    """

    def __init__(
        self,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        *,
        activation: str = "sigmoid",
        output: str = "linear",
        alpha: float = 1.0,
    ) -> None:
        if not weights or len(weights) != len(biases):
            raise ConfigError(f"ManualMLP needs one bias per weight matrix; got {len(weights)} weights, {len(biases)} biases")
        for i, (w, b) in enumerate(zip(weights, biases)):
            if w.dim() != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"layer {i}: weight must be [out, in] and bias [out]; got {list(w.shape)} and {list(b.shape)}")
            if i and w.shape[1] != weights[i - 1].shape[0]:
                raise ValueError(f"layer {i} expects {w.shape[1]} inputs but layer {i - 1} has {weights[i - 1].shape[0]} outputs")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {list(ACTIVATIONS)}; got {activation!r}")
        if output not in _OUTPUTS:
            raise ConfigError(f"output must be one of {list(_OUTPUTS)}; got {output!r}")
        self.weights = [w.detach().clone() for w in weights]
        self.biases = [b.detach().clone() for b in biases]
        self.activation, self.output = activation, output
        self._hidden = get_activation(activation, alpha=alpha)
        self._out = None if output == "softmax" else get_activation(output)
        self._cache: list[tuple[torch.Tensor, torch.Tensor | None]] | None = None
        self._y: torch.Tensor | None = None

    @classmethod
    def from_sizes(
        cls,
        sizes: Sequence[int],
        *,
        activation: str = "sigmoid",
        output: str = "linear",
        alpha: float = 1.0,
        init: str = "glorot",
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> ManualMLP:
        """A network with layer widths ``sizes = (n_0, ..., n_L)``, weights by ``init``, biases 0."""
        if len(sizes) < 2:
            raise ConfigError(f"sizes needs at least an input and an output width; got {list(sizes)}")
        ws, bs = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = torch.empty(n_out, n_in, dtype=dtype)
            ws.append(init_weight_(w, init, generator=generator))
            bs.append(torch.zeros(n_out, dtype=dtype))
        return cls(ws, bs, activation=activation, output=output, alpha=alpha)

    @classmethod
    def from_module(cls, model: nn.Module) -> ManualMLP:
        """Copy the weights of an :class:`~an2dl.models.ffnn.MLP` (no batch norm, no dropout)."""
        # duck-typed: nn/ sits below models/ and must not import the MLP class
        if not callable(getattr(model, "linear_layers", None)):
            raise TypeError(f"from_module expects an an2dl MLP; got {type(model).__name__}")
        if model.batch_norm or model.dropout_p > 0:
            raise ConfigError("ManualMLP.from_module needs an MLP without batch_norm and dropout")
        layers = model.linear_layers()
        return cls([m.weight for m in layers], [m.bias for m in layers], activation=model.activation,
                   output=model.output_activation, alpha=model.alpha)

    @property
    def sizes(self) -> list[int]:
        """Layer widths ``[n_0, ..., n_L]``."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    def parameters(self) -> list[torch.Tensor]:
        """``[W_1, b_1, ..., W_L, b_L]``."""
        return [p for wb in zip(self.weights, self.biases) for p in wb]

    # ---------------------------------------------------------------- step 1: forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forward pass storing every layer's input ``h_{l-1}`` and local derivative ``g'(a_l)``."""
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"ManualMLP expects input [B, {self.sizes[0]}]; got {list(x.shape)}")
        cache: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = torch.addmm(b, h, w.T)  # a_l = h_{l-1} W_lᵀ + b_l in one fused call
            if i < last:
                cache.append((h, self._hidden.derivative(a)))
                h = self._hidden.fn(a)
            elif self._out is None:  # softmax: its Jacobian needs the output y, stored below
                cache.append((h, None))
                h = softmax(a, dim=1)
            else:
                cache.append((h, self._out.derivative(a)))
                h = self._out.fn(a)
        self._cache, self._y = cache, h
        return h

    __call__ = forward

    # ---------------------------------------------------------------- step 2: backward
    def backward(self, grad_output: torch.Tensor) -> Gradients:
        """Backward pass: the chain rule from ``∂E/∂y`` down to every weight, bias and the input.

        Args:
            grad_output: ``∂E/∂y`` for the output of the last :meth:`forward`.

        Raises:
            ConfigError: :meth:`forward` was not called first.
        """
        if self._cache is None or self._y is None:
            raise ConfigError("call forward(x) before backward(grad_output)")
        if grad_output.shape != self._y.shape:
            raise ValueError(f"grad_output must have the output's shape {list(self._y.shape)}; got {list(grad_output.shape)}")
        gw: list[torch.Tensor] = [torch.empty(0)] * len(self.weights)
        gb: list[torch.Tensor] = [torch.empty(0)] * len(self.weights)
        grad_h = grad_output
        for i in range(len(self.weights) - 1, -1, -1):
            h_prev, local = self._cache[i]
            delta = softmax_backward(self._y, grad_h) if local is None else grad_h * local  # δ_l = ∂E/∂a_l
            gw[i] = delta.T @ h_prev  # ∂E/∂W_l
            gb[i] = delta.sum(dim=0)  # ∂E/∂b_l
            grad_h = delta @ self.weights[i]  # ∂E/∂h_{l-1}
        return Gradients(gw, gb, grad_h)

    def step(self, grads: Gradients, lr: float) -> None:
        """Gradient descent ``w ← w - η ∂E/∂w`` on every weight and bias (notes §2.3.1)."""
        for w, g in zip(self.weights, grads.weights):
            w.sub_(lr * g)
        for b, g in zip(self.biases, grads.biases):
            b.sub_(lr * g)

    def train_step(self, x: torch.Tensor, t: torch.Tensor, *, loss: str = "mse", lr: float = 0.1) -> float:
        """Forward, loss, backward and one gradient-descent step; returns the loss before the step."""
        y = self.forward(x)
        value = float(loss_value(loss, y, t))
        self.step(self.backward(loss_gradient(loss, y, t)), lr)
        return value
