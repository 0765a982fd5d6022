"""The retrieval-based chatbot of the notes (§4.3.1): encode the question, answer with the reply of the most
similar stored question.

Questions are encoded as TF-IDF vectors over a word vocabulary — ``tf(w, q) ·
log((1 + N) / (1 + df(w))) + 1`` (the smoothed inverse document frequency of
scikit-learn's ``TfidfVectorizer``), then L2-normalised — and compared by
cosine similarity.  A retrieval bot never says anything new: it can only be
as good as its store of question–answer pairs, but what it says is always a
well-formed human reply (the trade-off the notes draw against generative
chatbots).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import ConfigError

__all__ = ["RetrievalBot"]


class RetrievalBot:
    """Answers by the stored reply whose question is most similar (cosine of TF-IDF vectors).

    Args:
        questions: token-id lists of the stored questions (ids in ``[0, vocab_size)``).
        answers: the reply of each question (any objects: text, token lists).
        vocab_size: the number of ids.
        ignore: ids that carry no meaning (padding, separators) and are left out of the vectors.
    """

    def __init__(self, questions: Sequence[Sequence[int]], answers: Sequence[object], *, vocab_size: int,
                 ignore: Sequence[int] = (0,)) -> None:
        if len(questions) != len(answers) or not questions:
            raise ConfigError(f"RetrievalBot needs one answer per question and at least one pair; got "
                              f"{len(questions)} questions and {len(answers)} answers")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ConfigError(f"RetrievalBot vocab_size must be a positive integer; got {vocab_size!r}")
        self.vocab_size, self.ignore = vocab_size, list(ignore)
        self.answers = list(answers)
        counts = self._counts(questions)
        df = (counts > 0).sum(0).double()
        self.idf = torch.log((1 + len(questions)) / (1 + df)) + 1
        self.matrix = self._normalise(counts * self.idf)  # [N, V]

    def _counts(self, docs: Sequence[Sequence[int]]) -> torch.Tensor:
        counts = torch.zeros(len(docs), self.vocab_size, dtype=torch.float64)
        for i, doc in enumerate(docs):
            ids = torch.as_tensor(list(doc), dtype=torch.long)
            if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
                raise ConfigError(f"RetrievalBot token ids must lie in [0, {self.vocab_size}); question {i} has "
                                  f"{ids.tolist()}")
            counts[i].index_add_(0, ids, torch.ones(len(ids), dtype=torch.float64))
        counts[:, self.ignore] = 0
        return counts

    @staticmethod
    def _normalise(m: torch.Tensor) -> torch.Tensor:
        return m / m.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def encode(self, questions: Sequence[Sequence[int]]) -> torch.Tensor:
        """Unit TF-IDF vectors ``[Q, V]`` of token-id lists (a question of unknown words only is the zero vector)."""
        return self._normalise(self._counts(questions) * self.idf)

    def retrieve(self, questions: Sequence[Sequence[int]], k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` most similar stored questions of each question: ``(indices [Q, k], cosines [Q, k])``."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(self.answers):
            raise ConfigError(f"RetrievalBot k must be an integer in [1, {len(self.answers)}]; got {k!r}")
        sims = self.encode(questions) @ self.matrix.T
        best = torch.topk(sims, k, dim=1)  # ties: the earlier stored pair first (stable on CPU for equal values)
        return best.indices, best.values

    def reply(self, questions: Sequence[Sequence[int]], k: int = 1) -> list[list[object]]:
        """The answers of the ``k`` most similar stored questions, best first, for each question."""
        idx, _ = self.retrieve(questions, k)
        return [[self.answers[j] for j in row] for row in idx.tolist()]
