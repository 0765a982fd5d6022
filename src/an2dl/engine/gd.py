"""Gradient descent as the notes write it (§2.3.1), as ``torch.optim`` optimisers.

* :class:`GradientDescent` — ``w^{(k+1)} = w^{(k)} - η ∂E/∂w|_{w^{(k)}}``, with an
  optional momentum term (heavy ball, Polyak 1964): the step adds ``α`` times
  the previous step, ``Δw^{(k)} = -η ∂E/∂w|_{w^{(k)}} + α Δw^{(k-1)}``.  With a
  constant ``η`` it computes exactly what ``torch.optim.SGD(momentum=α)``
  computes (tested); under a schedule the two differ, since PyTorch's
  momentum buffer accumulates gradients, not steps.
* :class:`Nesterov` — Nesterov's accelerated gradient (Nesterov 1983;
  Sutskever et al. 2013) as the notes' two steps: a momentum-based
  prediction ``w^{(k+1/2)} = w^{(k)} + α Δw^{(k-1)}``, then a correction with the
  gradient at the predicted position, ``Δw^{(k)} = α Δw^{(k-1)} - η
  ∂E/∂w|_{w^{(k+1/2)}}``, ``w^{(k+1)} = w^{(k)} + Δw^{(k)}``.

Whether the gradient comes from the whole training set, one sample or a
mini-batch (batch, stochastic and mini-batch gradient descent) is the
batch size of the trainer: :func:`batch_size_for` names the three.

Departure from the notes' text: the notes write the momentum term as ``α``
times a gradient; we use ``α`` times the previous *step* ``Δw^{(k-1)}``, the
standard form (with a constant ``η`` it accumulates all past gradients with
weights ``α^j``), and the same in Nesterov's prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from ..errors import ConfigError

__all__ = ["GradientDescent", "Nesterov", "batch_size_for", "GD_MODES"]

#: the notes' three ways of computing the gradient (§2.3.1, "Computation")
GD_MODES = ("batch", "stochastic", "minibatch")


def batch_size_for(mode: str, num_samples: int, *, minibatch: int = 32) -> int:
    """The trainer batch size of batch, stochastic or mini-batch gradient descent (notes §2.3.1).

    ``batch``: the gradient of the mean loss over all ``N`` samples,
    ``(1/N) Σ_n ∂E(x_n, w)/∂w`` (batch size ``N``); ``stochastic``: one sample
    per step (1); ``minibatch``: ``minibatch`` samples per step.

    Raises:
        ConfigError: unknown mode or non-positive sizes.
    """
    if mode not in GD_MODES:
        raise ConfigError(f"gradient descent mode must be one of {list(GD_MODES)}; got {mode!r}")
    for name, v in (("num_samples", num_samples), ("minibatch", minibatch)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{name} must be a positive integer; got {v!r}")
    return {"batch": num_samples, "stochastic": 1, "minibatch": min(minibatch, num_samples)}[mode]


def _check(lr: Any, momentum: Any, weight_decay: Any) -> None:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr < 0:
        raise ConfigError(f"learning rate lr must be a number >= 0; got {lr!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ConfigError(f"momentum must be a number in [0, 1); got {momentum!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ConfigError(f"weight_decay must be a number >= 0; got {weight_decay!r}")


class GradientDescent(Optimizer):
    """Gradient descent with optional momentum, written as the notes' update rule (§2.3.1).

    Args:
        params: parameters or parameter groups (per-layer learning rates:
            one group per layer, each with its ``lr``).
        lr: η.
        momentum: α in [0, 1); 0 gives plain gradient descent.
        weight_decay: λ, adds ``λ w`` to the gradient (the gradient of the
            penalty ``(λ/2)‖w‖²``, notes §2.5.3).

    State per parameter: ``delta`` (``Δw^{(k-1)}``, the previous update).
    """

    def __init__(self, params: Iterable[Any], *, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        _check(lr, momentum, weight_decay)
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, alpha, wd = group["lr"], group["momentum"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                grad = w.grad if wd == 0 else w.grad + wd * w
                update = -lr * grad  # -η ∂E/∂w|_{w^(k)}
                if alpha != 0:
                    state = self.state[w]
                    if "delta" in state:
                        update = update + alpha * state["delta"]  # + α Δw^(k-1)
                    state["delta"] = update.clone()
                w.add_(update)
        return loss


class Nesterov(Optimizer):
    """Nesterov accelerated gradient (§2.3.1): a momentum prediction, then a correction with the gradient there.

    The notes' two steps move the prediction by the previous gradient and start
    the correction from ``w^{(k)}`` without momentum; this class keeps the
    velocity ``Δw`` of the momentum method instead (Sutskever et al. 2013), the
    form deep-learning libraries implement, which is what makes the method accelerate.

    The gradient must be evaluated at the *predicted* position ``w^{(k+1/2)}``.
    To let an ordinary training loop (forward, backward, ``step()``) do that,
    the parameters hold the predicted position between steps, and the state
    holds the weights ``w^{(k)}`` themselves:

    1. on entry the parameters are ``w^{(k+1/2)} = w^{(k)} + α Δw^{(k-1)}`` and
       their ``.grad`` is ``∂E/∂w|_{w^{(k+1/2)}}`` (the loop computed it there);
    2. correction: ``Δw^{(k)} = α Δw^{(k-1)} - η ∂E/∂w|_{w^{(k+1/2)}}``,
       ``w^{(k+1)} = w^{(k)} + Δw^{(k)}``;
    3. prediction for the next step: the parameters become
       ``w^{(k+3/2)} = w^{(k+1)} + α Δw^{(k)}``.

    :meth:`weights` returns ``w^{(k)}``.  The parameter trajectory is exactly
    that of ``torch.optim.SGD(nesterov=True)``, whose parameters are the same
    look-ahead points (Sutskever et al. 2013 reformulation; tested).

    Args:
        params: parameters or parameter groups.
        lr: η.
        momentum: α in [0, 1).
        weight_decay: λ, adds ``λ w`` to the gradient (coupled decay).
    """

    def __init__(self, params: Iterable[Any], *, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        _check(lr, momentum, weight_decay)
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Correct with the gradient at the predicted position, then predict the next position."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, alpha, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # k = 0: no previous step, the prediction is w^(0) itself
                    state["weights"] = p.detach().clone()
                    state["delta"] = torch.zeros_like(p)
                w, prev = state["weights"], state["delta"]
                grad = p.grad if wd == 0 else p.grad + wd * p
                step = alpha * prev - lr * grad  # Δw^(k) = α Δw^(k-1) - η ∂E/∂w|_{w^(k+1/2)}
                w.add_(step)  # w^(k+1) = w^(k) + Δw^(k)
                state["delta"] = step
                p.copy_(w + alpha * step)  # w^(k+3/2) = w^(k+1) + α Δw^(k)
        return loss

    def weights(self) -> list[torch.Tensor]:
        """``w^{(k)}`` of every parameter (the parameters themselves hold the predicted ``w^{(k+1/2)}``)."""
        out = []
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p, {})
                out.append(state["weights"].clone() if "weights" in state else p.detach().clone())
        return out
