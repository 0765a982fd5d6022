"""The loss functions of the notes' chapters 1–2 and their maximum-likelihood reading (§2.3, §2.4, §2.5.3).

The notes derive a loss from the distribution of the data (§2.4): write the
likelihood of the targets under the model, take its logarithm, and minimise
its negative.  Each docstring below shows that view.  Functions written out
here are tested against PyTorch's fused losses in float64.

Target conventions: regression targets have the shape of the prediction;
binary targets are 0/1 floats (the perceptron criterion: -1/+1); multi-class
targets are class indices ``[B]`` or class probabilities ``[B, K]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = [
    "sse",
    "mse",
    "bce",
    "bce_with_logits",
    "cross_entropy",
    "cross_entropy_from_probs",
    "perceptron_criterion",
    "l2_penalty",
    "with_l2_penalty",
    "LOSSES",
    "get_loss",
]

_REDUCTIONS = ("mean", "sum")


def _same_shape(name: str, y: torch.Tensor, t: torch.Tensor) -> None:
    if y.shape != t.shape:
        raise ValueError(f"{name}: prediction and target must have the same shape; got {list(y.shape)} and {list(t.shape)}")


def _reduce(name: str, per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"{name} reduction must be one of {list(_REDUCTIONS)}; got {reduction!r}")
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


def sse(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors ``L(w) = Σ_n (t_n - g(x_n|w))²`` (notes §2.3).

    Maximum likelihood: with ``t_n = g(x_n|w) + ε_n``, ``ε_n ~ N(0, σ²)``
    independent, ``-log L(w) = (1/2σ²) Σ_n (t_n - g(x_n|w))² + const``, so
    maximising the likelihood minimises the SSE.

    Shape: ``y``, ``t`` the same shape; returns a scalar.
    """
    _same_shape("sse", y, t)
    return ((t - y) ** 2).sum()


def mse(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``(1/N) Σ_n (t_n - y_n)²``: the SSE divided by the number of elements.

    Same Gaussian maximum-likelihood view as :func:`sse`; the mean makes the
    learning rate independent of the batch size.  Equals ``F.mse_loss``.
    """
    _same_shape("mse", y, t)
    return ((t - y) ** 2).mean()


def bce(p: torch.Tensor, t: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy of probabilities: ``-[t log p + (1 - t) log(1 - p)]``.

    Maximum likelihood: with ``t_n ~ Bernoulli(g(x_n|w))`` (a sigmoid output),
    ``L(w) = Π_n g_n^{t_n} (1 - g_n)^{1 - t_n}`` and ``-log L(w)`` is the sum of
    these terms.  As in ``F.binary_cross_entropy``, each logarithm is clamped
    at -100 so that ``p = 0`` or ``1`` gives a finite loss.

    Shape: ``p`` in [0, 1] and ``t`` in [0, 1], the same shape.
    """
    _same_shape("bce", p, t)
    log_p = torch.clamp(torch.log(p), min=-100.0)
    log_1mp = torch.clamp(torch.log(1.0 - p), min=-100.0)
    return _reduce("bce", -(t * log_p + (1.0 - t) * log_1mp), reduction)


def bce_with_logits(z: torch.Tensor, t: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy of ``p = σ(z)`` computed from the logit ``z``.

    ``-[t log σ(z) + (1 - t) log(1 - σ(z))]`` with ``1 - σ(z) = σ(-z)``: the same
    Bernoulli likelihood as :func:`bce`, with ``log σ`` evaluated by
    ``F.logsigmoid`` so that it never forms ``log(0)``.  Equals
    ``F.binary_cross_entropy_with_logits``, values and gradients.

    Shape: ``z`` (any real) and ``t`` in [0, 1], the same shape.
    """
    _same_shape("bce_with_logits", z, t)
    per = -(t * F.logsigmoid(z) + (1.0 - t) * F.logsigmoid(-z))
    return _reduce("bce_with_logits", per, reduction)


def _class_targets(name: str, k: int, batch: int, target: torch.Tensor) -> None:
    if target.dim() == 1:
        if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"{name}: class-index targets must be an integer tensor [B]; got dtype {target.dtype}")
        if target.shape[0] != batch:
            raise ValueError(f"{name}: expected {batch} targets; got {target.shape[0]}")
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= k):
            raise ValueError(f"{name}: class indices must be in [0, {k}); got values in [{int(target.min())}, {int(target.max())}]")
    elif target.shape != (batch, k):
        raise ValueError(f"{name}: targets must be indices [B] or probabilities [B, {k}]; got {list(target.shape)}")


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the softmax of ``logits``: ``-Σ_k t_k log y_k``, ``y = softmax(z)`` (§2.2, §2.4).

    Maximum likelihood: with ``t_n`` drawn from the categorical distribution
    ``y(x_n|w)``, ``L(w) = Π_n Π_k y_{nk}^{t_{nk}}`` and ``-log L(w)`` is the sum
    of these terms (one-hot ``t``: ``-log y_{n, class}``).  Computed as
    ``log y_k = z_k - logsumexp(z)``; equals ``F.cross_entropy``.

    Shape: ``logits [B, K]``; ``target`` class indices ``[B]`` or probabilities ``[B, K]``.
    """
    if logits.dim() != 2:
        raise ValueError(f"cross_entropy expects logits [B, K]; got {list(logits.shape)}")
    _class_targets("cross_entropy", logits.shape[1], logits.shape[0], target)
    log_y = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    if target.dim() == 1:
        per = -log_y.gather(1, target.long().unsqueeze(1)).squeeze(1)
    else:
        per = -(target * log_y).sum(dim=1)
    return _reduce("cross_entropy", per, reduction)


def cross_entropy_from_probs(probs: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean", eps: float = 1e-12) -> torch.Tensor:
    """Cross-entropy of probabilities already through a softmax: ``-Σ_k t_k log y_k``.

    The same categorical likelihood as :func:`cross_entropy`, for a model
    whose output layer is the softmax itself (the notes' output layer).
    ``y`` is clamped at ``eps`` before the logarithm; prefer
    :func:`cross_entropy` on logits, which needs no clamp.

    Shape: ``probs [B, K]`` (rows summing to 1); ``target`` indices ``[B]`` or probabilities ``[B, K]``.
    """
    if probs.dim() != 2:
        raise ValueError(f"cross_entropy_from_probs expects probabilities [B, K]; got {list(probs.shape)}")
    _class_targets("cross_entropy_from_probs", probs.shape[1], probs.shape[0], target)
    log_y = torch.log(torch.clamp(probs, min=eps))
    if target.dim() == 1:
        per = -log_y.gather(1, target.long().unsqueeze(1)).squeeze(1)
    else:
        per = -(target * log_y).sum(dim=1)
    return _reduce("cross_entropy_from_probs", per, reduction)


def perceptron_criterion(scores: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The perceptron criterion ``L(w) = -Σ_{i∈M} t_i wᵀx_i`` (notes §2.4.1; Rosenblatt 1962).

    ``M`` is the set of misclassified samples, ``t_i wᵀx_i ≤ 0`` (points on the
    boundary count as misclassified, so that learning starts from w = 0).
    Each term is the distance of a misclassified point from the boundary times
    ``‖w‖``.  Its gradient on one misclassified sample is ``-t_i x_i``, so a
    stochastic gradient step ``w ← w + η t_i x_i`` is exactly the Hebbian rule
    of §1.3.1.  Not a likelihood: the notes introduce it as the error the
    Hebbian rule minimises.

    Args:
        scores: ``wᵀx_i`` per sample, ``[B]``.
        t: targets in {-1, +1}, ``[B]``.

    Returns:
        The sum over the misclassified samples (0 when there are none).
    """
    _same_shape("perceptron_criterion", scores, t)
    bad = ~((t == 1) | (t == -1))
    if bool(bad.any()):
        raise ValueError(
            f"perceptron_criterion targets must be -1 or +1; got {sorted(set(t[bad].tolist()))[:5]} "
            "(map 0/1 labels with an2dl.models.ffnn.to_pm1)"
        )
    margin = t * scores
    misclassified = (margin <= 0).to(scores.dtype)
    return -(margin * misclassified).sum()


def _weights(params: nn.Module | Iterable[torch.Tensor], include_bias: bool) -> list[torch.Tensor]:
    if isinstance(params, nn.Module):
        return [p for n, p in params.named_parameters() if p.requires_grad and (include_bias or p.dim() > 1)]
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"l2_penalty params[{i}] must be a tensor; got {type(p).__name__}")
    return out


def l2_penalty(params: nn.Module | Iterable[torch.Tensor], gamma: float, *, include_bias: bool = False) -> torch.Tensor:
    """Weight decay as a penalty, ``γ ‖w‖²₂`` (notes §2.5.3).

    MAP estimation with a Gaussian prior ``w ~ N(0, σ_w² I)``: ``-log Pr(w) =
    ‖w‖² / (2σ_w²) + const``, added to the negative log-likelihood, gives the
    notes' objective ``Σ_n (t_n - g(x_n|w))² + γ ‖w‖²``.  Its gradient is
    ``2γ w``, so plain gradient descent on it equals SGD with
    ``weight_decay = 2γ`` (tested).

    Args:
        params: a module (by default only its weight matrices and kernels,
            tensors with more than one dimension) or an iterable of tensors.
        gamma: γ ≥ 0.
        include_bias: also penalise the biases and other 1-d parameters of a module.

    Returns:
        A scalar tensor (``0.0`` when there is nothing to penalise).
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
        raise ConfigError(f"l2_penalty gamma must be a number >= 0; got {gamma!r}")
    ws = _weights(params, include_bias)
    if not ws:
        return torch.zeros(())
    return gamma * sum((w * w).sum() for w in ws)


def with_l2_penalty(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], module: nn.Module, gamma: float, *, include_bias: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(y, t) + γ ‖w‖²`` as one loss function, to pass to a task's ``loss=`` (notes §2.5.3).

    Args:
        loss: the data term.
        module: the model whose weights are penalised.
        gamma: γ ≥ 0.
        include_bias: as in :func:`l2_penalty`.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
        raise ConfigError(f"with_l2_penalty gamma must be a number >= 0; got {gamma!r}")
    if not callable(loss):
        raise TypeError(f"with_l2_penalty loss must be callable; got {type(loss).__name__}")

    def penalised(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return loss(y, t) + l2_penalty(module, gamma, include_bias=include_bias)

    return penalised


#: losses by name, for configuration files
LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "sse": sse,
    "mse": mse,
    "bce": bce,
    "bce_with_logits": bce_with_logits,
    "cross_entropy": cross_entropy,
    "cross_entropy_from_probs": cross_entropy_from_probs,
    "perceptron": perceptron_criterion,
}


def get_loss(name: str) -> Callable[..., torch.Tensor]:
    """The loss function called ``name`` (a key of :data:`LOSSES`)."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ConfigError(f"loss must be one of {sorted(LOSSES)}; got {name!r}")
    return LOSSES[name]
