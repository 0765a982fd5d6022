"""Memoryless predictors over a fixed window of past observations (notes §4.1).

The notes open chapter 4 with models that have no memory of their own: they
see a fixed number of past observations, the *delay taps*, and map them to a
prediction.

* :class:`DelayTapLinear` — a linear map of the taps,
  ``ŷ_t = b + Σ_{k=1..p} W_k x_{t−k}``: the autoregressive AR(p) model of
  linear prediction (Yule 1927; Box & Jenkins 1970).
* :class:`DelayTapMLP` — a feed-forward network on the same taps, which adds
  non-linear transformations (the notes' "Feed Forward Neural Networks";
  the time-delay networks of Waibel et al. 1989 apply the same idea).

Neither can use anything older than its window; recurrent models
(:mod:`an2dl.models.sequence.recurrent`) keep a state instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int
from .._registry import register_model

__all__ = ["DelayTapLinear", "DelayTapMLP", "delay_tap_linear", "delay_tap_mlp"]



class _DelayTaps(nn.Module):
    """Shared input check and flattening of a ``[B, window, input_size]`` window."""

    def __init__(self, window: int, input_size: int, output_size: int) -> None:
        super().__init__()
        owner = type(self).__name__
        check_positive_int(owner, "window", window)
        check_positive_int(owner, "input_size", input_size)
        check_positive_int(owner, "output_size", output_size)
        self.window, self.input_size, self.output_size = window, input_size, output_size

    def taps(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, window, D]`` -> ``[B, window * D]`` (oldest observation first)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or tuple(x.shape[1:]) != (self.window, self.input_size):
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects input of shape [B, window={self.window}, "
                             f"input_size={self.input_size}]; got {got}")
        return x.flatten(1)


class DelayTapLinear(_DelayTaps):
    """Linear prediction from ``window`` delay taps (an AR(p) model, notes §4.1).

    Args:
        window: number of past observations p.
        input_size: features D per observation.
        output_size: predicted numbers (e.g. ``horizon * D``).

    Shape:
        input ``[B, window, input_size]``; output ``[B, output_size]``.
    """

    def __init__(self, *, window: int = 16, input_size: int = 1, output_size: int = 1) -> None:
        super().__init__(window, input_size, output_size)
        self.linear = nn.Linear(window * input_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.taps(x))


class DelayTapMLP(_DelayTaps):
    """A feed-forward network on ``window`` delay taps (notes §4.1).

    Args:
        window: number of past observations.
        input_size: features D per observation.
        output_size: predicted numbers.
        hidden_sizes: widths of the hidden layers.
        activation: factory of the activation after each hidden layer.

    Shape:
        input ``[B, window, input_size]``; output ``[B, output_size]``.
    """

    def __init__(self, *, window: int = 16, input_size: int = 1, output_size: int = 1,
                 hidden_sizes: Sequence[int] = (64, 64), activation: Callable[[], nn.Module] = nn.Tanh) -> None:
        super().__init__(window, input_size, output_size)
        if not hidden_sizes:
            raise ConfigError("DelayTapMLP hidden_sizes must name at least one hidden layer; use DelayTapLinear otherwise")
        layers: list[nn.Module] = []
        width = window * input_size
        for h in hidden_sizes:
            check_positive_int("DelayTapMLP", "hidden_sizes item", h)
            layers += [nn.Linear(width, h), activation()]
            width = h
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(self.taps(x)))


_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def _window_example(window: int) -> Callable[[int], tuple[torch.Tensor]]:
    def example(batch_size: int) -> tuple[torch.Tensor]:
        return (torch.randn(batch_size, window, 1, generator=torch.Generator().manual_seed(0)),)

    return example


@register_model("delay_tap_linear", example=_window_example(16))
def delay_tap_linear(*, window: int = 16, input_size: int = 1, output_size: int = 1) -> DelayTapLinear:
    """Linear delay-tap (AR) predictor of ``output_size`` values from ``window`` past observations."""
    return DelayTapLinear(window=window, input_size=input_size, output_size=output_size)


@register_model("delay_tap_mlp", example=_window_example(16))
def delay_tap_mlp(*, window: int = 16, input_size: int = 1, output_size: int = 1, hidden_sizes: list[int] | None = None,
                  activation: str = "tanh") -> DelayTapMLP:
    """Feed-forward delay-tap predictor; ``activation`` in {tanh, relu, sigmoid}, ``hidden_sizes`` default ``[64, 64]``."""
    if activation not in _ACTIVATIONS:
        raise ConfigError(f"delay_tap_mlp activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
    return DelayTapMLP(window=window, input_size=input_size, output_size=output_size,
                       hidden_sizes=tuple(hidden_sizes) if hidden_sizes is not None else (64, 64),
                       activation=_ACTIVATIONS[activation])
