"""The special tokens and their fixed ids (DESIGN §4; notes §4.2.2, "Dataset preparation").

Every vocabulary of an2dl — characters, words or subword pieces — starts with
the same four tokens at the same ids, so that a model, a loss or a batch can
rely on them without looking at the vocabulary:

=======  ===  ==========================================================
token    id   meaning (notes §4.2.2)
=======  ===  ==========================================================
<pad>    0    fills shorter sequences of a batch up to the longest one
<unk>    1    stands for a rare or unseen (out-of-vocabulary) token
<sos>    2    start of sequence: the decoder's first input ("<GO>")
<eos>    3    end of sequence: where a generated sentence stops
=======  ===  ==========================================================

This module is the one place where these ids are written down; every other
module imports them from here (``from an2dl.data.text import PAD``).
"""

from __future__ import annotations

__all__ = ["PAD", "UNK", "SOS", "EOS", "SPECIALS"]

PAD, UNK, SOS, EOS = 0, 1, 2, 3
#: the special tokens, indexed by their ids: ``SPECIALS[PAD] == "<pad>"``
SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<sos>", "<eos>")
