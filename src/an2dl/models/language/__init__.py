"""Word-level language models of the notes §4.2.3–§4.2.4.

* :mod:`.ngram` — :class:`NGramLM`, count-based N-gram models (§4.2.3) with
  add-k (Laplace, Lidstone), interpolated absolute discounting, interpolated
  Kneser–Ney, modified Kneser–Ney (Chen & Goodman 1998) and Katz-style
  backoff with absolute discounts; perplexity, unseen-n-gram rate, sampling.
* :mod:`.nnlm` — :class:`NNLM`, the neural network language model of Bengio
  et al. (2003) (§4.2.4): a projection matrix ``C`` shared over the context,
  concatenation, a tanh hidden layer, a softmax over the vocabulary and
  optional direct connections.
* :mod:`.word2vec` — :class:`Word2Vec`, skip-gram and CBOW (§4.2.5, Mikolov
  et al. 2013) with negative sampling or hierarchical softmax, subsampling and
  a dynamic window; :class:`WordVectors` with similarity, analogies (3CosAdd,
  3CosMul), benchmark evaluation and the word2vec text/binary formats.
"""

from .ngram import SMOOTHINGS, NGramLM, pad_sentences
from .nnlm import NNLM, nnlm_parameter_count
from .word2vec import UnknownWordError, Word2Vec, WordVectors

__all__ = ["NGramLM", "NNLM", "SMOOTHINGS", "UnknownWordError", "Word2Vec", "WordVectors", "nnlm_parameter_count",
           "pad_sentences"]
