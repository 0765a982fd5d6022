"""Corpus BLEU (Papineni et al., 2002) equal to NLTK's corpus_bleu, additive over batches and processes."""

from __future__ import annotations

import math
import random
import warnings

import pytest
import torch

from an2dl.engine.bleu import bleu_metric_class, bleu_statistics, corpus_bleu
from an2dl.engine.metrics import build_metric, metric
from an2dl.errors import ConfigError


def test_the_papers_clipped_precision_example():
    # Papineni et al. §2.1: "the the the the the the the" against two references has unigram precision 2/7
    m, t, c, r = bleu_statistics("the the the the the the the".split(),
                                 ["the cat is on the mat".split(), "there is a cat on the mat".split()], max_n=1)
    assert (m, t, c, r) == ([2], [7], 7, 7)
    # the closest reference length, the shorter on a tie: 5 is as far from 6 as 7 is
    assert bleu_statistics("a b c d e f".split(), ["a b c d e".split(), "a b c d e f g".split()])[3] == 5


def test_a_hand_computed_corpus_score():
    cand = ["a b c d".split(), "x y".split()]
    refs = [["a b c d e".split()], ["x z".split()]]
    # unigrams 4/4 + 1/2, bigrams 3/3 + 0/1, trigrams 2/2, 4-grams 1/1 (the short sentence has none); C = 6, R = 7
    p = [5 / 6, 3 / 4, 2 / 2, 1 / 1]
    expected = math.exp(1 - 7 / 6) * math.exp(sum(math.log(x) for x in p) / 4)
    assert corpus_bleu(cand, refs) == pytest.approx(expected, rel=1e-12)


def _random_corpus(seed: int, n: int = 40):
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(12)]
    cands, refs = [], []
    for _ in range(n):
        ref = [rnd.choice(words) for _ in range(rnd.randint(4, 14))]
        cand = [w if rnd.random() < 0.7 else rnd.choice(words) for w in ref]
        cand = cand[: rnd.randint(4, len(cand))] if rnd.random() < 0.3 else cand
        extra = [[rnd.choice(words) for _ in range(rnd.randint(3, 14))] for _ in range(rnd.randint(0, 2))]
        cands.append(cand)
        refs.append([ref, *extra])
    return cands, refs


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_n", [2, 4])
def test_equals_nltk_corpus_bleu(seed, max_n):
    """Candidates of at least ``max_n`` tokens: NLTK counts a sentence without any n-gram of an order as one
    n-gram in the denominator (``max(1, ·)``), multi-bleu.perl and sacrebleu (and we) as none."""
    from nltk.translate.bleu_score import corpus_bleu as nltk_bleu

    cands, refs = _random_corpus(seed)
    weights = tuple([1 / max_n] * max_n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nltk_bleu(refs, cands, weights=weights)
    assert 0.05 < expected < 0.95
    assert corpus_bleu(cands, refs, max_n=max_n) == pytest.approx(expected, abs=1e-12)


def test_the_metric_adds_counts_over_batches_strips_eos_and_padding():
    cands, refs = _random_corpus(3, n=24)
    refs = [r[:1] for r in refs]  # the task's case: one reference per sentence
    vocab = {f"w{i}": 4 + i for i in range(12)}

    def ids(rows, pad_to=20):
        out = torch.zeros(len(rows), pad_to, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor([vocab[w] for w in row])
            out[i, len(row)] = 3  # <eos>, then <pad>
            out[i, len(row) + 1:] = 5 if i % 2 else 0  # after <eos> anything is ignored
        return out

    m = build_metric(metric("bleu"))
    for s in range(0, 24, 10):  # uneven batches
        m.update(ids(cands[s:s + 10]), ids([r[0] for r in refs[s:s + 10]]))
    assert float(m.compute()) == pytest.approx(100 * corpus_bleu(cands, refs), abs=1e-9)
    other = bleu_metric_class()()
    other.update(cands, [r[0] for r in refs])  # token lists work too
    assert float(other.compute()) == pytest.approx(float(m.compute()), abs=1e-9)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="max_n must be a positive integer; got 0"):
        corpus_bleu([["a"]], [[["a"]]], max_n=0)
    with pytest.raises(ConfigError, match="one list of references per candidate; got 2 candidates and 1"):
        corpus_bleu([["a"], ["b"]], [[["a"]]])
    with pytest.raises(ConfigError, match="at least one reference"):
        bleu_statistics(["a"], [])
    assert corpus_bleu([[]], [[["a"]]]) == 0.0  # an empty candidate scores 0, no division by zero
