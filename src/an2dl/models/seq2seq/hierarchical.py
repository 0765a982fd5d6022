"""The hierarchical recurrent attention network of a multi-turn chatbot (notes §4.3.1; Xing et al. 2017, HRAN).

A multi-turn chatbot reads a context of several utterances ``u_1 … u_m``
(oldest first).  Flattening them into one sequence lets a single attention
pick words across the whole context; HRAN attends at two levels instead:

* a **word-level encoder** (bidirectional GRU) reads each utterance on its own:
  word states ``h_{i,j}``;
* at decoding step ``t``, **word-level attention** inside utterance ``i`` is
  conditioned on the decoder state and on the utterance-level state of the
  later utterances: ``α_{t,i,j} = softmax_j w₂ᵀ tanh(W₁ [s_{t−1}; l_{i+1}; h_{i,j}])``,
  ``r_{t,i} = Σ_j α_{t,i,j} h_{i,j}``;
* an **utterance-level encoder** (GRU) runs over those utterance vectors from
  the latest utterance back to the oldest, ``l_i = GRU(r_{t,i}, l_{i+1})``
  (``l_{m+1} = 0``);
* **utterance-level attention** ``β_{t,i} = softmax_i w₂ᵀ tanh(W₁ [s_{t−1}; l_i])``
  gives the context ``c_t = Σ_i β_{t,i} l_i``;
* the decoder reads ``s_t = GRU([E y_{t−1}; c_t], s_{t−1})`` and predicts
  ``P_t = softmax(W_o [s_t; c_t])``.

The model reads the same input as the flat multi-turn chatbot — the context's
utterances joined by a separator token (:mod:`an2dl.data.datasets.dialogue`) —
and splits it at the separator itself, so the task, decoding (greedy or beam
search, through :class:`~an2dl.models.seq2seq.AttentionDecoderModel`) and
``an2dl chat`` serve it unchanged.  Padded words and padded utterances get
weight exactly 0 and leave the utterance-level state untouched, so padding
never changes the output.

Departure: Xing et al. do not say how ``s_0`` is set; here it is
``tanh(W_0 q)`` of the word encoder's final state ``q`` of the latest utterance
(the one the reply answers).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...data.text.specials import PAD, SOS
from ...errors import ConfigError
from ...nn.attention import attention_layer
from ...nn.recurrent import GRUCell
from .._registry import register_model
from .encoder_decoder import AttentionDecoderModel, RecurrentEncoder, _check_tokens, _positive

__all__ = ["HierarchicalAttentionChatbot", "split_utterances", "hran"]


def split_utterances(src: torch.Tensor, lengths: torch.Tensor, separator: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each flat context at its ``separator`` tokens into utterances (empty ones dropped).

    Shape:
        ``src [B, S]``, ``lengths [B]`` -> ``(words [B, U, W] padded with <pad>, word lengths [B, U]``, 0 for a
        padded utterance).

    Raises:
        ValueError: a context with no word outside the separators.
    """
    rows: list[list[list[int]]] = []
    for b, (row, n) in enumerate(zip(src.tolist(), lengths.tolist())):
        utterances: list[list[int]] = [[]]
        for token in row[:n]:
            if token == separator:
                utterances.append([])
            else:
                utterances[-1].append(token)
        utterances = [u for u in utterances if u]
        if not utterances:
            raise ValueError(f"context {b} holds no word outside the separator id {separator}; got {row[:n]}")
        rows.append(utterances)
    U = max(len(r) for r in rows)
    W = max(len(u) for r in rows for u in r)
    words = torch.full((len(rows), U, W), PAD, dtype=torch.long)
    word_lengths = torch.zeros(len(rows), U, dtype=torch.long)
    for b, r in enumerate(rows):
        for i, u in enumerate(r):
            words[b, i, : len(u)] = torch.tensor(u)
            word_lengths[b, i] = len(u)
    return words.to(src.device), word_lengths.to(src.device)


class HierarchicalAttentionChatbot(AttentionDecoderModel):
    """HRAN (Xing et al. 2017): word-level and utterance-level encoders and attentions (module docstring).

    Args:
        vocab_size: V, one vocabulary for context and reply.
        separator: the id that joins the utterances of a context.
        embedding_dim: word embeddings (shared by encoder and decoder).
        hidden_size: H of the word encoder per direction, of the utterance encoder and of the decoder.

    Shape:
        ``forward(src [B, S], src_lengths [B], tgt_in [B, T])`` -> logits ``[B, T, V]``; with
        ``return_attention=True`` also the utterance-level weights ``[B, T, U]``.
    """

    def __init__(self, *, vocab_size: int, separator: int, embedding_dim: int = 32, hidden_size: int = 64) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("hidden_size", hidden_size)):
            _positive(name, value)
        if isinstance(separator, bool) or not isinstance(separator, int) or not 0 <= separator < vocab_size:
            raise ConfigError(f"HierarchicalAttentionChatbot separator must be a token id in [0, {vocab_size}); "
                              f"got {separator!r}")
        self.vocab_size, self.separator, self.hidden_size = vocab_size, separator, hidden_size
        H, D = hidden_size, 2 * hidden_size
        self.words = RecurrentEncoder(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=H,
                                      cell="gru", bidirectional=True)
        self.init = nn.Linear(D, H)  # s_0 = tanh(W_0 q)
        self.word_attention = attention_layer("mlp", query_size=2 * H, key_size=D)  # [s_{t-1}; l_{i+1}] vs h_ij
        self.utterances = GRUCell(input_size=D, hidden_size=H)  # l_i = GRU(r_i, l_{i+1})
        self.utterance_attention = attention_layer("mlp", query_size=H, key_size=H)  # s_{t-1} vs l_i
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.cell = GRUCell(input_size=embedding_dim + H, hidden_size=H)
        self.out = nn.Linear(2 * H, vocab_size)

    # ---- encoding
    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
        """Split the flat contexts at the separator and encode them (:meth:`encode_utterances`)."""
        _check_tokens("src", src, self.vocab_size)
        words, word_lengths = split_utterances(src, torch.as_tensor(lengths), self.separator)
        return self.encode_utterances(words, word_lengths)

    def encode_utterances(self, words: torch.Tensor, word_lengths: torch.Tensor) -> dict[str, Any]:
        """Word-level encoding of every utterance.

        Args:
            words: ``[B, U, W]`` ids, utterance ``i`` of row ``b`` in ``words[b, i, :word_lengths[b, i]]``, real
                utterances first (oldest first), then padded ones.
            word_lengths: ``[B, U]``, 0 for a padded utterance; every row needs one utterance at least.

        Returns:
            The decoding state ``{"h": s_0 [B, H], "words": h_ij [B, U, W, 2H], "word_mask": [B, U, W],
            "utterance_mask": [B, U]}``.
        """
        if words.dim() != 3 or word_lengths.shape != words.shape[:2]:
            raise ValueError(f"words must be [B, U, W] with word_lengths [B, U]; got {list(words.shape)} and "
                             f"{list(word_lengths.shape)}")
        utterance_mask = word_lengths > 0  # (B, U)
        if not bool(utterance_mask[:, 0].all()) or bool((utterance_mask[:, 1:] & ~utterance_mask[:, :-1]).any()):
            raise ValueError("every context needs its real utterances first and at least one of them; got "
                             f"word lengths {word_lengths.tolist()}")
        B, U, W = words.shape
        real = utterance_mask.reshape(-1)
        outputs, final = self.words(words.reshape(B * U, W)[real], word_lengths.reshape(-1)[real])
        states = outputs.new_zeros(B * U, W, outputs.shape[-1])
        states[real] = outputs
        last_state = outputs.new_zeros(B * U, outputs.shape[-1])
        last_state[real] = final[-1]
        latest = utterance_mask.sum(dim=1) - 1  # index of the latest utterance (B,)
        q = last_state.view(B, U, -1)[torch.arange(B, device=words.device), latest]  # (B, 2H)
        word_mask = torch.arange(W, device=words.device) < word_lengths[..., None]  # (B, U, W)
        return {"h": torch.tanh(self.init(q)), "words": states.view(B, U, W, -1), "word_mask": word_mask,
                "utterance_mask": utterance_mask}

    # ---- the two attentions
    def attend(self, s: torch.Tensor, state: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Word- then utterance-level attention for the decoder state ``s = s_{t−1} [B, H]``.

        Returns:
            ``(context c_t [B, H], word weights α [B, U, W], utterance weights β [B, U])``; every weight of a
            padded word or utterance is 0, each real utterance's ``α`` and each row's ``β`` sum to 1.
        """
        words, word_mask, utterance_mask = state["words"], state["word_mask"], state["utterance_mask"]
        B, U, W, _ = words.shape
        level = s.new_zeros(B, self.hidden_size)  # l_{m+1} = 0
        levels: list[torch.Tensor] = [s] * U
        alphas: list[torch.Tensor] = [s] * U
        for i in reversed(range(U)):
            valid = utterance_mask[:, i]  # (B,)
            mask = word_mask[:, i].clone()
            mask[~valid, 0] = True  # a padded utterance attends one dummy word, zeroed below
            r, alpha = self.word_attention(torch.cat([s, level], dim=-1), words[:, i], mask=mask)
            alphas[i] = alpha * valid[:, None]
            level = torch.where(valid[:, None], self.utterances(r, level), level)  # l_i; padding leaves it
            levels[i] = level
        context, beta = self.utterance_attention(s, torch.stack(levels, dim=1), mask=utterance_mask)
        return context, torch.stack(alphas, dim=1), beta

    # ---- one decoding step (the step-function interface of AttentionDecoderModel)
    def _decode_one(self, tokens: torch.Tensor, state: dict[str, Any]
                    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor]:
        s = state["h"]
        context, _, beta = self.attend(s, state)
        s = self.cell(torch.cat([self.embedding(tokens), context], dim=-1), s)  # s_t
        new = dict(state)
        new["h"] = s
        return self.out(torch.cat([s, context], dim=-1)), new, beta


def _example(batch_size: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    src = torch.randint(5, 14, (batch_size, 9), generator=g)
    src[:, 3] = 4  # the separator: two utterances (three in the first row)
    src[0, 6] = 4
    lengths = torch.full((batch_size,), 9, dtype=torch.long)
    lengths[-1] = 6
    tgt = torch.randint(5, 14, (batch_size, 5), generator=g)
    tgt[:, 0] = SOS
    return src, lengths, tgt


@register_model("hran", example=_example)
def hran(*, vocab_size: int = 14, separator: int = 4, embedding_dim: int = 32,
         hidden_size: int = 64) -> HierarchicalAttentionChatbot:
    """Hierarchical recurrent attention network for multi-turn chatbots (Xing et al. 2017; notes §4.3.1)."""
    return HierarchicalAttentionChatbot(vocab_size=vocab_size, separator=separator, embedding_dim=embedding_dim,
                                        hidden_size=hidden_size)
