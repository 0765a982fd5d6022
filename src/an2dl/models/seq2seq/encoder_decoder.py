"""The recurrent encoder–decoder, plain or with attention (notes §4.2–4.3; Sutskever et al. 2014;
Bahdanau et al. 2015; Luong et al. 2015).

The encoder reads the source ``x`` and its final state summarises it; that
state initialises the decoder, which starts from ``<sos>`` and predicts one
token at a time, ``P_t = Pr(y_t | y_<t, x, θ)``.  In training the decoder reads
the ground truth ``y_{t-1}`` (teacher forcing) or, with probability
``1 − teacher_forcing``, its own previous prediction; at inference it runs free
through :mod:`an2dl.nn.decoding` (greedy or beam search) via :meth:`EncoderDecoder.step`.

Attention (§4.3) lets every step look at all encoder outputs ``s_k`` instead of
the final state alone:

* Luong style (``"dot"``, ``"general"``, ``"concat"``): ``h_t = RNN(E y_{t-1}, h_{t-1})``,
  ``c_t = Σ_k a_tk s_k`` with ``a_t = softmax_k s(h_t, s_k)``,
  ``h̃_t = tanh(W_c [c_t; h_t])``, ``P_t = softmax(W_o h̃_t)``;
* Bahdanau style (``"mlp"``): the *previous* state scores the keys,
  ``c_t = attend(h_{t-1}, s)``, ``h_t = RNN([E y_{t-1}; c_t], h_{t-1})``,
  ``P_t = softmax(W_o [h_t; c_t])``;
* without attention: ``P_t = softmax(W_o h_t)``.

Luong's *input feeding* (``input_feeding=True``, Luong style only) makes the
previous attentional vector part of the next input,
``h_t = RNN([E y_{t-1}; h̃_{t-1}], h_{t-1})`` with ``h̃_0 = 0``, so the decoder
knows where it attended before; the gradient then flows from step ``t`` back
through ``h̃_{t-1}`` into the attention of step ``t − 1``.

A bidirectional encoder concatenates the final states of its two directions, so
the decoder's state has ``2 H`` units.  Departure: Bahdanau's maxout deep output
is left out.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...data.text.specials import EOS, PAD, SOS
from ...errors import ConfigError
from ...nn.attention import ATTENTION_SCORES, AttentionalHidden, attention_layer
from ...nn.decoding import DecodeResult, beam_search, greedy_decode
from ...nn.masks import lengths_to_mask
from ...nn.recurrent import recurrent_layer
from .._registry import register_model

__all__ = ["RecurrentEncoder", "RecurrentDecoder", "AttentionDecoderModel", "EncoderDecoder", "seq2seq_rnn"]

_CELLS = ("rnn", "lstm", "gru")


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"EncoderDecoder {name} must be a positive integer; got {value!r}")
    return value


def _check_tokens(name: str, tokens: Any, vocab_size: int) -> torch.Tensor:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
        got = f"{tokens.dtype} {list(tokens.shape)}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"{name} must be integer token ids [B, T]; got {got}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(f"{name} ids must lie in [0, {vocab_size - 1}] (the vocabulary); "
                         f"got min {int(tokens.min())}, max {int(tokens.max())}")
    return tokens


# ---------------------------------------------------------------------------------------------------------------------
class RecurrentEncoder(nn.Module):
    """Embedding + recurrent stack over the source; returns every output and the final state.

    Shape:
        src ``[B, S]`` ids, lengths ``[B]`` in ``[1, S]`` -> outputs ``[B, S, dirs * H]``
        (zero at padded steps), final state ``[L, B, dirs * H]`` (a pair ``(h, c)`` for the LSTM),
        both directions concatenated.
    """

    def __init__(self, *, vocab_size: int, embedding_dim: int, hidden_size: int, cell: str = "gru",
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.rnn = recurrent_layer(cell, input_size=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
                                   bidirectional=bidirectional, dropout=dropout)
        self.num_layers, self.dirs = num_layers, 2 if bidirectional else 1
        self.output_size = self.dirs * hidden_size

    def _merge(self, h: torch.Tensor) -> torch.Tensor:
        L, d, (_, B, H) = self.num_layers, self.dirs, h.shape
        return h.view(L, d, B, H).permute(0, 2, 1, 3).reshape(L, B, d * H)  # (L, B, dirs*H)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, Any]:
        outputs, state = self.rnn(self.embedding(src), lengths=lengths)  # (B, S, dirs*H)
        state = tuple(self._merge(s) for s in state) if isinstance(state, tuple) else self._merge(state)
        return outputs, state


class RecurrentDecoder(nn.Module):
    """One decoding step at a time, with optional attention over the encoder outputs (see the module docstring).

    Args:
        vocab_size: V of the target vocabulary.
        embedding_dim: size of the target embeddings.
        hidden_size: state size (the encoder's ``dirs * H``).
        context_size: size of the encoder outputs.
        cell, num_layers, dropout: as for :func:`~an2dl.nn.recurrent.recurrent_layer`.
        attention: ``None`` or a score of :data:`~an2dl.nn.attention.ATTENTION_SCORES`.
        input_feeding: feed the previous attentional vector h̃_{t−1} with the next input (Luong et al. 2015,
            §3.3); Luong-style attention only (``"dot"``, ``"general"``, ``"concat"``).
    """

    def __init__(self, *, vocab_size: int, embedding_dim: int, hidden_size: int, context_size: int, cell: str = "gru",
                 num_layers: int = 1, dropout: float = 0.0, attention: str | None = None,
                 input_feeding: bool = False) -> None:
        super().__init__()
        if attention is not None and attention not in ATTENTION_SCORES:
            raise ConfigError(f"attention must be None or one of {', '.join(ATTENTION_SCORES)}; got {attention!r}")
        if input_feeding and (attention is None or attention == "mlp"):
            raise ConfigError(f"input_feeding feeds Luong's attentional vector h̃_(t-1): it needs attention 'dot', "
                              f"'general' or 'concat'; got attention={attention!r}")
        self.attention_name = attention
        self.bahdanau = attention == "mlp"
        self.input_feeding = bool(input_feeding)
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        rnn_input = embedding_dim + (context_size if self.bahdanau else 0) + (hidden_size if input_feeding else 0)
        self.rnn = recurrent_layer(cell, input_size=rnn_input, hidden_size=hidden_size, num_layers=num_layers,
                                   dropout=dropout)
        self.attention = None if attention is None else attention_layer(
            attention, query_size=hidden_size, key_size=context_size)
        self.combine = AttentionalHidden(context_size=context_size, query_size=hidden_size) if (
            attention is not None and not self.bahdanau) else None
        out_in = hidden_size + (context_size if self.bahdanau else 0)
        self.out = nn.Linear(out_in, vocab_size)

    def forward(self, tokens: torch.Tensor, state: Any, keys: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """One step: ``tokens [B]`` and the state ``[L, B, H]`` -> ``(logits [B, V], state, weights [B, S] or None)``.

        With input feeding the previous attentional vector is taken as zero (the first step); :meth:`step`
        carries it between steps.
        """
        logits, state, weights, _ = self.step(tokens, state, keys, mask)
        return logits, state, weights

    def step(self, tokens: torch.Tensor, state: Any, keys: torch.Tensor, mask: torch.Tensor,
             feed: torch.Tensor | None = None) -> tuple[torch.Tensor, Any, torch.Tensor | None, torch.Tensor]:
        """One step with the previous attentional vector ``feed [B, H]`` (input feeding; ``None``: zero).

        Returns:
            ``(logits [B, V], state, weights [B, S] or None, the vector the output layer reads [B, H'])`` — h̃_t
            for Luong attention, the next step's ``feed``.
        """
        x = self.embedding(tokens)  # (B, E)
        weights = None
        if self.input_feeding:
            if feed is None:
                feed = x.new_zeros(x.shape[0], self.hidden_size)  # h̃_0 = 0
            x = torch.cat([x, feed], dim=-1)  # [E y_{t-1}; h̃_{t-1}]
        if self.bahdanau:
            query = (state[0] if isinstance(state, tuple) else state)[-1]  # h_{t-1} of the top layer, (B, H)
            context, weights = self.attention(query, keys, mask=mask)  # (B, D), (B, S)
            x = torch.cat([x, context], dim=-1)
        out, state = self.rnn(x[:, None], state)  # (B, 1, H)
        h = out[:, 0]
        if self.bahdanau:
            h = torch.cat([h, context], dim=-1)
        elif self.attention is not None:
            context, weights = self.attention(h, keys, mask=mask)
            h = self.combine(context, h)  # h̃_t
        return self.out(h), state, weights, h


class AttentionDecoderModel(nn.Module):
    """What every encoder–decoder of the package shares: the decoder driven one step at a time, teacher
    forcing, and free-running decoding through :mod:`an2dl.nn.decoding` (notes §4.2–4.3).

    A subclass sets ``self.decoder`` (:class:`RecurrentDecoder`) and ``self.vocab_size``, and defines
    :meth:`encode`, which turns its input (token ids, an image) into the decoding state
    ``{"h": [B, L, H] (, "c"), "keys": [B, S, D], "mask": [B, S]}``.
    """

    vocab_size: int
    decoder: RecurrentDecoder

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} must define encode(src, lengths)")

    # ---- the step-function interface of an2dl.nn.decoding (batch on axis 0 of every tensor)
    def _decode_one(self, tokens: torch.Tensor, state: dict[str, Any]
                    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None]:
        h = state["h"].transpose(0, 1).contiguous()  # (L, B, H)
        rnn_state = (h, state["c"].transpose(0, 1).contiguous()) if "c" in state else h
        logits, rnn_state, weights, attentional = self.decoder.step(tokens, rnn_state, state["keys"], state["mask"],
                                                                    state.get("feed"))
        new = dict(state)
        if self.decoder.input_feeding:
            new["feed"] = attentional  # h̃_t, read with the next input
        if isinstance(rnn_state, tuple):
            new["h"], new["c"] = rnn_state[0].transpose(0, 1), rnn_state[1].transpose(0, 1)
        else:
            new["h"] = rnn_state.transpose(0, 1)
        return logits, new, weights

    def step(self, tokens: torch.Tensor, state: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Step function for :mod:`an2dl.nn.decoding`: ``tokens [N]`` -> ``(log_probs [N, V], state)``."""
        logits, state, _ = self._decode_one(tokens, state)
        return logits.log_softmax(dim=-1), state

    # ---- training
    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor, *,
                teacher_forcing: float = 1.0, return_attention: bool = False) -> Any:
        """Logits ``[B, T, V]`` of every target step (and the attention weights ``[B, T, S]`` if asked).

        With ``teacher_forcing < 1`` each step after the first reads, per row and with probability
        ``1 − teacher_forcing``, the model's own previous argmax instead of ``tgt_in[:, t]``.
        """
        _check_tokens("tgt_in", tgt_in, self.vocab_size)
        if not 0.0 <= float(teacher_forcing) <= 1.0:
            raise ValueError(f"teacher_forcing must be a ratio in [0, 1]; got {teacher_forcing!r}")
        state = self.encode(src, src_lengths)
        logits, weights = [], []
        tokens = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                tokens = tgt_in[:, t]
                if teacher_forcing < 1.0:
                    own = logits[-1].argmax(dim=-1)
                    use_truth = torch.rand(tokens.shape[0], device=tokens.device) < teacher_forcing
                    tokens = torch.where(use_truth, tokens, own)
            step_logits, state, w = self._decode_one(tokens, state)
            logits.append(step_logits)
            weights.append(w)
        out = torch.stack(logits, dim=1)  # (B, T, V)
        if not return_attention:
            return out
        return out, (torch.stack(weights, dim=1) if weights[0] is not None else None)  # (B, T, S)

    # ---- inference
    @torch.no_grad()
    def generate(self, src: torch.Tensor, src_lengths: torch.Tensor, *, max_length: int, beam_width: int = 1,
                 length_penalty: float = 0.0) -> DecodeResult:
        """Free-running decoding: greedy (``beam_width=1``) or beam search (:mod:`an2dl.nn.decoding`)."""
        state = self.encode(src, src_lengths)
        B = src.shape[0]
        if beam_width == 1:
            return greedy_decode(self.step, state, batch_size=B, max_length=max_length, sos=SOS, eos=EOS, pad=PAD,
                                 device=src.device)
        return beam_search(self.step, state, batch_size=B, beam_width=beam_width, max_length=max_length,
                           length_penalty=length_penalty, sos=SOS, eos=EOS, pad=PAD, device=src.device)



class EncoderDecoder(AttentionDecoderModel):
    """Recurrent encoder–decoder for sequence-to-sequence learning (notes §4.2–4.3).

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (both with an2dl's special ids).
        embedding_dim: size of both embeddings.
        hidden_size: H of the encoder (per direction); the decoder has ``dirs * H``.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"`` for both.
        num_layers: layers of both stacks (the encoder's final states initialise the decoder layer by layer).
        bidirectional: bidirectional encoder (Bahdanau et al. 2015).
        attention: ``None`` (the plain encoder–decoder) or ``"dot"``, ``"general"``, ``"concat"``, ``"mlp"``.
        dropout: between stacked layers.
        input_feeding: Luong's input feeding (Luong attention only; see the module docstring).

    Shape:
        ``forward(src [B, S], src_lengths [B], tgt_in [B, T])`` -> logits ``[B, T, V]`` where
        ``tgt_in`` is ``<sos>`` followed by the target shifted right.
    """

    def __init__(self, *, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 32, hidden_size: int = 64,
                 cell: str = "gru", num_layers: int = 1, bidirectional: bool = False, attention: str | None = None,
                 dropout: float = 0.0, input_feeding: bool = False) -> None:
        super().__init__()
        for name, value in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                            ("embedding_dim", embedding_dim), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            _positive(name, value)
        if cell not in _CELLS:
            raise ConfigError(f"EncoderDecoder cell must be one of {', '.join(_CELLS)}; got {cell!r}")
        self.src_vocab_size, self.vocab_size = src_vocab_size, tgt_vocab_size
        self.encoder = RecurrentEncoder(vocab_size=src_vocab_size, embedding_dim=embedding_dim,
                                        hidden_size=hidden_size, cell=cell, num_layers=num_layers,
                                        bidirectional=bidirectional, dropout=dropout)
        size = self.encoder.output_size
        self.decoder = RecurrentDecoder(vocab_size=tgt_vocab_size, embedding_dim=embedding_dim, hidden_size=size,
                                        context_size=size, cell=cell, num_layers=num_layers, dropout=dropout,
                                        attention=attention, input_feeding=input_feeding)

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
        """Run the encoder; the decoding state ``{"h": [B, L, H] (, "c"), "keys": [B, S, D], "mask": [B, S]}``."""
        _check_tokens("src", src, self.src_vocab_size)
        lengths = torch.as_tensor(lengths, device=src.device)
        keys, state = self.encoder(src, lengths)
        mask = lengths_to_mask(lengths, src.shape[1])
        if isinstance(state, tuple):
            return {"h": state[0].transpose(0, 1), "c": state[1].transpose(0, 1), "keys": keys, "mask": mask}
        return {"h": state.transpose(0, 1), "keys": keys, "mask": mask}


def _example(batch_size: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 14, (batch_size, 7), generator=g)
    lengths = torch.full((batch_size,), 7, dtype=torch.long)
    lengths[-1] = 4
    tgt = torch.randint(4, 14, (batch_size, 5), generator=g)
    tgt[:, 0] = SOS
    return src, lengths, tgt


@register_model("seq2seq_rnn", example=_example)
def seq2seq_rnn(*, src_vocab_size: int = 14, tgt_vocab_size: int = 14, embedding_dim: int = 32,
                hidden_size: int = 64, cell: str = "gru", num_layers: int = 1, bidirectional: bool = False,
                attention: str | None = "general", dropout: float = 0.0,
                input_feeding: bool = False) -> EncoderDecoder:
    """Recurrent encoder–decoder; ``attention=None`` is the plain model of §4.2, the scores are those of §4.3."""
    return EncoderDecoder(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, embedding_dim=embedding_dim,
                          hidden_size=hidden_size, cell=cell, num_layers=num_layers, bidirectional=bidirectional,
                          attention=attention, dropout=dropout, input_feeding=input_feeding)
