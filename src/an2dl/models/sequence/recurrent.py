"""Recurrent sequence classifiers and regressors (notes §4.1.1).

Both read a batch-first sequence — token ids ``[B, T]`` through an embedding,
or features ``[B, T, D]`` — with a stacked, optionally bidirectional RNN,
LSTM or GRU (:mod:`an2dl.nn.recurrent`), accept variable lengths and a
learnable initial state, and put a linear read-out on top:

* :class:`RecurrentClassifier` — many-to-one: the sequence is summarised
  (final state of each direction, or mean/max of the outputs over the valid
  steps) and mapped to class logits (the notes' sentiment-analysis case, §4.2).
* :class:`RecurrentRegressor` — many-to-one (``[B, output_size]`` from the
  final state: forecasting, the adding problem) or many-to-many
  (``per_step=True``: ``[B, T, output_size]``).
"""

from __future__ import annotations

import torch
from torch import nn

from ...data.text import PAD
from ...errors import ConfigError
from ...nn.masks import lengths_to_mask
from ...nn.recurrent import Recurrent, recurrent_layer
from .._checks import check_positive_int, check_probability
from .._registry import register_model

__all__ = ["RecurrentClassifier", "RecurrentRegressor", "recurrent_classifier", "recurrent_regressor"]

_POOLINGS = ("last", "mean", "max")



class _SequenceEncoder(nn.Module):
    """Optional embedding + recurrent stack, with the input checks shared by the models."""

    def __init__(self, *, owner: str, input_size: int | None, vocab_size: int | None, embedding_dim: int, cell: str,
                 hidden_size: int, num_layers: int, bidirectional: bool, dropout: float, initial_state: str,
                 backend: str, forget_bias: float | None) -> None:
        super().__init__()
        if (input_size is None) == (vocab_size is None):
            raise ConfigError(f"{owner} needs exactly one of input_size (feature inputs) or vocab_size (token ids); "
                              f"got input_size={input_size!r}, vocab_size={vocab_size!r}")
        self.owner = owner
        if vocab_size is not None:
            check_positive_int(owner, "vocab_size", vocab_size)
            check_positive_int(owner, "embedding_dim", embedding_dim)
            self.embedding: nn.Embedding | None = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
            rnn_input = embedding_dim
        else:
            check_positive_int(owner, "input_size", input_size)
            self.embedding = None
            rnn_input = input_size  # type: ignore[assignment]
        self.input_size, self.vocab_size = input_size, vocab_size
        extra = {"forget_bias": forget_bias} if forget_bias is not None else {}
        self.rnn: Recurrent = recurrent_layer(cell, input_size=rnn_input, hidden_size=hidden_size,
                                              num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                                              initial_state=initial_state, backend=backend, **extra)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.owner} input must be a tensor; got {type(x).__name__}")
        if self.embedding is not None:
            if x.dim() != 2 or x.is_floating_point():
                raise ValueError(f"{self.owner} expects token ids of shape [B, T] (integers); "
                                 f"got {x.dtype} {list(x.shape)}")
            return self.embedding(x)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{self.owner} expects features of shape [B, T, input_size={self.input_size}]; "
                             f"got {list(x.shape)}")
        return x


class RecurrentClassifier(nn.Module):
    """Many-to-one recurrent classifier: sequence -> class logits (notes §4.1.1, §4.2).

    Args:
        num_classes: K.
        vocab_size: token inputs: vocabulary size (id 0 is padding).
        input_size: feature inputs: features D per step (exactly one of the two).
        embedding_dim: embedding width for token inputs.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        hidden_size, num_layers, bidirectional, initial_state, backend: of the recurrent stack
            (:class:`~an2dl.nn.recurrent.Recurrent`).
        dropout: between stacked layers (when ``num_layers > 1``) and before the read-out.
        pooling: how the sequence is summarised: ``"last"`` — the final state of
            the top layer (forward direction after each sequence's last valid
            step, backward direction after step 0), ``"mean"`` or ``"max"`` —
            over the outputs of the valid steps.
        forget_bias: LSTM forget-gate bias initialisation.

    Shape:
        ``forward(x, lengths=None)``: ``x`` tokens ``[B, T]`` or features
        ``[B, T, D]``, ``lengths [B]`` in ``[1, T]``; returns logits ``[B, K]``.
    """

    def __init__(self, *, num_classes: int, vocab_size: int | None = None, input_size: int | None = None,
                 embedding_dim: int = 16, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, initial_state: str = "zeros",
                 pooling: str = "last", backend: str = "auto", forget_bias: float | None = None) -> None:
        super().__init__()
        check_positive_int("RecurrentClassifier", "num_classes", num_classes)
        if pooling not in _POOLINGS:
            raise ConfigError(f"RecurrentClassifier pooling must be one of {list(_POOLINGS)}; got {pooling!r}")
        check_probability("RecurrentClassifier", "dropout", dropout)
        self.encoder = _SequenceEncoder(owner="RecurrentClassifier", input_size=input_size, vocab_size=vocab_size,
                                        embedding_dim=embedding_dim, cell=cell, hidden_size=hidden_size,
                                        num_layers=num_layers, bidirectional=bidirectional,
                                        dropout=dropout if num_layers > 1 else 0.0,
                                        initial_state=initial_state, backend=backend, forget_bias=forget_bias)
        self.num_classes, self.pooling = num_classes, pooling
        self.num_features = self.encoder.rnn.output_size
        self.head_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The sequence summary ``[B, dirs * H]``."""
        rnn = self.encoder.rnn
        out, state = rnn(self.encoder.embed(x), lengths=lengths)
        if self.pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            top = h_n[-rnn.num_directions:]  # [dirs, B, H] of the top layer
            return top.transpose(0, 1).reshape(out.shape[0], -1)
        if lengths is None:
            return out.mean(dim=1) if self.pooling == "mean" else out.amax(dim=1)
        lengths = torch.as_tensor(lengths, device=out.device)
        valid = lengths_to_mask(lengths, out.shape[1]).unsqueeze(-1)  # (B, T, 1)
        if self.pooling == "mean":
            return (out * valid).sum(dim=1) / lengths[:, None].to(out.dtype)
        return out.masked_fill(~valid, float("-inf")).amax(dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Dropout and the linear read-out: ``[B, F]`` -> ``[B, K]``."""
        return self.classifier(self.head_dropout(features))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, lengths))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the read-out with a freshly initialised one of ``num_classes`` outputs."""
        check_positive_int("reset_classifier", "num_classes", num_classes)
        self.num_classes = num_classes
        self.classifier = nn.Linear(self.num_features, num_classes)


class RecurrentRegressor(nn.Module):
    """Recurrent regressor: a sequence -> numbers (many-to-one) or a number per step (many-to-many).

    Args:
        input_size: features D per step (or ``vocab_size`` for token ids; exactly one of the two).
        output_size: numbers predicted (per step when ``per_step``).
        cell, hidden_size, num_layers, bidirectional, dropout, initial_state,
        backend, forget_bias: of the recurrent stack (``dropout`` acts between
            stacked layers only).
        per_step: predict at every step from that step's output instead of
            once from the final state.
        vocab_size, embedding_dim: token inputs instead of features.

    Shape:
        ``forward(x [B, T, D], lengths=None)`` -> ``[B, output_size]``, or
        ``[B, T, output_size]`` with ``per_step`` (zero-state outputs past each length).
    """

    def __init__(self, *, input_size: int | None = None, output_size: int = 1, cell: str = "lstm", hidden_size: int = 32,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 initial_state: str = "zeros", per_step: bool = False, backend: str = "auto",
                 forget_bias: float | None = None, vocab_size: int | None = None, embedding_dim: int = 16) -> None:
        super().__init__()
        check_positive_int("RecurrentRegressor", "output_size", output_size)
        self.encoder = _SequenceEncoder(owner="RecurrentRegressor", input_size=input_size, vocab_size=vocab_size,
                                        embedding_dim=embedding_dim, cell=cell, hidden_size=hidden_size,
                                        num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                                        initial_state=initial_state, backend=backend, forget_bias=forget_bias)
        self.output_size, self.per_step = output_size, bool(per_step)
        self.readout = nn.Linear(self.encoder.rnn.output_size, output_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        rnn = self.encoder.rnn
        out, state = rnn(self.encoder.embed(x), lengths=lengths)
        if self.per_step:
            return self.readout(out)
        h_n = state[0] if isinstance(state, tuple) else state
        top = h_n[-rnn.num_directions:].transpose(0, 1).reshape(out.shape[0], -1)
        return self.readout(top)


def _classifier_example(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    T = 12
    lengths = T - (torch.arange(batch_size) * 5) % (T - 1)
    tokens = torch.randint(PAD + 1, 10, (batch_size, T), generator=g)
    tokens = tokens.masked_fill(~lengths_to_mask(lengths, T), PAD)
    return tokens, lengths


def _regressor_example(batch_size: int) -> tuple[torch.Tensor]:
    return (torch.randn(batch_size, 12, 1, generator=torch.Generator().manual_seed(0)),)


@register_model("recurrent_classifier", example=_classifier_example)
def recurrent_classifier(*, num_classes: int = 4, vocab_size: int | None = 10, input_size: int | None = None,
                         embedding_dim: int = 16, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                         bidirectional: bool = False, dropout: float = 0.0, initial_state: str = "zeros",
                         pooling: str = "last", backend: str = "auto", forget_bias: float | None = None
                         ) -> RecurrentClassifier:
    """Recurrent sequence classifier; defaults fit the temporal-order task (10 token ids, 4 classes).

    Pass ``vocab_size=None, input_size=D`` for feature inputs.
    """
    return RecurrentClassifier(num_classes=num_classes, vocab_size=vocab_size, input_size=input_size,
                               embedding_dim=embedding_dim, cell=cell, hidden_size=hidden_size, num_layers=num_layers,
                               bidirectional=bidirectional, dropout=dropout, initial_state=initial_state,
                               pooling=pooling, backend=backend, forget_bias=forget_bias)


@register_model("recurrent_regressor", example=_regressor_example)
def recurrent_regressor(*, input_size: int = 1, output_size: int = 1, cell: str = "lstm", hidden_size: int = 32,
                        num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                        initial_state: str = "zeros", per_step: bool = False, backend: str = "auto",
                        forget_bias: float | None = None) -> RecurrentRegressor:
    """Recurrent regressor on feature sequences ``[B, T, input_size]``."""
    return RecurrentRegressor(input_size=input_size, output_size=output_size, cell=cell, hidden_size=hidden_size,
                              num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                              initial_state=initial_state, per_step=per_step, backend=backend, forget_bias=forget_bias)
