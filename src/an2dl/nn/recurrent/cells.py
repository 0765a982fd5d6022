"""Recurrent cells written from the equations of the notes (§4.1.1): one time step each.

Each cell is a function of the input ``x_t`` and the previous state, given as
a plain function of the weights (:func:`rnn_cell`, :func:`lstm_cell`,
:func:`gru_cell`) and as a module holding them (:class:`RNNCell`,
:class:`LSTMCell`, :class:`GRUCell`, state-dict compatible with PyTorch's):

* **Elman RNN** (§4.1.1.1; Elman 1990)::

      h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

* **LSTM** (§4.1.1.2; Hochreiter & Schmidhuber 1997, with the forget gate of
  Gers, Schmidhuber & Cummins 2000)::

      i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
      f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
      g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate
      o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
      c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                     cell state (the linear loop)
      h_t = o_t ⊙ tanh(c_t)

* **GRU** (§4.1.1.2; Cho et al. 2014)::

      r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      reset gate
      z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)      update gate
      n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))     (reset_after=True)
      n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)     (reset_after=False, Cho et al.)
      h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

The layers of :mod:`an2dl.nn.recurrent.layers` unroll the same equations in time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

__all__ = ["rnn_cell", "lstm_cell", "gru_cell", "RNNCell", "LSTMCell", "GRUCell", "RecurrentState"]

#: a layer's state: ``h`` for RNN and GRU, ``(h, c)`` for the LSTM
RecurrentState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


# ---------------------------------------------------------------------------------------------------------------------
# The cell equations.  `gi` is the input part W_ih x_t + b_ih, computed for all
# time steps at once by the layers; the recurrent part is computed here.
def _rnn_update(gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
                nonlinearity: str) -> torch.Tensor:
    return _NONLINEARITIES[nonlinearity](gi + F.linear(h, w_hh, b_hh))


def _lstm_update(gi: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor,
                 b_hh: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c


def _gru_update(gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
                reset_after: bool) -> torch.Tensor:
    gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)
    if reset_after:
        gh_r, gh_z, gh_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(gi_r + gh_r), torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
    else:  # Cho et al.: the reset gate scales h before the recurrent product
        H = h.shape[-1]
        b_rz, b_n = (b_hh[: 2 * H], b_hh[2 * H:]) if b_hh is not None else (None, None)
        gh_r, gh_z = F.linear(h, w_hh[: 2 * H], b_rz).chunk(2, dim=-1)
        r, z = torch.sigmoid(gi_r + gh_r), torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + F.linear(r * h, w_hh[2 * H:], b_n))
    return (1 - z) * n + z * h


def rnn_cell(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None, *,
             nonlinearity: str = "tanh") -> torch.Tensor:
    """One step of the Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (notes §4.1.1.1).

    Args:
        x: input ``x_t``.
        h: previous state ``h_{t-1}``.
        weight_ih, weight_hh, bias_ih, bias_hh: ``W_ih [H, D]``, ``W_hh [H, H]``,
            ``b_ih [H]``, ``b_hh [H]`` (biases may be ``None``).
        nonlinearity: ``"tanh"`` (Elman 1990) or ``"relu"``.

    Returns:
        ``h_t`` ``[B, H]``.

    Shape:
        ``x [B, D]``, ``h [B, H]``.
    """
    return _rnn_update(F.linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh, nonlinearity)


def lstm_cell(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], weight_ih: torch.Tensor,
              weight_hh: torch.Tensor, bias_ih: torch.Tensor | None = None,
              bias_hh: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step: input, forget and output gates around the cell state (notes §4.1.1.2).

    Hochreiter & Schmidhuber (1997) with the forget gate of Gers et al. (2000);
    the equations are in the module docstring.  Gate order in the stacked
    weights is ``i, f, g, o`` (PyTorch's).

    Args:
        x: input ``x_t``.
        state: ``(h_{t-1}, c_{t-1})``.
        weight_ih, weight_hh, bias_ih, bias_hh: ``[4H, D]``, ``[4H, H]``, ``[4H]``, ``[4H]``.

    Returns:
        ``(h_t, c_t)``, each ``[B, H]``.

    Shape:
        ``x [B, D]``, ``h, c [B, H]``.
    """
    h, c = state
    return _lstm_update(F.linear(x, weight_ih, bias_ih), h, c, weight_hh, bias_hh)


def gru_cell(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None, *,
             reset_after: bool = True) -> torch.Tensor:
    """One GRU step: reset and update gates, one merged state (notes §4.1.1.2; Cho et al. 2014).

    Args:
        x: input ``x_t``.
        h: previous state ``h_{t-1}``.
        weight_ih, weight_hh, bias_ih, bias_hh: ``[3H, D]``, ``[3H, H]``, ``[3H]``, ``[3H]``,
            gate order ``r, z, n``.
        reset_after: apply the reset gate after the recurrent product,
            ``r ⊙ (W_hn h + b_hn)`` (PyTorch and cuDNN); ``False`` gives Cho et
            al.'s original ``W_hn (r ⊙ h) + b_hn``.

    Returns:
        ``h_t`` ``[B, H]``.

    Shape:
        ``x [B, D]``, ``h [B, H]``.
    """
    return _gru_update(F.linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh, reset_after)


# ---------------------------------------------------------------------------------------------------------------------
def _positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner} {name} must be a positive integer; got {value!r}")


def _check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{owner} {name} must be one of {list(choices)}; got {value!r}")


class _Cell(nn.Module):
    """Parameters and checks shared by the single-step cells."""

    mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool) -> None:
        super().__init__()
        owner = type(self).__name__
        _positive_int(owner, "input_size", input_size)
        _positive_int(owner, "hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bool(bias)
        G = _GATES[self.mode] * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G))
            self.bias_hh = nn.Parameter(torch.empty(G))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(−1/√H, 1/√H) (PyTorch's default)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def _check(self, x: torch.Tensor, states: Sequence[torch.Tensor | None]) -> None:
        owner = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{owner} x must be a tensor; got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{owner} x must have shape [B, input_size={self.input_size}]; got {list(x.shape)}")
        for name, s in zip(("h", "c"), states):
            if s is not None and (not isinstance(s, torch.Tensor) or tuple(s.shape) != (x.shape[0], self.hidden_size)):
                got = list(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(f"{owner} state {name} must have shape [B={x.shape[0]}, hidden_size={self.hidden_size}]; "
                                 f"got {got}")

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """Elman RNN cell (notes §4.1.1.1; Elman 1990), state-dict compatible with ``torch.nn.RNNCell``.

    Args:
        input_size: features D of ``x_t``.
        hidden_size: state size H.
        bias: learn ``b_ih`` and ``b_hh``.
        nonlinearity: ``"tanh"`` (Elman) or ``"relu"``.

    Shape:
        ``forward(x [B, D], h [B, H] | None) -> h_t [B, H]``; a missing state is zeros.
    """

    mode = "rnn"

    def __init__(self, *, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        _check_choice("RNNCell", "nonlinearity", nonlinearity, tuple(_NONLINEARITIES))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, (h,))
        h = self._zeros(x) if h is None else h
        return rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, nonlinearity=self.nonlinearity)


class LSTMCell(_Cell):
    """LSTM cell (notes §4.1.1.2; Hochreiter & Schmidhuber 1997, Gers et al. 2000), compatible with ``torch.nn.LSTMCell``.

    Args:
        input_size: features D of ``x_t``.
        hidden_size: state size H.
        bias: learn the gate biases.
        forget_bias: if given, initialise the forget-gate bias to this value
            (``b_if = forget_bias``, ``b_hf = 0``); 1.0 is the common choice
            that keeps the cell open early in training (Jozefowicz et al. 2015).

    Shape:
        ``forward(x [B, D], (h, c) | None) -> (h_t, c_t)``, each ``[B, H]``.
    """

    mode = "lstm"

    def __init__(self, *, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float | None = None) -> None:
        if forget_bias is not None and not bias:
            raise ConfigError("LSTMCell forget_bias needs bias=True; got bias=False")
        self.forget_bias = forget_bias
        super().__init__(input_size, hidden_size, bias)

    def reset_parameters(self) -> None:
        """U(−1/√H, 1/√H) for every tensor, then the forget-gate bias if ``forget_bias`` is set."""
        super().reset_parameters()
        if self.forget_bias is not None:
            _set_forget_bias(self.bias_ih, self.bias_hh, self.hidden_size, self.forget_bias)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise TypeError(f"LSTMCell state must be a tuple (h, c); got {type(state).__name__}")
        self._check(x, state if state is not None else (None, None))
        if state is None:
            state = (self._zeros(x), self._zeros(x))
        return lstm_cell(x, (state[0], state[1]), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """GRU cell (notes §4.1.1.2; Cho et al. 2014), compatible with ``torch.nn.GRUCell`` when ``reset_after=True``.

    Args:
        input_size: features D of ``x_t``.
        hidden_size: state size H.
        bias: learn the gate biases.
        reset_after: ``True``: ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``
            (PyTorch, cuDNN); ``False``: Cho et al.'s ``W_hn (r ⊙ h) + b_hn``.

    Shape:
        ``forward(x [B, D], h [B, H] | None) -> h_t [B, H]``.
    """

    mode = "gru"

    def __init__(self, *, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, (h,))
        h = self._zeros(x) if h is None else h
        return gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, reset_after=self.reset_after)


def _set_forget_bias(bias_ih: torch.Tensor, bias_hh: torch.Tensor, H: int, value: float) -> None:
    with torch.no_grad():
        bias_ih[H: 2 * H].fill_(value)
        bias_hh[H: 2 * H].zero_()
