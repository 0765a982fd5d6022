"""Positional encodings: fixed sinusoidal and learned (notes §4.4.4; Vaswani et al. 2017, §3.5).

Self-attention treats its inputs as a set: permuting the tokens permutes the
outputs in the same way and changes nothing else (the notes: "changing the
order of the tokens doesn't impact attention values").  The input
representation therefore adds to each token embedding a vector that depends
on the token's position ``pos`` only.

* Sinusoidal (fixed; the original Transformer)::

      PE[pos, 2i]     = sin(pos / 10000^(2i / D))
      PE[pos, 2i + 1] = cos(pos / 10000^(2i / D))

  Each pair of features is a rotation at its own frequency, so ``PE[pos + k]``
  is a fixed linear map of ``PE[pos]`` for every ``k``: relative offsets are
  easy to attend to.  It is defined at every position; no table limits the
  length.
* Learned: a table ``[max_len, D]`` trained with the model (BERT, GPT).  Positions
  beyond ``max_len`` have no entry, and asking for one is an error naming the limit.

Both take a ``start`` position, so that a decoder generating one token at a
time adds the encoding of the position it is at (incremental decoding).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...errors import ConfigError

__all__ = ["sinusoidal_encoding", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
           "POSITIONAL_ENCODINGS", "positional_encoding"]

#: the names accepted by :func:`positional_encoding`
POSITIONAL_ENCODINGS = ("sinusoidal", "learned", "none")


def _positive(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner} {name} must be a positive integer; got {value!r}")
    return value


def sinusoidal_encoding(length: int, d_model: int, *, start: int = 0, base: float = 10000.0,
                        dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The table ``PE[pos, :]`` for ``pos = start … start + length − 1`` (Vaswani et al. 2017, §3.5).

    Returns:
        ``[length, d_model]``; even features are sines, odd ones cosines (an odd ``d_model`` drops the
        last cosine).
    """
    pos = torch.arange(start, start + length, dtype=torch.float64, device=device)[:, None]  # (T, 1)
    i2 = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)  # 2i
    angle = pos / base ** (i2 / d_model)  # (T, ceil(D/2))
    pe = torch.zeros(length, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


def _check_inputs(owner: str, x: Any, d_model: int, start: Any) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != d_model:
        got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{owner} expects embeddings [B, T, {d_model}] (d_model); got {got}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"{owner} start must be an integer >= 0 (the position of the first token); got {start!r}")


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal encoding (no parameters): ``x + PE[start : start + T]``.

    Args:
        d_model: D.
        dropout: dropout on the sum (the paper's ``P_drop`` on embeddings plus encodings).

    Shape:
        ``forward(x [B, T, D], start=0)`` -> ``[B, T, D]``.
    """

    def __init__(self, *, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = _positive("SinusoidalPositionalEncoding", "d_model", d_model)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("_table", torch.zeros(0, d_model), persistent=False)

    def encoding(self, length: int, start: int = 0, *, like: torch.Tensor | None = None) -> torch.Tensor:
        """``PE[start : start + length]`` as ``[length, D]`` (cached; grown when a longer one is asked)."""
        end = start + length
        if self._table.shape[0] < end:
            size = max(end, 2 * self._table.shape[0], 64)
            self._table = sinusoidal_encoding(size, self.d_model, dtype=self._table.dtype, device=self._table.device)
        pe = self._table[start:end]
        return pe if like is None else pe.to(like.dtype)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        _check_inputs("SinusoidalPositionalEncoding", x, self.d_model, start)
        return self.dropout(x + self.encoding(x.shape[1], start, like=x))


class LearnedPositionalEncoding(nn.Module):
    """Adds a learned position embedding: ``x + P[start : start + T]`` with ``P`` a ``[max_len, D]`` table.

    Args:
        max_len: the number of positions the table holds (the longest sequence the model reads).
        d_model: D.
        dropout: dropout on the sum.

    Raises:
        ValueError: (in ``forward``) ``start + T > max_len``.

    Shape:
        ``forward(x [B, T, D], start=0)`` -> ``[B, T, D]``.
    """

    def __init__(self, *, max_len: int, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.max_len = _positive("LearnedPositionalEncoding", "max_len", max_len)
        self.d_model = _positive("LearnedPositionalEncoding", "d_model", d_model)
        self.weight = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.weight, std=0.02)  # GPT-2's initialisation
        self.dropout = nn.Dropout(dropout)

    def encoding(self, length: int, start: int = 0, *, like: torch.Tensor | None = None) -> torch.Tensor:
        end = start + length
        if end > self.max_len:
            raise ValueError(f"the sequence reaches position {end} (start={start} + T={length}) but the learned "
                             f"positional table holds max_len={self.max_len} positions; shorten the input or build "
                             f"the model with a larger max_len")
        return self.weight[start:end]

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        _check_inputs("LearnedPositionalEncoding", x, self.d_model, start)
        return self.dropout(x + self.encoding(x.shape[1], start))


def positional_encoding(kind: str, *, d_model: int, max_len: int, dropout: float = 0.0) -> nn.Module:
    """``"sinusoidal"``, ``"learned"`` (a ``max_len`` table) or ``"none"`` (dropout only: no order information)."""
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(d_model=d_model, dropout=dropout)
    if kind == "learned":
        return LearnedPositionalEncoding(max_len=max_len, d_model=d_model, dropout=dropout)
    if kind == "none":
        return _NoPosition(dropout)
    raise ConfigError(f"positional must be one of {', '.join(POSITIONAL_ENCODINGS)}; got {kind!r}")


class _NoPosition(nn.Module):
    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.dropout(x)
