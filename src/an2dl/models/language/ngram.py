"""N-gram language models with smoothing and backoff (notes §4.2.3).

The notes write the probability of a word sequence by the chain rule and cut
each word's history to the previous ``n - 1`` words:

    Pr(w_1 … w_k) ≈ ∏_i Pr(w_i | w_{i-n+1}, …, w_{i-1})

and estimate each factor from counts, "incorporating smoothing techniques to
handle unseen word sequences".  :class:`NGramLM` does exactly that.

Sentence boundaries.  Each sentence is padded with ``n - 1`` start symbols
``<s>`` (the vocabulary's ``<sos>``, id 2) and one end symbol ``</s>``
(``<eos>``, id 3).  The model predicts every word and the final ``</s>``; it
never predicts ``<s>``, which only serves as context.  The predicted
vocabulary therefore has ``V = len(vocab) - 2`` entries: the words, ``<unk>``
and ``</s>`` (not ``<pad>`` or ``<s>``).  Words of the held-out text outside
the vocabulary (built on the training text with ``min_count``) are read as
``<unk>``.  Perplexity is ``exp(-mean log p)`` over the predicted tokens.

Storage.  Each order k keeps a sorted int64 array of keys
``key = id(context) * |vocab| + word``, where ``id(context)`` is the index of
the (k-1)-gram in the order below (order 0 is the empty history, id 0); an
n-gram is found by binary search (``numpy.searchsorted``).  Counts, suffix
links and per-context statistics are flat arrays indexed by these ids, so
the model holds a few int64/float64 numbers per distinct n-gram and no Python
object per n-gram; counting and scoring are vectorised over the whole text.

Smoothing (``c`` = count, ``h`` = history, ``h'`` = ``h`` without its first
word, ``N1+(h •)`` = number of distinct words seen after ``h``):

* ``"add-k"`` — Lidstone, ``p(w|h) = (c(h w) + k) / (c(h) + k V)`` at order n
  only; ``k = 1`` is Laplace's add-one.
* ``"absolute"`` — interpolated absolute discounting (Ney, Essen & Kneser 1994):
  ``p(w|h) = max(c(h w) - D, 0) / c(h) + D N1+(h •) / c(h) · p(w|h')``.
* ``"kneser-ney"`` — interpolated Kneser–Ney (Kneser & Ney 1995; Chen &
  Goodman 1998): the same recursion, with the raw counts at order n and the
  continuation counts ``N1+(• h w)`` (distinct words seen before ``h w``) at
  every lower order.
* ``"modified-kneser-ney"`` — Chen & Goodman's three discounts ``D1, D2, D3+``
  for counts 1, 2 and ≥ 3, estimated per order from the count-of-counts
  ``n_r``: ``Y = n1 / (n1 + 2 n2)``, ``D_r = r - (r + 1) Y n_{r+1} / n_r``.
* ``"katz"`` — Katz-style *backoff* (Katz 1987) with absolute instead of
  Good–Turing discounts: ``p(w|h) = (c(h w) - D) / c(h)`` for a seen n-gram,
  otherwise ``α(h) p(w|h')`` with ``α(h)`` the discounted mass divided by the
  lower-order mass of the unseen words, so that it sums to one.  (Not the
  unnormalised "stupid backoff" of Brants et al. 2007, whose scores are not
  probabilities and have no perplexity.)

A history never seen in training falls back to the order below (weight 1).
With ``interpolate_uniform=True`` (default) the recursion ends in the uniform
distribution 1/V and the unigram level is discounted too, so every word of
the vocabulary, ``<unk>`` included, has a positive probability.  With
``False`` the unigram level is the undiscounted maximum-likelihood (absolute)
or continuation (Kneser–Ney) distribution, as in NLTK's ``nltk.lm``; a word
never seen in training then has probability 0.

``discount=None`` estimates D per order as Ney's ``n1 / (n1 + 2 n2)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ...data.datasets.word_corpora import pad_sentences, word_vocabulary
from ...data.text import EOS, PAD, SOS, UNK, Vocabulary
from ...errors import ConfigError, DataError

__all__ = ["NGramLM", "SMOOTHINGS", "pad_sentences"]

#: the smoothing methods of :class:`NGramLM`
SMOOTHINGS = ("add-k", "absolute", "kneser-ney", "modified-kneser-ney", "katz")
_DISCOUNTED = ("absolute", "kneser-ney", "modified-kneser-ney", "katz")


def _check_sentences(owner: str, sentences: Any) -> list[list[str]]:
    if isinstance(sentences, str):
        raise TypeError(f"{owner} sentences must be an iterable of token lists; got a str (split it into "
                        f"sentences of tokens first)")
    out = []
    for i, s in enumerate(sentences):
        if isinstance(s, str) or not isinstance(s, Sequence):
            raise TypeError(f"{owner} sentences[{i}] must be a list of token strings; got {type(s).__name__}")
        out.append(list(s))
    return out


class NGramLM:
    """A word N-gram language model with smoothing or backoff (notes §4.2.3).

    Args:
        n: the order: each word is predicted from the ``n - 1`` before it (≥ 1).
        smoothing: one of :data:`SMOOTHINGS` (see the module docstring).
        k: the pseudo-count of ``"add-k"`` (> 0; 1 = Laplace).
        discount: ``"absolute"``, ``"kneser-ney"``, ``"katz"``: D in (0, 1],
            the same at every order; ``"modified-kneser-ney"``: a triple
            ``(D1, D2, D3+)``; ``None`` (default): estimated per order from
            the count-of-counts.
        interpolate_uniform: end the recursion in the uniform distribution
            (and discount the unigram level too); ``False``: NLTK's undiscounted
            unigram level.
        min_count: the vocabulary built by :meth:`fit` keeps the words seen at
            least this often; the rest are ``<unk>``.

    Attributes (after :meth:`fit`):
        vocab_: the :class:`~an2dl.data.text.Vocabulary`.
        V_: the number of predicted tokens (``len(vocab_) - 2``).
        discounts_: per order 1..n, the discount(s) used.

    Example::

        lm = NGramLM(3, smoothing="kneser-ney").fit([["the", "cat", "sat"], ["the", "dog", "sat"]])
        lm.perplexity([["the", "cat", "sat"]])
        lm.sample(seed=0)
    """

    def __init__(self, n: int, *, smoothing: str = "kneser-ney", k: float = 1.0,
                 discount: float | Sequence[float] | None = None, interpolate_uniform: bool = True,
                 min_count: int = 1) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"NGramLM n must be a positive integer (the order: n - 1 words of history); got {n!r}")
        if smoothing not in SMOOTHINGS:
            raise ConfigError(f"NGramLM smoothing must be one of {list(SMOOTHINGS)}; got {smoothing!r}")
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0:
            raise ConfigError(f"NGramLM k (the add-k pseudo-count) must be a number > 0; got {k!r}")
        if discount is not None:
            if smoothing == "modified-kneser-ney":
                ok = (isinstance(discount, Sequence) and len(discount) == 3
                      and all(isinstance(d, (int, float)) and 0 < d <= r for r, d in enumerate(discount, 1)))
                if not ok:
                    raise ConfigError(f"NGramLM discount for modified-kneser-ney must be None or (D1, D2, D3+) with "
                                      f"0 < D_r <= r; got {discount!r}")
            elif smoothing in _DISCOUNTED:
                if isinstance(discount, bool) or not isinstance(discount, (int, float)) or not 0 < discount <= 1:
                    raise ConfigError(f"NGramLM discount must be None or a number in (0, 1]; got {discount!r}")
            else:
                raise ConfigError(f"NGramLM discount applies to {list(_DISCOUNTED)}; got discount={discount!r} "
                                  f"with smoothing={smoothing!r}")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"NGramLM min_count must be a positive integer; got {min_count!r}")
        self.n, self.smoothing, self.k = int(n), smoothing, float(k)
        self.discount, self.interpolate_uniform, self.min_count = discount, bool(interpolate_uniform), min_count

    # ------------------------------------------------------------------------------------------------ vocabulary
    @staticmethod
    def build_vocab(sentences: Iterable[Sequence[str]], *, min_count: int = 1) -> Vocabulary:
        """A word vocabulary of the tokens seen at least ``min_count`` times (the corpus's own ``<unk>`` is ours).

        Raises:
            DataError: the corpus holds no token, or none reaches ``min_count``.
        """
        return word_vocabulary(_check_sentences("NGramLM.build_vocab", sentences), min_count=min_count)

    def encode(self, sentences: Iterable[Sequence[str]]) -> list[np.ndarray]:
        """Token lists -> id arrays; unknown words (and the corpus's own ``<unk>``) -> ``<unk>``."""
        stoi = self._fitted().stoi
        return [np.array([stoi.get(t, UNK) for t in s], dtype=np.int64)
                for s in _check_sentences("NGramLM", sentences)]

    # ------------------------------------------------------------------------------------------------ training
    def fit(self, sentences: Iterable[Sequence[str]], *, vocab: Vocabulary | None = None) -> NGramLM:
        """Count the n-grams of orders 1..n of the training sentences and derive the smoothed tables.

        Args:
            sentences: the training text, one list of tokens per sentence.
            vocab: a word :class:`~an2dl.data.text.Vocabulary` to use (default:
                :meth:`build_vocab` with ``min_count``).

        Raises:
            DataError: empty corpus, or no word reaches ``min_count``.
        """
        sentences = _check_sentences("NGramLM.fit", sentences)
        if vocab is None:
            vocab = self.build_vocab(sentences, min_count=self.min_count)
        elif not isinstance(vocab, Vocabulary) or vocab.level == "char":
            raise ConfigError(f"NGramLM.fit vocab must be a word Vocabulary; got {vocab!r}")
        if sum(len(s) for s in sentences) == 0:
            raise DataError(f"the training corpus is empty: {len(sentences)} sentence(s) and no token")
        self.vocab_ = vocab
        self.B_ = len(vocab)
        self.V_ = len(vocab) - 2  # <pad> and <s> are never predicted
        self.words_ = np.setdiff1d(np.arange(self.B_, dtype=np.int64), [PAD, SOS])  # the predicted ids
        stream, pred = pad_sentences(self.encode(sentences), self.n)
        n = self.n
        self.keys_: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]  # order 0: the empty history
        ids = [np.zeros(len(stream), dtype=np.int64)]
        self.suffix_: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self.counts_: list[np.ndarray] = [np.array([len(pred)], dtype=np.float64)]
        for order in range(1, n + 1):
            key, valid = self._keys(stream, ids[order - 1], order)
            uniq, inv = np.unique(key[valid], return_inverse=True)
            idk = np.full(len(stream), -1, dtype=np.int64)
            idk[valid] = inv
            suffix = np.zeros(len(uniq), dtype=np.int64)
            suffix[inv] = ids[order - 1][valid] if order > 1 else 0
            self.keys_.append(uniq)
            self.suffix_.append(suffix)
            self.counts_.append(np.bincount(idk[pred], minlength=len(uniq)).astype(np.float64))
            ids.append(idk)
        self._derive()
        return self

    def _keys(self, stream: np.ndarray, lower: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys of the grams ending at every position: the (k-1)-gram ending one before, then the word."""
        if order == 1:  # the empty history everywhere
            ctx = np.zeros(len(stream), dtype=np.int64)
        else:
            ctx = np.full(len(stream), -1, dtype=np.int64)
            ctx[1:] = lower[:-1]
        valid = ctx >= 0
        return np.where(valid, ctx * self.B_ + stream, -1), valid

    def _derive(self) -> None:
        """Per-order used counts, context statistics, discounts and probability tables."""
        n, V = self.n, self.V_
        kn = self.smoothing in ("kneser-ney", "modified-kneser-ney")
        used = [c.copy() for c in self.counts_]
        if kn:  # lower orders: continuation counts N1+(• g), distinct words seen before g
            for order in range(1, n):
                seen_above = self.counts_[order + 1] > 0
                used[order] = np.bincount(self.suffix_[order + 1][seen_above],
                                          minlength=len(self.keys_[order])).astype(np.float64)
        self.used_ = used
        self.ctx_ = [np.zeros(0, dtype=np.int64)] + [self.keys_[o] // self.B_ for o in range(1, n + 1)]
        self.total_ = [np.zeros(0)] + [np.bincount(self.ctx_[o], weights=used[o], minlength=len(self.keys_[o - 1]))
                                       for o in range(1, n + 1)]
        self.discounts_: list[Any] = [None] + [self._discount(used[o]) for o in range(1, n + 1)]
        if self.smoothing == "add-k":
            return
        low = 1.0 / V if self.interpolate_uniform else 0.0
        self.base_ = low
        self.P_: list[np.ndarray] = [np.array([low])]
        self.gamma_: list[np.ndarray] = [np.zeros(0)]
        for o in range(1, n + 1):
            c, ctx, tot = used[o], self.ctx_[o], self.total_[o]
            safe = np.where(tot > 0, tot, 1.0)
            lower = self.P_[o - 1][self.suffix_[o]] if o > 1 else np.full(len(c), low)
            d = self._per_gram_discount(o, c)
            if o == 1 and not self.interpolate_uniform:
                d = np.zeros_like(c)  # NLTK's unigram level: undiscounted
            if self.smoothing == "katz":
                seen = self.counts_[o] > 0
                lower_mass = np.bincount(ctx[seen], weights=lower[seen], minlength=len(tot))
                left = 1.0 - lower_mass
                ok = left > 1e-12  # a history followed by every word keeps its mass undiscounted
                d = np.where(ok[ctx], d, 0.0)
                removed = np.minimum(d, c) * seen
                mass = np.bincount(ctx, weights=removed, minlength=len(tot)) / safe
                gamma = np.where(ok, mass / np.where(ok, left, 1.0), 0.0)
                P = (c - removed) / safe[ctx]
            else:
                removed = np.minimum(d, c)
                gamma = np.bincount(ctx, weights=removed, minlength=len(tot)) / safe
                P = (c - removed) / safe[ctx] + gamma[ctx] * lower
            if o == 1 and not self.interpolate_uniform:
                gamma = np.zeros_like(gamma)
            self.P_.append(P)
            self.gamma_.append(gamma)

    def _discount(self, used: np.ndarray) -> Any:
        if self.smoothing not in _DISCOUNTED:
            return None
        nr = [float(np.sum(used == r)) for r in (1, 2, 3, 4)]
        if self.smoothing == "modified-kneser-ney":
            if self.discount is not None:
                return tuple(float(d) for d in self.discount)  # type: ignore[union-attr]
            if min(nr) == 0:
                return (0.5, 1.0, 1.5)  # too few counts to estimate: Chen & Goodman's typical magnitudes
            Y = nr[0] / (nr[0] + 2 * nr[1])
            return tuple(float(np.clip(r - (r + 1) * Y * nr[r] / nr[r - 1], 1e-3, r)) for r in (1, 2, 3))
        if self.discount is not None:
            return float(self.discount)  # type: ignore[arg-type]
        if nr[0] == 0 or nr[1] == 0:
            return 0.5
        return float(np.clip(nr[0] / (nr[0] + 2 * nr[1]), 1e-3, 1.0))

    def _per_gram_discount(self, order: int, c: np.ndarray) -> np.ndarray:
        D = self.discounts_[order]
        if isinstance(D, tuple):
            return np.select([c == 1, c == 2, c >= 3], list(D), 0.0)
        return np.where(c > 0, D, 0.0)

    # ------------------------------------------------------------------------------------------------ scoring
    def _fitted(self) -> Vocabulary:
        if not hasattr(self, "vocab_"):
            raise ConfigError("this NGramLM is not fitted yet; call fit(sentences) first")
        return self.vocab_

    def _lookup(self, stream: np.ndarray) -> list[np.ndarray]:
        """Ids of the grams of orders 0..n ending at every position of ``stream`` (-1: not in training)."""
        ids = [np.zeros(len(stream), dtype=np.int64)]
        for order in range(1, self.n + 1):
            key, valid = self._keys(stream, ids[order - 1], order)
            table = self.keys_[order]
            pos = np.searchsorted(table, key).clip(max=max(len(table) - 1, 0))
            found = valid & (table[pos] == key) if len(table) else np.zeros(len(stream), bool)
            ids.append(np.where(found, pos, -1))
        return ids

    def _query(self, gram: list[np.ndarray], hist: list[np.ndarray]) -> np.ndarray:
        """p(w | h) for Q queries given the gram ids ``gram[o]`` and history ids ``hist[o]`` (order o - 1) of each order."""
        Q = len(gram[1])
        if self.smoothing == "add-k":
            g, h = gram[self.n], hist[self.n]
            c = np.where(g >= 0, self.counts_[self.n][np.maximum(g, 0)], 0.0)
            ch = np.where(h >= 0, self.total_[self.n][np.maximum(h, 0)], 0.0)
            return (c + self.k) / (ch + self.k * self.V_)
        p = np.full(Q, self.base_)
        for o in range(1, self.n + 1):
            g, h = gram[o], hist[o]
            seen_g = (g >= 0) & (self.counts_[o][np.maximum(g, 0)] > 0)
            seen_h = (h >= 0) & (self.total_[o][np.maximum(h, 0)] > 0)
            p = np.where(seen_g, self.P_[o][np.maximum(g, 0)],
                         np.where(seen_h, self.gamma_[o][np.maximum(h, 0)] * p, p))
        return p

    def _positions(self, sentences: Iterable[Sequence[str]]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        stream, pred = pad_sentences(self.encode(sentences), self.n)
        ids = self._lookup(stream)
        gram = [ids[o][pred] for o in range(self.n + 1)]
        hist = [np.zeros(len(pred), dtype=np.int64)] + [ids[o - 1][pred - 1] if o > 1 else
                                                         np.zeros(len(pred), dtype=np.int64)
                                                         for o in range(1, self.n + 1)]
        return gram, hist, stream[pred]

    def log_probs(self, sentences: Iterable[Sequence[str]]) -> np.ndarray:
        """Natural log-probability of every predicted token (the words and each ``</s>``), float64 ``[P]``."""
        self._fitted()
        gram, hist, _ = self._positions(sentences)
        with np.errstate(divide="ignore"):
            return np.log(self._query(gram, hist))

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """``exp(-mean log p)`` over the predicted tokens of ``sentences`` (``inf`` if one has probability 0).

        Raises:
            DataError: ``sentences`` hold nothing to predict.
        """
        lp = self.log_probs(sentences)
        if len(lp) == 0:
            raise DataError("perplexity needs at least one sentence; got none")
        return float(np.exp(-lp.mean()))

    def unseen_rate(self, sentences: Iterable[Sequence[str]], order: int | None = None) -> float:
        """Share of the predicted tokens whose ``order``-gram (default n, with padding) never occurred in training."""
        self._fitted()
        order = self.n if order is None else order
        if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= self.n:
            raise ConfigError(f"unseen_rate order must be an integer in [1, {self.n}]; got {order!r}")
        gram, _, _ = self._positions(sentences)
        g = gram[order]
        seen = (g >= 0) & (self.counts_[order][np.maximum(g, 0)] > 0)
        return float(1.0 - seen.mean()) if len(g) else 0.0

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        """p(w | context) for every id of the vocabulary, float64 ``[len(vocab_)]`` (0 at ``<pad>`` and ``<s>``).

        The context is cut to its last ``n - 1`` tokens and padded with ``<s>`` on the left.
        """
        vocab = self._fitted()
        ctx = [vocab.stoi.get(t, UNK) for t in list(context)[max(len(context) - (self.n - 1), 0):]]
        return self._distribution(np.array([SOS] * (self.n - 1 - len(ctx)) + ctx, dtype=np.int64))

    def _distribution(self, ctx: np.ndarray) -> np.ndarray:
        words = self.words_
        Q = len(words)
        stream = np.concatenate([ctx, [EOS]]).astype(np.int64)  # a placeholder word at the end
        ids = self._lookup(stream)
        last = len(stream) - 1
        hist = [np.zeros(Q, dtype=np.int64)] + [np.full(Q, ids[o - 1][last - 1] if o > 1 else 0, dtype=np.int64)
                                                for o in range(1, self.n + 1)]
        gram = [np.zeros(Q, dtype=np.int64)]
        for o in range(1, self.n + 1):
            key = hist[o] * self.B_ + words
            table = self.keys_[o]
            pos = np.searchsorted(table, key).clip(max=len(table) - 1)
            gram.append(np.where((hist[o] >= 0) & (table[pos] == key), pos, -1))
        out = np.zeros(self.B_)
        out[words] = self._query(gram, hist)
        return out

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """p(word | context) (unknown words read as ``<unk>``)."""
        vocab = self._fitted()
        return float(self.distribution(context)[vocab.stoi.get(word, UNK)])

    def sample(self, *, max_words: int = 30, seed: int = 0, context: Sequence[str] = ()) -> list[str]:
        """Draw a sentence word by word from the model, until ``</s>`` or ``max_words`` (seeded).

        Returns:
            The drawn tokens (without ``</s>``; ``<unk>`` written as itself).
        """
        vocab = self._fitted()
        if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
            raise ConfigError(f"sample max_words must be a positive integer; got {max_words!r}")
        rng = np.random.default_rng(seed)
        hist = [SOS] * (self.n - 1) + [vocab.stoi.get(t, UNK) for t in context]
        out: list[str] = []
        for _ in range(max_words):
            p = self._distribution(np.array(hist[len(hist) - (self.n - 1):] if self.n > 1 else [], dtype=np.int64))
            w = int(rng.choice(len(p), p=p / p.sum()))
            if w == EOS:
                break
            out.append(vocab.itos[w])
            hist.append(w)
        return out

    def num_ngrams(self) -> dict[int, int]:
        """Distinct n-grams seen in training, per order."""
        self._fitted()
        return {o: int(np.sum(self.counts_[o] > 0)) for o in range(1, self.n + 1)}

    def __repr__(self) -> str:
        return f"NGramLM(n={self.n}, smoothing={self.smoothing!r})"
