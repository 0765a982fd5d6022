"""Frozen batch normalisation: batch norm with fixed statistics and fixed γ, β (notes §2.3.2).

In evaluation mode, batch normalisation (Algorithm 1 of the notes, step 3–4
with the running estimates) is a per-channel affine map::

    y = γ (x - μ) / sqrt(σ² + ε) + β  =  x · scale + shift,
    scale = γ / sqrt(σ² + ε),   shift = β - μ · scale

:class:`FrozenBatchNorm2d` always computes that map: neither the statistics
nor γ and β change in training.  Detection and segmentation networks use it
in backbones pre-trained on ImageNet, whose batches of one or two large
images give batch statistics too noisy to learn from (Ren et al. 2015's
Faster R-CNN in its torchvision and Detectron implementations).

State-dict compatible with ``torchvision.ops.misc.FrozenBatchNorm2d``: the four
buffers ``weight`` (γ), ``bias`` (β), ``running_mean`` (μ), ``running_var`` (σ²),
in that order, no parameters and no ``num_batches_tracked``.  A state dict
written by ``nn.BatchNorm2d`` loads with ``strict=True``: its
``num_batches_tracked`` entry is dropped on load, as torchvision does.
:func:`freeze_batch_norm` converts the batch norms of a trained model in place.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .batchnorm import BatchNorm2d as _OwnBatchNorm2d

__all__ = ["FrozenBatchNorm2d", "freeze_batch_norm"]


class FrozenBatchNorm2d(nn.Module):
    """Batch normalisation of images with fixed statistics and affine parameters.

    ``y = x · scale + shift`` per channel with ``scale = weight · (running_var + eps)^(-1/2)``
    and ``shift = bias - running_mean · scale``: the evaluation-mode output
    of ``nn.BatchNorm2d`` with the same buffers, in training mode too.  The
    four tensors are buffers: an optimiser never sees them, ``.to()`` moves
    them and the state dict stores them.

    Args:
        num_features: channels C.
        eps: ε added to the variance (torchvision's 1e-5).

    Shape:
        input ``[B, C, H, W]``; output the same.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ConfigError(f"FrozenBatchNorm2d num_features must be a positive integer; got {num_features!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise ConfigError(f"FrozenBatchNorm2d eps must be a number > 0; got {eps!r}")
        self.num_features = num_features
        self.eps = float(eps)
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # a batch norm's step counter means nothing once the statistics are frozen
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.num_features:
            raise ValueError(
                f"FrozenBatchNorm2d expects input of shape [B, C, H, W] with C={self.num_features}; got {list(x.shape)}"
            )
        scale = self.weight * (self.running_var + self.eps).rsqrt()  # (C,)
        shift = self.bias - self.running_mean * scale  # (C,)
        return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


_CONVERTIBLE = (nn.BatchNorm2d, nn.SyncBatchNorm, _OwnBatchNorm2d)


def _frozen_copy(bn: nn.Module) -> FrozenBatchNorm2d:
    if bn.running_mean is None or bn.running_var is None:
        raise ConfigError(
            f"freeze_batch_norm needs running statistics to freeze; got a {type(bn).__name__} built with "
            "track_running_stats=False"
        )
    frozen = FrozenBatchNorm2d(bn.num_features, eps=bn.eps)
    mean = bn.running_mean.detach()
    frozen.running_mean = mean.clone()
    frozen.running_var = bn.running_var.detach().clone()
    if getattr(bn, "weight", None) is not None:
        frozen.weight = bn.weight.detach().clone()
        frozen.bias = bn.bias.detach().clone()
    else:  # affine=False: γ = 1, β = 0
        frozen.weight = torch.ones_like(mean)
        frozen.bias = torch.zeros_like(mean)
    return frozen


def freeze_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every 2-d batch norm of ``module`` by a :class:`FrozenBatchNorm2d` with its statistics.

    ``nn.BatchNorm2d``, ``nn.SyncBatchNorm`` and :class:`an2dl.nn.BatchNorm2d`
    are converted; γ, β, the running mean and variance and ε are copied
    (device and dtype kept), so that the converted model computes what the
    original computes in evaluation mode, in either mode.  Sub-modules are
    replaced in place; the return value is ``module``, or the new module when
    ``module`` is itself a batch norm.

    Raises:
        ConfigError: a batch norm without running statistics
            (``track_running_stats=False``).

    Shape:
        unchanged: the converted model takes and returns what ``module`` does.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"freeze_batch_norm expects an nn.Module; got {type(module).__name__}")
    if isinstance(module, _CONVERTIBLE):
        return _frozen_copy(module)
    for name, child in module.named_children():
        new = freeze_batch_norm(child)
        if new is not child:
            setattr(module, name, new)
    return module
