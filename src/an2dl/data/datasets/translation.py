"""Parallel text for translation: Tatoeba's English–French pairs and Multi30K (notes §4.2.2, dataset preparation).

The notes prepare a translation set in four steps: sentences tokenised into
words, a vocabulary per language with the special tokens (``<pad>``, ``<unk>``,
``<sos>``, ``<eos>``) and a frequency cut-off, every sentence mapped to ids, and
targets ending with ``<eos>`` (the decoder's start signal ``<sos>`` is added by
the task, :func:`~an2dl.tasks.seq2seq.shift_right`).  Here:

* **Tokens**: :class:`~an2dl.data.text.WordTokenizer` — NFKC (which turns the
  narrow no-break spaces of the French side into plain spaces), lower case,
  words with inner apostrophes kept whole (``i'm``, ``l'homme``), every
  punctuation mark a token.
* **Vocabularies** of the *training* pairs only, words seen at least
  ``min_freq`` times; rarer and unseen words become ``<unk>``.
* **Batches**: ``ArrayDataset(src [N, S], lengths [N], tgt [N, T])``, source
  and target padded with ``<pad>`` (id 0), each target followed by ``<eos>``.

Datasets:

* ``eng-fra`` — the 5,000 Tatoeba pairs of ``eng-fra.txt`` (sentences of 1–10
  words). Many English sentences have several French translations, so the split
  is made by **distinct source sentence** (seeded shuffle; ``test_fraction`` and
  ``val_fraction`` of them), never splitting one sentence's translations across
  splits; :attr:`TranslationInfo.test_references` keeps every translation of each
  test source for multi-reference BLEU.
* ``multi30k`` — Flickr30K captions with professional translations: the official
  ``train`` (29,000), ``val`` (1,014) and ``test_2016_flickr`` (1,000) splits, any
  two of ``en``, ``de``, ``fr``.

Files are looked for in ``root``, then ``$AN2DL_DATA_DIR/<name>/``, then the
cache, and downloaded (SHA-256 checked) from a pinned commit of their public
source when missing.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ...errors import ConfigError, DataError
from ..bucketing import LengthBucketedDataset
from ..core import ArrayDataset, DatasetInfo, DataSplits
from ..download import RemoteFile, locate, read_verified
from ..registry import register_dataset
from ..text import Vocabulary, WordTokenizer
from ..text.specials import EOS, PAD, UNK

__all__ = ["TranslationInfo", "eng_fra", "multi30k", "encode_pairs", "read_eng_fra", "read_multi30k", "bucket_pairs",
           "pair_lengths"]

_ENG_FRA_URL = ("https://raw.githubusercontent.com/NJUxlj/seq2seq-attention-translation/"
                "b20755b1c81f2d82526ab967dbc8ec6465f22f14/data/eng-fra.txt")
ENG_FRA_FILE = RemoteFile("eng-fra.txt", (_ENG_FRA_URL,),
                          sha256="d952b56a181da5270b7bb4ded3f3bbe61e67a9b1de0e0fbc1d46438c71fb55a7")

_MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/"
#: SHA-256 of the decompressed content of each Multi30K file
_MULTI30K_SHA256 = {
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    "test_2016_flickr.fr": "cb3160d69b002bb638e66cc7612fcd56cb0af82eadc9c142dedc438afb885ef6",
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "train.fr": "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "val.fr": "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc",
}
_MULTI30K_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
_LANGUAGES = ("en", "de", "fr")


@dataclass
class TranslationInfo(DatasetInfo):
    """A parallel corpus: the two vocabularies and, per test source, all its reference translations.

    Attributes:
        src_vocab, tgt_vocab: :class:`~an2dl.data.text.Vocabulary` of each side (training pairs only).
        source_language, target_language: e.g. ``"en"``, ``"fr"``.
        test_references: for each test pair, every tokenised translation of its source sentence in the test split
            (one for Multi30K; one or more for Tatoeba).
        test_sources: the tokenised test source sentences, in the order of the test split.
    """

    src_vocab: Any = None
    tgt_vocab: Any = None
    source_language: str = ""
    target_language: str = ""
    test_references: list[list[list[str]]] = field(default_factory=list)
    test_sources: list[list[str]] = field(default_factory=list)
    kind: ClassVar[str] = "translation"


def _check_fraction(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{owner} {name} must be a fraction in (0, 1); got {value!r}")
    return float(value)


def read_eng_fra(*, root: str | os.PathLike | None = None, download: bool = True) -> list[tuple[str, str]]:
    """The (English, French) pairs of ``eng-fra.txt`` (the attribution column dropped)."""
    path = locate("eng-fra", [ENG_FRA_FILE], root=root, download=download)[ENG_FRA_FILE.name]
    pairs = []
    for i, line in enumerate(read_verified(path, ENG_FRA_FILE).decode("utf-8").splitlines(), start=1):
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise DataError(f"{path}:{i}: a pair needs an English and a French column separated by a TAB; "
                            f"got {line[:80]!r}")
        pairs.append((cols[0], cols[1]))
    return pairs


def read_multi30k(split: str, source: str, target: str, *, root: str | os.PathLike | None = None,
                  download: bool = True) -> list[tuple[str, str]]:
    """The (source, target) caption pairs of a Multi30K split (``train``, ``val`` or ``test`` = test_2016_flickr)."""
    if split not in _MULTI30K_SPLITS:
        raise ConfigError(f"multi30k split must be one of {list(_MULTI30K_SPLITS)}; got {split!r}")
    for name, lang in (("source", source), ("target", target)):
        if lang not in _LANGUAGES:
            raise ConfigError(f"multi30k {name} language must be one of {list(_LANGUAGES)}; got {lang!r}")
    if source == target:
        raise ConfigError(f"multi30k source and target languages must differ; got {source!r} twice")
    stem = _MULTI30K_SPLITS[split]
    files = [RemoteFile(f"{stem}.{lang}.gz", (f"{_MULTI30K_URL}{stem}.{lang}.gz",),
                        sha256=_MULTI30K_SHA256[f"{stem}.{lang}"]) for lang in (source, target)]
    paths = locate("multi30k", files, root=root, download=download)
    sides = [read_verified(paths[f.name], f).decode("utf-8").splitlines() for f in files]
    if len(sides[0]) != len(sides[1]):
        raise DataError(f"multi30k {split}: {source} has {len(sides[0])} lines but {target} has {len(sides[1])}; "
                        f"the files are not aligned")
    return list(zip(*sides))


def encode_pairs(pairs: list[tuple[list[str], list[str]]], src_vocab: Vocabulary,
                 tgt_vocab: Vocabulary) -> ArrayDataset:
    """Tokenised pairs as ``ArrayDataset(src [N, S], lengths [N], tgt [N, T])``, targets ending with ``<eos>``.

    Unknown words become ``<unk>``; ``S`` and ``T`` are the longest source and target (+1 for ``<eos>``).
    """
    if not pairs:
        raise DataError("encode_pairs got no pair to encode")
    s_len = max(len(s) for s, _ in pairs)
    t_len = max(len(t) for _, t in pairs) + 1
    src = torch.full((len(pairs), max(s_len, 1)), PAD, dtype=torch.long)
    tgt = torch.full((len(pairs), t_len), PAD, dtype=torch.long)
    lengths = torch.empty(len(pairs), dtype=torch.long)
    for i, (s, t) in enumerate(pairs):
        if not s:
            raise DataError(f"pair {i} has an empty source sentence (target {' '.join(t)!r})")
        src[i, : len(s)] = torch.tensor([src_vocab.stoi.get(w, UNK) for w in s])
        tgt[i, : len(t)] = torch.tensor([tgt_vocab.stoi.get(w, UNK) for w in t], dtype=torch.long)
        tgt[i, len(t)] = EOS
        lengths[i] = len(s)
    return ArrayDataset(src, lengths, tgt)


def pair_lengths(pairs: ArrayDataset) -> torch.Tensor:
    """Real ``(source, target)`` lengths ``[N, 2]`` of encoded pairs (the target's ``<eos>`` counted)."""
    _, lengths, tgt = pairs.tensors
    return torch.stack([lengths, (tgt != PAD).sum(dim=1)], dim=1)


def bucket_pairs(pairs: ArrayDataset, *, batch_size: int, bucket_batches: int = 50,
                 seed: int = 0) -> LengthBucketedDataset:
    """Encoded pairs in length-bucketed batches (notes §4.2.2; :mod:`an2dl.data.bucketing`), sorted within a
    bucket by source length, then target length."""
    lengths = pair_lengths(pairs)
    key = lengths[:, 0] * (int(lengths[:, 1].max()) + 1) + lengths[:, 1]
    return LengthBucketedDataset(pairs, key, batch_size=batch_size, bucket_batches=bucket_batches, seed=seed)


def _tokenised(pairs: list[tuple[str, str]], tok: WordTokenizer, max_words: int | None,
               reverse: bool) -> list[tuple[list[str], list[str]]]:
    out = []
    for a, b in pairs:
        s, t = tok.tokenize(a), tok.tokenize(b)
        if reverse:
            s, t = t, s
        if s and t and (max_words is None or (len(s) <= max_words and len(t) <= max_words)):
            out.append((s, t))
    return out


def _vocab(sentences: list[list[str]], tok: WordTokenizer, min_freq: int) -> Vocabulary:
    return Vocabulary.build([" ".join(s) for s in sentences], tokenizer=tok, min_freq=min_freq)


def _splits(name: str, train: list, val: list, test: list, src_lang: str, tgt_lang: str, min_freq: int,
            tok: WordTokenizer, test_refs: list[list[list[str]]], extra: dict[str, Any]) -> DataSplits:
    if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
        raise ConfigError(f"{name} min_freq must be a positive integer; got {min_freq!r}")
    for split, pairs in (("train", train), ("val", val), ("test", test)):
        if not pairs:
            raise DataError(f"{name}: the {split} split holds no pair; loosen max_words or the fractions")
    src_vocab = _vocab([s for s, _ in train], tok, min_freq)
    tgt_vocab = _vocab([t for _, t in train], tok, min_freq)
    S = max(len(s) for s, _ in train + val + test)
    info = TranslationInfo(name, input_shape=(S,), src_vocab=src_vocab, tgt_vocab=tgt_vocab,
                           source_language=src_lang, target_language=tgt_lang, test_references=test_refs,
                           test_sources=[s for s, _ in test],
                           extra={"pairs": {"train": len(train), "val": len(val), "test": len(test)},
                                  "source_vocab_size": len(src_vocab), "target_vocab_size": len(tgt_vocab), **extra})
    return DataSplits(encode_pairs(train, src_vocab, tgt_vocab), encode_pairs(val, src_vocab, tgt_vocab),
                      encode_pairs(test, src_vocab, tgt_vocab), info)


@register_dataset("eng-fra")
def eng_fra(*, root: str | os.PathLike | None = None, reverse: bool = False, max_words: int | None = 10,
            min_freq: int = 1, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
            download: bool = True) -> DataSplits:
    """Tatoeba's English–French pairs, split by distinct source sentence (see the module docstring).

    Args:
        root: folder holding ``eng-fra.txt``.
        reverse: translate French into English.
        max_words: keep pairs whose sides both have at most this many tokens (``None``: all).
        min_freq: vocabulary cut-off (training pairs).
        val_fraction, test_fraction: shares of the distinct source sentences.
        seed: seed of the shuffle that assigns source sentences to splits.
    """
    val_fraction = _check_fraction("eng-fra", "val_fraction", val_fraction)
    test_fraction = _check_fraction("eng-fra", "test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"eng-fra val_fraction + test_fraction must be below 1; got {val_fraction + test_fraction}")
    if max_words is not None and (isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1):
        raise ConfigError(f"eng-fra max_words must be None or a positive integer; got {max_words!r}")
    tok = WordTokenizer()
    pairs = _tokenised(read_eng_fra(root=root, download=download), tok, max_words, reverse)
    sources = sorted({tuple(s) for s, _ in pairs})
    random.Random(seed).shuffle(sources)
    n_test, n_val = round(len(sources) * test_fraction), round(len(sources) * val_fraction)
    which = {s: ("test" if i < n_test else "val" if i < n_test + n_val else "train") for i, s in enumerate(sources)}
    split = {"train": [], "val": [], "test": []}
    for s, t in pairs:
        split[which[tuple(s)]].append((s, t))
    refs: dict[tuple[str, ...], list[list[str]]] = {}
    for s, t in split["test"]:
        refs.setdefault(tuple(s), []).append(t)
    langs = ("fr", "en") if reverse else ("en", "fr")
    return _splits("eng-fra", split["train"], split["val"], split["test"], *langs, min_freq, tok,
                   [refs[tuple(s)] for s, _ in split["test"]],
                   {"source": "Tatoeba (CC BY 2.0 FR)", "split": f"by distinct source sentence, seed {seed}"})


@register_dataset("multi30k")
def multi30k(*, root: str | os.PathLike | None = None, source: str = "de", target: str = "en",
             max_words: int | None = None, min_freq: int = 2, max_pairs: int | None = None,
             download: bool = True) -> DataSplits:
    """Multi30K task 1 with its official splits (train, val, test_2016_flickr).

    Args:
        source, target: two of ``en``, ``de``, ``fr``.
        max_words: drop training pairs longer than this (validation and test pairs are always kept whole).
        min_freq: vocabulary cut-off (2, as common practice for Multi30K).
        max_pairs: use only the first ``max_pairs`` lines of the training files (quick runs).
    """
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1):
        raise ConfigError(f"multi30k max_pairs must be None or a positive integer; got {max_pairs!r}")
    tok = WordTokenizer()
    train = read_multi30k("train", source, target, root=root, download=download)
    train = _tokenised(train[:max_pairs] if max_pairs is not None else train, tok, max_words, False)
    val = _tokenised(read_multi30k("val", source, target, root=root, download=download), tok, None, False)
    test = _tokenised(read_multi30k("test", source, target, root=root, download=download), tok, None, False)
    return _splits("multi30k", train, val, test, source, target, min_freq, tok, [[t] for _, t in test],
                   {"source": "Multi30K task 1 (non-commercial research and education)",
                    "split": "official: train, val, test_2016_flickr"})
