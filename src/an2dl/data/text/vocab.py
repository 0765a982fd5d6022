"""Vocabularies: tokens <-> ids, with the special tokens at fixed ids (notes §4.2.2–§4.2.3).

A :class:`Vocabulary` pairs a tokenizer (:mod:`.tokenizers`: characters,
words or subword pieces) with a numbering of its tokens.  Ids 0..3 are always
the special tokens of :mod:`.specials` (``<pad>, <unk>, <sos>, <eos>``);
the corpus's tokens follow.  It is the input side of every text model: the
embedding of §4.2.3 maps each id to a row of the projection matrix ``C``
(Bengio et al. 2003), so ``len(vocab)`` is the embedding's number of rows.

:meth:`Vocabulary.build` counts the tokens of a corpus and keeps those seen
at least ``min_freq`` times, the most frequent first, at most ``max_size``
ids in all; the rest become ``<unk>`` when encoded (notes §4.2.2: "replaces
rare or unknown words ... reducing the vocabulary size").  The order is
fixed: by descending count, ties in code-point (``sorted``) order of the
tokens, so the same corpus gives the same ids in any order of its texts.
A subword vocabulary is its sentencepiece model's pieces in the model's own
id order (the model's training already applied the frequency cut-off), so
its ids are the model's ids and the model file alone can encode for it.

A vocabulary is saved as JSON (:meth:`Vocabulary.save`, :meth:`Vocabulary.to_dict`)::

    {"format": "an2dl.vocabulary", "version": 1, "type": "word",
     "specials": ["<pad>", "<unk>", "<sos>", "<eos>"], "tokens": ["the", ",", ...],
     "counts": [1520, 1311, ...], "tokenizer": {"level": "word", "normalization": "NFKC", "lowercase": true}}

:meth:`Vocabulary.from_dict` also reads the character vocabularies written
before this class existed, ``{"type": "char", "chars": [...]}`` (specials
implied, characters in their stored order), with the same ids.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._utils.files import atomic_write_text
from ...errors import ConfigError, DataError
from .specials import EOS, SOS, SPECIALS, UNK
from .tokenizers import CharTokenizer, SubwordTokenizer, Tokenizer, WordTokenizer, _texts, tokenizer_from_dict

__all__ = ["Vocabulary", "check_token_ids", "VOCABULARY_FORMAT"]

#: the ``"format"`` field of a saved vocabulary file
VOCABULARY_FORMAT = "an2dl.vocabulary"
_VERSION = 1
_NAMED_TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer}


def check_token_ids(ids: Any, vocab_size: int, name: str = "tokens") -> None:
    """Raise unless every id in ``ids`` lies in ``[0, vocab_size)`` (notes §4.2.3: ids index the embedding).

    An id outside the vocabulary would index past the embedding matrix
    (an opaque ``IndexError`` on the CPU, a device-side assert on a GPU); this
    check names the argument, the range and the offending id instead.

    Args:
        ids: token ids of any shape (tensor, list or nested lists of integers).
        vocab_size: V, the number of ids.
        name: the argument's name, for the message.

    Raises:
        TypeError: ``ids`` are not integers.
        ValueError: an id is negative or ``>= vocab_size``, or ``vocab_size`` is not a positive integer.

    Shape:
        ``ids`` any shape; values in ``[0, V)``.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= 0:
        raise ValueError(f"vocab_size must be a positive integer; got {vocab_size!r}")
    try:
        t = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(ids)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{name} must be integer token ids; got {type(ids).__name__} ({e})") from None
    if t.numel() == 0 and not isinstance(ids, torch.Tensor):
        return  # an empty list has no dtype to check
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must be integer token ids; got dtype {t.dtype}")
    if t.numel() == 0:
        return
    bad = (t < 0) | (t >= vocab_size)
    if bool(bad.any()):
        where = tuple(int(i) for i in torch.nonzero(bad)[0])
        first = int(t[where])
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size}) (the vocabulary size); got "
                         f"{int(bad.sum())} id(s) outside, the first {first} at index {list(where)} "
                         f"(min {int(t.min())}, max {int(t.max())})")


def _resolve_tokenizer(owner: str, tokenizer: Tokenizer | str) -> Tokenizer:
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if isinstance(tokenizer, str) and tokenizer in _NAMED_TOKENIZERS:
        return _NAMED_TOKENIZERS[tokenizer]()
    if tokenizer == "subword":
        raise ConfigError(f"{owner} tokenizer='subword' needs a trained model: pass "
                          "SubwordTokenizer.train(texts, vocab_size=...) (Vocabulary.build trains one when given "
                          "max_size)")
    raise ConfigError(f"{owner} tokenizer must be a Tokenizer or one of {[*_NAMED_TOKENIZERS, 'subword']}; "
                      f"got {tokenizer!r}")


class Vocabulary:
    """Tokens numbered from 0: the special tokens, then the corpus's tokens (notes §4.2.2–§4.2.3).

    Usually built from a corpus with :meth:`build`; the constructor takes the
    non-special tokens in id order.

    Args:
        tokens: the tokens of ids 4, 5, ... in order (no duplicates, none of
            the special tokens; single characters for a character tokenizer;
            ``tokenizer.pieces[4:]`` for a subword tokenizer).
        tokenizer: a :class:`~.tokenizers.Tokenizer`, or ``"char"`` /
            ``"word"`` for the default one of that level (default ``"char"``).
        counts: how often each token occurred in the corpus it was built
            from (optional; kept for frequency-based methods such as
            subsampling and negative sampling).

    Attributes:
        itos: id -> token (``itos[:4]`` are the special tokens).
        stoi: token -> id.
        tokenizer: the tokenizer.
        counts: the corpus counts of ``itos[4:]``, or ``None``.

    Example::

        vocab = Vocabulary.build(["The cat sat.", "The dog sat!"], tokenizer="word")
        vocab.itos[4:]                              # ['sat', 'the', '!', '.', 'cat', 'dog']
        vocab.encode("the cat ran", add_eos=True)   # tensor([5, 8, 1, 3]): "ran" is unknown
        vocab.decode([2, 5, 8, 3])                   # 'the cat'

    Shape:
        :meth:`encode`: a text -> int64 ``[N]``; :meth:`decode`: ``[N]`` -> a text.
    """

    def __init__(self, tokens: Iterable[str] = (), *, tokenizer: Tokenizer | str = "char",
                 counts: Sequence[int] | None = None) -> None:
        self.tokenizer = _resolve_tokenizer("Vocabulary", tokenizer)
        tokens = list(tokens)
        seen: set[str] = set()
        for i, t in enumerate(tokens):
            if not isinstance(t, str) or not t:
                raise ConfigError(f"Vocabulary tokens[{i}] must be a non-empty str; got {t!r}")
            if t in SPECIALS:
                raise ConfigError(f"Vocabulary tokens[{i}] is the special token {t!r}, which has a fixed id "
                                  f"already; give only the corpus's tokens")
            if t in seen:
                raise ConfigError(f"Vocabulary tokens must be unique; {t!r} appears twice (again at index {i})")
            if self.tokenizer.level == "char" and len(t) != 1:
                raise ConfigError(f"a character vocabulary's tokens must be single characters; "
                                  f"tokens[{i}] is {t!r}")
            seen.add(t)
        if isinstance(self.tokenizer, SubwordTokenizer) and tokens != self.tokenizer.pieces[len(SPECIALS):]:
            raise ConfigError(f"a subword vocabulary's tokens must be its model's {len(self.tokenizer.pieces) - len(SPECIALS)} "
                              f"pieces after the special tokens, in the model's order; got {len(tokens)} tokens "
                              f"that differ")
        if counts is not None:
            counts = list(counts)
            if len(counts) != len(tokens) or any(isinstance(c, bool) or not isinstance(c, int) or c < 0
                                                 for c in counts):
                raise ConfigError(f"Vocabulary counts must be one non-negative integer per token "
                                  f"({len(tokens)}); got {len(counts)} values")
        self.itos: list[str] = [*SPECIALS, *tokens]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts: list[int] | None = counts
        if self.tokenizer.level == "char":
            # code points sorted, with their ids: characters are looked up all at once (no loop per character)
            codes = np.array([ord(t) for t in tokens], dtype=np.int64)
            order = np.argsort(codes, kind="stable")
            self._codes = codes[order]
            self._code_ids = order.astype(np.int64) + len(SPECIALS)

    # ---------------------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: str | Iterable[str], *, tokenizer: Tokenizer | str = "char", min_freq: int = 1,
              max_size: int | None = None) -> Vocabulary:
        """Count the tokens of a corpus and number the frequent ones (notes §4.2.2).

        Args:
            texts: the corpus: one string or an iterable of strings.
            tokenizer: a :class:`~.tokenizers.Tokenizer`, ``"char"``,
                ``"word"``, or ``"subword"``: a BPE
                :class:`~.tokenizers.SubwordTokenizer` trained on ``texts``
                with ``vocab_size = max_size`` (which it then requires).
            min_freq: keep tokens seen at least this many times (≥ 1;
                characters and words only).
            max_size: the most ids in all, the four special tokens included
                (≥ 4); ``None``: no limit.

        Returns:
            The vocabulary: special tokens, then the kept tokens by descending
            count, ties in code-point order; ``counts`` holds their counts.
            Tokens dropped here are encoded as ``<unk>``.  With a subword
            tokenizer: every piece of its model in the model's id order, with
            its count in ``texts`` (0 for pieces only rare words need).

        Raises:
            ConfigError: bad ``min_freq``, ``max_size`` or tokenizer, or a
                subword model with more pieces than ``max_size``.
        """
        texts = _texts("Vocabulary.build", texts)
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(f"Vocabulary.build min_freq must be a positive integer; got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < len(SPECIALS)):
            raise ConfigError(f"Vocabulary.build max_size must be None or an integer >= {len(SPECIALS)} "
                              f"(the special tokens count); got {max_size!r}")
        if tokenizer == "subword":
            if max_size is None:
                raise ConfigError("Vocabulary.build with tokenizer='subword' needs max_size (the number of pieces "
                                  "to learn, special tokens included)")
            tokenizer = SubwordTokenizer.train(texts, vocab_size=max_size)
        tok = _resolve_tokenizer("Vocabulary.build", tokenizer)
        counter: Counter[str] = Counter()
        for text in texts:
            counter.update(tok.tokenize(text))
        if isinstance(tok, SubwordTokenizer):
            pieces = tok.pieces[len(SPECIALS):]
            if min_freq != 1:
                raise ConfigError(f"Vocabulary.build min_freq applies to character and word vocabularies; a subword "
                                  f"model's size is set when it is trained (vocab_size); got min_freq={min_freq}")
            if max_size is not None and len(tok.pieces) > max_size:
                raise ConfigError(f"Vocabulary.build max_size={max_size} is smaller than the subword model's "
                                  f"{len(tok.pieces)} pieces; train the model with vocab_size <= max_size")
            return cls(pieces, tokenizer=tok, counts=[counter[p] for p in pieces])
        kept = sorted(((t, n) for t, n in counter.items() if n >= min_freq), key=lambda tn: (-tn[1], tn[0]))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([t for t, _ in kept], tokenizer=tok, counts=[n for _, n in kept])

    # ---------------------------------------------------------------------------------------------------------------
    @property
    def level(self) -> str:
        """``"char"``, ``"word"`` or ``"subword"``."""
        return self.tokenizer.level

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocabulary) and self.itos == other.itos and self.tokenizer == other.tokenizer
                and self.counts == other.counts)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Vocabulary(level={self.level!r}, size={len(self)}, tokenizer={self.tokenizer!r})"

    def encode(self, text: str, *, add_sos: bool = False, add_eos: bool = False) -> torch.Tensor:
        """Token ids of ``text``; tokens outside the vocabulary become ``<unk>`` (id 1).

        Args:
            text: the text (normalised by the tokenizer first).
            add_sos: put ``<sos>`` (id 2) in front — a decoder's first input (notes §4.2).
            add_eos: append ``<eos>`` (id 3).

        Returns:
            int64 ``[N]``.

        Shape:
            ``[N]``, N = the number of tokens (+1 for each of ``add_sos``, ``add_eos``).
        """
        if not isinstance(text, str):
            raise TypeError(f"Vocabulary.encode text must be a str; got {type(text).__name__}")
        if self.level == "char":
            ids = self._encode_chars(self.tokenizer.normalize(text))
        else:
            ids = torch.tensor([self.stoi.get(t, UNK) for t in self.tokenizer.tokenize(text)], dtype=torch.int64)
        if add_sos or add_eos:
            ids = torch.cat([torch.tensor([SOS] if add_sos else [], dtype=torch.int64), ids,
                             torch.tensor([EOS] if add_eos else [], dtype=torch.int64)])
        return ids

    def _encode_chars(self, text: str) -> torch.Tensor:
        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32).astype(np.int64)
        if len(self._codes) == 0:
            return torch.full(codes.shape, UNK, dtype=torch.int64)
        pos = np.searchsorted(self._codes, codes).clip(max=len(self._codes) - 1)
        ids = np.where(self._codes[pos] == codes, self._code_ids[pos], UNK)
        return torch.from_numpy(ids.astype(np.int64))

    def decode(self, ids: Sequence[int] | torch.Tensor, *, skip_specials: bool = True) -> str:
        """The text of token ids (the inverse of :meth:`encode` up to the tokenizer's normalisation).

        Args:
            ids: token ids ``[N]``, each in ``[0, len(self))``.
            skip_specials: leave out the special tokens (``<pad>``, ``<unk>``,
                ``<sos>``, ``<eos>``); otherwise they are written as
                themselves (``"the <unk> sat"``).

        Returns:
            The text: characters joined, words joined by single spaces,
            subword pieces decoded by the subword model.

        Raises:
            ValueError: ``ids`` is not 1-D or holds an id outside the vocabulary.
        """
        t = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(list(ids))
        if t.dim() != 1:
            raise ValueError(f"Vocabulary.decode ids must be a 1-D sequence [N]; got shape {list(t.shape)}")
        if t.numel() == 0:
            return ""
        check_token_ids(t, len(self), name="ids")
        first = len(SPECIALS) if skip_specials else 0
        return self.tokenizer.detokenize([self.itos[i] for i in t.tolist() if i >= first])

    # ---------------------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON form (see the module docstring); :meth:`from_dict` inverts it."""
        return {"type": self.level, "specials": list(SPECIALS), "tokens": self.itos[len(SPECIALS):],
                "counts": self.counts, "tokenizer": self.tokenizer.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        """Inverse of :meth:`to_dict`; also reads the older ``{"type": "char", "chars": [...]}`` form.

        Raises:
            DataError: ``d`` is not a vocabulary, or its special tokens differ from ids 0..3 of DESIGN §4.
        """
        if not isinstance(d, dict):
            raise DataError(f"a vocabulary must be a JSON object; got {type(d).__name__}")
        if "tokens" not in d and d.get("type") == "char" and isinstance(d.get("chars"), list):
            return cls._checked(d["chars"], tokenizer=CharTokenizer())  # the older character form
        missing = [k for k in ("type", "specials", "tokens", "tokenizer") if k not in d]
        if missing:
            raise DataError(f"a vocabulary needs the keys ['type', 'specials', 'tokens', 'tokenizer']; "
                            f"missing {missing} in an object with keys {sorted(d)}")
        if d["specials"] != list(SPECIALS):
            raise DataError(f"a vocabulary's special tokens must be {list(SPECIALS)} (ids 0..3); got {d['specials']!r}")
        tokenizer = tokenizer_from_dict(d["tokenizer"])
        if d["type"] != tokenizer.level:
            raise DataError(f"a vocabulary of type {d['type']!r} has a {tokenizer.level!r} tokenizer")
        if not isinstance(d["tokens"], list):
            raise DataError(f"a vocabulary's tokens must be a list; got {type(d['tokens']).__name__}")
        return cls._checked(d["tokens"], tokenizer=tokenizer, counts=d.get("counts"))

    @classmethod
    def _checked(cls, tokens: list[Any], **kwargs: Any) -> Vocabulary:
        try:
            return cls(tokens, **kwargs)
        except ConfigError as e:
            raise DataError(f"invalid vocabulary: {e}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary to a JSON file, atomically (a crash leaves the old file or the new one).

        Returns:
            The path written.
        """
        path = Path(path)
        document = {"format": VOCABULARY_FORMAT, "version": _VERSION, **self.to_dict()}
        atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            FileNotFoundError: no file at ``path``.
            DataError: the file is truncated, not JSON, not UTF-8 or not a
                vocabulary; the message names the path, what was expected
                and what was found.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} does not exist")
        raw = path.read_bytes()
        expected = f"a JSON object with \"format\": {VOCABULARY_FORMAT!r} written by Vocabulary.save"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"vocabulary file {path}: expected {expected}; found bytes that are not UTF-8 "
                            f"({e}) — the file is corrupt") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            found = ("the JSON ends before it is complete" if e.pos >= len(text.rstrip())
                     else f"invalid JSON ({e.msg})")
            raise DataError(f"vocabulary file {path}: expected {expected}; found {found} at line {e.lineno} "
                            f"column {e.colno} of {len(raw)} bytes — the file is truncated or corrupt") from None
        if not isinstance(document, dict) or document.get("format") != VOCABULARY_FORMAT:
            found = (f"an object with format {document.get('format')!r}" if isinstance(document, dict)
                     else f"a JSON {type(document).__name__}")
            raise DataError(f"vocabulary file {path}: expected {expected}; found {found}")
        if document.get("version") != _VERSION:
            raise DataError(f"vocabulary file {path}: expected format version {_VERSION}; "
                            f"found {document.get('version')!r}")
        try:
            return cls.from_dict(document)
        except DataError as e:
            raise DataError(f"vocabulary file {path}: {e}") from None
