"""Scaled dot-product and multi-head attention (notes §4.4.1–4.4.3; Vaswani et al. 2017, §3.2).

Every query ``q_i`` is compared with every key ``k_j`` by a dot product
scaled by ``1/√d`` (``d`` the size of a query), a softmax over the keys turns
the scores into weights and the output is the weighted sum of the values::

    Attention(Q, K, V) = softmax(Q Kᵀ / √d) V

The scaling keeps the scores' variance near 1 when the entries of ``q`` and
``k`` have unit variance, so the softmax does not saturate as ``d`` grows
(Vaswani et al. 2017, footnote 4).  Masks are boolean with **True = may
attend** (DESIGN §4, :mod:`an2dl.nn.masks`); a masked key gets exactly zero
weight.  Dropout, when asked, falls on the weights (as in the paper's
reference code and ``nn.MultiheadAttention``).

Two paths compute the same function:

* :func:`scaled_dot_product_attention` — the equation written out; it also
  returns the weights (for the attention maps of the reports);
* :func:`fused_attention` — PyTorch's ``F.scaled_dot_product_attention``
  behind the same checks; the models use it unless the weights are asked for.
  ``tests/nn/test_transformer.py`` proves both equal in float64, values and
  gradients, with padding and look-ahead masks.

Multi-head attention (§4.4.1, "Multi-head attention"): ``h`` heads each attend
in a subspace of size ``d_model / h``; their outputs are concatenated and
projected back, so the heads share the capacity of one full-size attention::

    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    MultiHead(Q, K, V) = [head_1; …; head_h] W^O

:class:`MultiHeadAttention` stores its weights as ``nn.MultiheadAttention``
does (``in_proj_weight`` = ``[W^Q; W^K; W^V]``, ``out_proj``), so the state
dicts of the two load into each other.  The pieces (:meth:`~MultiHeadAttention.project_query`,
:meth:`~MultiHeadAttention.project_kv`, :meth:`~MultiHeadAttention.attend`)
let a decoder keep the keys and values of earlier steps (the key/value cache of
incremental decoding, §4.4.2 "At inference time").
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

__all__ = ["ATTENTION_BACKENDS", "tracing", "check_attention_mask", "scaled_dot_product_attention", "fused_attention",
           "MultiHeadAttention", "KeyValue"]

#: ``"fused"``: ``F.scaled_dot_product_attention``; ``"written"``: the equation written out
ATTENTION_BACKENDS = ("fused", "written")

#: keys and values of one attention, split into heads: ``(k [B, H, T_k, d], v [B, H, T_k, d])``
KeyValue = tuple[torch.Tensor, torch.Tensor]


def tracing() -> bool:
    """Whether the code runs under ``torch.export`` / ``torch.compile`` / JIT tracing, where checks that read
    tensor values (a data-dependent branch) cannot run; the ONNX export goes through ``torch.export``."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()


def check_attention_mask(mask: Any, scores_shape: torch.Size | tuple[int, ...], *, name: str = "mask"
                         ) -> torch.Tensor | None:
    """Check that ``mask`` is boolean, broadcasts to the scores and leaves every query a key.

    Args:
        mask: bool tensor (True = may attend) or ``None``.
        scores_shape: the shape of the scores ``[..., T_q, T_k]``.
        name: the argument's name in the messages.

    Returns:
        ``mask`` unchanged.

    Raises:
        TypeError: ``mask`` is not a boolean tensor.
        ValueError: it does not broadcast to ``scores_shape``, or some query may attend no key.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"{name} must be a boolean tensor (True = may attend); got {got} "
                        f"(for an additive float mask use ~torch.isinf(mask))")
    target = tuple(scores_shape)
    try:
        ok = mask.dim() >= 1 and torch.broadcast_shapes(mask.shape, target) == target
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must broadcast to the attention scores {list(target)} ([..., T_q, T_k]); "
                         f"got shape {list(mask.shape)}")
    if not tracing() and not bool(mask.any(dim=-1).all()):
        raise ValueError(f"{name} leaves a query with no key to attend (a row of all False); every query needs "
                         f"at least one key (padded queries too: mask padded keys only)")
    return mask


def _check_qkv(owner: str, query: Any, key: Any, value: Any) -> None:
    for n, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 2:
            got = f"{t.dtype} {list(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise TypeError(f"{owner} {n} must be a floating-point tensor [..., T, d]; got {got}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{owner} needs query [..., T_q, d], key [..., T_k, d] and value [..., T_k, d_v]; got "
                         f"query {list(query.shape)}, key {list(key.shape)}, value {list(value.shape)}")


def _check_dropout(owner: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ConfigError(f"{owner} dropout_p must be a number in [0, 1); got {p!r}")
    return float(p)


def _scores_shape(query: torch.Tensor, key: torch.Tensor) -> tuple[int, ...]:
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2])
    return (*batch, query.shape[-2], key.shape[-2])


# ---------------------------------------------------------------------------------------------------------------------
def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None, *, dropout_p: float = 0.0,
                                 scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q Kᵀ / √d) V`` written out (notes §4.4.1; Vaswani et al. 2017, eq. 1).

    Args:
        query: ``[..., T_q, d]``.
        key: ``[..., T_k, d]``.
        value: ``[..., T_k, d_v]``.
        mask: bool, broadcastable to ``[..., T_q, T_k]``, True = may attend; ``None``: every key.
        dropout_p: probability of dropping a weight (inverted dropout: the kept ones are divided by
            ``1 − p``); pass 0 at evaluation.
        scale: the factor of the scores (default ``1/√d``).

    Returns:
        ``(output [..., T_q, d_v], weights [..., T_q, T_k])``; the weights are those before dropout,
        non-negative and summing to 1 over the allowed keys.

    Raises:
        TypeError, ValueError: inputs or mask of the wrong dtype or shape (:func:`check_attention_mask`).
    """
    _check_qkv("scaled_dot_product_attention", query, key, value)
    p = _check_dropout("scaled_dot_product_attention", dropout_p)
    mask = check_attention_mask(mask, _scores_shape(query, key))
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    dropped = F.dropout(weights, p) if p > 0 else weights
    return dropped @ value, weights  # (..., T_q, d_v), (..., T_q, T_k)


def fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None,
                    *, dropout_p: float = 0.0, scale: float | None = None) -> torch.Tensor:
    """The same function through ``F.scaled_dot_product_attention`` (the fast path; no weights).

    Arguments and shapes as :func:`scaled_dot_product_attention`; returns the output ``[..., T_q, d_v]``.
    """
    _check_qkv("fused_attention", query, key, value)
    p = _check_dropout("fused_attention", dropout_p)
    mask = check_attention_mask(mask, _scores_shape(query, key))
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=p, scale=scale)


# ---------------------------------------------------------------------------------------------------------------------
class MultiHeadAttention(nn.Module):
    """Multi-head attention at the same total size (notes §4.4.1; Vaswani et al. 2017, §3.2.2).

    ``d_model`` is split into ``num_heads`` heads of ``d_model / num_heads``;
    each head attends with its own projections, the heads are concatenated and
    projected by ``W^O``.  Parameters and their names are those of
    ``nn.MultiheadAttention(d_model, num_heads, batch_first=True)``:
    ``in_proj_weight [3 D, D]`` (``W^Q``, ``W^K``, ``W^V`` stacked),
    ``in_proj_bias [3 D]``, ``out_proj`` (``W^O``).

    Args:
        d_model: D, the size of queries, keys, values and output.
        num_heads: h; must divide ``d_model``.
        dropout: dropout on the attention weights (training only).
        bias: biases of the projections.
        backend: ``"fused"`` (``F.scaled_dot_product_attention``) or ``"written"``
            (:func:`scaled_dot_product_attention`); the weights, when asked for,
            always come from the written-out path.

    Shape:
        ``forward(query [B, T_q, D], key [B, T_k, D] = query, value = key, mask=None)`` ->
        ``(output [B, T_q, D], weights [B, h, T_q, T_k] or None)``.  ``mask`` is bool
        (True = may attend) of shape ``[T_q, T_k]``, ``[B, T_q, T_k]`` (as
        :func:`~an2dl.nn.masks.attention_mask` builds it) or ``[B, 1 or h, T_q, T_k]``
        (e.g. :func:`~an2dl.nn.masks.padding_mask`'s ``[B, 1, 1, T_k]``).

    Differences from ``nn.MultiheadAttention``: one boolean mask with True = may attend
    instead of ``key_padding_mask`` and ``attn_mask`` with True = ignore (pass
    ``~key_padding_mask[:, None, :]`` AND ``~attn_mask``); the weights are never averaged over heads.
    """

    def __init__(self, *, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 backend: str = "fused") -> None:
        super().__init__()
        for n, v in (("d_model", d_model), ("num_heads", num_heads)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConfigError(f"MultiHeadAttention {n} must be a positive integer; got {v!r}")
        if d_model % num_heads:
            raise ConfigError(f"MultiHeadAttention d_model must be divisible by num_heads (each head gets d_model / "
                              f"num_heads features); got d_model={d_model}, num_heads={num_heads}")
        if backend not in ATTENTION_BACKENDS:
            raise ConfigError(f"MultiHeadAttention backend must be one of {', '.join(ATTENTION_BACKENDS)}; "
                              f"got {backend!r}")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.dropout = _check_dropout("MultiHeadAttention", dropout)
        self.backend = backend
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d_model)) if bias else None
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform projections and zero biases (``nn.MultiheadAttention``'s initialisation)."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    # ---- pieces
    def _projection(self, x: torch.Tensor, part: slice) -> torch.Tensor:
        b = None if self.in_proj_bias is None else self.in_proj_bias[part]
        return F.linear(x, self.in_proj_weight[part], b)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, T, d)

    def _check_input(self, name: str, x: Any) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != self.d_model:
            got = f"{x.dtype} {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MultiHeadAttention {name} must be a float tensor [B, T, {self.d_model}] (d_model); "
                             f"got {got}")

    def project_query(self, query: torch.Tensor) -> torch.Tensor:
        """``Q W^Q`` split into heads: ``[B, T_q, D]`` -> ``[B, h, T_q, d]``."""
        self._check_input("query", query)
        D = self.d_model
        return self._split(self._projection(query, slice(0, D)))

    def project_kv(self, key: torch.Tensor, value: torch.Tensor | None = None) -> KeyValue:
        """``(K W^K, V W^V)`` split into heads: ``[B, T_k, D]`` -> two ``[B, h, T_k, d]`` (``value`` defaults to ``key``)."""
        value = key if value is None else value
        self._check_input("key", key)
        self._check_input("value", value)
        D = self.d_model
        if value is key:
            k, v = self._projection(key, slice(D, 3 * D)).chunk(2, dim=-1)
        else:
            k, v = self._projection(key, slice(D, 2 * D)), self._projection(value, slice(2 * D, 3 * D))
        return self._split(k), self._split(v)

    def attend(self, q: torch.Tensor, kv: KeyValue, mask: torch.Tensor | None = None, *,
               need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention of projected queries ``[B, h, T_q, d]`` over projected ``kv``, heads merged, ``W^O`` applied.

        Returns:
            ``(output [B, T_q, D], weights [B, h, T_q, T_k] or None)``.
        """
        k, v = kv
        B, _, T_q, _ = q.shape
        if mask is not None and isinstance(mask, torch.Tensor) and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T_q, T_k): the same mask for every head
        p = self.dropout if self.training else 0.0
        if need_weights or self.backend == "written":
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=p)
        else:
            out, weights = fused_attention(q, k, v, mask, dropout_p=p), None
        out = out.transpose(1, 2).reshape(B, T_q, self.d_model)  # (B, T_q, h·d): the heads concatenated
        return self.out_proj(out), (weights if need_weights else None)

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, *, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attention when ``key`` is omitted, else attention of ``query`` over ``key``/``value``."""
        key = query if key is None else key
        value = key if value is None else value
        if query is key and key is value:  # self-attention: one matrix product for Q, K and V
            self._check_input("query", query)
            q, k, v = self._projection(query, slice(None)).chunk(3, dim=-1)
            return self.attend(self._split(q), (self._split(k), self._split(v)), mask, need_weights=need_weights)
        q, kv = self.project_query(query), self.project_kv(key, value)
        if q.shape[0] != kv[0].shape[0]:
            raise ValueError(f"MultiHeadAttention query and key must have the same batch size B; got "
                             f"{q.shape[0]} and {kv[0].shape[0]}")
        return self.attend(q, kv, mask, need_weights=need_weights)
