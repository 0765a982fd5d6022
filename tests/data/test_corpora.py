"""Word corpora for the language models (notes §4.2.3–§4.2.4): splits, counts, next-word contexts, errors."""

from __future__ import annotations

import pytest

from an2dl.data import get_dataset
from an2dl.data.datasets.word_corpora import NextWordContexts, load_word_corpus, word_vocabulary
from an2dl.data.text import EOS, SOS, UNK
from an2dl.errors import ConfigError, DataError, DataNotFoundError
from conftest import require_data


def test_wikitext2_split_and_token_counts():
    root = require_data("wikitext-2")
    c = load_word_corpus("wikitext-2", root=root)
    # the README's 245,569 test tokens count one <eos> per line (4,358 lines)
    assert c.num_tokens()["test"] == 245_569 - 4_358
    assert c.num_tokens()["train"] + c.num_tokens()["val"] == 217_646 - 3_760
    assert "<unk>" not in word_vocabulary(c.train).stoi or word_vocabulary(c.train).stoi["<unk>"] == UNK


def test_ptb_and_gutenberg():
    c = load_word_corpus("ptb", root=require_data("ptb"))
    assert c.num_tokens()["test"] == 82_430 - 3_761
    g = load_word_corpus("gutenberg", root=require_data("gutenberg"))
    assert 1_000_000 < sum(g.num_tokens().values()) < 1_100_000
    assert not any("gutenberg" in s for s in g.train[:3])  # the licence header is dropped
    assert all(s[-1] in ".!?" for s in g.train[:100])


def test_next_word_contexts():
    vocab = word_vocabulary([["a", "b", "c"], ["a"]])
    ds = NextWordContexts([["a", "b", "c"], ["a", "zz"]], vocab, context_size=2)
    a, b, c = (vocab.stoi[w] for w in "abc")
    assert len(ds) == 4 + 3  # three words and </s>, two words and </s>
    x, y = ds.__getitems__(list(range(len(ds)))).value
    assert x.tolist() == [[SOS, SOS], [SOS, a], [a, b], [b, c], [SOS, SOS], [SOS, a], [a, UNK]]
    assert y.flatten().tolist() == [a, b, c, EOS, a, UNK, EOS]
    assert y.shape == (7, 1)
    x0, y0 = ds[2]
    assert x0.tolist() == [a, b] and y0.tolist() == [c]


def test_registered_dataset():
    data = get_dataset("wikitext2-words", root=require_data("wikitext-2"), context_size=3, min_count=3,
                       max_sentences=200)
    assert data.info.input_shape == (3,)
    assert len(data.train) == sum(len(s) + 1 for s in load_word_corpus("wikitext-2", max_sentences=200,
                                                                        root=require_data("wikitext-2")).train)


def test_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="gutenberg: the files .* were not found in"):
        load_word_corpus("gutenberg", root=tmp_path)
    with pytest.raises(ConfigError, match="name must be one of"):
        load_word_corpus("wikitext-103")
    with pytest.raises(ConfigError, match="max_sentences"):
        load_word_corpus("ptb", max_sentences=0)
    with pytest.raises(DataError, match="corpus is empty"):
        word_vocabulary([[], []])
    with pytest.raises(DataError, match="min_count=3"):
        word_vocabulary([["a"]], min_count=3)
    with pytest.raises(ConfigError, match="context_size must be a positive integer"):
        NextWordContexts([["a"]], word_vocabulary([["a"]]), context_size=0)
