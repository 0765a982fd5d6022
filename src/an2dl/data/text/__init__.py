"""Text preparation: special tokens, tokenizers, vocabularies and padded batches (notes §4.2.2–§4.2.3).

* :mod:`.specials` — ``PAD, UNK, SOS, EOS = 0, 1, 2, 3`` and :data:`SPECIALS`,
  the fixed ids of DESIGN §4, written down only there.
* :mod:`.tokenizers` — character, word (NFKC, lower case, punctuation split)
  and subword (sentencepiece BPE/unigram) tokenizers.
* :mod:`.vocab` — :class:`Vocabulary` (build with a frequency cut-off,
  encode/decode, JSON save/load) and :func:`check_token_ids`.
* :mod:`.batching` — :func:`pad_sequences` and :func:`pad_collate`.
"""

from .batching import pad_collate, pad_sequences
from .specials import EOS, PAD, SOS, SPECIALS, UNK
from .tokenizers import (
    NORMALIZATIONS,
    CharTokenizer,
    SubwordTokenizer,
    Tokenizer,
    WordTokenizer,
    normalize_text,
    tokenizer_from_dict,
)
from .vocab import VOCABULARY_FORMAT, Vocabulary, check_token_ids

__all__ = [
    "CharTokenizer", "EOS", "NORMALIZATIONS", "PAD", "SOS", "SPECIALS", "SubwordTokenizer", "Tokenizer", "UNK",
    "VOCABULARY_FORMAT", "Vocabulary", "WordTokenizer", "check_token_ids", "normalize_text", "pad_collate",
    "pad_sequences", "tokenizer_from_dict",
]
