"""Word-level corpora for the language models of the notes §4.2.3–§4.2.4: Gutenberg, WikiText-2, Penn Treebank.

The copies in ``$AN2DL_DATA_DIR`` (or ``root``) hold no official training
split for WikiText-2 and PTB, so the splits are fixed here:

* ``gutenberg`` — the 13 NLTK Gutenberg books (Latin-1), the Project Gutenberg
  header up to the ``*END*THE SMALL PRINT`` line dropped, tokenised by
  :class:`~an2dl.data.text.WordTokenizer` (NFKC, lower case, punctuation
  split) and cut into sentences after ``.``, ``!`` and ``?``.  Each book's
  first 80 % of sentences train, the next 10 % validate, the last 10 % test
  (a tail split: the held-out text is unseen continuation of the same books).
* ``wikitext-2`` — ``valid.txt`` trains (its last 10 % of lines validate),
  ``test.txt`` tests; one sentence per non-empty line, tokens split on spaces,
  the corpus's own ``<unk>`` read as ours.
* ``ptb`` — ``ptb.valid.txt`` trains (last 10 % of lines validate),
  ``ptb.test.txt`` tests; as WikiText-2.

:func:`load_word_corpus` returns the sentences; the registered datasets
``gutenberg-words``, ``wikitext2-words`` and ``ptb-words`` return
:class:`NextWordContexts`: (n - 1 previous ids, next id) pairs for
feed-forward language models such as Bengio et al.'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError, DataError, DataNotFoundError
from ..core import DataSplits, PreCollated, TextInfo
from ..download import data_dir
from ..registry import register_dataset
from ..text import EOS, SOS, SPECIALS, UNK, Vocabulary, WordTokenizer

__all__ = ["CORPORA", "NextWordContexts", "WordCorpus", "load_word_corpus", "pad_sentences", "word_vocabulary"]

#: corpus name -> its files
CORPORA: dict[str, tuple[str, ...]] = {
    "gutenberg": ("austen-emma.txt", "austen-persuasion.txt", "austen-sense.txt", "blake-poems.txt",
                  "blake-songs.txt", "chesterton-ball.txt", "chesterton-brown.txt", "chesterton-thursday.txt",
                  "milton-paradise.txt", "shakespeare-caesar.txt", "shakespeare-hamlet.txt",
                  "shakespeare-macbeth.txt", "whitman-leaves.txt"),
    "wikitext-2": ("valid.txt", "test.txt"),
    "ptb": ("ptb.valid.txt", "ptb.test.txt"),
}
_ENDS = {".", "!", "?"}


@dataclass
class WordCorpus:
    """Tokenised sentences of a corpus, split into train / val / test (lists of token lists)."""

    name: str
    train: list[list[str]]
    val: list[list[str]]
    test: list[list[str]]
    split: str  # how the split was made, in words

    def num_tokens(self) -> dict[str, int]:
        return {k: sum(len(s) for s in getattr(self, k)) for k in ("train", "val", "test")}


def _folder(name: str, root: str | os.PathLike | None) -> Path:
    places = [Path(root)] if root is not None else ([data_dir() / name] if data_dir() is not None else [])
    for p in places:
        if all((p / f).is_file() for f in CORPORA[name]):
            return p
    looked = ", ".join(str(p) for p in places) or "nowhere (AN2DL_DATA_DIR is not set)"
    raise DataNotFoundError(f"{name}: the files {list(CORPORA[name])} were not found in {looked}; pass root=FOLDER "
                            f"(--set data.root=...) or set AN2DL_DATA_DIR to the folder that holds {name}/")


def _gutenberg_sentences(text: str, tokenizer: WordTokenizer) -> list[list[str]]:
    marker = text.find("*END*THE SMALL PRINT")
    if marker >= 0:
        text = text[text.find("\n", marker) + 1:]
    tokens = tokenizer.tokenize(text)
    out, cur = [], []
    for t in tokens:
        cur.append(t)
        if t in _ENDS:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _lines(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f if line.strip()]


def load_word_corpus(name: str, *, root: str | os.PathLike | None = None, max_sentences: int | None = None) -> WordCorpus:
    """The sentences of ``name`` (one of :data:`CORPORA`) with the split of the module docstring.

    Args:
        name: ``"gutenberg"``, ``"wikitext-2"`` or ``"ptb"``.
        root: the folder with the corpus's files (default ``$AN2DL_DATA_DIR/<name>``).
        max_sentences: keep at most this many sentences per split (for quick runs); ``None``: all.

    Raises:
        ConfigError: unknown name or bad ``max_sentences``.
        DataNotFoundError: the files are not there; the message says where it looked.
    """
    if name not in CORPORA:
        raise ConfigError(f"load_word_corpus name must be one of {list(CORPORA)}; got {name!r}")
    if max_sentences is not None and (isinstance(max_sentences, bool) or not isinstance(max_sentences, int)
                                      or max_sentences < 1):
        raise ConfigError(f"load_word_corpus max_sentences must be None or a positive integer; got {max_sentences!r}")
    folder = _folder(name, root)
    if name == "gutenberg":
        tok = WordTokenizer()
        train, val, test = [], [], []
        for f in CORPORA[name]:
            sents = _gutenberg_sentences((folder / f).read_text(encoding="latin-1"), tok)
            a, b = int(0.8 * len(sents)), int(0.9 * len(sents))
            train += sents[:a]
            val += sents[a:b]
            test += sents[b:]
        split = "each book: first 80 % of sentences train, next 10 % validation, last 10 % test"
    else:
        first, second = CORPORA[name]
        lines = _lines(folder / first)
        cut = int(0.9 * len(lines))
        train, val, test = lines[:cut], lines[cut:], _lines(folder / second)
        split = f"{first}: first 90 % of lines train, last 10 % validation; {second}: test"
    if max_sentences is not None:
        train, val, test = train[:max_sentences], val[:max_sentences], test[:max_sentences]
    return WordCorpus(name, train, val, test, split)


def word_vocabulary(sentences: Sequence[Sequence[str]], *, min_count: int = 1) -> Vocabulary:
    """A word :class:`~an2dl.data.text.Vocabulary` of the tokens seen at least ``min_count`` times.

    The corpus's own special tokens (WikiText's ``<unk>``) are not words: they
    map to ours.  Order: by descending count, ties by code point.

    Raises:
        DataError: no token at all, or none reaches ``min_count``.
    """
    from collections import Counter

    counter: Counter[str] = Counter()
    for s in sentences:
        counter.update(s)
    if not counter:
        raise DataError(f"the training corpus is empty: {len(sentences)} sentence(s) and no token")
    kept = sorted(((t, c) for t, c in counter.items() if c >= min_count and t not in SPECIALS),
                  key=lambda tc: (-tc[1], tc[0]))
    if not kept:
        top, top_c = counter.most_common(1)[0]
        raise DataError(f"no word of the training corpus occurs at least min_count={min_count} times (the most "
                        f"frequent, {top!r}, occurs {top_c} times); lower min_count")
    return Vocabulary([t for t, _ in kept], tokenizer="word", counts=[c for _, c in kept])


def pad_sentences(sentences: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """One id stream of padded sentences and the positions a model of order ``n`` predicts.

    Every sentence becomes ``<s>`` × (n - 1), its ids, ``</s>`` (``<sos>`` and
    ``<eos>`` of :mod:`an2dl.data.text`).

    Returns:
        ``(stream [M], predicted [P])``: the ids and the positions of the
        words and of each ``</s>`` (the ``<s>`` are context only).
    """
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    span = lengths + n  # n - 1 starts, the words, one end
    starts = np.concatenate([[0], np.cumsum(span)[:-1]]).astype(np.int64)
    stream = np.full(int(span.sum()), SOS, dtype=np.int64)
    total = int(lengths.sum())
    first_word = starts + n - 1
    if total:
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        word_pos = np.repeat(first_word, lengths) + within
        stream[word_pos] = np.concatenate([np.asarray(s, dtype=np.int64) for s in sentences])
    else:
        word_pos = np.zeros(0, dtype=np.int64)
    end_pos = first_word + lengths
    stream[end_pos] = EOS
    return stream, np.sort(np.concatenate([word_pos, end_pos]))


class NextWordContexts(Dataset):
    """(previous n - 1 ids, next id) pairs of padded sentences (notes §4.2.4: the NNLM's input and target).

    Args:
        sentences: token lists.
        vocab: the word vocabulary (unknown words -> ``<unk>``).
        context_size: n - 1.

    Shape:
        a batch is ``(tokens [B, n - 1], targets [B, 1])`` int64 — the target
        as a length-1 sequence, the ``[B, T]`` of a language-model task.
    """

    def __init__(self, sentences: Sequence[Sequence[str]], vocab: Vocabulary, *, context_size: int) -> None:
        if isinstance(context_size, bool) or not isinstance(context_size, int) or context_size < 1:
            raise ConfigError(f"NextWordContexts context_size must be a positive integer; got {context_size!r}")
        ids = [np.array([vocab.stoi.get(t, UNK) for t in s], dtype=np.int64) for s in sentences]
        stream, pred = pad_sentences(ids, context_size + 1)
        if len(pred) == 0:
            raise DataError("NextWordContexts needs at least one sentence; got none")
        self.stream, self.pred = torch.from_numpy(stream), torch.from_numpy(pred)
        self.context_size, self.vocab = context_size, vocab
        self._steps = torch.arange(-context_size, 1)

    def __len__(self) -> int:
        return len(self.pred)

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.stream[self.pred[idx][:, None] + self._steps[None, :]]  # (B, n)
        return chunk[:, :-1], chunk[:, -1:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"context {i} out of range for {len(self)}")
        x, y = self._batch(torch.tensor([i % len(self)]))
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> PreCollated:
        return PreCollated(self._batch(torch.as_tensor(indices, dtype=torch.long)))


def word_context_splits(corpus: WordCorpus, *, context_size: int = 4, min_count: int = 1) -> DataSplits:
    """:class:`NextWordContexts` of a corpus's three splits, the vocabulary built on its training sentences."""
    vocab = word_vocabulary(corpus.train, min_count=min_count)
    info = TextInfo(name=corpus.name, input_shape=(context_size,), vocab=vocab,
                    extra={"split": corpus.split, "tokens": corpus.num_tokens(), "min_count": min_count})
    make = lambda s: NextWordContexts(s, vocab, context_size=context_size) if s else None  # noqa: E731
    return DataSplits(make(corpus.train), make(corpus.val), make(corpus.test), info)


def _register(registered: str, corpus: str) -> None:
    def build(*, root: str | os.PathLike | None = None, context_size: int = 4, min_count: int = 1,
              max_sentences: int | None = None) -> DataSplits:
        return word_context_splits(load_word_corpus(corpus, root=root, max_sentences=max_sentences),
                                   context_size=context_size, min_count=min_count)

    build.__doc__ = (f"Next-word contexts of {corpus} (see :mod:`an2dl.data.datasets.word_corpora` for the split): "
                     f"(n - 1 ids, next id) pairs, the vocabulary of the training sentences with ``min_count``.")
    register_dataset(registered)(build)


_register("gutenberg-words", "gutenberg")
_register("wikitext2-words", "wikitext-2")
_register("ptb-words", "ptb")
