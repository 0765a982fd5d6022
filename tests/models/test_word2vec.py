"""word2vec (notes §4.2.5): the update rule against autograd, the sampling tables, the Huffman tree, queries,
the word2vec file formats (read back by gensim) and every bad-input path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from an2dl.errors import ConfigError, DataError, TrainingDiverged
from an2dl.models.language import UnknownWordError, Word2Vec, WordVectors
from an2dl.models.language import word2vec as word2vec_module
from an2dl.models.language.word2vec import (
    context_pairs,
    huffman_codes,
    keep_probabilities,
    sigmoid_pairs_step,
    unigram_table,
)


def _toy_corpus(n_sentences: int = 400, seed: int = 0) -> list[list[str]]:
    """Two topics whose words never share a sentence: animals and vehicles, plus shared filler words."""
    rng = np.random.default_rng(seed)
    topics = [["cat", "dog", "mouse", "horse", "cow"], ["car", "bus", "truck", "train", "plane"]]
    filler = ["the", "a", "and", "of"]
    out = []
    for i in range(n_sentences):
        words = topics[i % 2]
        out.append([str(rng.choice(words)) if rng.random() < 0.7 else str(rng.choice(filler)) for _ in range(12)])
    return out


def test_sigmoid_pairs_step_is_the_gradient_of_the_objective():
    """dL/dU[j] = g_j h and dL/dh = sum_j g_j U[j] with g_j = y_j - s(U[j].h), checked with autograd (float64)."""
    torch.manual_seed(0)
    w_out = torch.randn(7, 4, dtype=torch.float64)
    h = torch.randn(3, 4, dtype=torch.float64)
    ids = torch.tensor([[1, 2, 2], [0, 6, 3], [5, 1, 4]])
    labels = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 1]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=torch.float64)
    u_ref = w_out.clone().requires_grad_(True)
    h_ref = h.clone().requires_grad_(True)
    score = torch.einsum("bjd,bd->bj", u_ref[ids], h_ref)
    objective = (torch.nn.functional.logsigmoid((2 * labels - 1) * score) * mask).sum()
    objective.backward()
    lr = 0.1
    w_new = w_out.clone()
    step_h = sigmoid_pairs_step(w_new, h, ids, labels, mask, lr)
    torch.testing.assert_close(step_h, lr * h_ref.grad)
    torch.testing.assert_close(w_new - w_out, lr * u_ref.grad)


def test_keep_probability_is_mikolovs_formula():
    counts = np.array([1000, 100, 10, 1])
    t = 1e-2
    p = keep_probabilities(counts, t)
    tn = t * counts.sum()
    expected = np.minimum(1, (np.sqrt(counts / tn) + 1) * tn / counts)
    np.testing.assert_allclose(p, expected)
    assert p[0] < p[1] < 1 and p[-1] == 1  # only frequent words are thinned
    np.testing.assert_array_equal(keep_probabilities(counts, 0), 1)


def test_unigram_table_follows_counts_to_the_three_quarters():
    counts = np.array([8000, 1000, 100, 1])
    table = unigram_table(counts, 0.75, size=1 << 20)
    share = np.bincount(table, minlength=4) / len(table)
    p = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(share, p, atol=2e-6)
    assert share[3] > 0  # every word can be drawn


def test_huffman_codes_are_prefix_free_and_optimal():
    counts = [45, 13, 12, 16, 9, 5]  # the textbook example (CLRS): code lengths 1, 3, 3, 3, 4, 4
    codes, points = huffman_codes(counts)
    assert sorted(len(c) for c in codes) == [1, 3, 3, 3, 4, 4]
    assert len(codes[0]) == 1  # the most frequent word is nearest the root
    strings = ["".join(map(str, c)) for c in codes]
    assert not any(a != b and b.startswith(a) for a in strings for b in strings)
    assert all(p[0] == len(counts) - 2 for p in points)  # every path starts at the root
    assert sum(len(c) * n for c, n in zip(codes, counts)) == 224  # the optimal cost of this example
    with pytest.raises(ConfigError, match="at least 2 words"):
        huffman_codes([3])


@pytest.mark.parametrize("architecture,hs,negative", [("skipgram", False, 5), ("cbow", False, 5),
                                                      ("skipgram", True, 0), ("cbow", True, 3)])
def test_each_variant_separates_the_two_topics(architecture, hs, negative):
    """Words of one topic end up closer to each other than to the other topic's, for every variant."""
    m = Word2Vec(architecture=architecture, hs=hs, negative=negative, dim=16, window=3, min_count=1, epochs=5,
                 sample=0, alpha=0.05, batch_size=16, seed=1).fit(_toy_corpus())
    wv = m.wv_
    within = np.mean([wv.similarity("cat", "dog"), wv.similarity("car", "bus"), wv.similarity("cow", "horse")])
    across = np.mean([wv.similarity("cat", "car"), wv.similarity("dog", "bus"), wv.similarity("cow", "plane")])
    assert within > across + 0.3, (within, across)
    assert m.history_[-1] < m.history_[0]  # the objective falls
    top = [w for w, _ in wv.most_similar("truck", topn=3)]
    assert set(top) <= {"car", "bus", "train", "plane"}


def test_training_is_deterministic_for_a_seed():
    a = Word2Vec(dim=8, min_count=1, epochs=1, seed=3).fit(_toy_corpus(100)).wv_.vectors
    b = Word2Vec(dim=8, min_count=1, epochs=1, seed=3).fit(_toy_corpus(100)).wv_.vectors
    np.testing.assert_array_equal(a, b)


def test_context_pairs_equal_the_reference_loop():
    """The vectorised pair builder gives the pairs of word2vec.c's loop, in the same order."""
    rng = np.random.default_rng(0)
    lengths = [1, 7, 3, 12, 2, 9]
    sid = np.repeat(np.arange(len(lengths)), lengths)
    max_window = 4
    b = rng.integers(1, max_window + 1, size=len(sid))
    expected = []
    for i in range(len(sid)):
        for o in range(-b[i], b[i] + 1):
            j = i + o
            if o != 0 and 0 <= j < len(sid) and sid[j] == sid[i]:
                expected.append((i, j))
    centre, context = context_pairs(sid, b, max_window)
    assert list(zip(centre.tolist(), context.tolist())) == expected
    assert context_pairs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 3)[0].shape == (0,)
    with pytest.raises(ConfigError, match="windows must lie in 1..max_window=4"):
        context_pairs(sid, b + 1, max_window)


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_a_batch_of_the_trainer_equals_the_update_rule_written_as_a_loop(architecture):
    """One batch of the vectorised trainer (pairs, embedding-bag means, index_add_) against the per-example loop.

    Every example of a batch reads the weights from before the batch and the steps are summed: for CBOW
    ``h = mean_{c in ctx} C[c]``, ``g_j = (y_j - s(U[j].h)) m_j lr``, ``U[j] += g_j h`` and every context row
    gets the whole ``sum_j g_j U[j]``; skip-gram is the same with ``h = C[centre]`` predicting each context word.
    """
    import copy

    m = Word2Vec(architecture=architecture, dim=6, window=2, negative=3, min_count=1, epochs=1, sample=0,
                 batch_size=1000, seed=0).fit(_toy_corpus(20))
    rng, gen = np.random.default_rng(5), torch.Generator().manual_seed(5)
    tok = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], dtype=np.int64)
    sid = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3])
    w_in, w_out = m.w_in_.clone().double(), m.w_out_.clone().double()
    rng_ref, gen_ref = copy.deepcopy(rng), torch.Generator().manual_seed(5)
    m._train_chunk(tok, sid, rng, gen, 0.1, 0.1)

    b = rng_ref.integers(1, 3, size=len(tok))
    examples = []  # (input rows, target) in the trainer's order
    for i in range(len(tok)):
        ctx = [i + o for o in range(-b[i], b[i] + 1) if o and 0 <= i + o < len(tok) and sid[i + o] == sid[i]]
        if architecture == "skipgram":
            examples += [([tok[i]], tok[j]) for j in ctx]
        elif ctx:
            examples.append(([tok[j] for j in ctx], tok[i]))
    negatives = m._table[torch.randint(len(m._table), (len(examples) * 3,), generator=gen_ref)].view(-1, 3)
    d_in, d_out = torch.zeros_like(w_in), torch.zeros_like(w_out)
    for (rows, target), neg in zip(examples, negatives.tolist()):
        h = w_in[rows].mean(0)
        step_h = torch.zeros_like(h)
        for j, y in [(target, 1.0)] + [(n, 0.0) for n in neg]:
            if y == 0.0 and j == target:
                continue  # a negative equal to the positive is skipped
            g = (y - torch.sigmoid(w_out[j] @ h)) * 0.1
            d_out[j] += g * h
            step_h += g * w_out[j]
        for r in rows:
            d_in[r] += step_h
    assert len(examples) > 5 and d_in.abs().sum() > 0 and d_out.abs().sum() > 0
    torch.testing.assert_close(m.w_out_.double(), w_out + d_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(m.w_in_.double(), w_in + d_in, atol=1e-6, rtol=1e-5)


def test_workers_train_hogwild_and_one_worker_is_reproducible(monkeypatch):
    """Two Hogwild threads learn the same structure; one worker gives the same vectors for the same seed."""
    monkeypatch.setattr(word2vec_module, "_CHUNK", 400)  # several chunks per epoch, so both threads train
    corpus = _toy_corpus(300)
    kw = dict(dim=16, window=3, min_count=1, epochs=4, sample=0, alpha=0.05, batch_size=16)
    one = [Word2Vec(workers=1, seed=2, **kw).fit(corpus).wv_ for _ in range(2)]
    np.testing.assert_array_equal(one[0].vectors, one[1].vectors)
    two = Word2Vec(workers=2, seed=2, **kw).fit(corpus).wv_
    assert two.similarity("cat", "dog") > two.similarity("cat", "car") + 0.3
    with pytest.raises(ConfigError, match="workers must be an integer >= 1; got 0"):
        Word2Vec(workers=0).fit([["a", "b"]])


def _vectors() -> WordVectors:
    words = ["man", "woman", "king", "queen", "apple"]
    v = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0.3]], dtype=np.float32)
    return WordVectors(words, v)


def test_queries_and_analogies():
    wv = _vectors()
    assert wv.similarity("man", "king") == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert wv.analogy("man", "king", "woman", method="3cosadd")[0][0] == "queen"
    assert wv.analogy("man", "king", "woman", method="3cosmul")[0][0] == "queen"
    # 3CosMul score by hand: cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-3) with cos' = (cos + 1) / 2
    unit = wv.vectors / np.linalg.norm(wv.vectors, axis=1, keepdims=True)
    c = lambda i, j: (unit[i] @ unit[j] + 1) / 2  # noqa: E731
    expected = c(3, 2) * c(3, 1) / (c(3, 0) + 1e-3)
    assert wv.analogy("man", "king", "woman", method="3cosmul")[0][1] == pytest.approx(expected, rel=1e-5)
    near = wv.most_similar("king", topn=2)
    assert [w for w, _ in near] == ["queen", "man"] and "king" not in dict(near)
    assert wv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"


def test_unknown_words_raise_a_clear_error():
    wv = _vectors()
    with pytest.raises(UnknownWordError, match="'prince' is not in the vocabulary"):
        wv.most_similar("prince")
    with pytest.raises(UnknownWordError, match="'duke'"):
        wv.analogy("man", "duke", "woman")
    with pytest.raises(KeyError):  # still a KeyError for code that catches one
        wv["nobody"]
    with pytest.raises(ConfigError, match="'3cosadd' or '3cosmul'"):
        wv.analogy("man", "king", "woman", method="pairdir")
    with pytest.raises(ConfigError, match="at least one positive or negative"):
        wv.most_similar()


def test_bad_corpora_and_settings():
    with pytest.raises(DataError, match="empty corpus"):
        Word2Vec().fit([])
    with pytest.raises(DataError, match="empty corpus"):
        Word2Vec().fit([[], []])
    with pytest.raises(DataError, match="min_count=5"):
        Word2Vec(min_count=5).fit([["a", "b", "c"], ["a", "d"]])
    with pytest.raises(TrainingDiverged, match="lower batch_size or alpha"):
        Word2Vec(dim=16, window=3, min_count=1, sample=0, alpha=0.05, batch_size=2048).fit(_toy_corpus())
    with pytest.raises(ConfigError, match="architecture must be 'skipgram' or 'cbow'"):
        Word2Vec(architecture="glove").fit([["a", "b"]])
    with pytest.raises(ConfigError, match="negative > 0 or hs=True"):
        Word2Vec(negative=0).fit([["a", "b"]])
    with pytest.raises(ConfigError, match="window must be an integer >= 1; got 0"):
        Word2Vec(window=0).fit([["a", "b"]])
    with pytest.raises(ConfigError, match="min_alpha"):
        Word2Vec(alpha=0.01, min_alpha=0.1).fit([["a", "b"]])


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_files_round_trip_and_gensim_reads_them(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    rng = np.random.default_rng(0)
    wv = WordVectors(["the", "città", "of", "x"], rng.normal(size=(4, 5)).astype(np.float32))
    path = wv.save(tmp_path / "v.bin", binary=binary)
    back = WordVectors.load(path)  # the format is detected
    assert back.words == wv.words
    np.testing.assert_allclose(back.vectors, wv.vectors, rtol=0 if binary else 1e-5, atol=0 if binary else 1e-6)
    kv = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert list(kv.index_to_key) == wv.words
    np.testing.assert_allclose(kv.vectors, wv.vectors, rtol=1e-5, atol=1e-6)
    kv.save_word2vec_format(str(tmp_path / "g"), binary=binary)  # and we read gensim's files
    np.testing.assert_allclose(WordVectors.load(tmp_path / "g", binary=binary).vectors, wv.vectors, rtol=1e-5,
                               atol=1e-6)


def test_bad_word2vec_files(tmp_path):
    wv = _vectors()
    text = wv.save(tmp_path / "v.txt").read_text().splitlines()
    text[2] = text[2] + " 0.5"
    (tmp_path / "bad.txt").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="line 3 has 4 values; the header says 3"):
        WordVectors.load(tmp_path / "bad.txt", binary=False)
    full = wv.save(tmp_path / "v.bin", binary=True).read_bytes()
    (tmp_path / "cut.bin").write_bytes(full[:-7])
    with pytest.raises(DataError, match="truncated: it ends inside entry 5 of 5"):
        WordVectors.load(tmp_path / "cut.bin", binary=True)
    (tmp_path / "head.txt").write_text("five 3\n")
    with pytest.raises(DataError, match="first line of a word2vec file must be 'V D'"):
        WordVectors.load(tmp_path / "head.txt")
    (tmp_path / "short.txt").write_text("3 2\na 1 2\n")
    with pytest.raises(DataError, match="announces 3 words but the file holds 1"):
        WordVectors.load(tmp_path / "short.txt")
    with pytest.raises(DataError, match="shape"):
        WordVectors(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(DataError, match="cannot hold words with spaces"):
        WordVectors(["new york", "b"], np.zeros((2, 2))).save(tmp_path / "space.txt")
