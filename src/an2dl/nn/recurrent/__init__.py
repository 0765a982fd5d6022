"""Recurrent cells and layers written from the equations of the notes (§4.1.1).

Three cells, each a function of the input ``x_t`` and the previous state:

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

The layers :class:`RNN`, :class:`LSTM` and :class:`GRU` unroll a cell over a
batch-first sequence ``[B, T, D]``; they stack layers (dropout between them),
run a second cell backwards in time and concatenate both directions
(bidirectional, §4.1.1.2), accept variable lengths (``lengths`` or a padding
``mask``, see :mod:`an2dl.nn.masks`) and start from zeros, a given state or a
learnable initial state (§4.1.1.2, "Initialization").

Two paths compute the same function:

* the **written-out path** (``backend="cells"``): a Python loop over time
  applying the equations above, readable and open to inspection
  (:func:`state_gradient_norms` measures ‖∂L/∂h_t‖ through it);
* the **fast path** (``backend="fused"``): the same parameter tensors drive
  PyTorch's ``nn.RNN``/``nn.LSTM``/``nn.GRU`` kernels (cuDNN on a GPU),
  with ``pack_padded_sequence`` for variable lengths.

``backend="auto"`` (the default) takes the fast path whenever the
configuration allows it: everything except ``GRU(reset_after=False)``, which
PyTorch's kernel does not implement.  Tests prove both paths equal in float64
(outputs and gradients to 1e-10) for every configuration.

Parameter names, shapes and gate orders are PyTorch's (``weight_ih_l0``,
``weight_hh_l0_reverse``, gates ``i, f, g, o`` for the LSTM and ``r, z, n``
for the GRU), so a state dict loads into ``torch.nn.LSTM(batch_first=True)``
and back; a learnable initial state adds ``initial_h`` (and ``initial_c``).

States follow PyTorch's layout ``[num_layers * num_directions, B, H]``
(index ``layer * num_directions + direction``); sequences are batch-first.

The package is split by concept: :mod:`~an2dl.nn.recurrent.cells` (one step:
the equations above), :mod:`~an2dl.nn.recurrent.layers` (the cells unrolled,
stacked and bidirectional, on either path) and :mod:`~an2dl.nn.recurrent.bptt`
(truncated back-propagation through time and the gradient reaching each step).
"""

from .bptt import detach_state, state_gradient_norms
from .cells import GRUCell, LSTMCell, RecurrentState, RNNCell, gru_cell, lstm_cell, rnn_cell
from .layers import GRU, LSTM, RNN, Recurrent, recurrent_layer

__all__ = [
    "rnn_cell",
    "lstm_cell",
    "gru_cell",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "Recurrent",
    "RNN",
    "LSTM",
    "GRU",
    "recurrent_layer",
    "RecurrentState",
    "detach_state",
    "state_gradient_norms",
]
