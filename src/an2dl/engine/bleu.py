"""BLEU, the corpus-level score of machine translation (Papineni et al., 2002), used to judge §4.2–4.4's translators.

For candidate translations ``c_i`` with references ``R_i`` (token sequences:
words, or the token ids of a word vocabulary — the score is the same)::

    p_n  = Σ_i Σ_{g ∈ n-grams(c_i)} min(count_{c_i}(g), max_{r ∈ R_i} count_r(g))  /  Σ_i |n-grams(c_i)|
    BP   = 1 if C > R else exp(1 − R / C)
    BLEU = BP · exp(Σ_{n=1}^{N} w_n log p_n)            (N = 4, w_n = 1/N)

``C`` is the total candidate length and ``R`` the sum over sentences of the
reference length closest to the candidate's (the shorter one on a tie) — the
definitions of the reference implementation (``multi-bleu.perl``) and of NLTK's
``corpus_bleu``, which the tests match.  The counts add over sentences (and
over processes) before the ratio: corpus BLEU is *not* the mean of sentence
BLEUs.  Without smoothing a corpus with no matching n-gram of some order scores 0.
``smooth=True`` adds 1 to the numerator and the denominator of ``p_n`` for
``n > 1`` (Lin & Och, 2004: "BLEU+1"), for scoring single sentences.

Departure: scores are fractions in [0, 1] here; the Seq2Seq task logs ``100 ×``
the fraction, the scale papers and sacrebleu report.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from ..data.text.specials import EOS, PAD
from ..errors import ConfigError

__all__ = ["bleu_statistics", "bleu_from_statistics", "corpus_bleu", "bleu_metric_class"]


def _ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check_order(max_n: Any) -> int:
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ConfigError(f"BLEU max_n must be a positive integer; got {max_n!r}")
    return max_n


def bleu_statistics(candidate: Sequence[Hashable], references: Sequence[Sequence[Hashable]], *,
                    max_n: int = 4) -> tuple[list[int], list[int], int, int]:
    """The additive counts of one sentence: ``(matches[n], totals[n], candidate length, reference length)``.

    ``matches[n - 1]`` are the clipped n-gram matches, ``totals[n - 1]`` the candidate's n-grams; the reference
    length is the one closest to the candidate's (the shorter on a tie).

    Raises:
        ConfigError: no reference, or a bad ``max_n``.
    """
    max_n = _check_order(max_n)
    references = [list(r) for r in references]
    if not references:
        raise ConfigError("bleu_statistics needs at least one reference per candidate; got none")
    candidate = list(candidate)
    matches, totals = [], []
    for n in range(1, max_n + 1):
        counts = _ngrams(candidate, n)
        best: Counter = Counter()
        for r in references:
            best |= _ngrams(r, n)  # the most times each n-gram occurs in one reference
        matches.append(sum(min(c, best[g]) for g, c in counts.items()))
        totals.append(max(len(candidate) - n + 1, 0))
    c = len(candidate)
    r = min((len(ref) for ref in references), key=lambda length: (abs(length - c), length))
    return matches, totals, c, r


def bleu_from_statistics(matches: Sequence[float], totals: Sequence[float], candidate_length: float,
                         reference_length: float, *, smooth: bool = False) -> float:
    """BLEU in [0, 1] from summed counts (see the module docstring)."""
    if candidate_length == 0:
        return 0.0
    logs = []
    for n, (m, t) in enumerate(zip(matches, totals), start=1):
        if smooth and n > 1:
            m, t = m + 1, t + 1
        if m == 0 or t == 0:
            return 0.0
        logs.append(math.log(m / t))
    bp = 1.0 if candidate_length > reference_length else math.exp(1 - reference_length / candidate_length)
    return bp * math.exp(sum(logs) / len(logs))


def corpus_bleu(candidates: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Sequence[Hashable]]], *,
                max_n: int = 4, smooth: bool = False) -> float:
    """Corpus BLEU in [0, 1] of tokenised ``candidates``, each with its list of tokenised ``references``.

    Raises:
        ConfigError: as many reference lists as candidates are needed, each with at least one reference.
    """
    max_n = _check_order(max_n)
    if len(candidates) != len(references):
        raise ConfigError(f"corpus_bleu needs one list of references per candidate; got {len(candidates)} candidates "
                          f"and {len(references)} reference lists")
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for cand, refs in zip(candidates, references):
        m, t, cl, rl = bleu_statistics(cand, refs, max_n=max_n)
        matches = [a + b for a, b in zip(matches, m)]
        totals = [a + b for a, b in zip(totals, t)]
        c, r = c + cl, r + rl
    return bleu_from_statistics(matches, totals, c, r, smooth=smooth)


@functools.cache
def bleu_metric_class() -> type:
    """The torchmetrics class of the ``bleu`` metric, built on first use (torchmetrics loads lazily).

    ``update(candidates, references)`` with token-id tensors ``[B, T]`` (each row read up to its first ``eos``,
    ``pad`` and ``eos`` left out) or lists of token lists; ``compute()`` is ``100 × BLEU`` of everything seen.
    The counts are summed states, so several processes give the single-process score.
    """
    from torchmetrics import Metric

    class BLEUScore(Metric):
        """Corpus BLEU × 100 of decoded sequences against one reference each (notes §4.2, translation)."""

        full_state_update = False

        def __init__(self, max_n: int = 4, *, eos: int = EOS, pad: int = PAD) -> None:
            super().__init__()
            self.max_n, self.eos, self.pad = _check_order(max_n), int(eos), int(pad)
            for name in ("matches", "totals"):
                self.add_state(name, default=torch.zeros(self.max_n, dtype=torch.float64), dist_reduce_fx="sum")
            for name in ("candidate_length", "reference_length"):
                self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

        def _rows(self, seqs: Any) -> list[list[int]]:
            if isinstance(seqs, torch.Tensor):
                rows = []
                for row in seqs.tolist():
                    if self.eos in row:
                        row = row[: row.index(self.eos)]
                    rows.append([t for t in row if t != self.pad])
                return rows
            return [list(s) for s in seqs]

        def update(self, candidates: Any, references: Any) -> None:
            cands, refs = self._rows(candidates), self._rows(references)
            if len(cands) != len(refs):
                raise ValueError(f"BLEU update needs one reference per candidate; got {len(cands)} and {len(refs)}")
            for cand, ref in zip(cands, refs):
                m, t, c, r = bleu_statistics(cand, [ref], max_n=self.max_n)
                self.matches += torch.tensor(m, dtype=torch.float64, device=self.matches.device)
                self.totals += torch.tensor(t, dtype=torch.float64, device=self.totals.device)
                self.candidate_length += c
                self.reference_length += r

        def compute(self) -> torch.Tensor:
            score = bleu_from_statistics(self.matches.tolist(), self.totals.tolist(), float(self.candidate_length),
                                         float(self.reference_length))
            return torch.tensor(100.0 * score, dtype=torch.float64)

    return BLEUScore
