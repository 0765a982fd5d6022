"""Recurrent cells and layers written from the equations of the notes (§4.1.1).

The package is split by concept:

* :mod:`~an2dl.nn.recurrent.cells` — one time step: the Elman RNN (§4.1.1.1),
  LSTM and GRU (§4.1.1.2) equations, as functions of the weights
  (:func:`rnn_cell`, :func:`lstm_cell`, :func:`gru_cell`) and as modules
  (:class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`);
* :mod:`~an2dl.nn.recurrent.layers` — the cells unrolled over a batch-first
  sequence, stacked and bidirectional, with variable lengths and a zero,
  given or learnable initial state (:class:`RNN`, :class:`LSTM`,
  :class:`GRU`), on a written-out path and a fused path proved equal;
  parameter names and state layout are PyTorch's;
* :mod:`~an2dl.nn.recurrent.bptt` — truncated back-propagation through time
  (:func:`detach_state`) and the gradient reaching each step
  (:func:`state_gradient_norms`).
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
