"""Tokenizers: text -> tokens -> text at the character, word and subword level (notes §4.2.2–§4.2.3).

A tokenizer cuts a text into the discrete symbols a vocabulary numbers
(notes §4.2.3: "words are often treated as discrete atomic symbols") and
joins them back.  Three levels:

* :class:`CharTokenizer` — one token per character (char-rnn, Karpathy 2015).
  By default the text is kept exactly as it is.
* :class:`WordTokenizer` — words and punctuation marks.  The text is put in
  Unicode NFKC form (compatibility characters such as ``ﬁ``, full-width
  letters or ``²`` become their plain equivalents), lower-cased by default,
  and cut by one regular expression: a word is a run of letters, digits or
  ``_`` (apostrophes inside a word are kept: ``don't``), every other
  non-space character is a token of its own (``"Hi, there!"`` ->
  ``hi , there !``).
* :class:`SubwordTokenizer` — pieces learned from a corpus by byte-pair
  encoding (Sennrich, Haddow & Birch 2016) or the unigram language model
  (Kudo 2018) with the `sentencepiece` library (Kudo & Richardson 2018): frequent
  words stay whole, rare words are spelt from smaller pieces, so almost no
  word is out of vocabulary.  Needs the ``text`` extra (``pip install
  'an2dl[text]'``).

Every tokenizer has :meth:`~Tokenizer.normalize`, the text that
``detokenize(tokenize(text))`` gives back: NFKC and lower-casing applied,
and, for words, the tokens separated by single spaces (``"Hi, there!"`` ->
``"hi , there !"``); for subwords, whitespace runs collapsed to one space.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from ...errors import ConfigError, DataError
from .specials import EOS, PAD, SOS, SPECIALS, UNK

__all__ = [
    "NORMALIZATIONS",
    "normalize_text",
    "Tokenizer",
    "CharTokenizer",
    "WordTokenizer",
    "SubwordTokenizer",
    "tokenizer_from_dict",
]

#: Unicode normal forms a tokenizer may apply (``None``: none)
NORMALIZATIONS = ("NFKC", "NFC", "NFKD", "NFD", None)

# a word: letters, digits or "_" (Unicode-aware), with inner apostrophes; anything else but space: one token each
_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def normalize_text(text: str, *, normalization: str | None = "NFKC", lowercase: bool = False) -> str:
    """Unicode normal form, then (optionally) lower case (notes §4.2.2, "Dataset preparation").

    With ``lowercase`` the normal form is applied again after lower-casing,
    because lower-casing can produce sequences that are not in normal form
    (``"İ".lower()`` is ``i`` + a combining dot); the result is then stable:
    normalising it again changes nothing.

    Args:
        text: any string.
        normalization: ``"NFKC"`` (default), ``"NFC"``, ``"NFKD"``, ``"NFD"`` or ``None``.
        lowercase: map to lower case (``str.lower``).

    Returns:
        The normalised string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    if normalization is not None:
        text = unicodedata.normalize(normalization, text)
    if lowercase:
        text = text.lower()
        if normalization is not None:
            text = unicodedata.normalize(normalization, text)
    return text


def _check_options(owner: str, normalization: Any, lowercase: Any) -> None:
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"{owner} normalization must be one of {list(NORMALIZATIONS)}; got {normalization!r}")
    if not isinstance(lowercase, bool):
        raise ConfigError(f"{owner} lowercase must be True or False; got {lowercase!r}")


class Tokenizer(ABC):
    """Base of the tokenizers: normalise, cut into tokens, join tokens back.

    Args:
        normalization: Unicode normal form applied first (one of :data:`NORMALIZATIONS`).
        lowercase: lower-case the text after normalising it.
    """

    #: ``"char"``, ``"word"`` or ``"subword"``: the name stored in saved vocabularies
    level: str = ""

    def __init__(self, *, normalization: str | None, lowercase: bool) -> None:
        _check_options(type(self).__name__, normalization, lowercase)
        self.normalization, self.lowercase = normalization, lowercase

    def prepare(self, text: str) -> str:
        """The text after Unicode normalisation and lower-casing (see :func:`normalize_text`)."""
        return normalize_text(text, normalization=self.normalization, lowercase=self.lowercase)

    def normalize(self, text: str) -> str:
        """The text that ``detokenize(tokenize(text))`` returns."""
        return self.prepare(text)

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, in order."""

    @abstractmethod
    def detokenize(self, tokens: Sequence[str]) -> str:
        """The text of ``tokens``; the special tokens are written as themselves."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"level": ..., "normalization": ..., "lowercase": ...}``."""
        return {"level": self.level, "normalization": self.normalization, "lowercase": self.lowercase}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(normalization={self.normalization!r}, lowercase={self.lowercase})"


class CharTokenizer(Tokenizer):
    """One token per character (notes §4.1.1, char-rnn); by default the text is kept as it is.

    Args:
        normalization: Unicode normal form (default ``None``: none, so that a
            character model sees and writes exactly the corpus's characters).
        lowercase: lower-case the text.
    """

    level = "char"

    def __init__(self, *, normalization: str | None = None, lowercase: bool = False) -> None:
        super().__init__(normalization=normalization, lowercase=lowercase)

    def tokenize(self, text: str) -> list[str]:
        return list(self.prepare(text))

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)


class WordTokenizer(Tokenizer):
    """Words and punctuation marks of Unicode-normalised, lower-cased text (notes §4.2.3).

    The rule, in order: Unicode normal form (NFKC by default), lower case
    (default on), then the tokens are the matches of
    ``\\w+(?:['’]\\w+)*|[^\\w\\s]`` — runs of letters, digits and ``_`` with
    inner apostrophes, and every other non-space character on its own.
    Whitespace only separates tokens.  Numbers are split at their
    punctuation (``3.14`` -> ``3 . 14``); a combining mark that the normal
    form cannot attach to a letter is a token of its own.

    Args:
        normalization: Unicode normal form (default ``"NFKC"``).
        lowercase: lower-case the text (default True).
    """

    level = "word"

    def __init__(self, *, normalization: str | None = "NFKC", lowercase: bool = True) -> None:
        super().__init__(normalization=normalization, lowercase=lowercase)

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(self.prepare(text))

    def normalize(self, text: str) -> str:
        """The tokens separated by single spaces: ``"Hi, there!"`` -> ``"hi , there !"``."""
        return " ".join(self.tokenize(text))

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)


# ---------------------------------------------------------------------------------------------------------------------
_MODEL_TYPES = ("bpe", "unigram")


def _sentencepiece() -> Any:
    try:
        import sentencepiece
    except ImportError as e:
        raise ImportError("subword tokenization needs the sentencepiece package; install it with "
                          "pip install 'an2dl[text]'") from e
    return sentencepiece


class SubwordTokenizer(Tokenizer):
    """Subword pieces of a trained `sentencepiece` model (BPE or unigram; notes §4.2.3).

    Build one with :meth:`train`.  The model reserves the ids 0..3 for the
    special tokens (``<pad>, <unk>, <sos>, <eos>``), so its own piece ids
    agree with DESIGN §4.  Spaces are part of the pieces (``▁`` marks the
    start of a word), so :meth:`detokenize` restores the text exactly up to
    :meth:`normalize`: NFKC, optional lower case, and whitespace runs
    (tabs and newlines included) collapsed to one space, none at the ends.

    Args:
        model_proto: the serialized sentencepiece model (``bytes``).
        normalization: Unicode normal form applied before the model (default ``"NFKC"``).
        lowercase: lower-case the text first (default False: pieces keep case).

    Raises:
        DataError: ``model_proto`` is not a sentencepiece model or does not
            have the special tokens at ids 0..3.
    """

    level = "subword"

    def __init__(self, model_proto: bytes, *, normalization: str | None = "NFKC", lowercase: bool = False) -> None:
        super().__init__(normalization=normalization, lowercase=lowercase)
        if not isinstance(model_proto, (bytes, bytearray)):
            raise TypeError(f"SubwordTokenizer model_proto must be bytes; got {type(model_proto).__name__}")
        self.model_proto = bytes(model_proto)
        self._processor = self._load(self.model_proto)

    @staticmethod
    def _load(model_proto: bytes) -> Any:
        spm = _sentencepiece()
        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise DataError(f"SubwordTokenizer model_proto is not a sentencepiece model "
                            f"({len(model_proto)} bytes): {e}") from None
        n = processor.get_piece_size()
        first = [processor.id_to_piece(i) for i in range(min(n, len(SPECIALS)))]
        if first != list(SPECIALS):
            raise DataError(f"a subword model must have the special tokens {list(SPECIALS)} at ids 0..3; "
                            f"got {first}")
        return processor

    @classmethod
    def train(cls, texts: str | Iterable[str], *, vocab_size: int, model_type: str = "bpe",
              character_coverage: float = 1.0, normalization: str | None = "NFKC", lowercase: bool = False,
              num_threads: int = 1) -> SubwordTokenizer:
        """Learn subword pieces from ``texts`` (BPE: Sennrich et al. 2016; unigram: Kudo 2018).

        The texts are normalised as :meth:`normalize` says and given to
        sentencepiece's trainer with its own normalisation off.  Training is
        deterministic for ``num_threads=1``.

        Args:
            texts: the corpus: one string or an iterable of strings (e.g. one per sentence or line).
            vocab_size: the most pieces the model may hold, the four special
                tokens and every character of the corpus included (fewer when
                the corpus has fewer distinct pieces).
            model_type: ``"bpe"`` or ``"unigram"``.
            character_coverage: share of the corpus's characters that get a
                piece of their own (1.0: all; rarer ones become ``<unk>``).
            normalization, lowercase: see the class.
            num_threads: trainer threads.

        Returns:
            The trained tokenizer.

        Raises:
            ConfigError: bad settings, an empty corpus, or ``vocab_size`` too
                small for the corpus's characters.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= len(SPECIALS):
            raise ConfigError(f"SubwordTokenizer.train vocab_size must be an integer > {len(SPECIALS)} "
                              f"(the special tokens plus at least one piece); got {vocab_size!r}")
        if model_type not in _MODEL_TYPES:
            raise ConfigError(f"SubwordTokenizer.train model_type must be one of {list(_MODEL_TYPES)}; "
                              f"got {model_type!r}")
        if not isinstance(character_coverage, (int, float)) or not 0 < character_coverage <= 1:
            raise ConfigError(f"SubwordTokenizer.train character_coverage must be in (0, 1]; "
                              f"got {character_coverage!r}")
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ConfigError(f"SubwordTokenizer.train num_threads must be a positive integer; got {num_threads!r}")
        _check_options("SubwordTokenizer.train", normalization, lowercase)
        # the corpus is normalised as the finished tokenizer will normalise every text it encodes
        corpus = [_collapse_spaces(normalize_text(t, normalization=normalization, lowercase=lowercase))
                  for t in _texts("SubwordTokenizer.train", texts)]
        corpus = [t for t in corpus if t]
        if not corpus:
            raise ConfigError("SubwordTokenizer.train needs at least one text with a non-space character")
        spm = _sentencepiece()
        model = io.BytesIO()
        longest = max(len(t.encode("utf-8")) for t in corpus)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(corpus), model_writer=model, vocab_size=vocab_size, model_type=model_type,
                character_coverage=float(character_coverage), num_threads=num_threads,
                pad_id=PAD, unk_id=UNK, bos_id=SOS, eos_id=EOS, pad_piece=SPECIALS[PAD], unk_piece=SPECIALS[UNK],
                bos_piece=SPECIALS[SOS], eos_piece=SPECIALS[EOS],
                unk_surface=SPECIALS[UNK],  # how decoding writes an unknown piece (sentencepiece's default: " ⁇ ")
                normalization_rule_name="identity",  # done above, by the same rule as at encoding time
                hard_vocab_limit=False,  # vocab_size is a maximum: a small corpus yields fewer pieces
                max_sentence_length=max(4192, longest + 1),  # longer texts would be dropped silently
                minloglevel=2,
            )
        except RuntimeError as e:
            raise ConfigError(f"SubwordTokenizer.train failed with vocab_size={vocab_size}, "
                              f"model_type={model_type!r}: {e}") from None
        return cls(model.getvalue(), normalization=normalization, lowercase=lowercase)

    @property
    def pieces(self) -> list[str]:
        """Every piece of the model in its id order (the special tokens first)."""
        return [self._processor.id_to_piece(i) for i in range(self._processor.get_piece_size())]

    def normalize(self, text: str) -> str:
        """NFKC (and lower case), whitespace runs collapsed to one space and none at the ends."""
        return _collapse_spaces(self.prepare(text))

    def tokenize(self, text: str) -> list[str]:
        return self._processor.encode(self.normalize(text), out_type=str)

    def detokenize(self, tokens: Sequence[str]) -> str:
        # sentencepiece decodes runs of pieces (<unk> in place); it drops the control tokens <pad>, <sos>,
        # <eos>, which are written as themselves between the runs instead
        parts: list[str] = []
        run: list[str] = []
        for token in tokens:
            if token in _CONTROL:
                if run:
                    parts.append(self._processor.decode_pieces(run))
                    run = []
                parts.append(token)
            else:
                run.append(token)
        if run:
            parts.append(self._processor.decode_pieces(run))
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the base fields plus ``"model"``, the serialized model in base64."""
        return {**super().to_dict(), "model": base64.b64encode(self.model_proto).decode("ascii")}

    def __getstate__(self) -> dict[str, Any]:  # the processor is rebuilt from the bytes (DataLoader workers)
        return {k: v for k, v in self.__dict__.items() if k != "_processor"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._processor = self._load(self.model_proto)

    def __repr__(self) -> str:
        return (f"SubwordTokenizer(pieces={self._processor.get_piece_size()}, normalization={self.normalization!r}, "
                f"lowercase={self.lowercase})")


_CONTROL = frozenset(SPECIALS[i] for i in (PAD, SOS, EOS))


def _collapse_spaces(text: str) -> str:
    return " ".join(text.split())


def _texts(owner: str, texts: str | Iterable[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{owner} texts must be a str or an iterable of str; got {type(texts).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{owner} texts[{i}] must be a str; got {type(t).__name__}")
    return texts


_LEVELS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer, "subword": SubwordTokenizer}


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Inverse of :meth:`Tokenizer.to_dict`.

    Raises:
        DataError: ``d`` is not the JSON form of a tokenizer.
    """
    if not isinstance(d, dict):
        raise DataError(f"a tokenizer must be a JSON object; got {type(d).__name__}")
    level = d.get("level")
    if level not in _LEVELS:
        raise DataError(f"tokenizer level must be one of {list(_LEVELS)}; got {level!r}")
    options = {"normalization": d.get("normalization"), "lowercase": d.get("lowercase")}
    if options["normalization"] not in NORMALIZATIONS or not isinstance(options["lowercase"], bool):
        raise DataError(f"tokenizer normalization must be one of {list(NORMALIZATIONS)} and lowercase a bool; "
                        f"got normalization={options['normalization']!r}, lowercase={options['lowercase']!r}")
    if level != "subword":
        return _LEVELS[level](**options)
    model = d.get("model")
    if not isinstance(model, str):
        raise DataError(f"a subword tokenizer needs its model as a base64 string; got {type(model).__name__}")
    try:
        proto = base64.b64decode(model, validate=True)
    except (binascii.Error, ValueError) as e:
        raise DataError(f"the subword model is not valid base64 ({len(model)} characters): {e}") from None
    return SubwordTokenizer(proto, **options)
