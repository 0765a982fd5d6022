"""A decoder-only Transformer language model, GPT (notes §4.4.2; Radford et al. 2018, 2019).

Only the decoder's masked self-attention is kept (no encoder, so no
decoder–encoder attention): every position attends to itself and the
positions before it (the look-ahead mask of §4.4.2), so one forward pass
predicts the next token at every position in parallel, the property the
notes set against recurrent networks' step-by-step training.  Layout::

    token ids [B, T]
    token embedding + positional encoding (learned by default)  -> [B, T, D]
    N × pre-norm block: x + MHA(LN(x), look-ahead), x + FFN(LN(x))
    final LN, linear head (optionally tied to the token embedding) -> logits [B, T, V]

Generation runs one token at a time with the key/value cache of
:mod:`an2dl.nn.transformer` (each new token attends the cached keys/values of
the earlier ones).  The context is the last ``max_len`` tokens: once the
sequence outgrows the positional table the model re-reads the last
``max_len`` tokens at every step (a sliding window), as nanoGPT's ``generate`` does.

Departures from GPT-2: ReLU instead of GELU in the FFN (the notes' FFN);
the residual projections are not re-scaled by ``1/√(2N)`` at initialisation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...data.text import check_token_ids
from ...errors import ConfigError
from ...nn.decoding import check_sampling, sample_next_token
from ...nn.masks import causal_mask
from ...nn.transformer import KeyValue, TransformerEncoder, positional_encoding, tracing
from .._checks import check_positive_int, check_probability
from .._registry import register_model

__all__ = ["GPT", "gpt"]


class GPT(nn.Module):
    """Decoder-only Transformer language model.

    Args:
        vocab_size: V.
        max_len: positions of the learned table and the longest context (the block size).
        d_model: D.
        num_heads: h (divides D).
        num_layers: N blocks.
        dim_feedforward: FFN hidden size (default ``4 D``).
        dropout: on embeddings, attention weights, FFN and residual branches (training only).
        norm_first: pre-norm blocks and a final layer norm (GPT-2); ``False``: the paper's post-norm.
        positional: ``"learned"``, ``"sinusoidal"`` or ``"none"``.
        tie_weights: the output layer reuses the token embedding matrix (Press & Wolf 2017).
        backend: attention backend, ``"fused"`` or ``"written"``.

    Shape:
        ``forward(tokens [B, T])`` -> logits ``[B, T, V]`` with ``T <= max_len``.
    """

    def __init__(self, *, vocab_size: int, max_len: int = 256, d_model: int = 128, num_heads: int = 4,
                 num_layers: int = 4, dim_feedforward: int | None = None, dropout: float = 0.0,
                 norm_first: bool = True, positional: str = "learned", tie_weights: bool = True,
                 backend: str = "fused") -> None:
        super().__init__()
        owner = "GPT"
        for n, v in (("vocab_size", vocab_size), ("max_len", max_len), ("d_model", d_model),
                     ("num_heads", num_heads), ("num_layers", num_layers)):
            check_positive_int(owner, n, v)
        if d_model % num_heads:
            raise ConfigError(f"GPT d_model must be divisible by num_heads (each head gets d_model / num_heads "
                              f"features); got d_model={d_model}, num_heads={num_heads}")
        dim_feedforward = 4 * d_model if dim_feedforward is None else check_positive_int(owner, "dim_feedforward",
                                                                                          dim_feedforward)
        check_probability(owner, "dropout", dropout)
        self.vocab_size, self.max_len, self.d_model = vocab_size, max_len, d_model
        self.tie_weights = bool(tie_weights)
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position = positional_encoding(positional, d_model=d_model, max_len=max_len, dropout=dropout)
        self.blocks = TransformerEncoder(num_layers=num_layers, final_norm=norm_first, d_model=d_model,
                                         num_heads=num_heads, dim_feedforward=dim_feedforward, dropout=dropout,
                                         norm_first=norm_first, backend=backend)
        # tied: the head is F.linear with the embedding matrix, so the weight is stored once
        self.head = None if self.tie_weights else nn.Linear(d_model, vocab_size, bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):  # GPT-2: N(0, 0.02), zero biases
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    # ---- the forward pass
    def _check_tokens(self, tokens: Any, start: int = 0) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            got = f"{tokens.dtype} {list(tokens.shape)}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"GPT expects token ids of shape [B, T] (integers); got {got}")
        if start + tokens.shape[1] > self.max_len:
            raise ValueError(f"GPT reads at most max_len={self.max_len} tokens (its context); got a sequence "
                             f"reaching position {start + tokens.shape[1]}")
        if not tracing():  # reads the ids: not while torch.export traces the model for ONNX
            check_token_ids(tokens, self.vocab_size, name="tokens")

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.token_embedding.weight if self.head is None else self.head.weight
        return F.linear(x, weight)  # (B, T, V)

    def _embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.position(self.token_embedding(tokens), start)  # (B, T, D)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[B, T, V]`` at every position (each sees only itself and its past)."""
        self._check_tokens(tokens)
        x = self.blocks(self._embed(tokens), causal_mask(tokens.shape[1], device=tokens.device))
        return self._logits(x)

    def attention_maps(self, tokens: torch.Tensor) -> torch.Tensor:
        """The attention weights of every layer and head, ``[N, B, h, T, T]`` (dropout off)."""
        self._check_tokens(tokens)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                _, weights = self.blocks(self._embed(tokens), causal_mask(tokens.shape[1], device=tokens.device),
                                         need_weights=True)
        finally:
            self.train(was_training)
        return torch.stack(weights)

    # ---- incremental decoding
    def step(self, tokens: torch.Tensor, past: list[KeyValue] | None = None
             ) -> tuple[torch.Tensor, list[KeyValue]]:
        """Logits of new tokens ``[B, T_new]`` that follow the cached ones; returns ``(logits, past)``.

        ``past`` is ``None`` at the first call (the prompt), then what the previous call returned.
        Equal to :meth:`forward` on the whole sequence, position by position (a test checks it).
        """
        start = 0 if past is None else past[0][0].shape[2]
        self._check_tokens(tokens, start)
        x = self._embed(tokens, start)
        new_past = []
        for i, block in enumerate(self.blocks.layers):
            x, _, kv = block.compute(x, None, past=None if past is None else past[i], cache=True)
            new_past.append(kv)
        if self.blocks.norm is not None:
            x = self.blocks.norm(x)
        return self._logits(x), new_past

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample a continuation of ``prompt`` one token at a time (dropout off), with the key/value cache.

        Args:
            prompt: ids ``[B, T0]`` with ``T0 >= 1`` (only the last ``max_len`` are read).
            max_new_tokens: tokens to add.
            temperature: divides the logits; ``0`` picks the most likely token (greedy).
            top_k: sample among the ``top_k`` most likely tokens only.
            generator: random generator for reproducible samples.

        Returns:
            ``[B, T0 + max_new_tokens]``: the prompt followed by the sample.
        """
        if not isinstance(prompt, torch.Tensor) or prompt.dim() != 2 or prompt.shape[1] == 0:
            got = list(prompt.shape) if isinstance(prompt, torch.Tensor) else type(prompt).__name__
            raise ValueError(f"generate needs a prompt of token ids [B, T0] with T0 >= 1; got {got}")
        check_sampling(type(self).__name__, self.vocab_size, max_new_tokens, temperature, top_k)
        was_training = self.training
        self.eval()
        try:
            out = prompt
            logits, past = self.step(prompt[:, -self.max_len:])
            for _ in range(max_new_tokens):
                nxt = sample_next_token(logits[:, -1], temperature=temperature, top_k=top_k, generator=generator)
                out = torch.cat([out, nxt], dim=1)
                if past[0][0].shape[2] < self.max_len:
                    logits, past = self.step(nxt, past)
                else:  # the context is full: slide the window, re-reading the last max_len tokens
                    logits, past = self.step(out[:, -self.max_len:])
            return out
        finally:
            self.train(was_training)


def _tokens_example(batch_size: int) -> tuple[torch.Tensor]:
    return (torch.randint(0, 69, (batch_size, 16), generator=torch.Generator().manual_seed(0)),)


@register_model("gpt", example=_tokens_example)
def gpt(*, vocab_size: int = 69, max_len: int = 256, d_model: int = 128, num_heads: int = 4, num_layers: int = 4,
        dim_feedforward: int | None = None, dropout: float = 0.0, norm_first: bool = True,
        positional: str = "learned", tie_weights: bool = True, backend: str = "fused") -> GPT:
    """Character GPT; the default vocabulary is tinyshakespeare's (4 specials + 65 characters)."""
    return GPT(vocab_size=vocab_size, max_len=max_len, d_model=d_model, num_heads=num_heads, num_layers=num_layers,
               dim_feedforward=dim_feedforward, dropout=dropout, norm_first=norm_first, positional=positional,
               tie_weights=tie_weights, backend=backend)
