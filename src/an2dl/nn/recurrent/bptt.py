"""Back-propagation through time: truncating it and measuring what reaches each step (notes §4.1.1.1).

Training a recurrent layer back-propagates the error through the unrolled
sequence (BPTT).  :func:`detach_state` cuts that path between two pieces of a
long sequence (truncated BPTT, Williams & Peng 1990); :func:`state_gradient_norms`
measures ‖∂L/∂h_t‖ at every step t, the quantity that vanishes in an Elman RNN
and survives in an LSTM or a GRU (Bengio, Simard & Frasconi 1994; Hochreiter &
Schmidhuber 1997).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...errors import ConfigError
from .cells import RecurrentState
from .layers import Recurrent

__all__ = ["detach_state", "state_gradient_norms"]


def detach_state(state: Any) -> Any:
    """Cut the graph behind a state (tensor, tuple of tensors or ``None``) for truncated BPTT (notes §4.1.1.1).

    The values are kept, so the next piece of a sequence starts where the
    previous one ended, but no gradient flows back past this point
    (Williams & Peng 1990).
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(f"a recurrent state must be a tensor or a tuple of tensors; got {type(state).__name__}")


def state_gradient_norms(layer: Recurrent, x: torch.Tensor,
                         loss_fn: Callable[[torch.Tensor, RecurrentState], torch.Tensor], *,
                         state: RecurrentState | None = None) -> torch.Tensor:
    """‖∂L/∂h_t‖ for every step t: how much of the error reaches each state back in time (notes §4.1.1.1).

    The layer is unrolled with the written-out equations and the gradient of
    ``L = loss_fn(output, final_state)`` is taken with respect to the hidden
    state ``h_t`` of the top layer at every step — the total derivative,
    through all later steps of the recurrence.  A loss on the last step only
    shows how the gradient vanishes (RNN) or survives (LSTM, GRU) as it is
    propagated back (Bengio, Simard & Frasconi 1994; Hochreiter & Schmidhuber 1997).

    Args:
        layer: a unidirectional :class:`Recurrent` layer.
        x: inputs ``[B, T, D]``.
        loss_fn: ``loss_fn(output [B, T, H], final_state) -> scalar``.
        state: initial state (default: the layer's).

    Returns:
        ``[T]``: the batch mean of ``‖∂L/∂h_t[b]‖₂`` for ``t = 0 … T−1``.

    Raises:
        ConfigError: a bidirectional layer (its top state mixes both directions).
    """
    if not isinstance(layer, Recurrent):
        raise TypeError(f"state_gradient_norms needs an an2dl Recurrent layer; got {type(layer).__name__}")
    if layer.bidirectional:
        raise ConfigError("state_gradient_norms needs a unidirectional layer; got bidirectional=True")
    layer._check_input(x, None, None)
    hx = layer._check_state(state, x) if state is not None else layer.initial_state(
        x.shape[0], dtype=x.dtype, device=x.device)
    keep: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    output, final = layer._forward_cells(x, hx, None, keep=keep)
    loss = loss_fn(output, final)
    states = [h for h, _ in keep]
    grads = torch.autograd.grad(loss, states, allow_unused=True)
    norms = [g.norm(dim=-1).mean() if g is not None else states[0].new_zeros(()) for g in grads]
    return torch.stack(norms).detach()
