"""Batch normalisation, Algorithm 1 of the notes (§2.3.2; Ioffe & Szegedy 2015).

For a mini-batch ``B = {x_1, ..., x_m}`` of one channel's values::

    1: μ_B  = (1/m) Σ_i x_i                      mini-batch mean
    2: σ²_B = (1/m) Σ_i (x_i - μ_B)²             mini-batch variance
    3: x̂_i  = (x_i - μ_B) / sqrt(σ²_B + ε)       normalise
    4: y_i  = γ x̂_i + β                          scale and shift (γ, β learned)

In training the statistics are those of the batch; in evaluation they are
running estimates collected during training.  "Channel" is a feature of a
``[B, C]`` input, or a channel of ``[B, C, L]`` / ``[B, C, H, W]`` inputs, whose
``m`` values are all positions of all samples.

:func:`batch_norm` is Algorithm 1 written out; the modules use the fused
``F.batch_norm`` by default (``fused=True``) and the tests prove both agree,
outputs and gradients, in training and evaluation, for 1-d and 2-d inputs.

Departures from the notes (all as in the paper and PyTorch): the notes'
Algorithm 1 stops at the training-time transform; the running estimates are
exponential moving averages ``r ← (1 - momentum) r + momentum · s`` where the
variance enters unbiased (``σ²_B · m/(m-1)``), as the paper prescribes for
inference.  The state dict has ``nn.BatchNorm1d``/``2d``'s keys, so PyTorch
weights load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["batch_norm", "BatchNorm1d", "BatchNorm2d"]


def batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Algorithm 1 of the notes, written out step by step.

    Args:
        x: the input, channels in dimension 1.
        weight, bias: γ and β, one per channel.
        running_mean, running_var: running estimates, updated in place in
            training and used in evaluation (``None`` in training: not tracked).
        training: use (and record) the batch statistics; otherwise the running ones.
        momentum: weight of the new batch in the running averages.
        eps: ε, added to the variance for numerical stability.

    Returns:
        ``y`` with the shape of ``x``.

    Shape:
        ``x [B, C]``, ``[B, C, L]`` or ``[B, C, H, W]``; ``weight``, ``bias``,
        running statistics ``[C]``.

    Raises:
        ValueError: training with a single value per channel (its variance is
            undefined), the message PyTorch gives; evaluation without running statistics.
    """
    if x.dim() < 2:
        raise ValueError(f"batch_norm expects x with a channel dimension [B, C, ...]; got shape {list(x.shape)}")
    C = x.shape[1]
    dims = [0, *range(2, x.dim())]  # every dimension but the channels
    shape = [1, C] + [1] * (x.dim() - 2)  # broadcast a [C] vector against x
    if training:
        m = x.numel() // C
        if m <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {list(x.shape)} "
                "(batch normalisation in training mode needs a batch of at least 2)"
            )
        mu = x.mean(dim=dims)  # 1: mini-batch mean
        var = ((x - mu.view(shape)) ** 2).mean(dim=dims)  # 2: mini-batch variance (biased, 1/m)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1.0 - momentum).add_(momentum * mu.detach())
                running_var.mul_(1.0 - momentum).add_(momentum * var.detach() * m / (m - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in evaluation needs running_mean and running_var")
        mu, var = running_mean, running_var
    x_hat = (x - mu.view(shape)) / torch.sqrt(var.view(shape) + eps)  # 3: normalise
    return weight.view(shape) * x_hat + bias.view(shape)  # 4: scale and shift


class _BatchNorm(nn.Module):
    _dims: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1, fused: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ConfigError(f"{name} num_features must be a positive integer; got {num_features!r}")
        if not isinstance(eps, (int, float)) or eps <= 0:
            raise ConfigError(f"{name} eps must be a number > 0; got {eps!r}")
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ConfigError(f"{name} momentum must be a number in [0, 1]; got {momentum!r}")
        self.num_features, self.eps, self.momentum, self.fused = num_features, float(eps), float(momentum), fused
        self.weight = nn.Parameter(torch.ones(num_features))  # γ
        self.bias = nn.Parameter(torch.zeros(num_features))  # β
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def reset_parameters(self) -> None:
        """γ = 1, β = 0 and fresh running statistics (mean 0, variance 1)."""
        with torch.no_grad():
            self.weight.fill_(1.0)
            self.bias.zero_()
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in self._dims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expects input of shape {self._layout} with C={self.num_features}; "
                f"got {list(x.shape)}"
            )
        if self.training:
            self.num_batches_tracked.add_(1)
        if self.fused:
            if self.training and x.numel() // x.shape[1] <= 1:
                # F.batch_norm raises too; this message also says what to do
                batch_norm(x, self.weight, self.bias, None, None, training=True)
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
            )
        return batch_norm(
            x, self.weight, self.bias, self.running_mean, self.running_var,
            training=self.training, momentum=self.momentum, eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, fused={self.fused}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features ``[B, C]`` or sequences ``[B, C, L]`` (notes §2.3.2, Algorithm 1).

    Placed after a fully connected layer and before its activation (§2.3.2).

    Args:
        num_features: C.
        eps: ε of Algorithm 1.
        momentum: weight of each new batch in the running estimates.
        fused: compute with ``F.batch_norm`` (default) or with the written-out
            :func:`batch_norm`; both give the same values and gradients.

    Shape:
        input ``[B, C]`` or ``[B, C, L]``; output the same.  Training needs more
        than one value per channel (``B ≥ 2`` for ``[B, C]``).
    """

    _dims = (2, 3)
    _layout = "[B, C] or [B, C, L]"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images ``[B, C, H, W]``, statistics per channel over ``B·H·W`` values.

    Args: as :class:`BatchNorm1d`.

    Shape:
        input ``[B, C, H, W]``; output the same.
    """

    _dims = (4,)
    _layout = "[B, C, H, W]"
