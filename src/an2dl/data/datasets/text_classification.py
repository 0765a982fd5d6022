"""Labelled text for many-to-one sequence classification (notes §4.1.1.2, the sentiment-analysis example).

No labelled sentiment corpus can be had offline here (none ships in a kept
Debian or PyPI package that this project may read), so the recipe classifies
**who wrote a passage** instead: ``gutenberg-authors`` cuts the 13 NLTK
Gutenberg books into passages of whole sentences (at least ``passage_words``
words, cut at ``max_words``) labelled by author — Austen, Blake, Chesterton,
Milton, Shakespeare, Whitman.  The split is by position in each book (first
80 % of its passages train, next 10 % validate, last 10 % test), so no
sentence is seen in two splits; training keeps at most ``max_per_author``
passages of each author (the authors' shares differ tenfold), validation and
test keep them all.  Words go through one word vocabulary of the training
passages (``min_freq``); the recorded text pipeline lets ``an2dl predict`` read
a passage from a text file.
"""

from __future__ import annotations

import os
import random
from typing import Any

import torch

from ...errors import ConfigError
from ..core import ArrayDataset, DataSplits, SequenceInfo
from ..preprocess import Preprocess
from ..registry import register_dataset
from ..text import Vocabulary, WordTokenizer
from .sequence_tasks import encode_texts
from .word_corpora import CORPORA, _folder, _gutenberg_sentences

__all__ = ["gutenberg_authors", "AUTHORS"]

#: the authors of the 13 books, in label order
AUTHORS = ("austen", "blake", "chesterton", "milton", "shakespeare", "whitman")


def _passages(sentences: list[list[str]], passage_words: int, max_words: int) -> list[list[str]]:
    out, cur = [], []
    for s in sentences:
        cur += s
        if len(cur) >= passage_words:
            out.append(cur[:max_words])
            cur = []
    return out


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"gutenberg-authors {name} must be a positive integer; got {value!r}")
    return value


@register_dataset("gutenberg-authors")
def gutenberg_authors(*, root: str | os.PathLike | None = None, passage_words: int = 40, max_words: int = 60,
                      max_per_author: int | None = 1500, min_freq: int = 2, seed: int = 0) -> DataSplits:
    """Passages of the Gutenberg books labelled by author (see the module docstring).

    Returns:
        :class:`DataSplits` of ``(ids [N, max_words], lengths [N], author [N])``; ``info`` a
        :class:`~an2dl.data.core.SequenceInfo` with the author names, the vocabulary size and the text pipeline.
    """
    _positive("passage_words", passage_words)
    if _positive("max_words", max_words) < passage_words:
        raise ConfigError(f"gutenberg-authors max_words must be >= passage_words ({passage_words}); got {max_words}")
    if max_per_author is not None:
        _positive("max_per_author", max_per_author)
    folder = _folder("gutenberg", root)
    tok = WordTokenizer()
    parts: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    for f in CORPORA["gutenberg"]:
        author = AUTHORS.index(f.split("-")[0])
        passages = _passages(_gutenberg_sentences((folder / f).read_text(encoding="latin-1"), tok), passage_words,
                             max_words)
        a, b = int(0.8 * len(passages)), int(0.9 * len(passages))
        for split, chunk in (("train", passages[:a]), ("val", passages[a:b]), ("test", passages[b:])):
            parts[split] += [(" ".join(p), author) for p in chunk]
    if max_per_author is not None:  # an even share of each author's books in training
        rng = random.Random(seed)
        kept = []
        for k in range(len(AUTHORS)):
            mine = [p for p in parts["train"] if p[1] == k]
            kept += rng.sample(mine, min(max_per_author, len(mine)))
        parts["train"] = kept
    vocab = Vocabulary.build([t for t, _ in parts["train"]], tokenizer=tok, min_freq=min_freq)
    pre = Preprocess([{"op": "tokenize", "vocab": vocab.to_dict()}], raw_input={"kind": "text"})

    def encode(items: list[tuple[str, int]]) -> ArrayDataset:
        ids, lengths = encode_texts(pre, [t for t, _ in items], max_words)
        return ArrayDataset(ids, lengths, torch.tensor([k for _, k in items], dtype=torch.int64))

    counts = {split: [sum(1 for _, k in items if k == a) for a in range(len(AUTHORS))]
              for split, items in parts.items()}
    info = SequenceInfo(name="gutenberg-authors", class_names=list(AUTHORS), input_shape=(max_words,),
                        vocab_size=len(vocab),
                        extra={"passages_per_author": counts, "passage_words": passage_words,
                               "split": "each book: first 80 % of passages train, next 10 % validation, last 10 % test"},
                        preprocess=pre.to_dict())
    return DataSplits(encode(parts["train"]), encode(parts["val"]), encode(parts["test"]), info)
