"""Weight initialisation schemes of the notes (§2.3.3).

==========  ============================  ==========================================
scheme      distribution                  PyTorch equivalent
==========  ============================  ==========================================
``zero``    w = 0                         ``nn.init.zeros_``
``small``   N(0, std²), std = 0.01        ``nn.init.normal_(std=0.01)``
``large``   N(0, std²), std = 1           ``nn.init.normal_(std=1)``
``xavier``  N(0, 1 / n_in)                ``kaiming_normal_(nonlinearity="linear")``
``glorot``  N(0, 2 / (n_in + n_out))      ``xavier_normal_``
``he``      N(0, 2 / n_in)                ``kaiming_normal_(nonlinearity="relu")``
==========  ============================  ==========================================

Naming follows the notes, which call N(0, 1/n_in) *Xavier* initialisation
and the variant that also counts the outputs its extension; PyTorch names the
latter ``xavier_normal_`` (Glorot & Bengio 2010 derive both; He et al. 2015
add the factor 2 for ReLU).  Given the same generator, each function draws the values of its PyTorch
equivalent (equal up to the last bit of the standard deviation).

``n_in`` and ``n_out`` are the fan-in and fan-out of a weight tensor: for a
``Linear`` weight ``[out, in]`` they are ``in`` and ``out``; for a convolution
``[out, in, *kernel]`` both are multiplied by the kernel size.

The notes give no numbers for "small" and "large" random weights; 0.01 and 1
are the usual textbook choices and both are arguments.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "INIT_SCHEMES",
    "fan_in_out",
    "init_std",
    "zero_",
    "small_random_",
    "large_random_",
    "xavier_",
    "glorot_",
    "he_",
    "init_weight_",
    "initialize",
]

#: names accepted by :func:`init_weight_` and :func:`initialize`
INIT_SCHEMES = ("zero", "small", "large", "xavier", "glorot", "he")


def fan_in_out(weight: torch.Tensor) -> tuple[int, int]:
    """``(n_in, n_out)`` of a weight tensor ``[out, in, *kernel]``.

    Raises:
        ValueError: a tensor with fewer than 2 dimensions (a bias has no fan-in).
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        shape = list(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must be a tensor of shape [out, in, *kernel] with >= 2 dims; got {shape}")
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def init_std(scheme: str, weight: torch.Tensor, *, std: float | None = None) -> float:
    """The standard deviation that ``scheme`` uses for ``weight`` (0 for ``zero``).

    Args:
        scheme: one of :data:`INIT_SCHEMES`.
        std: overrides the default of ``small`` (0.01) and ``large`` (1.0).
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"init scheme must be one of {list(INIT_SCHEMES)}; got {scheme!r}")
    if scheme == "zero":
        return 0.0
    if scheme in ("small", "large"):
        value = std if std is not None else (0.01 if scheme == "small" else 1.0)
        if not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"init std must be a number > 0; got {value!r}")
        return float(value)
    n_in, n_out = fan_in_out(weight)
    if scheme == "xavier":
        return math.sqrt(1.0 / n_in)
    if scheme == "glorot":
        return math.sqrt(2.0 / (n_in + n_out))
    return math.sqrt(2.0 / n_in)


def _normal_(weight: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    with torch.no_grad():
        return weight.normal_(0.0, std, generator=generator)


def zero_(weight: torch.Tensor) -> torch.Tensor:
    """Zero initialisation: every weight 0 (§2.3.3), so every unit of a layer gets the same gradient.

    Returns: ``weight``, filled in place.
    """
    with torch.no_grad():
        return weight.zero_()


def small_random_(weight: torch.Tensor, *, std: float = 0.01, generator: torch.Generator | None = None) -> torch.Tensor:
    """Small random weights ``w ~ N(0, std²)`` (§2.3.3): fine when shallow, vanishing gradients when deep."""
    return _normal_(weight, init_std("small", weight, std=std), generator)


def large_random_(weight: torch.Tensor, *, std: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Large random weights ``w ~ N(0, std²)`` (§2.3.3): saturated units and exploding gradients."""
    return _normal_(weight, init_std("large", weight, std=std), generator)


def xavier_(weight: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Xavier initialisation ``w ~ N(0, 1/n_in)`` (§2.3.3; Glorot & Bengio 2010).

    Keeps the variance of a linear unit's output equal to that of its inputs.
    Same draws as ``nn.init.kaiming_normal_(w, nonlinearity="linear")``.

    Shape: ``weight [out, in, *kernel]``, filled in place and returned.
    """
    return _normal_(weight, init_std("xavier", weight), generator)


def glorot_(weight: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot initialisation ``w ~ N(0, 2/(n_in + n_out))`` (§2.3.3; Glorot & Bengio 2010).

    The compromise between preserving the forward and the backward variance.
    Same draws as ``nn.init.xavier_normal_(w)``.
    """
    return _normal_(weight, init_std("glorot", weight), generator)


def he_(weight: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """He initialisation ``w ~ N(0, 2/n_in)`` (§2.3.3; He et al. 2015), for ReLU layers.

    ReLU zeroes half of its inputs, so the variance is doubled to keep the
    signal's scale.  Same draws as ``nn.init.kaiming_normal_(w, nonlinearity="relu")``.
    """
    return _normal_(weight, init_std("he", weight), generator)


def init_weight_(
    weight: torch.Tensor, scheme: str, *, std: float | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Initialise ``weight`` in place with ``scheme`` (one of :data:`INIT_SCHEMES`)."""
    s = init_std(scheme, weight, std=std)
    if scheme == "zero":
        return zero_(weight)
    return _normal_(weight, s, generator)


def initialize(
    module: nn.Module,
    scheme: str,
    *,
    std: float | None = None,
    bias: float = 0.0,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Initialise every ``Linear`` and convolution of ``module`` with ``scheme``; biases to ``bias``.

    Args:
        module: any module; layers other than ``nn.Linear`` and ``nn.Conv*d``
            (normalisation, embeddings) keep their own initialisation.
        scheme: one of :data:`INIT_SCHEMES`.
        std: the standard deviation of ``small``/``large``.
        bias: constant value of every bias.
        generator: source of the random draws (``None``: the global generator).

    Returns:
        ``module``.
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"init scheme must be one of {list(INIT_SCHEMES)}; got {scheme!r}")
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            init_weight_(m.weight, scheme, std=std, generator=generator)
            if m.bias is not None:
                with torch.no_grad():
                    m.bias.fill_(bias)
    return module
