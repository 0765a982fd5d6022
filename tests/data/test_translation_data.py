"""Parallel corpora for translation (notes §4.2.2): Tatoeba eng-fra split by source sentence, Multi30K's official
splits, vocabularies of the training pairs, targets ending with <eos>, files checked against their SHA-256."""

from __future__ import annotations

import shutil

import pytest
import torch

from an2dl.data import get_dataset
from an2dl.data.datasets.translation import encode_pairs, read_eng_fra
from an2dl.data.text import Vocabulary
from an2dl.data.text.specials import EOS, PAD, UNK
from an2dl.errors import ChecksumError, ConfigError, DataError
from conftest import require_data


def _sentences(ds, vocab, column):
    return [tuple(vocab.itos[t] for t in row if t != PAD and t != EOS) for row in ds.tensors[column].tolist()]


def _known(sentences):  # <unk> makes different sentences look alike
    return {s for s in sentences if "<unk>" not in s}


def test_eng_fra_splits_by_source_sentence_and_keeps_every_reference():
    require_data("eng-fra")
    d = get_dataset("eng-fra")
    info = d.info
    assert (info.source_language, info.target_language) == ("en", "fr")
    sources = {name: _known(_sentences(getattr(d, name), info.src_vocab, 0)) for name in ("train", "val", "test")}
    assert not (sources["train"] & sources["test"]) and not (sources["train"] & sources["val"])
    assert not (sources["val"] & sources["test"])
    n = {name: len(getattr(d, name)) for name in ("train", "val", "test")}
    assert n == info.extra["pairs"] and sum(n.values()) == 4994  # the pairs of at most 10 words on each side
    # the test split's references are every translation of its source in the test split
    src, lengths, tgt = d.test.tensors
    assert len(info.test_references) == len(src) and all(len(r) >= 1 for r in info.test_references)
    for i in range(len(src)):
        own = [info.tgt_vocab.itos[t] for t in tgt[i].tolist() if t not in (PAD, EOS)]
        assert own in info.test_references[i] or UNK in tgt[i]
    # targets end with <eos>, sources are padded after their length
    ends = (tgt != PAD).sum(1) - 1
    assert torch.equal(tgt[torch.arange(len(tgt)), ends], torch.full((len(tgt),), EOS))
    assert bool((src[torch.arange(src.shape[1])[None] >= lengths[:, None]] == PAD).all())
    # the vocabularies are the training pairs' words; NFKC turned the narrow no-break spaces into plain ones
    assert not any("\u202f" in w or "\xa0" in w for w in info.tgt_vocab.itos)
    train_words = {w for s in _sentences(d.train, info.tgt_vocab, 2) for w in s}
    assert set(info.tgt_vocab.itos[4:]) == train_words
    # the same seed gives the same split; another seed another one
    again = get_dataset("eng-fra")
    assert torch.equal(again.test.tensors[0], src)
    other = get_dataset("eng-fra", seed=1)
    assert _known(_sentences(other.test, other.info.src_vocab, 0)) != sources["test"]
    assert get_dataset("eng-fra", reverse=True).info.source_language == "fr"


def test_multi30k_official_splits_and_min_freq():
    require_data("multi30k")
    from an2dl.data.datasets.translation import read_multi30k

    sizes = {split: len(read_multi30k(split, "de", "en")) for split in ("train", "val", "test")}
    assert sizes == {"train": 29000, "val": 1014, "test": 1000}
    d = get_dataset("multi30k", source="de", target="en", max_pairs=3000)
    assert d.info.extra["pairs"] == {"train": 3000, "val": 1014, "test": 1000}
    # line i of both files is the same caption: the first test pair
    first = " ".join(w for w in _sentences(d.test, d.info.tgt_vocab, 2)[0])
    assert first.startswith("a man in an orange hat starring at something")
    assert " ".join(d.info.test_sources[0]).startswith("ein mann mit einem orangefarbenen hut")
    from collections import Counter

    counts = Counter(w for s in _sentences(d.train, d.info.src_vocab, 0) for w in s if w != "<unk>")
    assert min(counts.values()) >= 2 and len(counts) == len(d.info.src_vocab) - 4  # words seen twice in training


def test_a_corrupt_file_is_refused_by_its_checksum(tmp_path):
    copy = tmp_path / "eng-fra.txt"
    shutil.copy(require_data("eng-fra") / "eng-fra.txt", copy)
    assert len(read_eng_fra(root=tmp_path)) == 5000
    copy.write_text(copy.read_text(encoding="utf-8").replace("Va !", "Vas !", 1), encoding="utf-8")
    with pytest.raises(ChecksumError, match="eng-fra.txt: SHA-256"):
        read_eng_fra(root=tmp_path)


def test_encoding_and_bad_settings():
    src_vocab = Vocabulary(["i", "am", "cold"], tokenizer="word")
    tgt_vocab = Vocabulary(["j'ai", "froid"], tokenizer="word")
    ds = encode_pairs([(["i", "am", "cold"], ["j'ai", "froid"]), (["i", "freeze"], ["j'ai", "gelé"])],
                      src_vocab, tgt_vocab)
    src, lengths, tgt = ds.tensors
    assert src.tolist() == [[4, 5, 6], [4, UNK, PAD]] and lengths.tolist() == [3, 2]
    assert tgt.tolist() == [[4, 5, EOS], [4, UNK, EOS]]
    with pytest.raises(DataError, match="pair 0 has an empty source sentence"):
        encode_pairs([([], ["froid"])], src_vocab, tgt_vocab)
    with pytest.raises(ConfigError, match="max_words must be None or a positive integer; got 0"):
        get_dataset("eng-fra", max_words=0)
    with pytest.raises(ConfigError, match="val_fraction must be a fraction in \\(0, 1\\); got 1.5"):
        get_dataset("eng-fra", val_fraction=1.5)
    with pytest.raises(ConfigError, match="source and target languages must differ"):
        get_dataset("multi30k", source="en", target="en")
    with pytest.raises(ConfigError, match="target language must be one of"):
        get_dataset("multi30k", target="cs")
