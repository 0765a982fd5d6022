"""The encoder–decoder Transformer for sequence-to-sequence learning (notes §4.4, Figure 4.1; Vaswani et al. 2017).

The encoder reads the whole source at once (self-attention, §4.4.1); the
decoder predicts every target position in parallel in training, each one
masked from the positions after it (§4.4.2 "At training time"), and attends
the encoder's states (decoder–encoder attention, §4.4.3).  Layout::

    src ids [B, S] -> embedding · √D + positional encoding -> encoder (N layers) -> memory [B, S, D]
    tgt_in [B, T]  -> embedding · √D + positional encoding -> decoder (N layers, memory) -> linear -> [B, T, V]

The model has the interface of :class:`~an2dl.models.seq2seq.EncoderDecoder`:
``forward(src, src_lengths, tgt_in)`` for :class:`~an2dl.tasks.seq2seq.Seq2SeqTask`,
and ``encode`` / ``step`` / ``generate`` for greedy and beam search through
:mod:`an2dl.nn.decoding`.  At inference the decoder generates one token at a
time (§4.4.2 "At inference time"); :meth:`TransformerSeq2Seq.step` keeps the
keys and values of the tokens already generated (the key/value cache), so a
step costs one row of attention per layer.

Embeddings are multiplied by ``√D`` (the paper's §3.4) so that they are not
drowned by the unit-size positional encoding.  Departure: the paper ties the
input and output embedding matrices; here they are separate.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ...data.text.specials import EOS, PAD, SOS
from ...errors import ConfigError
from ...nn.decoding import DecodeResult, beam_search, greedy_decode
from ...nn.masks import causal_mask, lengths_to_mask
from ...nn.transformer import Transformer, positional_encoding
from .._checks import check_positive_int, check_probability
from .._registry import register_model
from ..seq2seq.encoder_decoder import (
    _check_tokens,  # the same token checks and messages
    _example,  # the same toy sizes: src [B, 7], lengths, tgt [B, 5]
)

__all__ = ["TransformerSeq2Seq", "transformer"]


class TransformerSeq2Seq(nn.Module):
    """Encoder–decoder Transformer over token ids (notes §4.4).

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (with an2dl's special ids).
        d_model: D.
        num_heads: h (divides D).
        num_encoder_layers, num_decoder_layers: N of each stack.
        dim_feedforward: FFN hidden size.
        dropout: on embeddings + encodings and inside every layer.
        norm_first: pre-norm layers (default: the paper's post-norm).
        positional: ``"sinusoidal"`` (the paper), ``"learned"`` or ``"none"``.
        max_len: positions of a learned table (the longest source or target).
        backend: attention backend, ``"fused"`` or ``"written"``.

    Shape:
        ``forward(src [B, S], src_lengths [B], tgt_in [B, T])`` -> logits ``[B, T, V]`` where ``tgt_in``
        is ``<sos>`` followed by the target shifted right.
    """

    def __init__(self, *, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 128, num_heads: int = 4,
                 num_encoder_layers: int = 3, num_decoder_layers: int = 3, dim_feedforward: int = 512,
                 dropout: float = 0.1, norm_first: bool = False, positional: str = "sinusoidal", max_len: int = 256,
                 backend: str = "fused") -> None:
        super().__init__()
        owner = "TransformerSeq2Seq"
        for n, v in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size), ("d_model", d_model),
                     ("num_heads", num_heads), ("max_len", max_len)):
            check_positive_int(owner, n, v)
        if d_model % num_heads:
            raise ConfigError(f"{owner} d_model must be divisible by num_heads (each head gets d_model / num_heads "
                              f"features); got d_model={d_model}, num_heads={num_heads}")
        check_probability(owner, "dropout", dropout)
        self.src_vocab_size, self.vocab_size, self.d_model = src_vocab_size, tgt_vocab_size, d_model
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=PAD)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=PAD)
        self.src_position = positional_encoding(positional, d_model=d_model, max_len=max_len, dropout=dropout)
        self.tgt_position = positional_encoding(positional, d_model=d_model, max_len=max_len, dropout=dropout)
        self.transformer = Transformer(d_model=d_model, num_heads=num_heads, num_encoder_layers=num_encoder_layers,
                                       num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                       dropout=dropout, norm_first=norm_first, backend=backend)
        self.head = nn.Linear(d_model, tgt_vocab_size)
        self._scale = math.sqrt(d_model)

    def _embed_tgt(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.tgt_position(self.tgt_embedding(tokens) * self._scale, start)

    # ---- the step-function interface of an2dl.nn.decoding (batch on axis 0 of every tensor)
    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
        """Run the encoder; the decoding state ``{"memory_kv": per layer (k, v) [B, h, S, d], "mask": [B, 1, 1, S],
        "past": None}`` (``past`` grows into every layer's cached keys/values)."""
        _check_tokens("src", src, self.src_vocab_size)
        lengths = torch.as_tensor(lengths, device=src.device)
        mask = lengths_to_mask(lengths, src.shape[1])[:, None, None, :]  # (B, 1, 1, S): the source padding
        x = self.src_position(self.src_embedding(src) * self._scale)
        memory = self.transformer.encoder(x, mask)
        return {"memory_kv": self.transformer.decoder.memory_kv(memory), "mask": mask, "past": None}

    def step(self, tokens: torch.Tensor, state: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Step function for :mod:`an2dl.nn.decoding`: ``tokens [N]`` -> ``(log_probs [N, V], state)``."""
        past = state["past"]
        start = 0 if past is None else past[0][0].shape[2]
        x = self._embed_tgt(tokens[:, None], start)  # (N, 1, D)
        y, past = self.transformer.decoder.step(x, state["memory_kv"], state["mask"], past)
        return self.head(y[:, -1]).log_softmax(dim=-1), {**state, "past": past}

    # ---- training
    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor, *,
                teacher_forcing: float = 1.0, return_attention: bool = False) -> Any:
        """Logits ``[B, T, V]`` of every target position, computed in parallel under the look-ahead mask.

        With ``return_attention`` also the attention weights: ``{"encoder": [N × [B, h, S, S]],
        "decoder_self": [N × [B, h, T, T]], "decoder_cross": [N × [B, h, T, S]]}``.

        Raises:
            ConfigError: ``teacher_forcing < 1`` (every position is predicted from the ground-truth
                prefix at once; feeding the model's own tokens would need sequential decoding).
        """
        if float(teacher_forcing) != 1.0:
            raise ConfigError(f"TransformerSeq2Seq trains every target position in parallel from the ground truth; "
                              f"teacher_forcing must be 1.0, got {teacher_forcing!r}")
        _check_tokens("tgt_in", tgt_in, self.vocab_size)
        _check_tokens("src", src, self.src_vocab_size)
        lengths = torch.as_tensor(src_lengths, device=src.device)
        if lengths.shape != (src.shape[0],):
            raise ValueError(f"src_lengths must have shape [B] = [{src.shape[0]}]; got {list(lengths.shape)}")
        src_mask = lengths_to_mask(lengths, src.shape[1])[:, None, None, :]  # (B, 1, 1, S)
        tgt_mask = causal_mask(tgt_in.shape[1], device=tgt_in.device)  # (T, T) look-ahead
        x = self.src_position(self.src_embedding(src) * self._scale)
        t = self._embed_tgt(tgt_in)
        tr = self.transformer
        if not return_attention:
            memory = tr.encoder(x, src_mask)
            return self.head(tr.decoder(t, memory, tgt_mask, src_mask))
        memory, enc_w = tr.encoder(x, src_mask, need_weights=True)
        y, dec_w = tr.decoder(t, memory, tgt_mask, src_mask, need_weights=True)
        return self.head(y), {"encoder": enc_w, "decoder_self": [w[0] for w in dec_w],
                              "decoder_cross": [w[1] for w in dec_w]}

    # ---- inference
    @torch.no_grad()
    def generate(self, src: torch.Tensor, src_lengths: torch.Tensor, *, max_length: int, beam_width: int = 1,
                 length_penalty: float = 0.0) -> DecodeResult:
        """Free-running decoding with the key/value cache: greedy (``beam_width=1``) or beam search."""
        was_training = self.training
        self.eval()
        try:
            state = self.encode(src, src_lengths)
            B = src.shape[0]
            if beam_width == 1:
                return greedy_decode(self.step, state, batch_size=B, max_length=max_length, sos=SOS, eos=EOS,
                                     pad=PAD, device=src.device)
            return beam_search(self.step, state, batch_size=B, beam_width=beam_width, max_length=max_length,
                               length_penalty=length_penalty, sos=SOS, eos=EOS, pad=PAD, device=src.device)
        finally:
            self.train(was_training)


@register_model("transformer", example=_example)
def transformer(*, src_vocab_size: int = 14, tgt_vocab_size: int = 14, d_model: int = 32, num_heads: int = 4,
                num_encoder_layers: int = 2, num_decoder_layers: int = 2, dim_feedforward: int = 64,
                dropout: float = 0.1, norm_first: bool = False, positional: str = "sinusoidal", max_len: int = 256,
                backend: str = "fused") -> TransformerSeq2Seq:
    """Encoder–decoder Transformer (notes §4.4); small defaults, the sizes of ``seq2seq_rnn``'s toy tasks."""
    return TransformerSeq2Seq(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, d_model=d_model,
                              num_heads=num_heads, num_encoder_layers=num_encoder_layers,
                              num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                              dropout=dropout, norm_first=norm_first, positional=positional, max_len=max_len,
                              backend=backend)
