"""Conversations of chatterbot-corpus as (context, reply) pairs (notes §4.3.1): split by conversation, the same
exchanges for any context length, contexts joined by the separator token."""

from __future__ import annotations

import pytest

from an2dl.data import get_dataset
from an2dl.data.datasets.dialogue import dialogue_pairs, read_chatterbot
from an2dl.data.text.specials import EOS, PAD
from an2dl.errors import ConfigError


def _rows(ds, vocab, column):
    return [tuple(vocab.itos[t] for t in row if t not in (PAD, EOS)) for row in ds.tensors[column].tolist()]


def test_contexts_are_the_previous_turns_joined_by_the_separator():
    conv = [["hi"], ["hello", "!"], ["how", "are", "you"], ["fine"]]
    assert dialogue_pairs(conv, 1) == [(["hi"], ["hello", "!"]), (["hello", "!"], ["how", "are", "you"]),
                                       (["how", "are", "you"], ["fine"])]
    assert dialogue_pairs(conv, 2)[2] == (["hello", "!", "|", "how", "are", "you"], ["fine"])
    assert dialogue_pairs(conv, 5)[2][0] == ["hi", "|", "hello", "!", "|", "how", "are", "you"]


def test_the_corpus_split_by_conversation_with_every_reference():
    conversations = read_chatterbot()
    assert len(conversations) > 2000 and all(len(c) >= 2 for c in conversations)
    one, three = get_dataset("chatterbot"), get_dataset("chatterbot", turns=3)
    info = one.info
    assert info.extra["pairs"] == three.info.extra["pairs"]  # the same exchanges whatever the context
    assert _rows(one.test, info.tgt_vocab, 2) == _rows(three.test, info.tgt_vocab, 2)
    # the last utterance of a multi-turn context is the single-turn question
    for q, ctx in zip(_rows(one.test, info.src_vocab, 0), _rows(three.test, info.src_vocab, 0)):
        assert ctx[len(ctx) - len(q):] == q
    assert info.src_vocab is info.tgt_vocab and "|" in info.src_vocab.stoi
    for i, refs in enumerate(info.test_references):
        same = [j for j, s in enumerate(info.test_sources) if s == info.test_sources[i]]
        assert len(refs) == len(same)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="turns must be a positive integer; got 0"):
        get_dataset("chatterbot", turns=0)
    with pytest.raises(ConfigError, match="test_fraction must be a fraction in \\(0, 1\\); got 0"):
        get_dataset("chatterbot", test_fraction=0)
    with pytest.raises(ConfigError, match="has no language 'klingon'"):
        read_chatterbot("klingon")
