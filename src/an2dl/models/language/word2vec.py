"""word2vec: skip-gram and CBOW word vectors (notes §4.2.5; Mikolov et al. 2013a, 2013b).

The notes: word2vec drops the NNLM's hidden layer; a projection ``C`` shared
over the context maps words to dense vectors, and either

* **skip-gram** projects the centre word and predicts each surrounding word, or
* **CBOW** projects the ``n/2`` previous and ``n/2`` following words with the
  shared ``C``, *averages* the projections, and predicts the centre word.

With ``h`` the projected input (the centre word's row of ``C`` for skip-gram,
``h = (1/|ctx|) sum_{j in ctx} C[j]`` for CBOW) and ``U`` the output vectors,
the softmax over the vocabulary is replaced by one of the two cheap objectives
of Mikolov et al. (2013b):

* **negative sampling**: ``log s(U[o] . h) + sum_{k=1}^{K} log s(-U[n_k] . h)``
  with ``n_k`` drawn from the unigram distribution raised to 3/4,
  ``P(w) = c(w)^0.75 / sum_v c(v)^0.75``;
* **hierarchical softmax**: ``sum_{l} log s((1 - 2 d_l) U[p_l] . h)`` over the
  inner nodes ``p_l`` of the path from the root of a Huffman tree to ``o`` and
  the code bits ``d_l`` of that path (``s`` is the logistic sigmoid).

Both have the form ``sum_j m_j log s(+-U[j] . h)`` with label ``y_j in {0, 1}``,
whose gradient is ``g_j = y_j - s(U[j] . h)``: ``dL/dU[j] = g_j h`` and
``dL/dh = sum_j g_j U[j]``.  :func:`sigmoid_pairs_step` applies exactly that
ascent step (a plain SGD step on the rows touched, i.e. a sparse update) and is
checked against autograd in the tests.  CBOW adds the whole ``dL/dh`` to every
context row, as the C code and gensim (``cbow_mean=1``) do: the true gradient of
the mean is ``dL/dh / |ctx|``, which makes the input vectors learn ``|ctx|``
times slower and, measured on WikiText-2, leaves them nearly collinear.

Training follows the reference implementation: frequent words are dropped per
occurrence with the keep probability of the C code and gensim,
``p_keep(w) = (sqrt(f(w) / (t N)) + 1) t N / f(w)`` (``f``: count, ``N``: corpus
size, ``t``: ``sample``), the smooth form of the paper's
``P_discard = 1 - sqrt(t / f)`` with ``f`` the relative frequency; each centre
word draws its window ``b ~ U{1..window}`` (dynamic window, so near words weigh
more); the learning rate decays linearly from ``alpha`` to ``min_alpha`` over
all epochs.  Departures: examples are processed in batches of ``batch_size``
(centre, output) pairs whose sparse row updates are summed (word2vec's Hogwild
threads do the same without order); negatives come from a unigram table of 2^22 entries (the C code's has 10^8; every word gets at least one slot), and
a negative equal to the positive word is masked, as the C code skips it.

Speed (no autograd, no Python loop over examples): the text is cut into chunks of 20,000 words; per chunk the
(centre, context) pairs come from one masked grid (:func:`context_pairs`, equal to the reference loop), the
negatives of all its examples from one draw, the CBOW contexts are flattened with the offsets of
``F.embedding_bag`` (no padding to ``2 window``), and each batch only slices these tensors and runs a few
kernels (``index_select``, ``vecdot``, ``bmm``, ``index_add_``) on the rows it touches.  ``workers > 1`` trains
chunks in that many threads that update the shared matrices without locks (Hogwild, as word2vec.c and gensim;
torch kernels release the GIL); the learning rate follows the words done by all of them.  Intra-op threads are
left as ``torch.set_num_threads`` set them.
"""

from __future__ import annotations

import heapq
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import ConfigError, DataError, TrainingDiverged

__all__ = [
    "UnknownWordError",
    "Word2Vec",
    "WordVectors",
    "context_pairs",
    "huffman_codes",
    "keep_probabilities",
    "sigmoid_pairs_step",
    "unigram_table",
]


_CHUNK = 20_000  # raw words per job: subsampled, windowed and turned into index tensors at once


class UnknownWordError(DataError, KeyError):
    """A query word is not in the vocabulary of the word vectors."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# ----------------------------------------------------------------------------- helpers


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    ``p_keep = (sqrt(f / (t N)) + 1) t N / f`` clipped to 1 (word2vec C code, gensim), with ``f`` the
    word's count, ``N`` the total count and ``t = sample``; ``sample = 0`` keeps everything.

    Shape: ``counts [V]`` -> ``[V]`` in (0, 1].
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def unigram_table(counts: np.ndarray, exponent: float = 0.75, size: int = 1 << 22) -> np.ndarray:
    """The negative-sampling table: word ``w`` fills ``~ size * c(w)^e / sum_v c(v)^e`` of ``size`` slots.

    A uniform draw from the table is a draw from the unigram distribution raised to ``e`` (3/4 in Mikolov et
    al. 2013b).  Every word gets at least one slot, so the table holds ``size`` or a few more entries.

    Shape: ``counts [V]`` -> ``[~size]`` int64 word ids, sorted.
    """
    p = np.asarray(counts, dtype=np.float64) ** exponent
    slots = np.maximum(1, np.round(size * p / p.sum())).astype(np.int64)
    return np.repeat(np.arange(len(p)), slots)


def huffman_codes(counts: Sequence[int]) -> tuple[list[list[int]], list[list[int]]]:
    """Huffman tree over word counts: per word the code bits and the inner-node ids from the root.

    Inner nodes are numbered ``0 .. V-2`` (the root is ``V-2``); a frequent word gets a short code.
    Bit ``1`` marks the child merged second (the larger), as in the C code.

    Returns:
        ``(codes, points)``: two lists of ``V`` lists of equal length per word.
    """
    v = len(counts)
    if v < 2:
        raise ConfigError(f"huffman_codes needs at least 2 words; got {v}")
    heap = [(int(c), i) for i, c in enumerate(counts)]  # leaves 0..V-1, inner nodes V..2V-2
    heapq.heapify(heap)
    parent = [0] * (2 * v - 1)
    bit = [0] * (2 * v - 1)
    nxt = v
    while len(heap) > 1:
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a], bit[a] = nxt, 0
        parent[b], bit[b] = nxt, 1
        heapq.heappush(heap, (c1 + c2, nxt))
        nxt += 1
    root = 2 * v - 2
    codes, points = [], []
    for w in range(v):
        code, path, node = [], [], w
        while node != root:
            code.append(bit[node])
            node = parent[node]
            path.append(node - v)
        codes.append(code[::-1])
        points.append(path[::-1])
    return codes, points


def context_pairs(sentence_ids: np.ndarray, windows: np.ndarray, max_window: int) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) position pairs of a token stream under the dynamic window, vectorised.

    The reference loop (word2vec.c, gensim) visits each position ``i`` in order and, for the window ``b_i`` it
    drew, the offsets ``o = -b_i .. -1, 1 .. b_i`` in order, keeping ``i + o`` when it lies in the stream and in
    the same sentence (windows never cross sentences; subsampled words are already gone, so a window reaches past
    them as in the C code).  Here the ``[N, 2 max_window]`` grid of candidate positions is masked at once and
    its nonzero entries, read row by row, come out in exactly the loop's order (a test compares the two).

    Args:
        sentence_ids: ``[N]`` sentence of each token (equal ids: same sentence).
        windows: ``[N]`` the window ``b_i`` in ``1 .. max_window`` each centre drew.
        max_window: the largest window.

    Returns:
        ``(centre, context)``: two ``[P]`` int64 arrays of positions, ordered by centre then offset.
    """
    sentence_ids, windows = np.asarray(sentence_ids), np.asarray(windows)
    if sentence_ids.ndim != 1 or windows.shape != sentence_ids.shape:
        raise ConfigError(f"context_pairs needs 1-D sentence_ids and windows of the same length; got shapes "
                          f"{sentence_ids.shape} and {windows.shape}")
    if len(windows) and (windows.min() < 1 or windows.max() > max_window):
        raise ConfigError(f"context_pairs windows must lie in 1..max_window={max_window}; got values "
                          f"{windows.min()}..{windows.max()}")
    n, w = len(sentence_ids), max_window
    offsets = np.concatenate([np.arange(-w, 0), np.arange(1, w + 1)])  # (2w,), in the loop's order
    pos = np.arange(n)[:, None] + offsets[None, :]  # (N, 2w)
    ok = (np.abs(offsets)[None, :] <= windows[:, None]) & (pos >= 0) & (pos < n)
    pos = np.where(ok, pos, 0)
    ok &= sentence_ids[pos] == sentence_ids[:, None]
    centre, col = np.nonzero(ok)  # row-major: by centre, then offset
    return centre, pos[centre, col]


def sigmoid_pairs_step(w_out: torch.Tensor, h: torch.Tensor, out_ids: torch.Tensor,
                       labels: torch.Tensor, mask: torch.Tensor, lr: float) -> torch.Tensor:
    """One SGD ascent step on ``sum_j m_j log s(+-U[j] . h)``; updates the rows of ``w_out`` in place.

    Args:
        w_out: output vectors ``U`` ``[V', D]``.
        h: projected inputs ``[B, D]``.
        out_ids: output rows ``[B, J]`` (positive + negatives, or the Huffman path).
        labels: ``[B, J]`` in {0, 1} (1: the positive / code bit 0).
        mask: ``[B, J]`` float weights (0 for padding of Huffman paths or a negative equal to the positive).
        lr: learning rate.

    Returns:
        ``lr * dL/dh`` ``[B, D]``, the step for the input rows (applied by the caller).
    """
    flat = out_ids.reshape(-1)
    u = w_out.index_select(0, flat).view(*out_ids.shape, -1)  # (B, J, D)
    # one fused dot product per row (torch.bmm of these tiny (J, D) x (D, 1) shapes is ~4x slower on CPU)
    score = torch.linalg.vecdot(u, h.unsqueeze(1))  # (B, J)
    g = (labels - torch.sigmoid(score)).mul_(mask).mul_(lr)  # (B, J)
    grad_h = torch.bmm(g.unsqueeze(1), u).squeeze(1)  # (B, D); here bmm is ~2x faster than a product and sum
    w_out.index_add_(0, flat, (g.unsqueeze(2) * h.unsqueeze(1)).view(-1, h.shape[1]))
    return grad_h


def _positive_int(owner: str, name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner} {name} must be an integer >= {minimum}; got {value!r}")
    return value


# ----------------------------------------------------------------------------- vectors


class WordVectors:
    """Word vectors with similarity queries and the word2vec text/binary formats.

    Args:
        words: the ``V`` words, most frequent first.
        vectors: ``[V, D]`` float array.
        counts: optional counts of the words (kept for information).
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, counts: Sequence[int] | None = None) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise DataError(f"WordVectors vectors must have shape [len(words)={len(words)}, D]; "
                            f"got {tuple(vectors.shape)}")
        self.words = list(words)
        self.vectors = vectors
        self.counts = None if counts is None else list(counts)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise DataError("WordVectors words must be distinct")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self._unit = vectors / np.maximum(norms, 1e-12)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def id(self, word: str) -> int:
        """Row of ``word``; raises :class:`UnknownWordError` naming it when it is not in the vocabulary."""
        try:
            return self.index[word]
        except KeyError:
            raise UnknownWordError(f"the word {word!r} is not in the vocabulary ({len(self)} words, e.g. "
                                   f"{self.words[:5]}); it was rarer than min_count or absent from the corpus") from None

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.id(word)]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words, in [-1, 1]."""
        return float(self._unit[self.id(a)] @ self._unit[self.id(b)])

    def _top(self, scores: np.ndarray, exclude: Iterable[int], topn: int) -> list[tuple[str, float]]:
        scores = scores.astype(np.float64).copy()
        scores[list(exclude)] = -np.inf
        k = min(topn, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in best if np.isfinite(scores[i])]

    def most_similar(self, positive: str | Sequence[str] = (), negative: str | Sequence[str] = (),
                     *, topn: int = 10) -> list[tuple[str, float]]:
        """Words nearest (cosine) to the mean of the unit ``positive`` vectors minus the ``negative`` ones.

        The query words themselves are excluded.  Returns ``topn`` ``(word, cosine)`` pairs, best first.
        """
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise ConfigError("most_similar needs at least one positive or negative word; got none")
        _positive_int("most_similar", "topn", topn)
        ids = [self.id(w) for w in positive + negative]
        query = sum(self._unit[self.id(w)] for w in positive) - sum(self._unit[self.id(w)] for w in negative)
        query = query / max(np.linalg.norm(query), 1e-12)
        return self._top(self._unit @ query, ids, topn)

    def analogy(self, a: str, b: str, c: str, *, method: str = "3cosadd", topn: int = 1) -> list[tuple[str, float]]:
        """``a : b :: c : ?`` (e.g. man : king :: woman : queen), the query words excluded.

        * ``"3cosadd"`` (Mikolov et al. 2013c): ``argmax_x cos(x, b) - cos(x, a) + cos(x, c)``;
        * ``"3cosmul"`` (Levy & Goldberg 2014): ``argmax_x cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-3)`` with
          ``cos' = (cos + 1) / 2`` in [0, 1].
        """
        ia, ib, ic = self.id(a), self.id(b), self.id(c)
        ca, cb, cc = (self._unit @ self._unit[i] for i in (ia, ib, ic))
        if method == "3cosadd":
            scores = cb - ca + cc
        elif method == "3cosmul":
            scores = ((cb + 1) / 2) * ((cc + 1) / 2) / ((ca + 1) / 2 + 1e-3)
        else:
            raise ConfigError(f"analogy method must be '3cosadd' or '3cosmul'; got {method!r}")
        return self._top(scores, (ia, ib, ic), topn)

    # -- evaluation ------------------------------------------------------------------

    def evaluate_analogies(self, path: str | os.PathLike, *, method: str = "3cosadd",
                           restrict_vocab: int = 300_000, lowercase: bool = True) -> dict[str, float]:
        """Accuracy on an analogy file in the ``questions-words.txt`` format (``: section`` lines, ``a b c d``).

        As gensim's ``evaluate_word_analogies``: only the ``restrict_vocab`` most frequent words are candidates
        and questions with a word outside them are skipped; words are lower-cased when ``lowercase``.

        Returns:
            ``accuracy`` (over answered questions), ``coverage`` (answered / all), ``questions``, and
            ``accuracy_semantic`` / ``accuracy_syntactic`` (sections starting with ``gram``).
        """
        sub = WordVectors(self.words[:restrict_vocab], self.vectors[:restrict_vocab])
        right = {"semantic": 0, "syntactic": 0}
        seen = {"semantic": 0, "syntactic": 0}
        total, kind = 0, "semantic"
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(":"):
                    kind = "syntactic" if line[1:].strip().startswith("gram") else "semantic"
                    continue
                parts = line.lower().split() if lowercase else line.split()
                if len(parts) != 4:
                    continue
                total += 1
                if any(w not in sub for w in parts):
                    continue
                seen[kind] += 1
                guess = sub.analogy(parts[0], parts[1], parts[2], method=method, topn=1)
                right[kind] += bool(guess) and guess[0][0] == parts[3]
        answered = seen["semantic"] + seen["syntactic"]
        out = {"accuracy": (right["semantic"] + right["syntactic"]) / max(answered, 1),
               "coverage": answered / max(total, 1), "questions": float(total)}
        for k in right:
            out[f"accuracy_{k}"] = right[k] / max(seen[k], 1)
        return out

    def evaluate_word_pairs(self, path: str | os.PathLike, *, lowercase: bool = True) -> dict[str, float]:
        """Spearman correlation of cosine similarities with human scores (``word1 TAB word2 TAB score``, ``#`` comments).

        Pairs with an unknown word are skipped (as gensim does).  Returns ``spearman``, ``pearson`` and
        ``coverage`` (pairs used / all pairs).
        """
        from scipy.stats import pearsonr, spearmanr

        ours, human, total = [], [], 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                parts = line.strip().split("\t")
                if len(parts) < 3:
                    continue
                a, b = (parts[0].lower(), parts[1].lower()) if lowercase else (parts[0], parts[1])
                total += 1
                if a in self and b in self:
                    ours.append(self.similarity(a, b))
                    human.append(float(parts[2]))
        if len(ours) < 3:
            return {"spearman": float("nan"), "pearson": float("nan"), "coverage": len(ours) / max(total, 1)}
        return {"spearman": float(spearmanr(ours, human).statistic), "pearson": float(pearsonr(ours, human).statistic),
                "coverage": len(ours) / max(total, 1)}

    # -- files -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, binary: bool = False) -> Path:
        """Write the word2vec format: a header ``V D`` then one word per line followed by its ``D`` values,
        as text (``%.6g``) or, when ``binary``, as ``D`` little-endian float32 after ``word `` and a newline."""
        path = Path(path)
        words = [w for w in self.words if " " in w or "\n" in w or not w]
        if words:
            raise DataError(f"word2vec files cannot hold words with spaces, newlines or empty words; got {words[:3]}")
        with open(path, "wb") as f:
            f.write(f"{len(self)} {self.dim}\n".encode())
            for w, v in zip(self.words, self.vectors):
                if binary:
                    f.write(w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n")
                else:
                    f.write((w + " " + " ".join(f"{x:.6g}" for x in v) + "\n").encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, binary: bool | None = None) -> WordVectors:
        """Read a word2vec text or binary file (``binary=None``: guessed from the bytes after the header).

        Raises:
            DataError: a bad header, a line whose number of values differs from the header's ``D``, fewer words
                than the header says, or a binary file that ends inside a vector.
        """
        path = Path(path)
        with open(path, "rb") as f:
            header = f.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise DataError(f"{path}: the first line of a word2vec file must be 'V D' (two integers); "
                                f"got {b' '.join(header)[:60]!r}")
            v, d = int(header[0]), int(header[1])
            rest = f.read()
        if binary is None:
            binary = _looks_binary(rest, d)
        words, vectors = [], np.empty((v, d), dtype=np.float32)
        if binary:
            pos = 0
            for i in range(v):
                end = rest.find(b" ", pos)
                if end < 0 or end + 4 * d > len(rest):
                    raise DataError(f"{path}: the binary word2vec file is truncated: it ends inside entry {i + 1} "
                                    f"of {v} (expected {d} float32 values per word)")
                words.append(rest[pos:end].decode("utf-8", errors="replace").lstrip("\n"))
                vectors[i] = np.frombuffer(rest, dtype="<f4", count=d, offset=end + 1)
                pos = end + 1 + 4 * d
        else:
            lines = [ln for ln in rest.decode("utf-8", errors="replace").split("\n") if ln.strip()]
            if len(lines) < v:
                raise DataError(f"{path}: the header announces {v} words but the file holds {len(lines)}")
            for i, line in enumerate(lines[:v]):
                parts = line.rstrip().split(" ")
                if len(parts) != d + 1:
                    raise DataError(f"{path}: line {i + 2} has {len(parts) - 1} values; the header says {d} "
                                    f"(inconsistent dimensions)")
                words.append(parts[0])
                vectors[i] = np.asarray(parts[1:], dtype=np.float32)
        return cls(words, vectors)


def _looks_binary(rest: bytes, d: int) -> bool:
    first = rest.split(b"\n", 1)[0]
    try:
        parts = first.decode("utf-8").split(" ")
        [float(x) for x in parts[1:]]
        return len(parts) != d + 1
    except (UnicodeDecodeError, ValueError):
        return True


# ----------------------------------------------------------------------------- model


class Word2Vec:
    """Skip-gram or CBOW trained with negative sampling or hierarchical softmax (notes §4.2.5).

    The constructor only stores the settings; :meth:`fit` learns ``wv_`` (:class:`WordVectors` of the input
    projection ``C``), ``w_out_`` and the vocabulary ``words_`` / ``counts_`` (most frequent first), and
    records ``history_`` (objective per epoch), ``train_seconds_``, ``train_cpu_seconds_`` (all threads) and
    ``words_per_second_`` (raw words of all epochs over ``train_seconds_``).

    Args:
        architecture: ``"skipgram"`` or ``"cbow"``.
        dim: vector size ``D``.
        window: largest distance ``n/2`` between centre and context word; each centre draws ``b ~ U{1..window}``.
        negative: negatives ``K`` per positive; 0 turns negative sampling off (then ``hs`` must be true).
        hs: use hierarchical softmax over a Huffman tree.
        min_count: words seen fewer times are dropped before training.
        sample: subsampling threshold ``t`` (0: off).
        epochs: passes over the corpus.
        alpha, min_alpha: learning rate at the start and at the end (linear decay over all epochs).
        ns_exponent: power of the unigram counts for the negative distribution (3/4 in the paper).
        batch_size: (centre, output) examples per sparse update.
        workers: threads training at once on different chunks of the text and updating the shared rows
            without locks (Hogwild, as word2vec.c and gensim); ``1`` trains in order and is reproducible.
        seed: seeds the initialisation, subsampling, windows and negatives.
    """

    def __init__(self, *, architecture: str = "skipgram", dim: int = 100, window: int = 5, negative: int = 5,
                 hs: bool = False, min_count: int = 5, sample: float = 1e-3, epochs: int = 5, alpha: float = 0.025,
                 min_alpha: float = 1e-4, ns_exponent: float = 0.75, batch_size: int = 512, workers: int = 1,
                 seed: int = 0) -> None:
        self.architecture = architecture
        self.dim = dim
        self.window = window
        self.negative = negative
        self.hs = hs
        self.min_count = min_count
        self.sample = sample
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.ns_exponent = ns_exponent
        self.batch_size = batch_size
        self.workers = workers
        self.seed = seed

    def _check(self) -> None:
        if self.architecture not in ("skipgram", "cbow"):
            raise ConfigError(f"Word2Vec architecture must be 'skipgram' or 'cbow'; got {self.architecture!r}")
        for name in ("dim", "window", "epochs", "batch_size", "min_count", "workers"):
            _positive_int("Word2Vec", name, getattr(self, name))
        _positive_int("Word2Vec", "negative", self.negative, 0)
        if self.negative == 0 and not self.hs:
            raise ConfigError("Word2Vec needs negative > 0 or hs=True (an output objective); got negative=0, hs=False")
        if not (self.sample >= 0):
            raise ConfigError(f"Word2Vec sample must be >= 0; got {self.sample!r}")
        if not (self.alpha > 0 and 0 <= self.min_alpha <= self.alpha):
            raise ConfigError(f"Word2Vec needs alpha > 0 and 0 <= min_alpha <= alpha; got alpha={self.alpha!r}, "
                              f"min_alpha={self.min_alpha!r}")

    # -- vocabulary ----------------------------------------------------------------------

    def build_vocab(self, sentences: Iterable[Sequence[str]]) -> list[np.ndarray]:
        """Count words, keep those seen ``min_count`` times (most frequent first), encode the sentences."""
        sentences = [list(s) for s in sentences]
        counts = Counter(w for s in sentences for w in s)
        if not counts:
            raise DataError("Word2Vec.fit got an empty corpus (no sentence holds a word)")
        kept = sorted(((c, w) for w, c in counts.items() if c >= self.min_count), key=lambda cw: (-cw[0], cw[1]))
        if len(kept) < 2:
            top = counts.most_common(1)[0]
            raise DataError(f"Word2Vec.fit: fewer than 2 words occur at least min_count={self.min_count} times "
                            f"(the most frequent, {top[0]!r}, occurs {top[1]} times); lower min_count or pass more text")
        self.words_ = [w for _, w in kept]
        self.counts_ = np.array([c for c, _ in kept], dtype=np.int64)
        index = {w: i for i, w in enumerate(self.words_)}
        encoded = [np.array([index[w] for w in s if w in index], dtype=np.int64) for s in sentences]
        return [e for e in encoded if len(e) > 1]

    # -- training ------------------------------------------------------------------------

    def fit(self, sentences: Iterable[Sequence[str]], *, progress: bool = False) -> Word2Vec:
        """Learn the vectors from tokenised sentences (lists of words); returns ``self``."""
        self._check()
        encoded = self.build_vocab(sentences)
        if not encoded:
            raise DataError("Word2Vec.fit: no sentence keeps two words over min_count; nothing to train on")
        v, d = len(self.words_), self.dim
        gen = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.w_in_ = (torch.rand(v, d, generator=gen) - 0.5) / d
        self.w_out_ = torch.zeros(v, d)
        self.w_hs_ = torch.zeros(v - 1, d) if self.hs else None
        self._table = torch.from_numpy(unigram_table(self.counts_, self.ns_exponent))
        # the labels of negative sampling never change: the positive first, then K negatives
        self._ns_labels = torch.zeros(self.batch_size, 1 + self.negative)
        self._ns_labels[:, 0] = 1
        if self.hs:
            codes, points = huffman_codes(self.counts_.tolist())
            depth = max(len(c) for c in codes)
            self._codes = torch.zeros(v, depth)
            self._points = torch.zeros(v, depth, dtype=torch.long)
            self._path_mask = torch.zeros(v, depth)
            for w, (c, p) in enumerate(zip(codes, points)):
                self._codes[w, :len(c)] = torch.tensor(c, dtype=torch.float32)
                self._points[w, :len(p)] = torch.tensor(p)
                self._path_mask[w, :len(c)] = 1.0
        self._keep = keep_probabilities(self.counts_, self.sample)
        tokens = np.concatenate(encoded)
        sent = np.repeat(np.arange(len(encoded)), [len(e) for e in encoded])
        total = len(tokens) * self.epochs
        starts = list(range(0, len(tokens), _CHUNK))
        # one random stream per worker; with one worker the run is a function of the seed alone
        streams = [(rng, gen)] + [(np.random.default_rng((self.seed, k)),
                                   torch.Generator().manual_seed(self.seed * 1_000_003 + k))
                                  for k in range(1, self.workers)]
        self.history_ = []
        t0, c0 = time.perf_counter(), time.process_time()
        state = {"done": 0, "loss": 0.0, "n": 0}
        lock = threading.Lock()

        def job(start: int, stream: tuple[np.random.Generator, torch.Generator]) -> None:
            """Subsample one chunk of the text and train on it; the learning rate follows the words done."""
            tok, sid = tokens[start:start + _CHUNK], sent[start:start + _CHUNK]
            with lock:  # claim this chunk's share of the linear decay (shared by the workers, as in word2vec.c)
                lr0 = self.alpha - (self.alpha - self.min_alpha) * state["done"] / total
                state["done"] += len(tok)
                lr1 = self.alpha - (self.alpha - self.min_alpha) * state["done"] / total
            kept = stream[0].random(len(tok)) < self._keep[tok]
            ls, n = self._train_chunk(tok[kept], sid[kept], stream[0], stream[1], lr0, lr1)
            with lock:
                state["loss"] += ls
                state["n"] += n

        def worker(k: int, queue: list[int]) -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    start = queue.pop()
                job(start, streams[k])

        with torch.no_grad():
            for epoch in range(self.epochs):
                state["loss"], state["n"] = 0.0, 0
                if self.workers == 1:
                    for start in starts:
                        job(start, streams[0])
                else:  # Hogwild: threads update the shared rows without locks (torch ops release the GIL)
                    queue = starts[::-1]
                    with ThreadPoolExecutor(self.workers) as pool:
                        for f in [pool.submit(worker, k, queue) for k in range(self.workers)]:
                            f.result()
                self.history_.append(state["loss"] / max(state["n"], 1))
                if not (math.isfinite(self.history_[-1]) and torch.isfinite(self.w_in_).all()):
                    raise TrainingDiverged(
                        f"Word2Vec diverged in epoch {epoch + 1} (non-finite vectors): the {self.batch_size} examples "
                        f"of a batch update a word's row together, which overshoots when a vocabulary of "
                        f"{len(self.words_)} words repeats a word many times per batch; lower batch_size or alpha "
                        f"(got alpha={self.alpha})")
        self.train_seconds_ = time.perf_counter() - t0
        self.train_cpu_seconds_ = time.process_time() - c0  # all threads of the process
        self.words_per_second_ = total / max(self.train_seconds_, 1e-9)
        self.wv_ = WordVectors(self.words_, self.w_in_.numpy().copy(), self.counts_.tolist())
        return self

    def _outputs(self, target: torch.Tensor, gen: torch.Generator) -> list[tuple[torch.Tensor, ...]]:
        """Output rows, labels and mask for the targets ``[N]`` of a chunk: negative sampling ``[N, 1+K]``
        (labels ``[batch_size, 1+K]``, the same for every batch) and/or the HS paths ``[N, depth]``."""
        outs = []
        if self.negative > 0:
            slot = torch.randint(len(self._table), (len(target) * self.negative,), generator=gen)
            neg = self._table.index_select(0, slot).view(len(target), self.negative)  # (N, K)
            ids = torch.cat([target[:, None], neg], 1)
            mask = torch.ones(ids.shape)
            mask[:, 1:] = neg != target[:, None]
            outs.append((self.w_out_, ids, self._ns_labels, mask))
        if self.hs:
            outs.append((self.w_hs_, self._points[target], 1 - self._codes[target], self._path_mask[target]))
        return outs

    def _train_chunk(self, tok: np.ndarray, sid: np.ndarray, rng: np.random.Generator, gen: torch.Generator,
                     lr0: float, lr1: float) -> tuple[float, int]:
        """Train on one subsampled chunk: every index tensor is built once here, batches only slice them."""
        centre, context = context_pairs(sid, rng.integers(1, self.window + 1, size=len(tok)), self.window)
        if self.architecture == "skipgram":
            inputs = torch.from_numpy(tok[centre])
            targets = torch.from_numpy(tok[context])
        else:  # the contexts of each centre, flat, with the offsets of an embedding bag
            counts = np.bincount(centre, minlength=len(tok))
            has = counts > 0
            targets = torch.from_numpy(tok[has])
            ctx_ids = torch.from_numpy(tok[context])
            bag = np.cumsum(has)[centre] - 1  # the centre (example) each context belongs to
            off = np.concatenate([[0], np.cumsum(counts[has])]).tolist()  # contexts of example i: off[i]:off[i+1]
            first = np.arange(len(targets)) // self.batch_size * self.batch_size  # first example of i's batch
            row = torch.from_numpy(bag % self.batch_size)  # row of each context's example within its batch
            bag_off = torch.from_numpy(np.asarray(off[:-1]) - np.asarray(off)[first])  # offsets within the batch
        n = len(targets)
        outs = self._outputs(targets, gen)
        loss_sum, count = 0.0, 0
        for s in range(0, n, self.batch_size):
            e = min(s + self.batch_size, n)
            lr = lr0 + (lr1 - lr0) * s / n
            if self.architecture == "skipgram":
                inp = inputs[s:e]
                h = self.w_in_.index_select(0, inp)  # (B, D)
            else:
                a, z = off[s], off[e]
                cid = ctx_ids[a:z]
                h = F.embedding_bag(cid, self.w_in_, bag_off[s:e], mode="mean")  # mean of the context rows
            grad_h = None
            for w_out, ids, labels, mask in outs:
                ids, mask = ids[s:e], mask[s:e]
                labels = labels[:e - s] if labels is self._ns_labels else labels[s:e]
                if s == 0:  # the objective, measured on the first batch of each chunk (cheap monitoring)
                    score = torch.linalg.vecdot(w_out[ids], h.unsqueeze(1))
                    loss_sum += float(-(F.logsigmoid((2 * labels - 1) * score) * mask).sum())
                    count += e - s
                step = sigmoid_pairs_step(w_out, h, ids, labels, mask, lr)
                grad_h = step if grad_h is None else grad_h.add_(step)
            if self.architecture == "skipgram":
                self.w_in_.index_add_(0, inp, grad_h)
            else:  # every context row gets the undivided step, as the C code
                self.w_in_.index_add_(0, cid, grad_h.index_select(0, row[a:z]))
        return loss_sum, count
