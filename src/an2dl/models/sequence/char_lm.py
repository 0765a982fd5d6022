"""Character-level recurrent language model with sampling (notes §4.1.1; Karpathy's char-rnn, 2015).

Layout::

    token ids [B, T]
    embedding            -> [B, T, E]      (equivalent to char-rnn's one-hot input times a weight matrix)
    RNN / LSTM / GRU × L -> [B, T, H]      (dropout between layers)
    dropout, linear      -> [B, T, V]      logits of the next character at every position

The model returns its recurrent state on request, so that a long text can be
read in pieces with the state carried over (truncated back-propagation
through time, :class:`~an2dl.tasks.sequence.LanguageModelTask`) and so that
:meth:`CharLanguageModel.generate` samples one character at a time without
re-reading the prefix.

Departures from char-rnn: a learned embedding instead of one-hot inputs
(the same function class with fewer parameters when ``E < V``); the
vocabulary carries the project's four special tokens (never seen in text, so
their probability is driven towards zero).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...nn.decoding import check_sampling, sample_next_token
from ...nn.recurrent import Recurrent, RecurrentState, recurrent_layer
from .._checks import check_positive_int, check_probability
from .._registry import register_model

__all__ = ["CharLanguageModel", "char_lstm", "char_rnn"]


class CharLanguageModel(nn.Module):
    """Recurrent language model over a character (or any token) vocabulary.

    Args:
        vocab_size: V, number of token ids.
        embedding_dim: E, width of the input embedding.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        hidden_size: H, state size of every layer.
        num_layers: L, stacked layers.
        dropout: between stacked layers and before the output layer (training only).
        initial_state: ``"zeros"`` or ``"learnable"``.
        backend: ``"auto"``, ``"fused"`` or ``"cells"`` (see :class:`~an2dl.nn.recurrent.Recurrent`).
        forget_bias: LSTM forget-gate bias initialisation.

    Shape:
        ``forward(tokens [B, T], state=None, *, return_state=False)`` ->
        logits ``[B, T, V]`` (and the final state, ``[L, B, H]`` tensors, with ``return_state``).
    """

    def __init__(self, *, vocab_size: int, embedding_dim: int = 64, cell: str = "lstm", hidden_size: int = 256,
                 num_layers: int = 2, dropout: float = 0.0, initial_state: str = "zeros", backend: str = "auto",
                 forget_bias: float | None = None) -> None:
        super().__init__()
        check_positive_int("CharLanguageModel", "vocab_size", vocab_size)
        check_positive_int("CharLanguageModel", "embedding_dim", embedding_dim)
        check_probability("CharLanguageModel", "dropout", dropout)
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        extra = {"forget_bias": forget_bias} if forget_bias is not None else {}
        self.rnn: Recurrent = recurrent_layer(cell, input_size=embedding_dim, hidden_size=hidden_size,
                                              num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0,
                                              initial_state=initial_state, backend=backend, **extra)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def _check_tokens(self, tokens: Any) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            got = f"{tokens.dtype} {list(tokens.shape)}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"CharLanguageModel expects token ids of shape [B, T] (integers); got {got}")

    def forward(self, tokens: torch.Tensor, state: RecurrentState | None = None, *,
                return_state: bool = False) -> torch.Tensor | tuple[torch.Tensor, RecurrentState]:
        """Next-token logits at every position.

        Args:
            tokens: ids ``[B, T]`` in ``[0, V)``.
            state: the recurrent state to start from (``None``: the model's initial state).
            return_state: also return the final state.
        """
        self._check_tokens(tokens)
        out, state = self.rnn(self.embedding(tokens), state)
        logits = self.head(self.dropout(out))
        return (logits, state) if return_state else logits

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample a continuation of ``prompt`` one token at a time (dropout off).

        Args:
            prompt: ids ``[B, T0]`` with ``T0 >= 1``.
            max_new_tokens: tokens to add.
            temperature: divides the logits; ``0`` picks the most likely token (greedy).
            top_k: sample among the ``top_k`` most likely tokens only.
            generator: random generator for reproducible samples.

        Returns:
            ``[B, T0 + max_new_tokens]``: the prompt followed by the sample.
        """
        self._check_tokens(prompt)
        if prompt.shape[1] == 0:
            raise ValueError("generate needs a prompt of at least one token; got shape " + str(list(prompt.shape)))
        check_sampling(type(self).__name__, self.vocab_size, max_new_tokens, temperature, top_k)
        was_training = self.training
        self.eval()
        try:
            out = [prompt]
            logits, state = self(prompt, return_state=True)
            for _ in range(max_new_tokens):
                nxt = sample_next_token(logits[:, -1], temperature=temperature, top_k=top_k, generator=generator)
                out.append(nxt)
                logits, state = self(nxt, state, return_state=True)
            return torch.cat(out, dim=1)
        finally:
            self.train(was_training)


def _tokens_example(batch_size: int) -> tuple[torch.Tensor]:
    return (torch.randint(0, 69, (batch_size, 16), generator=torch.Generator().manual_seed(0)),)


@register_model("char_lstm", example=_tokens_example)
def char_lstm(*, vocab_size: int = 69, embedding_dim: int = 64, hidden_size: int = 256, num_layers: int = 2,
              dropout: float = 0.0, initial_state: str = "zeros", backend: str = "auto",
              forget_bias: float | None = None) -> CharLanguageModel:
    """Character LSTM language model; the default vocabulary is tinyshakespeare's (4 specials + 65 characters)."""
    return CharLanguageModel(vocab_size=vocab_size, embedding_dim=embedding_dim, cell="lstm", hidden_size=hidden_size,
                             num_layers=num_layers, dropout=dropout, initial_state=initial_state, backend=backend,
                             forget_bias=forget_bias)


@register_model("char_rnn", example=_tokens_example)
def char_rnn(*, vocab_size: int = 69, cell: str = "gru", embedding_dim: int = 64, hidden_size: int = 256,
             num_layers: int = 2, dropout: float = 0.0, initial_state: str = "zeros",
             backend: str = "auto") -> CharLanguageModel:
    """Character language model with any cell (``cell`` in rnn, lstm, gru; default GRU)."""
    return CharLanguageModel(vocab_size=vocab_size, embedding_dim=embedding_dim, cell=cell, hidden_size=hidden_size,
                             num_layers=num_layers, dropout=dropout, initial_state=initial_state, backend=backend)
