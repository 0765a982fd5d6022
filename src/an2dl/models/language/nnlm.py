"""The neural network language model of Bengio et al. (2003) (notes §4.2.4).

The previous ``n - 1`` words, as ids, are projected by one shared matrix
``C`` (``|V| × m``, the "projection layer" of the notes) into m-dimensional
vectors; these are concatenated into ``x`` (``(n - 1) m``) and passed through
a tanh hidden layer; a softmax over the vocabulary gives the next word:

    x = (C(w_{t-1}), C(w_{t-2}), …, C(w_{t-n+1}))
    y = b + W x + U tanh(d + H x)
    P(w_t = i | context) = softmax(y)_i

``W`` (``|V| × (n - 1) m``) are the optional *direct connections* from the
projections to the output (Bengio et al. §2: "the direct connections ...
can be removed by setting W to 0").  The number of free parameters is the
paper's ``|V| (1 + n m + h) + h (1 + (n - 1) m)`` with direct connections and
``|V| (1 + m + h) + h (1 + (n - 1) m)`` without (:func:`nnlm_parameter_count`).

Departures from the paper: the context is ordered oldest word first (the
concatenation order does not change the function class); training uses the
project's optimisers (Adam by default in the recipe) instead of plain SGD
with a decaying rate.
"""

from __future__ import annotations

import torch
from torch import nn

from ...data.text.specials import EOS, SOS
from ...nn.decoding import check_sampling, sample_next_token
from .._checks import check_positive_int
from .._registry import register_model

__all__ = ["NNLM", "nnlm", "nnlm_parameter_count"]


def nnlm_parameter_count(vocab_size: int, order: int, embedding_dim: int, hidden_size: int, *,
                         direct: bool = True) -> int:
    """Free parameters of Bengio et al.'s model: ``|V|(1 + nm + h) + h(1 + (n-1)m)`` (``|V|(1 + m + h) + …`` without W).

    Args:
        vocab_size: |V|.
        order: n (the model reads n - 1 words).
        embedding_dim: m.
        hidden_size: h.
        direct: with the direct connections W.
    """
    V, n, m, h = vocab_size, order, embedding_dim, hidden_size
    return V * (1 + (n if direct else 1) * m + h) + h * (1 + (n - 1) * m)


class NNLM(nn.Module):
    """Bengio et al.'s (2003) feed-forward language model (notes §4.2.4).

    Args:
        vocab_size: |V|, the number of ids (input and output).
        context_size: n - 1, the words read (≥ 1).
        embedding_dim: m, the width of a row of C.
        hidden_size: h, the tanh units.
        direct: add the direct connections W from the projections to the output.
        dropout: dropout on x and on the hidden layer (0: none, as in the paper).
        sequence_output: return ``[B, 1, |V|]``, a length-1 sequence, so that
            :class:`~an2dl.tasks.sequence.LanguageModelTask` (``[B, T, V]``
            logits) trains it on :class:`~an2dl.data.datasets.word_corpora.NextWordContexts`.

    Shape:
        input: int64 ``[B, n - 1]`` ids in ``[0, |V|)``, oldest word first;
        output: logits ``[B, |V|]`` (apply a softmax for P(w_t | context)); ``[B, 1, |V|]`` with ``sequence_output``.
    """

    def __init__(self, *, vocab_size: int, context_size: int = 4, embedding_dim: int = 60, hidden_size: int = 50,
                 direct: bool = True, dropout: float = 0.0, sequence_output: bool = False) -> None:
        super().__init__()
        check_positive_int("NNLM", "vocab_size", vocab_size)
        check_positive_int("NNLM", "context_size", context_size)
        check_positive_int("NNLM", "embedding_dim", embedding_dim)
        check_positive_int("NNLM", "hidden_size", hidden_size)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            from ...errors import ConfigError

            raise ConfigError(f"NNLM dropout must be a number in [0, 1); got {dropout!r}")
        self.vocab_size, self.context_size = vocab_size, context_size
        self.C = nn.Embedding(vocab_size, embedding_dim)  # the projection matrix shared over the n - 1 positions
        self.H = nn.Linear(context_size * embedding_dim, hidden_size)  # H and its bias d
        self.U = nn.Linear(hidden_size, vocab_size)  # U and the output bias b
        self.W = nn.Linear(context_size * embedding_dim, vocab_size, bias=False) if direct else None
        self.drop = nn.Dropout(dropout)
        self.sequence_output = bool(sequence_output)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        if context.dim() != 2 or context.shape[1] != self.context_size:
            raise ValueError(f"NNLM context must be int64 ids [B, {self.context_size}]; got shape "
                             f"{list(context.shape)}")
        if context.is_floating_point():
            raise TypeError(f"NNLM context must hold integer ids; got dtype {context.dtype}")
        B = context.shape[0]
        x = self.drop(self.C(context).reshape(B, -1))  # (B, n-1, m) -> (B, (n-1) m): the concatenation
        y = self.U(self.drop(torch.tanh(self.H(x))))  # b + U tanh(d + H x), (B, |V|)
        if self.W is not None:
            y = y + self.W(x)
        return y.unsqueeze(1) if self.sequence_output else y

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample a continuation of ``prompt`` one word at a time, each from ``P(w_t | previous n - 1 words)``.

        The context is read as in training (:func:`~an2dl.data.datasets.word_corpora.pad_sentences`): a prompt
        shorter than ``n - 1`` words is preceded by ``<s>``, and after a sampled ``</s>`` the next sentence starts
        from ``<s>`` × (n - 1) again.

        Args:
            prompt: ids ``[B, T0]`` (``T0`` may be 0: a new sentence).
            max_new_tokens: words to add.
            temperature: divides the logits; ``0`` picks the most likely word (greedy).
            top_k: sample among the ``top_k`` most likely words only.
            generator: random generator for reproducible samples.

        Returns:
            ``[B, T0 + max_new_tokens]``: the prompt followed by the sample.
        """
        if prompt.dim() != 2 or prompt.is_floating_point():
            raise ValueError(f"NNLM generate needs integer ids [B, T0]; got {prompt.dtype} {list(prompt.shape)}")
        check_sampling("NNLM", self.vocab_size, max_new_tokens, temperature, top_k)
        was_training = self.training
        self.eval()
        try:
            n1 = self.context_size
            context = torch.cat([prompt.new_full((prompt.shape[0], n1), SOS), prompt], dim=1)[:, -n1:]
            out = [prompt]
            for _ in range(max_new_tokens):
                logits = self(context)
                nxt = sample_next_token(logits.reshape(prompt.shape[0], -1), temperature=temperature, top_k=top_k,
                                        generator=generator)
                out.append(nxt)
                ended = nxt.squeeze(1) == EOS
                context = torch.cat([context[:, 1:], nxt], dim=1)
                context[ended] = SOS  # a new sentence reads <s> x (n - 1), as in training
            return torch.cat(out, dim=1)
        finally:
            self.train(was_training)


def _context_example(batch_size: int) -> tuple[torch.Tensor]:
    return (torch.randint(0, 100, (batch_size, 4)),)


@register_model("nnlm", example=_context_example)
def nnlm(*, vocab_size: int = 100, context_size: int = 4, embedding_dim: int = 60, hidden_size: int = 50,
         direct: bool = True, dropout: float = 0.0, sequence_output: bool = False) -> NNLM:
    """Bengio et al.'s NNLM (defaults: n = 5, m = 60, h = 50, direct connections, as the paper's best AP News models)."""
    return NNLM(vocab_size=vocab_size, context_size=context_size, embedding_dim=embedding_dim,
                hidden_size=hidden_size, direct=direct, dropout=dropout, sequence_output=sequence_output)
