"""Recurrent layers: a cell unrolled over a sequence, stacked and bidirectional (notes §4.1.1).

The layers :class:`RNN`, :class:`LSTM` and :class:`GRU` unroll a cell over a
batch-first sequence ``[B, T, D]``; they stack layers (dropout between them),
run a second cell backwards in time and concatenate both directions
(bidirectional, §4.1.1.2), accept variable lengths (``lengths`` or a padding
``mask``, see :mod:`an2dl.nn.masks`) and start from zeros, a given state or a
learnable initial state (§4.1.1.2, "Initialization").

Two paths compute the same function:

* the **written-out path** (``backend="cells"``): a Python loop over time
  applying the cell equations (:mod:`an2dl.nn.recurrent.cells`), readable
  and open to inspection (:func:`~an2dl.nn.recurrent.state_gradient_norms`
  measures ‖∂L/∂h_t‖ through it);
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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ...errors import ConfigError
from ..masks import lengths_to_mask, mask_to_lengths
from .cells import (
    _GATES,
    _NONLINEARITIES,
    RecurrentState,
    _check_choice,
    _gru_update,
    _lstm_update,
    _positive_int,
    _rnn_update,
    _set_forget_bias,
)

__all__ = ["Recurrent", "RNN", "LSTM", "GRU", "recurrent_layer"]

_BACKENDS = ("auto", "fused", "cells")
_INITIAL_STATES = ("zeros", "learnable")


class Recurrent(nn.Module):
    """A stack of recurrent layers over batch-first sequences (base of :class:`RNN`, :class:`LSTM`, :class:`GRU`).

    Use the subclasses; they fix ``mode`` and document their extra arguments.

    Args:
        mode: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        input_size: features D of each input step.
        hidden_size: state size H of every layer and direction.
        num_layers: stacked layers; layer ``l > 0`` reads the (concatenated)
            outputs of layer ``l − 1``.
        bias: learn the biases.
        dropout: dropout probability on the outputs of every layer but the
            last, in training mode (needs ``num_layers > 1``).
        bidirectional: add a second cell per layer that reads the sequence
            from right to left; outputs of both directions are concatenated.
        initial_state: ``"zeros"`` or ``"learnable"`` (parameters
            ``initial_h`` [and ``initial_c``] of shape ``[L * dirs, 1, H]``,
            randomly initialised and trained by back-propagation through time,
            notes §4.1.1.2).  A state passed to ``forward`` always wins.
        backend: ``"auto"`` (fused kernel when supported), ``"fused"`` (fail
            if unsupported) or ``"cells"`` (the written-out equations).
        nonlinearity: RNN only, ``"tanh"`` or ``"relu"``.
        reset_after: GRU only (see :func:`gru_cell`); ``False`` has no fused kernel.
        forget_bias: LSTM only (see :class:`LSTMCell`).

    Shape:
        ``forward(x [B, T, D], state=None, *, lengths=None, mask=None)`` returns
        ``(output [B, T, dirs * H], state)`` with ``state`` ``h_n`` or
        ``(h_n, c_n)``, each ``[L * dirs, B, H]``.  With lengths, outputs past
        a sequence's end are zero and ``h_n`` is the state after its last valid
        step (for the backward direction: after step 0).
    """

    def __init__(
        self,
        *,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        initial_state: str = "zeros",
        backend: str = "auto",
        nonlinearity: str = "tanh",
        reset_after: bool = True,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        _check_choice(owner, "mode", mode, tuple(_GATES))
        _positive_int(owner, "input_size", input_size)
        _positive_int(owner, "hidden_size", hidden_size)
        _positive_int(owner, "num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"{owner} dropout must be a number in [0, 1); got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            raise ConfigError(f"{owner} dropout acts between stacked layers; with num_layers=1 it has no effect "
                              f"(got dropout={dropout}); set num_layers > 1 or dropout=0")
        _check_choice(owner, "initial_state", initial_state, _INITIAL_STATES)
        _check_choice(owner, "nonlinearity", nonlinearity, tuple(_NONLINEARITIES))
        if forget_bias is not None and (mode != "lstm" or not bias):
            raise ConfigError(f"{owner} forget_bias applies to an LSTM with bias=True; got mode={mode!r}, bias={bias}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.dropout, self.bidirectional = bool(bias), float(dropout), bool(bidirectional)
        self.initial_state_mode = initial_state
        self.nonlinearity, self.reset_after, self.forget_bias = nonlinearity, bool(reset_after), forget_bias

        G = _GATES[mode] * hidden_size
        self._weight_names: list[str] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (G, layer_in)), ("weight_hh", (G, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                for kind, shape in shapes:
                    self.register_parameter(kind + sfx, nn.Parameter(torch.empty(shape)))
                    self._weight_names.append(kind + sfx)
        state_shape = (num_layers * self.num_directions, 1, hidden_size)
        if initial_state == "learnable":
            self.initial_h = nn.Parameter(torch.empty(state_shape))
            self.initial_c = nn.Parameter(torch.empty(state_shape)) if mode == "lstm" else None
        else:
            self.initial_h = self.initial_c = None
        self.backend = backend
        self.reset_parameters()

    # ------------------------------------------------------------------ configuration
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of each output step: ``num_directions * hidden_size``."""
        return self.num_directions * self.hidden_size

    @property
    def backend(self) -> str:
        """``"auto"``, ``"fused"`` or ``"cells"``; may be changed at any time."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        _check_choice(type(self).__name__, "backend", value, _BACKENDS)
        if value == "fused" and self.fused_unsupported_reason() is not None:
            raise ConfigError(f"{type(self).__name__} backend='fused' is unavailable: {self.fused_unsupported_reason()}; "
                              "use backend='auto' or 'cells'")
        self._backend = value

    def fused_unsupported_reason(self) -> str | None:
        """Why PyTorch's fused kernel cannot compute this layer, or ``None`` when it can."""
        if self.mode == "gru" and not self.reset_after:
            return "PyTorch's GRU kernel applies the reset gate after the recurrent product (reset_after=True only)"
        return None

    def uses_fused(self) -> bool:
        """Whether ``forward`` takes the fast path with the current ``backend``."""
        return self.backend != "cells" and self.fused_unsupported_reason() is None

    def reset_parameters(self) -> None:
        """Weights, biases and a learnable initial state ~ U(−1/√H, 1/√H); then the LSTM forget bias if set."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)
        if self.forget_bias is not None:
            for layer, d in self._layer_directions():
                _, _, b_ih, b_hh = self._weights(layer, d)
                _set_forget_bias(b_ih, b_hh, self.hidden_size, self.forget_bias)

    def _layer_directions(self) -> list[tuple[int, int]]:
        return [(layer, d) for layer in range(self.num_layers) for d in range(self.num_directions)]

    def _weights(self, layer: int, direction: int) -> tuple[torch.Tensor, torch.Tensor, Any, Any]:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        get = self._parameters.get
        return get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx), get("bias_hh" + sfx)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if not self.bias:
            parts.append("bias=False")
        if self.mode == "rnn" and self.nonlinearity != "tanh":
            parts.append(f"nonlinearity={self.nonlinearity!r}")
        if self.mode == "gru" and not self.reset_after:
            parts.append("reset_after=False")
        if self.initial_state_mode != "zeros":
            parts.append(f"initial_state={self.initial_state_mode!r}")
        parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ states
    def initial_state(self, batch_size: int, *, dtype: torch.dtype | None = None,
                      device: torch.device | None = None) -> RecurrentState:
        """The state used when ``forward`` receives none: zeros, or the learned one repeated over the batch.

        Returns:
            ``h0`` (RNN, GRU) or ``(h0, c0)`` (LSTM), each ``[L * dirs, batch_size, H]``.
        """
        ref = self.weight_hh_l0
        dtype, device = dtype or ref.dtype, device or ref.device
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size)
        if self.initial_h is not None:
            h = self.initial_h.to(dtype=dtype, device=device).expand(shape)
            if self.mode == "lstm":
                return h, self.initial_c.to(dtype=dtype, device=device).expand(shape)
            return h
        h = torch.zeros(shape, dtype=dtype, device=device)
        return (h, torch.zeros_like(h)) if self.mode == "lstm" else h

    def _check_state(self, state: Any, x: torch.Tensor) -> RecurrentState:
        owner = type(self).__name__
        shape = (self.num_layers * self.num_directions, x.shape[0], self.hidden_size)
        expected = f"[num_layers * num_directions, B, hidden_size] = {list(shape)}"
        if self.mode == "lstm":
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"{owner} state must be a tuple (h, c) of tensors {expected}; got {type(state).__name__}")
            parts = list(state)
        else:
            if not isinstance(state, torch.Tensor):
                raise TypeError(f"{owner} state must be a tensor {expected}; got {type(state).__name__}")
            parts = [state]
        # under mixed precision a state made by a layer that autocast runs in the lower precision (a Linear
        # from image features, say) meets an input kept in float32: the state follows the input, as torch.nn's
        # recurrent layers do under autocast
        autocast = torch.is_autocast_enabled(x.device.type)
        for i, (name, s) in enumerate(zip(("h", "c"), parts)):
            if not isinstance(s, torch.Tensor):
                raise TypeError(f"{owner} state {name} must be a tensor {expected}; got {type(s).__name__}")
            if tuple(s.shape) != shape:
                raise ValueError(f"{owner} state {name} must have shape {expected}; got {list(s.shape)}")
            if autocast and s.device == x.device and s.dtype != x.dtype and s.is_floating_point():
                parts[i] = s = s.to(x.dtype)
            if s.dtype != x.dtype or s.device != x.device:
                raise ValueError(f"{owner} state {name} must have the input's dtype and device ({x.dtype}, {x.device}); "
                                 f"got ({s.dtype}, {s.device})")
        return (parts[0], parts[1]) if self.mode == "lstm" else parts[0]

    def _check_input(self, x: Any, lengths: Any, mask: Any) -> torch.Tensor | None:
        owner = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{owner} x must be a tensor [B, T, input_size]; got {type(x).__name__}")
        if x.dim() != 3:
            hint = " (add the batch dimension with x.unsqueeze(0))" if x.dim() == 2 else ""
            raise ValueError(f"{owner} x must have shape [B, T, input_size={self.input_size}] (batch first); "
                             f"got {list(x.shape)}{hint}")
        if x.shape[2] != self.input_size:
            raise ValueError(f"{owner} x must have {self.input_size} features in its last dimension; got {list(x.shape)}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{owner} x must hold at least one sequence of at least one step; got {list(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{owner} x must be a floating-point tensor; got {x.dtype} (embed token ids first)")
        if lengths is not None and mask is not None:
            raise ConfigError(f"{owner} takes lengths or mask, not both")
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(x.shape[:2]):
                got = list(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ValueError(f"{owner} mask must have shape [B, T] = {list(x.shape[:2])}; got {got}")
            lengths = mask_to_lengths(mask)
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        B, T = x.shape[0], x.shape[1]
        if lengths.dim() != 1 or lengths.shape[0] != B or lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise ValueError(f"{owner} lengths must be an integer tensor of shape [B={B}]; "
                             f"got {lengths.dtype} {list(lengths.shape)}")
        lengths = lengths.long().cpu()
        if bool((lengths < 1).any()) or bool((lengths > T).any()):
            raise ValueError(f"{owner} lengths must lie in [1, T={T}] (an empty sequence has no state to return); "
                             f"got min {int(lengths.min())}, max {int(lengths.max())}")
        return None if bool((lengths == T).all()) else lengths

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, state: RecurrentState | None = None, *,
                lengths: torch.Tensor | Sequence[int] | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, RecurrentState]:
        """Run the stack over a batch of sequences.

        Args:
            x: inputs ``[B, T, input_size]``, batch first.
            state: initial state ``h0`` or ``(h0, c0)``, each
                ``[L * dirs, B, H]``; ``None``: zeros or the learned state.
            lengths: valid length of each sequence, integers in ``[1, T]``
                (padding at the end of each row).
            mask: alternatively a boolean ``[B, T]`` mask, True at valid steps
                (a prefix of each row).

        Returns:
            ``(output [B, T, dirs * H], final state)``.

        Raises:
            TypeError, ValueError: inputs of the wrong type, rank or size,
                lengths outside ``[1, T]``, a state of the wrong shape.
        """
        lengths = self._check_input(x, lengths, mask)
        hx = self._check_state(state, x) if state is not None else self.initial_state(
            x.shape[0], dtype=x.dtype, device=x.device)
        if self.uses_fused():
            return self._forward_fused(x, hx, lengths)
        return self._forward_cells(x, hx, lengths)

    # the fast path: PyTorch's kernel driven by this module's own parameter tensors
    def _fused_module(self) -> nn.RNNBase:
        module = self.__dict__.get("_fused")
        if module is None:
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[self.mode]
            extra = {"nonlinearity": self.nonlinearity} if self.mode == "rnn" else {}
            # built on the meta device: it owns no memory; our parameters are bound to it below
            module = cls(self.input_size, self.hidden_size, num_layers=self.num_layers, bias=self.bias,
                         batch_first=True, dropout=self.dropout, bidirectional=self.bidirectional,
                         device="meta", **extra)
            self.__dict__["_fused"] = module  # a plain attribute: not a submodule, not in the state dict
        for name in self._weight_names:
            p = self._parameters[name]
            if module._parameters.get(name) is not p:
                setattr(module, name, p)  # nn.RNNBase.__setattr__ refreshes its flat weight list
        module.train(self.training)
        return module

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> nn.Module:
        # a device or dtype change rebuilds the kernel's view of the weights (cuDNN re-flattens them)
        self.__dict__.pop("_fused", None)
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles leave the kernel view out; it is rebuilt on the next call
        state = self.__dict__.copy()
        state.pop("_fused", None)
        return state

    def _forward_fused(self, x: torch.Tensor, hx: RecurrentState, lengths: torch.Tensor | None
                       ) -> tuple[torch.Tensor, RecurrentState]:
        module = self._fused_module()
        hx = tuple(s.contiguous() for s in hx) if isinstance(hx, tuple) else hx.contiguous()
        if lengths is None:
            return module(x, hx)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, state

    # the written-out path: the cell equations unrolled in time
    def _forward_cells(self, x: torch.Tensor, hx: RecurrentState, lengths: torch.Tensor | None,
                       keep: list[tuple[torch.Tensor, torch.Tensor | None]] | None = None
                       ) -> tuple[torch.Tensor, RecurrentState]:
        h0, c0 = hx if self.mode == "lstm" else (hx, None)
        T = x.shape[1]
        valid = None
        if lengths is not None:  # [T, B, 1]: True where step t of sequence b is real
            valid = lengths_to_mask(lengths.to(x.device), T).t().unsqueeze(-1)
        layer_input = x.transpose(0, 1)  # time-major [T, B, D], as PyTorch's kernel works internally
        h_n: list[torch.Tensor] = []
        c_n: list[torch.Tensor] = []
        for layer in range(self.num_layers):
            outputs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                gi = F.linear(layer_input, w_ih, b_ih)  # input part of every step at once: [T, B, G*H]
                track = keep if (layer == self.num_layers - 1 and d == 0) else None
                out, h, c = self._scan(gi, h0[k], c0[k] if c0 is not None else None, w_hh, b_hh, valid,
                                       reverse=d == 1, keep=track)
                outputs.append(out)
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input.transpose(0, 1)
        h_stack = torch.stack(h_n)
        return (output, (h_stack, torch.stack(c_n))) if self.mode == "lstm" else (output, h_stack)

    def _scan(self, gi: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh: torch.Tensor,
              b_hh: torch.Tensor | None, valid: torch.Tensor | None, *, reverse: bool,
              keep: list | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One layer, one direction: ``gi [T, B, G*H]`` -> outputs ``[T, B, H]`` and the final state."""
        T = gi.shape[0]
        outputs: list[torch.Tensor] = [gi] * T  # placeholders, all overwritten
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            if self.mode == "lstm":
                h_new, c_new = _lstm_update(gi[t], h, c, w_hh, b_hh)
            elif self.mode == "gru":
                h_new, c_new = _gru_update(gi[t], h, w_hh, b_hh, self.reset_after), None
            else:
                h_new, c_new = _rnn_update(gi[t], h, w_hh, b_hh, self.nonlinearity), None
            if valid is None:
                h, c = h_new, c_new
                outputs[t] = h
            else:  # past a sequence's end the state is frozen and the output is zero
                m = valid[t]
                h = torch.where(m, h_new, h)
                c = torch.where(m, c_new, c) if c is not None else None
                outputs[t] = h_new.masked_fill(~m, 0.0)
            if keep is not None:
                keep.append((h, c))
        return torch.stack(outputs), h, c


class RNN(Recurrent):
    """Stacked, optionally bidirectional Elman RNN (notes §4.1.1.1; Elman 1990).

    Args:
        input_size, hidden_size, num_layers, bias, dropout, bidirectional,
        initial_state, backend: see :class:`Recurrent`.
        nonlinearity: ``"tanh"`` (Elman) or ``"relu"``.

    Shape:
        ``forward(x [B, T, D], h0 [L*dirs, B, H] | None, *, lengths=None, mask=None)``
        -> ``(output [B, T, dirs*H], h_n [L*dirs, B, H])``.
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 initial_state: str = "zeros", backend: str = "auto") -> None:
        super().__init__(mode="rnn", input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
                         dropout=dropout, bidirectional=bidirectional, initial_state=initial_state, backend=backend,
                         nonlinearity=nonlinearity)


class LSTM(Recurrent):
    """Stacked, optionally bidirectional LSTM (notes §4.1.1.2; Hochreiter & Schmidhuber 1997).

    The cell has the forget gate of Gers et al. (2000) and no peephole
    connections, as PyTorch's and cuDNN's LSTM; its state dict equals
    ``torch.nn.LSTM(batch_first=True)``'s (plus ``initial_h``/``initial_c``
    when learnable).

    Args:
        input_size, hidden_size, num_layers, bias, dropout, bidirectional,
        initial_state, backend: see :class:`Recurrent`.
        forget_bias: initialise the forget-gate bias to this value (see :class:`LSTMCell`).

    Shape:
        ``forward(x [B, T, D], (h0, c0) | None, *, lengths=None, mask=None)``
        -> ``(output [B, T, dirs*H], (h_n, c_n))``, states ``[L*dirs, B, H]``.
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, initial_state: str = "zeros",
                 backend: str = "auto", forget_bias: float | None = None) -> None:
        super().__init__(mode="lstm", input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
                         dropout=dropout, bidirectional=bidirectional, initial_state=initial_state, backend=backend,
                         forget_bias=forget_bias)


class GRU(Recurrent):
    """Stacked, optionally bidirectional GRU (notes §4.1.1.2; Cho et al. 2014).

    Args:
        input_size, hidden_size, num_layers, bias, dropout, bidirectional,
        initial_state, backend: see :class:`Recurrent`.
        reset_after: ``True`` (PyTorch/cuDNN form, fused kernel available) or
            ``False`` (Cho et al.'s form, written-out path only).

    Shape:
        ``forward(x [B, T, D], h0 [L*dirs, B, H] | None, *, lengths=None, mask=None)``
        -> ``(output [B, T, dirs*H], h_n [L*dirs, B, H])``.
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, initial_state: str = "zeros",
                 backend: str = "auto", reset_after: bool = True) -> None:
        super().__init__(mode="gru", input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
                         dropout=dropout, bidirectional=bidirectional, initial_state=initial_state, backend=backend,
                         reset_after=reset_after)


_LAYERS: dict[str, type[Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def recurrent_layer(cell: str, **kwargs: Any) -> Recurrent:
    """Build :class:`RNN`, :class:`LSTM` or :class:`GRU` by name (``cell`` in ``rnn``, ``lstm``, ``gru``).

    Args:
        cell: which layer.
        **kwargs: that layer's keyword arguments.

    Raises:
        ConfigError: an unknown cell.
    """
    _check_choice("recurrent_layer", "cell", cell, tuple(_LAYERS))
    return _LAYERS[cell](**kwargs)
