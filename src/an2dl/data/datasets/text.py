"""Character-level text corpora for language modelling (notes §4.1; char-rnn, Karpathy 2015).

The vocabulary is a character-level :class:`~an2dl.data.text.Vocabulary`:
the special tokens at their fixed ids (``<pad>=0, <unk>=1, <sos>=2,
<eos>=3``), then the corpus's characters in code-point order (the ids this
module has always given, so checkpoints and exported models of earlier runs
keep their meaning).

* :class:`CharWindows` — a token stream cut into ``(input, next-character
  target)`` windows, fetched a whole batch at a time.
* :func:`char_text_splits` — train/validation/test windows from any text.
* Registered datasets: ``tinyshakespeare`` (Karpathy's 1.1 MB Shakespeare
  corpus, looked for in ``root``, ``$AN2DL_DATA_DIR/tinyshakespeare``, the
  cache, or downloaded with a SHA-256 check) and ``char-text`` (any UTF-8 file).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..._utils.rng import derive_seed
from ...errors import ConfigError, DataError
from ..core import DataSplits, PreCollated, TextInfo
from ..download import RemoteFile, locate, read_verified
from ..preprocess import Preprocess
from ..registry import register_dataset
from ..text import Vocabulary

__all__ = ["CharWindows", "char_text_splits", "text_pipeline", "tinyshakespeare", "char_text", "TINYSHAKESPEARE_FILE"]

TINYSHAKESPEARE_FILE = RemoteFile(
    "input.txt",
    ("https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",),
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    size=1115394,
)


class CharWindows(Dataset):
    """Next-character windows over a token stream.

    Sample ``i`` is ``(ids[s : s + T], ids[s + 1 : s + T + 1])`` with
    ``s = offset + i * stride``: the input characters and, at every position,
    the one that follows.

    Args:
        ids: the token stream, int64 ``[N]``.
        seq_len: T, characters per window.
        stride: step between window starts (1: every position; ``seq_len``:
            non-overlapping windows, one pass over the text per epoch as in char-rnn).
        random_offset: shift all windows by an offset in ``[0, stride)`` drawn
            anew every epoch from ``(seed, epoch)`` (the trainer calls
            :meth:`set_epoch`), so that non-overlapping windows cut the text at
            different places each epoch; the number of windows stays fixed.
        seed: seed of the offsets.
        vocab: the vocabulary of the ids, kept as the attribute ``vocab``
            (to decode samples); ``None`` when unknown.

    Shape:
        a batch is ``(x [B, T], y [B, T])`` int64.
    """

    def __init__(self, ids: torch.Tensor, *, seq_len: int, stride: int = 1, random_offset: bool = False,
                 seed: int = 0, vocab: Vocabulary | None = None) -> None:
        for name, v in (("seq_len", seq_len), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConfigError(f"CharWindows {name} must be a positive integer; got {v!r}")
        ids = torch.as_tensor(ids)
        if ids.dim() != 1 or ids.dtype != torch.int64:
            raise ConfigError(f"CharWindows ids must be an int64 tensor [N]; got {ids.dtype} {list(ids.shape)}")
        slack = stride - 1 if random_offset else 0
        if len(ids) < seq_len + 1 + slack:
            raise ConfigError(f"CharWindows needs at least seq_len + 1 = {seq_len + 1} tokens"
                              f"{f' plus stride - 1 = {slack} for random offsets' if slack else ''}; got {len(ids)}")
        self.ids, self.seq_len, self.stride = ids, seq_len, stride
        self.random_offset, self.seed = bool(random_offset), seed
        self.vocab = vocab
        self._length = (len(ids) - seq_len - 1 - slack) // stride + 1
        self.offset = 0
        self._steps = torch.arange(seq_len + 1)

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's offset (a pure function of ``seed`` and ``epoch``)."""
        if self.random_offset:
            self.offset = derive_seed(self.seed, "char-windows", epoch) % self.stride

    def __len__(self) -> int:
        return self._length

    def _window(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.ids[starts[:, None] + self._steps[None, :]]  # [B, T + 1]
        return chunk[:, :-1], chunk[:, 1:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        x, y = self._window(torch.tensor([self.offset + (i % len(self)) * self.stride]))
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> PreCollated:
        starts = self.offset + torch.as_tensor(indices, dtype=torch.long) * self.stride
        return PreCollated(self._window(starts))


def text_pipeline(vocab: Vocabulary) -> Preprocess:
    """The evaluation pipeline of a character corpus: the text encoded by ``vocab`` (its tokenizer's normalisation)."""
    return Preprocess([{"op": "tokenize", "vocab": vocab.to_dict()}], raw_input={"kind": "text"})


def char_text_splits(
    text: str,
    *,
    name: str = "text",
    seq_len: int = 128,
    train_stride: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    vocab: Vocabulary | None = None,
    seed: int = 0,
) -> DataSplits:
    """Character windows of a text: the first part trains, the next validates, the last tests.

    The split is by position, as char-rnn and nanoGPT do (first 90 % train,
    last 10 % validation by default).  Validation and test windows do not
    overlap (stride ``seq_len``); each starts from an empty context.

    Args:
        text: the corpus.
        name: recorded in the info.
        seq_len: characters per window (the BPTT length of full back-propagation).
        train_stride: step between training windows; ``None`` (default):
            ``seq_len``, i.e. one pass over the training text per epoch, with
            the windows shifted by a random offset each epoch; 1: every position.
        seed: seed of the per-epoch offsets.
        val_fraction, test_fraction: shares of the text.
        vocab: a character-level :class:`~an2dl.data.text.Vocabulary`
            (default: every character of ``text`` in code-point order, with
            its count).

    Returns:
        :class:`DataSplits` of :class:`CharWindows`.  The vocabulary is
        ``info.vocab`` and the ``vocab`` attribute of every split, and its
        JSON form (:meth:`Vocabulary.to_dict`) is ``info.extra["vocab"]``;
        the text is encoded by :func:`text_pipeline`, recorded in ``info.preprocess``.
    """
    for fname, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
            raise ConfigError(f"char_text_splits {fname} must be in [0, 1); got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"val_fraction + test_fraction must be < 1; got {val_fraction + test_fraction}")
    if vocab is None:
        counts = Counter(text)
        chars = sorted(counts)
        vocab = Vocabulary(chars, tokenizer="char", counts=[counts[c] for c in chars])
    elif not isinstance(vocab, Vocabulary) or vocab.level != "char":
        got = f"a {vocab.level!r} vocabulary" if isinstance(vocab, Vocabulary) else type(vocab).__name__
        raise ConfigError(f"char_text_splits vocab must be a character-level Vocabulary; got {got}")
    pre = text_pipeline(vocab)
    ids = pre(text)
    N = len(ids)
    n_train = int(N * (1 - val_fraction - test_fraction))
    n_test = int(N * test_fraction)
    n_val = N - n_train - n_test
    parts = [ids[:n_train], ids[n_train:n_train + n_val], ids[n_train + n_val:]]
    if len(parts[0]) < seq_len + (train_stride or seq_len):
        raise ConfigError(f"{name}: the training text ({len(parts[0])} characters) is too short for windows of "
                          f"seq_len = {seq_len}")

    def windows(part: torch.Tensor, stride: int, random_offset: bool = False) -> CharWindows | None:
        if len(part) < seq_len + 1 + (stride - 1 if random_offset else 0):
            return None
        return CharWindows(part, seq_len=seq_len, stride=stride, random_offset=random_offset, seed=seed,
                           vocab=vocab)

    info = TextInfo(
        name=name,
        input_shape=(seq_len,),
        vocab=vocab,
        extra={"vocab": vocab.to_dict(), "characters": {"train": len(parts[0]), "val": len(parts[1]), "test": len(parts[2])}},
        preprocess=pre.to_dict(),
    )
    return DataSplits(
        train=windows(parts[0], train_stride or seq_len, random_offset=train_stride is None),
        val=windows(parts[1], seq_len) if val_fraction > 0 else None,
        test=windows(parts[2], seq_len) if test_fraction > 0 else None,
        info=info,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e})") from None


@register_dataset("tinyshakespeare")
def tinyshakespeare(
    *,
    root: str | os.PathLike | None = None,
    seq_len: int = 128,
    train_stride: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    download: bool = True,
) -> DataSplits:
    """Tiny Shakespeare: 1,115,394 characters of Shakespeare's plays, 65 distinct (Karpathy's char-rnn corpus).

    ``input.txt`` is looked for in ``root``, ``$AN2DL_DATA_DIR/tinyshakespeare``
    and the cache, and downloaded when missing and online; its SHA-256 is
    checked.  The vocabulary is the 4 special tokens + 65 characters = 69 ids.

    Args:
        root: folder holding ``input.txt``.
        seq_len, train_stride, val_fraction, test_fraction, seed: see :func:`char_text_splits`
            (default: first 90 % train, last 10 % validation, as nanoGPT).
        download: allow downloading the file.

    Returns:
        :class:`DataSplits` of ``(x [T], y [T])`` int64 windows.
    """
    path = locate("tinyshakespeare", [TINYSHAKESPEARE_FILE], root=root, download=download)[TINYSHAKESPEARE_FILE.name]
    text = read_verified(Path(path), TINYSHAKESPEARE_FILE).decode("utf-8")
    return char_text_splits(text, name="tinyshakespeare", seq_len=seq_len, train_stride=train_stride,
                            val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)


@register_dataset("char-text")
def char_text(
    *,
    path: str | os.PathLike,
    seq_len: int = 128,
    train_stride: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> DataSplits:
    """Character windows of any UTF-8 text file (see :func:`char_text_splits`).

    Raises:
        DataError: the file is missing or not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"char-text path {path} is not a file")
    return char_text_splits(_read_text(path), name=path.stem, seq_len=seq_len, train_stride=train_stride,
                            val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
