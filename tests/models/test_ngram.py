"""N-gram language models (notes §4.2.3): normalisation, hand-computed values, NLTK parity, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from an2dl.errors import ConfigError, DataError
from an2dl.models.language import SMOOTHINGS, NGramLM, pad_sentences

TRAIN = [s.split() for s in ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the cat ran",
                             "a dog ran on the mat", "zebra"]]
TEST = [s.split() for s in ["the cat sat on the log", "a dog saw the cat", "the bird sat"]]
CONTEXTS = [(), ("the",), ("the", "cat"), ("unseen", "on"), ("a",), ("on", "the", "mat")]


def _zipf_corpus(seed: int, sentences: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30)]
    p = 1 / np.arange(1, 31)
    return [list(rng.choice(words, size=int(rng.integers(3, 12)), p=p / p.sum())) for _ in range(sentences)]


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("uniform", [True, False])
def test_distribution_sums_to_one(smoothing, n, uniform):
    lm = NGramLM(n, smoothing=smoothing, interpolate_uniform=uniform).fit(TRAIN)
    for ctx in CONTEXTS:
        d = lm.distribution(ctx)
        assert d.shape == (len(lm.vocab_),)
        assert d[0] == 0 and d[2] == 0  # <pad> and <s> are never predicted
        assert abs(d.sum() - 1) < 1e-12, (ctx, d.sum())
        assert (d >= 0).all()
        if uniform:
            assert (np.delete(d, [0, 2]) > 0).all()  # every predicted token, <unk> included, is possible


def test_padding_and_predicted_positions():
    stream, pred = pad_sentences([np.array([5, 6]), np.array([7])], 3)
    assert stream.tolist() == [2, 2, 5, 6, 3, 2, 2, 7, 3]
    assert pred.tolist() == [2, 3, 4, 7, 8]


def test_hand_computed_laplace_and_kneser_ney():
    corpus = [["a", "b"], ["a", "c"]]  # V = {a, b, c, <unk>, </s>} = 5
    lap = NGramLM(2, smoothing="add-k", k=1.0).fit(corpus)
    assert lap.V_ == 5
    assert lap.prob("b", ["a"]) == pytest.approx(2 / 7)  # (c(a b) + 1) / (c(a) + V)
    assert lap.prob("a") == pytest.approx(3 / 7)  # after <s>: (2 + 1) / (2 + 5)
    kn = NGramLM(2, smoothing="kneser-ney", discount=0.5).fit(corpus)
    # continuation counts N1+(• w): a 1, b 1, c 1, </s> 2, <unk> 0; total 5; four words with a positive count
    p1 = {w: (max(c - 0.5, 0) / 5 + 0.5 * 4 / 5 / 5) for w, c in {"a": 1, "b": 1, "c": 1, "</s>": 2, "zz": 0}.items()}
    assert kn.prob("zz", ["zzz"]) == pytest.approx(p1["zz"])  # unseen history: the unigram level
    assert kn.prob("b", ["a"]) == pytest.approx((1 - 0.5) / 2 + 0.5 * 2 / 2 * p1["b"])
    katz = NGramLM(2, smoothing="katz", discount=0.5).fit(corpus)
    # seen: (c - D) / c(h); unseen after "a": alpha(a) = (D * 2 / 2) / (1 - p1(b) - p1(c)) times p1
    u = {w: c for w, c in {"a": 2, "b": 1, "c": 1, "</s>": 2}.items()}
    unigram = {w: (c - 0.5) / 6 for w, c in u.items()}
    unigram["zz"] = 0.5 * 4 / 6  # the only unseen predicted token, <unk>, takes the whole unigram mass
    assert katz.prob("b", ["a"]) == pytest.approx(0.25)
    alpha = 0.5 / (1 - unigram["b"] - unigram["c"])
    assert katz.prob("a", ["a"]) == pytest.approx(alpha * unigram["a"])
    assert katz.prob("zz", ["a"]) == pytest.approx(alpha * unigram["zz"])


def test_modified_kneser_ney_discounts_from_count_of_counts():
    lm = NGramLM(2, smoothing="modified-kneser-ney").fit(_zipf_corpus(0, 300))
    used = lm.used_[2]
    n1, n2, n3, n4 = (float(np.sum(used == r)) for r in (1, 2, 3, 4))
    Y = n1 / (n1 + 2 * n2)
    assert lm.discounts_[2] == pytest.approx((1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3))


def test_perplexity_matches_log_probs_and_storage_is_arrays():
    lm = NGramLM(3, smoothing="kneser-ney").fit(TRAIN)
    lp = lm.log_probs(TEST)
    assert len(lp) == sum(len(s) + 1 for s in TEST)  # every word and each </s>
    assert lm.perplexity(TEST) == pytest.approx(math.exp(-lp.mean()))
    assert all(k.dtype == np.int64 and np.all(np.diff(k) > 0) for k in lm.keys_)
    assert lm.num_ngrams()[1] == len({w for s in TRAIN for w in s}) + 1  # the words and </s>


def test_unseen_rate_grows_with_n():
    train, test = _zipf_corpus(1, 400), _zipf_corpus(2, 100)
    lm = NGramLM(4, smoothing="kneser-ney").fit(train)
    rates = [lm.unseen_rate(test, order=k) for k in range(1, 5)]
    assert rates == sorted(rates) and rates[0] < 0.01 < rates[-1]


def test_sampling_is_seeded():
    lm = NGramLM(3, smoothing="kneser-ney").fit(TRAIN)
    assert lm.sample(seed=3) == lm.sample(seed=3)
    assert len({tuple(lm.sample(seed=s)) for s in range(10)}) > 1
    assert len(lm.sample(seed=0, max_words=2)) <= 2


# ---------------------------------------------------------------------------------------------------------- NLTK
def _nltk_grams(lm: NGramLM, sentences, n: int, all_orders: bool) -> list[list[tuple[str, ...]]]:
    out = []
    for ids in lm.encode(sentences):
        toks = ["<s>"] * (n - 1) + [lm.vocab_.itos[i] for i in ids] + ["</s>"]
        out.append([tuple(toks[p - k + 1:p + 1]) for p in range(n - 1, len(toks))
                    for k in (range(1, n + 1) if all_orders else [n])])
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("variant", ["laplace", "lidstone", "absolute", "kneser-ney-0.1", "kneser-ney-0.75"])
def test_perplexity_equals_nltk(n, variant):
    """The same counts, vocabulary and definitions give NLTK's perplexity to 1e-9.

    NLTK's vocabulary holds ``<s>``, which we use as context only: its ``len`` is
    lowered by one so that V (Laplace, Lidstone) counts the same predicted tokens.
    NLTK's absolute-discounting and Kneser-Ney unigram levels are undiscounted and
    have no uniform floor: ``interpolate_uniform=False`` is that definition.  NLTK's
    Kneser-Ney needs n >= 2 (its unigram level divides by the bigram continuations).
    """
    lm_mod = pytest.importorskip("nltk.lm")
    from nltk.lm.vocabulary import Vocabulary as NltkVocabulary

    if n == 1 and variant.startswith("kneser"):
        pytest.skip("nltk's KneserNeyInterpolated divides by zero at n = 1")

    class _Vocab(NltkVocabulary):
        def __len__(self) -> int:
            return super().__len__() - 1  # "<s>" is context only

    ours, ref = {
        "laplace": (dict(smoothing="add-k", k=1.0), lambda v: lm_mod.Laplace(n, vocabulary=v)),
        "lidstone": (dict(smoothing="add-k", k=0.3), lambda v: lm_mod.Lidstone(0.3, n, vocabulary=v)),
        "absolute": (dict(smoothing="absolute", discount=0.75, interpolate_uniform=False),
                     lambda v: lm_mod.AbsoluteDiscountingInterpolated(n, discount=0.75, vocabulary=v)),
        "kneser-ney-0.1": (dict(smoothing="kneser-ney", discount=0.1, interpolate_uniform=False),
                           lambda v: lm_mod.KneserNeyInterpolated(n, discount=0.1, vocabulary=v)),
        "kneser-ney-0.75": (dict(smoothing="kneser-ney", discount=0.75, interpolate_uniform=False),
                            lambda v: lm_mod.KneserNeyInterpolated(n, discount=0.75, vocabulary=v)),
    }[variant]
    train, test = _zipf_corpus(0, 200), _zipf_corpus(1, 40)
    lm = NGramLM(n, min_count=3, **ours).fit(train)  # min_count 3: "<unk>" occurs in training
    vocab = _Vocab([*lm.vocab_.itos[4:], "</s>", "<s>"], unk_cutoff=1, unk_label="<unk>")
    model = ref(vocab)
    model.fit(_nltk_grams(lm, train, n, True))
    expected = model.perplexity([g for s in _nltk_grams(lm, test, n, False) for g in s])
    assert lm.perplexity(test) == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("n", [0, -1, 2.5, "3", True])
def test_bad_order(n):
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        NGramLM(n)


@pytest.mark.parametrize("kwargs, match", [
    (dict(smoothing="witten-bell"), "smoothing must be one of"),
    (dict(smoothing="add-k", k=0), "k .* must be a number > 0"),
    (dict(smoothing="kneser-ney", discount=1.5), r"discount must be None or a number in \(0, 1\]"),
    (dict(smoothing="add-k", discount=0.5), "discount applies to"),
    (dict(smoothing="modified-kneser-ney", discount=0.5), "D1, D2, D3"),
    (dict(min_count=0), "min_count must be a positive integer"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        NGramLM(2, **kwargs)


@pytest.mark.parametrize("corpus", [[], [[]], [[], []]])
def test_empty_corpus(corpus):
    with pytest.raises(DataError, match="corpus is empty"):
        NGramLM(2).fit(corpus)


def test_no_word_over_min_count():
    with pytest.raises(DataError, match="no word .* occurs at least min_count=5 times .*'the', occurs 2 times"):
        NGramLM(2, min_count=5).fit([["the", "cat"], ["the"]])


def test_bad_inputs():
    with pytest.raises(TypeError, match="got a str"):
        NGramLM(2).fit("the cat sat")
    with pytest.raises(TypeError, match=r"sentences\[1\] must be a list of token strings"):
        NGramLM(2).fit([["a"], "b c"])
    with pytest.raises(ConfigError, match="not fitted"):
        NGramLM(2).perplexity(TEST)
    lm = NGramLM(2).fit(TRAIN)
    with pytest.raises(ConfigError, match=r"order must be an integer in \[1, 2\]"):
        lm.unseen_rate(TEST, order=3)
    with pytest.raises(ConfigError, match="max_words must be a positive integer"):
        lm.sample(max_words=0)
    with pytest.raises(DataError, match="at least one sentence"):
        lm.perplexity([])


@pytest.mark.parametrize("variant", ["laplace", "lidstone", "absolute", "kneser-ney"])
def test_perplexity_equals_nltk_on_wikitext2(variant):
    """The same parity on real text: WikiText-2's first 200 training lines, 6 test lines, n = 3, min_count 2."""
    lm_mod = pytest.importorskip("nltk.lm")
    from nltk.lm.vocabulary import Vocabulary as NltkVocabulary

    from an2dl.data.datasets.word_corpora import load_word_corpus
    from conftest import require_data

    class _Vocab(NltkVocabulary):
        def __len__(self) -> int:
            return super().__len__() - 1  # "<s>" is context only

    corpus = load_word_corpus("wikitext-2", root=require_data("wikitext-2"))
    train, test, n = corpus.train[:200], corpus.test[:6], 3
    ours, ref = {
        "laplace": (dict(smoothing="add-k", k=1.0), lambda v: lm_mod.Laplace(n, vocabulary=v)),
        "lidstone": (dict(smoothing="add-k", k=0.1), lambda v: lm_mod.Lidstone(0.1, n, vocabulary=v)),
        "absolute": (dict(smoothing="absolute", discount=0.75, interpolate_uniform=False),
                     lambda v: lm_mod.AbsoluteDiscountingInterpolated(n, discount=0.75, vocabulary=v)),
        "kneser-ney": (dict(smoothing="kneser-ney", discount=0.75, interpolate_uniform=False),
                       lambda v: lm_mod.KneserNeyInterpolated(n, discount=0.75, vocabulary=v)),
    }[variant]
    lm = NGramLM(n, min_count=2, **ours).fit(train)
    model = ref(_Vocab([*lm.vocab_.itos[4:], "</s>", "<s>"], unk_cutoff=1, unk_label="<unk>"))
    model.fit(_nltk_grams(lm, train, n, True))
    expected = model.perplexity([g for s in _nltk_grams(lm, test, n, False) for g in s])
    assert lm.perplexity(test) == pytest.approx(expected, rel=1e-9)
