"""Activation functions of the notes' Table 2.1 and the softmax, each with its derivative (notes §2.2).

Every function is written as the notes' formula, element-wise on a tensor of
any shape; its derivative ``g'(a)`` is a separate function so that the
written-out backpropagation of :mod:`an2dl.nn.backprop` can store it during
the forward pass (notes §2.3.1).  Models use PyTorch's fused modules
(:func:`activation_module`); the tests prove that both compute the same
function and the same derivative in float64.

====================  ====================================  =================================
name                  g(a)                                  g'(a)
====================  ====================================  =================================
``linear``            a                                     1
``sigmoid``           1 / (1 + e^{-a})                      g(a) (1 - g(a))
``tanh``              (e^a - e^{-a}) / (e^a + e^{-a})       1 - g(a)^2
``relu``              0 if a < 0, a otherwise               0 if a <= 0, 1 otherwise
``leaky_relu``        0.01 a if a < 0, a otherwise          0.01 if a <= 0, 1 otherwise
``elu``               α (e^a - 1) if a < 0, a otherwise     α e^a if a <= 0, 1 otherwise
====================  ====================================  =================================

Departures from the notes:

* ReLU, leaky ReLU and ELU are not differentiable at ``a = 0``; the
  derivative there takes the left-hand value, the sub-gradient PyTorch's
  autograd uses, so that written-out and automatic gradients agree everywhere.
* The sigmoid and tanh formulas are evaluated in an algebraically identical
  form that never divides two overflowing exponentials (for ``a < 0`` the
  sigmoid is computed as ``e^a / (1 + e^a)``, and tanh as
  ``sign(a) (1 - e^{-2|a|}) / (1 + e^{-2|a|})``).
* The leaky slope 0.01 of Table 2.1 is the default of ``negative_slope``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "get_activation",
    "activation_module",
    "linear",
    "linear_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "tanh",
    "tanh_derivative",
    "relu",
    "relu_derivative",
    "leaky_relu",
    "leaky_relu_derivative",
    "elu",
    "elu_derivative",
    "softmax",
    "softmax_jacobian",
    "softmax_backward",
]


# ---------------------------------------------------------------- Table 2.1, one pair per row
def linear(a: torch.Tensor) -> torch.Tensor:
    """Linear activation ``g(a) = a`` (Table 2.1; the regression output layer, §2.2).

    Shape: any; output has the shape of ``a``.
    """
    return a


def linear_derivative(a: torch.Tensor) -> torch.Tensor:
    """``g'(a) = 1`` for the linear activation."""
    return torch.ones_like(a)


def sigmoid(a: torch.Tensor) -> torch.Tensor:
    """Logistic sigmoid ``g(a) = 1 / (1 + e^{-a})`` with values in (0, 1) (Table 2.1).

    For ``a < 0`` the same value is computed as ``e^a / (1 + e^a)`` so that
    ``e^{-a}`` never overflows.  Shape: any.
    """
    e = torch.exp(-a.abs())  # e^{-|a|} is in (0, 1]: no overflow
    return torch.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(a: torch.Tensor) -> torch.Tensor:
    """``g'(a) = g(a) (1 - g(a))`` for the sigmoid; at most 1/4, the root of vanishing gradients (§2.2)."""
    s = sigmoid(a)
    return s * (1.0 - s)


def tanh(a: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent ``g(a) = (e^a - e^{-a}) / (e^a + e^{-a})`` with values in (-1, 1) (Table 2.1).

    Evaluated as ``sign(a) (1 - e^{-2|a|}) / (1 + e^{-2|a|})`` (numerator and
    denominator multiplied by ``e^{-|a|}``), which cannot overflow.  Shape: any.
    """
    e = torch.exp(-2.0 * a.abs())
    return torch.sign(a) * (1.0 - e) / (1.0 + e)


def tanh_derivative(a: torch.Tensor) -> torch.Tensor:
    """``g'(a) = 1 - tanh(a)^2``."""
    t = tanh(a)
    return 1.0 - t * t


def relu(a: torch.Tensor) -> torch.Tensor:
    """Rectified linear unit: ``0`` if ``a < 0``, ``a`` otherwise (Table 2.1, Figure 2.2)."""
    return torch.where(a < 0, torch.zeros_like(a), a)


def relu_derivative(a: torch.Tensor) -> torch.Tensor:
    """``g'(a) = 1`` for ``a > 0`` and ``0`` otherwise (``0`` at ``a = 0``, as autograd)."""
    return (a > 0).to(a.dtype)


def leaky_relu(a: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Leaky ReLU: ``0.01 a`` if ``a < 0``, ``a`` otherwise (Table 2.1; slope configurable)."""
    return torch.where(a < 0, negative_slope * a, a)


def leaky_relu_derivative(a: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """``g'(a) = 1`` for ``a > 0`` and ``negative_slope`` otherwise."""
    return torch.where(a > 0, torch.ones_like(a), torch.full_like(a, negative_slope))


def elu(a: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Exponential linear unit: ``α (e^a - 1)`` if ``a < 0``, ``a`` otherwise (Table 2.1; Clevert et al. 2016)."""
    return torch.where(a < 0, alpha * (torch.exp(torch.clamp(a, max=0.0)) - 1.0), a)


def elu_derivative(a: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """``g'(a) = 1`` for ``a > 0`` and ``α e^a`` otherwise."""
    return torch.where(a > 0, torch.ones_like(a), alpha * torch.exp(torch.clamp(a, max=0.0)))


# ---------------------------------------------------------------- softmax (the multi-class output layer)
def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax ``y_k = e^{z_k} / Σ_j e^{z_j}`` along ``dim`` (notes §2.2, output layers).

    ``max(z)`` is subtracted first, which leaves every ``y_k`` unchanged and
    keeps ``e^{z}`` finite.

    Shape: ``z`` any shape; ``y`` has the same shape and sums to 1 along ``dim``.
    """
    e = torch.exp(z - z.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def softmax_jacobian(y: torch.Tensor) -> torch.Tensor:
    """The Jacobian ``∂y_i/∂z_j = y_i (δ_ij - y_j)`` of the softmax, from its output ``y``.

    Shape: ``y [B, K]`` -> ``[B, K, K]`` (row ``i``, column ``j``).
    """
    if y.dim() != 2:
        raise ValueError(f"softmax_jacobian expects y of shape [B, K]; got {list(y.shape)}")
    return torch.diag_embed(y) - y.unsqueeze(2) * y.unsqueeze(1)


def softmax_backward(y: torch.Tensor, grad_y: torch.Tensor) -> torch.Tensor:
    """Chain rule through the softmax: ``∂L/∂z_j = y_j (∂L/∂y_j - Σ_i y_i ∂L/∂y_i)``.

    The product of :func:`softmax_jacobian` with ``grad_y`` without forming
    the ``[B, K, K]`` matrix.

    Shape: ``y``, ``grad_y`` and the result ``[B, K]`` (softmax over the last dim).
    """
    return y * (grad_y - (grad_y * y).sum(dim=-1, keepdim=True))


# ---------------------------------------------------------------- registry
@dataclass(frozen=True)
class Activation:
    """An element-wise activation: the function, its derivative and PyTorch's fused module.

    Attributes:
        name: the key in :data:`ACTIVATIONS`.
        fn: ``g(a)``.
        derivative: ``g'(a)``.
        module: a factory of the equivalent ``nn.Module`` (the fast path).
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]
    module: Callable[[], nn.Module]

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        return self.fn(a)


#: names accepted by :func:`get_activation` (Table 2.1)
ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu")


def get_activation(name: str, *, alpha: float = 1.0, negative_slope: float = 0.01) -> Activation:
    """The :class:`Activation` called ``name``.

    Args:
        name: one of :data:`ACTIVATIONS`.
        alpha: the ELU's α (only used by ``elu``; must be > 0).
        negative_slope: the leaky ReLU's slope for ``a < 0`` (Table 2.1: 0.01).

    Raises:
        ConfigError: unknown name or a non-positive ``alpha``.
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {list(ACTIVATIONS)}; got {name!r}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
        raise ConfigError(f"activation alpha must be a number > 0; got {alpha!r}")
    if not isinstance(negative_slope, (int, float)) or isinstance(negative_slope, bool) or negative_slope < 0:
        raise ConfigError(f"activation negative_slope must be a number >= 0; got {negative_slope!r}")
    if name == "linear":
        return Activation(name, linear, linear_derivative, nn.Identity)
    if name == "sigmoid":
        return Activation(name, sigmoid, sigmoid_derivative, nn.Sigmoid)
    if name == "tanh":
        return Activation(name, tanh, tanh_derivative, nn.Tanh)
    if name == "relu":
        return Activation(name, relu, relu_derivative, nn.ReLU)
    if name == "leaky_relu":
        s = float(negative_slope)
        return Activation(
            name, lambda a: leaky_relu(a, s), lambda a: leaky_relu_derivative(a, s), lambda: nn.LeakyReLU(s)
        )
    al = float(alpha)
    return Activation(name, lambda a: elu(a, al), lambda a: elu_derivative(a, al), lambda: nn.ELU(al))


def activation_module(name: str, *, alpha: float = 1.0, negative_slope: float = 0.01) -> nn.Module:
    """PyTorch's fused module for activation ``name`` (``nn.Identity`` for ``linear``).

    Args: as :func:`get_activation`.
    """
    return get_activation(name, alpha=alpha, negative_slope=negative_slope).module()
