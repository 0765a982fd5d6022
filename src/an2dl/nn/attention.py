"""Attention scores of the encoder–decoder (notes §4.3; Bahdanau et al. 2015; Luong et al. 2015).

At decoding step t the decoder state ``h_t`` (the *query*) is compared with
every encoder output ``s_k`` (the *keys*, k = 1..T_k) by a score function;
a softmax over k turns the scores into attention weights and the context is
their weighted sum of the encoder outputs (the *values*)::

    a_tk = softmax_k s(h_t, s_k)        c_t = Σ_k a_tk s_k

Score functions (notes §4.3):

* dot — ``s(h_t, s_k) = h_tᵀ s_k``, no parameters
  (:class:`DotAttention`; equals ``F.scaled_dot_product_attention`` with ``scale=1``);
* bilinear, Luong's "general" — ``s(h_t, s_k) = h_tᵀ W s_k`` (:class:`BilinearAttention`);
* Luong's "concat" — ``s(h_t, s_k) = v_aᵀ tanh(W_a [h_t; s_k])`` with ``v_a`` of
  the decoder's size (:class:`ConcatAttention`);
* MLP, Bahdanau's — ``s(h_t, s_k) = w_2ᵀ tanh(W_1 [h_t; s_k])`` with an attention
  size of its own (:class:`MLPAttention`).  ``W_1 [h; s] = W_h h + W_s s``: the
  two halves are kept apart so that ``W_s s_k`` is computed once per sequence.

Luong's decoder then mixes the context into its output, the attentional hidden
state ``h̃_t = tanh(W_c [c_t; h_t])`` (:class:`AttentionalHidden`, the
"tanh W_C[...]" of §4.3).

Padding: ``mask`` is boolean with True = may attend (:mod:`an2dl.nn.masks`);
masked keys get exactly zero weight.  Every query must see at least one key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["masked_softmax", "attend", "Attention", "DotAttention", "BilinearAttention", "ConcatAttention",
           "MLPAttention", "AttentionalHidden", "ATTENTION_SCORES", "attention_layer"]


def _positive(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner} {name} must be a positive integer; got {value!r}")
    return value


def _check_mask(mask: torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor | None:
    """Broadcast a ``[B, T_k]`` or ``[B, T_q, T_k]`` boolean mask to the scores ``[B, T_q, T_k]``."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a boolean tensor (True = may attend); got {got}")
    if mask.dim() == 2:
        mask = mask[:, None, :]  # (B, 1, T_k)
    B, T_q, T_k = scores.shape
    if mask.dim() != 3 or mask.shape[0] not in (1, B) or mask.shape[1] not in (1, T_q) or mask.shape[2] != T_k:
        raise ValueError(f"mask must have shape [B, T_k] or [B, T_q, T_k] = [{B}, {T_q}, {T_k}]; got {list(mask.shape)}")
    if not bool(mask.any(dim=-1).all()):
        raise ValueError("mask leaves a query with no key to attend (a row of all False); every sequence needs "
                         "at least one real step")
    return mask


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the keys with masked keys set to exactly zero.

    Args:
        scores: ``[B, T_q, T_k]``.
        mask: bool ``[B, T_k]`` or ``[B, T_q, T_k]``, True = may attend; ``None``: every key.

    Returns:
        weights ``[B, T_q, T_k]``, non-negative, summing to 1 over the unmasked keys.
    """
    mask = _check_mask(mask, scores)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1)


def attend(scores: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights ``a = softmax_k(scores)`` and context ``c = a @ values``.

    Shape:
        scores ``[B, T_q, T_k]``, values ``[B, T_k, D_v]`` -> context ``[B, T_q, D_v]``, weights ``[B, T_q, T_k]``.
    """
    weights = masked_softmax(scores, mask)
    return weights @ values, weights  # (B, T_q, D_v), (B, T_q, T_k)


def _check_inputs(owner: str, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None,
                  query_size: int | None, key_size: int | None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    squeeze = False
    for name, t in (("query", query), ("keys", keys)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{owner} {name} must be a floating-point tensor; got {type(t).__name__}")
    if query.dim() == 2:  # one query per sequence: [B, D]
        query, squeeze = query[:, None, :], True
    if query.dim() != 3 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
        raise ValueError(f"{owner} expects query [B, T_q, D_q] (or [B, D_q]) and keys [B, T_k, D_k] with the same B; "
                         f"got query {list(query.shape)}, keys {list(keys.shape)}")
    if query_size is not None and query.shape[-1] != query_size:
        raise ValueError(f"{owner} query must have {query_size} features; got {query.shape[-1]}")
    if key_size is not None and keys.shape[-1] != key_size:
        raise ValueError(f"{owner} keys must have {key_size} features; got {keys.shape[-1]}")
    if values is not None and (values.dim() != 3 or values.shape[:2] != keys.shape[:2]):
        raise ValueError(f"{owner} values must be [B, T_k, D_v] matching keys {list(keys.shape[:2])}; "
                         f"got {list(values.shape)}")
    return query, keys, squeeze


# ---------------------------------------------------------------------------------------------------------------------
class Attention(nn.Module, ABC):
    """Base of the score functions: ``forward(query, keys, values=None, mask=None) -> (context, weights)``.

    Subclasses implement :meth:`score`.  ``values`` default to the keys (the
    encoder outputs are both, as in the notes).

    Shape:
        query ``[B, T_q, D_q]`` or ``[B, D_q]``; keys ``[B, T_k, D_k]``; values ``[B, T_k, D_v]``;
        mask bool ``[B, T_k]`` or ``[B, T_q, T_k]`` (True = may attend) ->
        context ``[B, T_q, D_v]``, weights ``[B, T_q, T_k]`` (without ``T_q`` for a ``[B, D_q]`` query).
    """

    query_size: int | None = None
    key_size: int | None = None

    @abstractmethod
    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, T_q, T_k]`` of queries ``[B, T_q, D_q]`` against keys ``[B, T_k, D_k]``."""

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        owner = type(self).__name__
        query, keys, squeeze = _check_inputs(owner, query, keys, values, self.query_size, self.key_size)
        context, weights = attend(self.score(query, keys), keys if values is None else values, mask)
        if squeeze:
            return context[:, 0], weights[:, 0]
        return context, weights


class DotAttention(Attention):
    """Dot-product score ``s(h_t, s_k) = h_tᵀ s_k`` (notes §4.3; Luong et al. 2015 "dot"); no parameters.

    Unscaled: ``F.scaled_dot_product_attention(q, k, v, scale=1.0)`` computes the same context.
    """

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(f"DotAttention needs query and keys of the same size; got {query.shape[-1]} and "
                             f"{keys.shape[-1]} (use BilinearAttention for different sizes)")
        return query @ keys.transpose(1, 2)  # (B, T_q, T_k)


class BilinearAttention(Attention):
    """Bilinear score ``s(h_t, s_k) = h_tᵀ W s_k`` (notes §4.3; Luong et al. 2015 "general").

    Args:
        query_size: D_q, the decoder state size.
        key_size: D_k, the encoder output size.
    """

    def __init__(self, *, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size = _positive("BilinearAttention", "query_size", query_size)
        self.key_size = _positive("BilinearAttention", "key_size", key_size)
        self.W = nn.Linear(key_size, query_size, bias=False)  # W s_k: (D_k -> D_q)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return query @ self.W(keys).transpose(1, 2)  # (B, T_q, T_k)


class MLPAttention(Attention):
    """Additive score ``s(h_t, s_k) = w_2ᵀ tanh(W_1 [h_t; s_k])`` (notes §4.3; Bahdanau et al. 2015).

    ``W_1 = [W_h, W_s]`` is stored as two linear maps (``W_h`` with the bias);
    ``W_1 [h; s] = W_h h + W_s s`` is the same function.

    Args:
        query_size: D_q.
        key_size: D_k.
        attention_size: rows of ``W_1`` (the MLP's hidden units); default ``query_size``.
        bias: bias inside the tanh.
    """

    def __init__(self, *, query_size: int, key_size: int, attention_size: int | None = None, bias: bool = True) -> None:
        super().__init__()
        owner = type(self).__name__
        self.query_size = _positive(owner, "query_size", query_size)
        self.key_size = _positive(owner, "key_size", key_size)
        attention_size = query_size if attention_size is None else _positive(owner, "attention_size", attention_size)
        self.W_h = nn.Linear(query_size, attention_size, bias=bias)
        self.W_s = nn.Linear(key_size, attention_size, bias=False)
        self.w_2 = nn.Linear(attention_size, 1, bias=False)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.W_h(query)[:, :, None, :] + self.W_s(keys)[:, None, :, :])  # (B, T_q, T_k, A)
        return self.w_2(hidden).squeeze(-1)  # (B, T_q, T_k)


class ConcatAttention(MLPAttention):
    """Luong's concat score ``s(h_t, s_k) = v_aᵀ tanh(W_a [h_t; s_k])`` (Luong et al. 2015, eq. 8).

    The same function as :class:`MLPAttention` with Luong's sizes: ``W_a`` has
    ``query_size`` rows and no bias.  In Luong's decoder it scores the *current*
    state h_t, in Bahdanau's the previous one (the decoder decides, see
    :class:`~an2dl.models.seq2seq.RecurrentDecoder`).
    """

    def __init__(self, *, query_size: int, key_size: int) -> None:
        super().__init__(query_size=query_size, key_size=key_size, attention_size=query_size, bias=False)


class AttentionalHidden(nn.Module):
    """Luong's attentional hidden state ``h̃_t = tanh(W_c [c_t; h_t])`` (notes §4.3; Luong et al. 2015, eq. 5).

    Args:
        context_size: D_v of the context c_t.
        query_size: D_q of the decoder state h_t.
        output_size: size of h̃_t (default ``query_size``).

    Shape:
        context ``[..., D_v]``, state ``[..., D_q]`` -> ``[..., output_size]``.
    """

    def __init__(self, *, context_size: int, query_size: int, output_size: int | None = None) -> None:
        super().__init__()
        _positive("AttentionalHidden", "context_size", context_size)
        _positive("AttentionalHidden", "query_size", query_size)
        output_size = query_size if output_size is None else _positive("AttentionalHidden", "output_size", output_size)
        self.W_c = nn.Linear(context_size + query_size, output_size, bias=False)

    def forward(self, context: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.W_c(torch.cat([context, state], dim=-1)))


#: score names accepted by :func:`attention_layer`
ATTENTION_SCORES = ("dot", "general", "concat", "mlp")


def attention_layer(score: str, *, query_size: int, key_size: int, attention_size: int | None = None) -> Attention:
    """Build the attention of ``score`` (one of :data:`ATTENTION_SCORES`; ``"bilinear"`` = ``"general"``,
    ``"bahdanau"`` = ``"mlp"``).

    Raises:
        ConfigError: an unknown score, or ``"dot"`` with different query and key sizes.
    """
    score = {"bilinear": "general", "bahdanau": "mlp", "luong": "general"}.get(score, score)
    if score == "dot":
        if query_size != key_size:
            raise ConfigError(f"dot attention needs query_size == key_size; got {query_size} and {key_size} "
                              f"(use 'general' for different sizes)")
        return DotAttention()
    if score == "general":
        return BilinearAttention(query_size=query_size, key_size=key_size)
    if score == "concat":
        return ConcatAttention(query_size=query_size, key_size=key_size)
    if score == "mlp":
        return MLPAttention(query_size=query_size, key_size=key_size, attention_size=attention_size)
    raise ConfigError(f"attention score must be one of {', '.join(ATTENTION_SCORES)}; got {score!r}")
