"""Transformer layers: layer normalisation, encoder and decoder layers and stacks (notes §4.4.1–4.4.3;
Vaswani et al. 2017, §3.1–3.3; Xiong et al. 2020 for pre-norm).

Layer normalisation (§4.4.3 "Layer normalization"; Ba et al. 2016) normalises
each vector on its own, over its D features, then applies a trainable scale
and bias shared by every position::

    LN(x) = γ ⊙ (x − μ) / √(σ² + ε) + β,    μ = mean_d x_d,  σ² = mean_d (x_d − μ)²

An encoder layer (§4.4.1) is self-attention followed by the position-wise
feed-forward network ``FFN(x) = W_2 ReLU(W_1 x + b_1) + b_2`` (§4.4.3, the same
two linear layers at every position), each wrapped in a residual connection
and a layer norm.  A decoder layer (§4.4.2–4.4.3) has three sub-layers:
masked self-attention (the look-ahead mask in training), decoder–encoder
attention (queries from the decoder, keys and values from the encoder's
states) and the FFN.  Where the norm goes:

* post-norm (the paper): ``x = LN(x + Sublayer(x))``;
* pre-norm (``norm_first=True``; GPT-2, Xiong et al. 2020): ``x = x + Sublayer(LN(x))``,
  which keeps an identity path from the input to the output and trains
  without a warm-up of the learning rate; a final LN closes the stack.

Parameter names and layouts are those of ``nn.TransformerEncoderLayer``,
``nn.TransformerDecoderLayer`` and ``nn.Transformer`` (``batch_first=True``),
so their state dicts load into ours with ``strict=True`` and the outputs agree
(``tests/nn/test_transformer.py``).

Incremental decoding (§4.4.2 "At inference time": one token at a time): each
self-attention keeps the keys and values of the tokens already seen (the
key/value cache), so a new token costs one row of attention instead of
re-running the whole prefix; decoder–encoder attention projects the
encoder's states once.  :meth:`TransformerDecoder.step` and
:meth:`TransformerEncoderLayer.compute` with ``past`` give the same outputs as
the full computation with the look-ahead mask.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..masks import causal_mask
from .attention import KeyValue, MultiHeadAttention

__all__ = ["layer_norm", "LayerNorm", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "Transformer"]


def layer_norm(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
               eps: float = 1e-5) -> torch.Tensor:
    """``γ ⊙ (x − μ) / √(σ² + ε) + β`` over the last axis, written out (Ba et al. 2016; ≡ ``F.layer_norm``).

    Shape:
        ``x [..., D]``, ``weight``/``bias`` ``[D]`` -> ``[..., D]``.
    """
    mu = x.mean(dim=-1, keepdim=True)
    var = (x - mu).pow(2).mean(dim=-1, keepdim=True)  # the biased variance, as the paper and F.layer_norm
    y = (x - mu) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis with trainable ``γ`` (``weight``) and ``β`` (``bias``).

    Args:
        d_model: D, the normalised size.
        eps: ε added to the variance.
        backend: ``"fused"`` (``F.layer_norm``) or ``"written"`` (:func:`layer_norm`).

    Shape:
        ``[..., D]`` -> ``[..., D]``.
    """

    def __init__(self, d_model: int, *, eps: float = 1e-5, backend: str = "fused") -> None:
        super().__init__()
        if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model <= 0:
            raise ConfigError(f"LayerNorm d_model must be a positive integer; got {d_model!r}")
        if backend not in ("fused", "written"):
            raise ConfigError(f"LayerNorm backend must be 'fused' or 'written'; got {backend!r}")
        self.d_model, self.eps, self.backend = d_model, float(eps), backend
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"LayerNorm expects [..., {self.d_model}] (d_model); got {list(x.shape)}")
        if self.backend == "written":
            return layer_norm(x, self.weight, self.bias, self.eps)
        return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}, backend={self.backend!r}"


def _self_attention(attn: MultiHeadAttention, x: torch.Tensor, mask: torch.Tensor | None, past: KeyValue | None,
                    cache: bool, need_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None, KeyValue | None]:
    """Self-attention of ``x`` after the cached keys/values ``past``; the keys/values to cache when ``cache``."""
    if past is None and not cache:
        out, w = attn(x, mask=mask, need_weights=need_weights)
        return out, w, None
    q = attn.project_query(x)
    k, v = attn.project_kv(x)
    if past is not None:
        if past[0].shape[0] != k.shape[0]:
            raise ValueError(f"the key/value cache holds {past[0].shape[0]} sequences; the input has {k.shape[0]}")
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, h, T_past + T, d)
    if mask is None and x.shape[1] > 1:  # decoding: the new tokens see the past and, causally, each other
        mask = causal_mask(x.shape[1], k.shape[2], device=x.device)
    out, w = attn.attend(q, (k, v), mask, need_weights=need_weights)
    return out, w, (k, v)


class _Layer(nn.Module):
    """What encoder and decoder layers share: the FFN and its sub-layer."""

    def _init_common(self, d_model: int, num_heads: int, dim_feedforward: int, dropout: float, norm_first: bool,
                     layer_norm_eps: float, backend: str) -> None:
        owner = type(self).__name__
        for n, v in (("d_model", d_model), ("num_heads", num_heads), ("dim_feedforward", dim_feedforward)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConfigError(f"{owner} {n} must be a positive integer; got {v!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"{owner} dropout must be a number in [0, 1); got {dropout!r}")
        self.norm_first = bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model=d_model, num_heads=num_heads, dropout=dropout, backend=backend)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The position-wise FFN ``W_2 ReLU(W_1 x + b_1) + b_2`` (dropout after the ReLU, as PyTorch)."""
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class TransformerEncoderLayer(_Layer):
    """Self-attention and FFN, each with a residual connection and a layer norm (notes §4.4.1, §4.4.3).

    A decoder-only model (GPT) is a stack of these with the look-ahead mask.

    Args:
        d_model: D.
        num_heads: h (divides D).
        dim_feedforward: hidden size of the FFN (the paper's 4 D).
        dropout: on the attention weights, after the ReLU and on each sub-layer's output.
        norm_first: pre-norm instead of the paper's post-norm.
        layer_norm_eps: ε of the layer norms.
        backend: attention backend (:class:`~an2dl.nn.transformer.MultiHeadAttention`).

    Shape:
        ``forward(x [B, T, D], mask=None)`` -> ``[B, T, D]``; ``mask`` as in ``MultiHeadAttention``.
    """

    def __init__(self, *, d_model: int, num_heads: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 norm_first: bool = False, layer_norm_eps: float = 1e-5, backend: str = "fused") -> None:
        super().__init__()
        self._init_common(d_model, num_heads, dim_feedforward, dropout, norm_first, layer_norm_eps, backend)

    def compute(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, past: KeyValue | None = None,
                cache: bool = False, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None, KeyValue | None]:
        """The layer with the options of incremental decoding.

        Args:
            x: ``[B, T, D]``, the new positions.
            mask: for the new queries against past + new keys; ``None`` with ``past`` or ``cache``:
                the look-ahead mask (decoding is causal), without them: every key.
            past: keys/values of earlier positions ``([B, h, T_past, d], ·)``.
            cache: return the keys/values to pass as ``past`` at the next call.
            need_weights: return the attention weights ``[B, h, T, T_past + T]``.

        Returns:
            ``(output [B, T, D], weights or None, keys/values or None)``.
        """
        h = self.norm1(x) if self.norm_first else x
        a, w, kv = _self_attention(self.self_attn, h, mask, past, cache, need_weights)
        if self.norm_first:
            x = x + self.dropout1(a)
            x = x + self.dropout2(self.feed_forward(self.norm2(x)))
        else:
            x = self.norm1(x + self.dropout1(a))
            x = self.norm2(x + self.dropout2(self.feed_forward(x)))
        return x, w, kv

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.compute(x, mask)[0]


class TransformerDecoderLayer(_Layer):
    """Masked self-attention, decoder–encoder attention and FFN (notes §4.4.2–4.4.3).

    Arguments as :class:`TransformerEncoderLayer`.

    Shape:
        ``forward(x [B, T, D], memory [B, S, D], tgt_mask=None, memory_mask=None)`` -> ``[B, T, D]``;
        ``tgt_mask`` broadcasts to ``[B, h, T, T]`` (the look-ahead mask in training),
        ``memory_mask`` to ``[B, h, T, S]`` (the source padding).
    """

    def __init__(self, *, d_model: int, num_heads: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 norm_first: bool = False, layer_norm_eps: float = 1e-5, backend: str = "fused") -> None:
        super().__init__()
        self._init_common(d_model, num_heads, dim_feedforward, dropout, norm_first, layer_norm_eps, backend)
        self.multihead_attn = MultiHeadAttention(d_model=d_model, num_heads=num_heads, dropout=dropout,
                                                 backend=backend)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout3 = nn.Dropout(dropout)

    def memory_kv(self, memory: torch.Tensor) -> KeyValue:
        """The encoder's states projected to this layer's keys and values (once per source)."""
        return self.multihead_attn.project_kv(memory)

    def compute(self, x: torch.Tensor, memory: torch.Tensor | KeyValue, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, *, past: KeyValue | None = None, cache: bool = False,
                need_weights: bool = False
                ) -> tuple[torch.Tensor, tuple[torch.Tensor | None, torch.Tensor | None], KeyValue | None]:
        """The layer with the options of incremental decoding (see :meth:`TransformerEncoderLayer.compute`).

        ``memory`` is the encoder's output ``[B, S, D]`` or its projection :meth:`memory_kv`.

        Returns:
            ``(output, (self-attention weights, decoder–encoder weights), keys/values or None)``.
        """
        def cross(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            attn = self.multihead_attn
            kv = memory if isinstance(memory, tuple) else attn.project_kv(memory)
            return attn.attend(attn.project_query(h), kv, memory_mask, need_weights=need_weights)

        if self.norm_first:
            a, w_self, kv = _self_attention(self.self_attn, self.norm1(x), tgt_mask, past, cache, need_weights)
            x = x + self.dropout1(a)
            c, w_cross = cross(self.norm2(x))
            x = x + self.dropout2(c)
            x = x + self.dropout3(self.feed_forward(self.norm3(x)))
        else:
            a, w_self, kv = _self_attention(self.self_attn, x, tgt_mask, past, cache, need_weights)
            x = self.norm1(x + self.dropout1(a))
            c, w_cross = cross(x)
            x = self.norm2(x + self.dropout2(c))
            x = self.norm3(x + self.dropout3(self.feed_forward(x)))
        return x, (w_self, w_cross), kv

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.compute(x, memory, tgt_mask, memory_mask)[0]


# ---------------------------------------------------------------------------------------------------------------------
def _check_layers(owner: str, num_layers: Any) -> int:
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers <= 0:
        raise ConfigError(f"{owner} num_layers must be a positive integer; got {num_layers!r}")
    return num_layers


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerEncoderLayer` and an optional final layer norm (``nn.TransformerEncoder``).

    Args:
        num_layers: N.
        final_norm: a layer norm after the last layer (``nn.Transformer`` always has one; pre-norm
            stacks need it).
        **layer: the arguments of :class:`TransformerEncoderLayer`.

    Shape:
        ``forward(x [B, T, D], mask=None)`` -> ``[B, T, D]``; with ``need_weights=True`` also the
        list of every layer's weights ``[B, h, T, T]``.
    """

    def __init__(self, *, num_layers: int, final_norm: bool = True, **layer: Any) -> None:
        super().__init__()
        _check_layers("TransformerEncoder", num_layers)
        self.layers = nn.ModuleList(TransformerEncoderLayer(**layer) for _ in range(num_layers))
        d_model = self.layers[0].linear1.in_features
        self.norm = LayerNorm(d_model, eps=layer.get("layer_norm_eps", 1e-5)) if final_norm else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, need_weights: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        weights = []
        for layer in self.layers:
            x, w, _ = layer.compute(x, mask, need_weights=need_weights)
            weights.append(w)
        if self.norm is not None:
            x = self.norm(x)
        return (x, weights) if need_weights else x


class TransformerDecoder(nn.Module):
    """A stack of :class:`TransformerDecoderLayer` and an optional final layer norm (``nn.TransformerDecoder``).

    Shape:
        ``forward(x [B, T, D], memory [B, S, D], tgt_mask=None, memory_mask=None)`` -> ``[B, T, D]``.
        Incremental decoding: ``kv = memory_kv(memory)`` once, then
        ``step(x_new [B, T_new, D], kv, memory_mask, past)`` -> ``(y [B, T_new, D], past)`` with
        ``past`` ``None`` at the first call.
    """

    def __init__(self, *, num_layers: int, final_norm: bool = True, **layer: Any) -> None:
        super().__init__()
        _check_layers("TransformerDecoder", num_layers)
        self.layers = nn.ModuleList(TransformerDecoderLayer(**layer) for _ in range(num_layers))
        d_model = self.layers[0].linear1.in_features
        self.norm = LayerNorm(d_model, eps=layer.get("layer_norm_eps", 1e-5)) if final_norm else None

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.norm is not None else x

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, *, need_weights: bool = False) -> Any:
        weights = []
        for layer in self.layers:
            x, w, _ = layer.compute(x, memory, tgt_mask, memory_mask, need_weights=need_weights)
            weights.append(w)
        return (self._finish(x), weights) if need_weights else self._finish(x)

    def memory_kv(self, memory: torch.Tensor) -> list[KeyValue]:
        """Every layer's keys and values of the encoder's states, computed once per source."""
        return [layer.memory_kv(memory) for layer in self.layers]

    def step(self, x: torch.Tensor, memory_kv: list[KeyValue], memory_mask: torch.Tensor | None = None,
             past: list[KeyValue] | None = None) -> tuple[torch.Tensor, list[KeyValue]]:
        """New positions ``x [B, T_new, D]`` after the cached ones; returns the output and the grown cache."""
        new_past = []
        for i, layer in enumerate(self.layers):
            x, _, kv = layer.compute(x, memory_kv[i], None, memory_mask, past=None if past is None else past[i],
                                     cache=True)
            new_past.append(kv)
        return self._finish(x), new_past


class Transformer(nn.Module):
    """The encoder–decoder Transformer (notes §4.4, Figure 4.1; Vaswani et al. 2017), ``nn.Transformer``'s layout.

    Args:
        d_model: D.
        num_heads: h (divides D).
        num_encoder_layers, num_decoder_layers: N of each stack.
        dim_feedforward: FFN hidden size.
        dropout: dropout everywhere inside the layers.
        norm_first: pre-norm layers.
        layer_norm_eps: ε.
        backend: attention backend.

    Shape:
        ``forward(src [B, S, D], tgt [B, T, D], src_mask=None, tgt_mask=None, memory_mask=None)`` ->
        ``[B, T, D]``; masks are bool, True = may attend (``src_mask`` for the encoder's
        self-attention, ``tgt_mask`` for the decoder's, ``memory_mask`` for decoder–encoder attention).
    """

    def __init__(self, *, d_model: int = 512, num_heads: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 norm_first: bool = False, layer_norm_eps: float = 1e-5, backend: str = "fused") -> None:
        super().__init__()
        layer = {"d_model": d_model, "num_heads": num_heads, "dim_feedforward": dim_feedforward, "dropout": dropout,
                 "norm_first": norm_first, "layer_norm_eps": layer_norm_eps, "backend": backend}
        self.encoder = TransformerEncoder(num_layers=num_encoder_layers, **layer)
        self.decoder = TransformerDecoder(num_layers=num_decoder_layers, **layer)
        self.d_model, self.num_heads = d_model, num_heads

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, src_mask: torch.Tensor | None = None,
                tgt_mask: torch.Tensor | None = None, memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        if src.dim() != 3 or tgt.dim() != 3 or src.shape[0] != tgt.shape[0]:
            raise ValueError(f"Transformer expects src [B, S, D] and tgt [B, T, D] with the same B; got "
                             f"src {list(src.shape)}, tgt {list(tgt.shape)}")
        memory = self.encoder(src, src_mask)
        return self.decoder(tgt, memory, tgt_mask, memory_mask)
