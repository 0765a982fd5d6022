"""Classic image classifiers: the linear classifier ``K(x) = Wx`` and k-nearest neighbours (notes §3.2).

**Linear classifier** (§3.2.1).  The image is flattened into a vector ``x``
(each channel linearised column by column, as the notes say) and every class
gets the score ``s_i = w_i · x``; the prediction is the class with the
highest score.  Geometrically each pair of classes is separated by a
hyperplane in the ``d``-dimensional pixel space.  The weights are learned by
minimising a loss over the training set — cross-entropy on the softmax of the
scores or the multiclass hinge loss
(:func:`an2dl.losses.classification.multiclass_hinge_loss`).  Departure: a
bias ``b_i`` is added by default (the notes' ``w_0 x_0`` term with
``x_0 = 1``); ``bias=False`` gives exactly ``K(x) = Wx``.  Each row of ``W``
reshaped to the image is a class "template" (:meth:`LinearClassifier.templates`).

**k-nearest neighbours** (§3.2.2).  No training: the test image takes the most
frequent label among its ``k`` closest training images, with the Euclidean
``‖a − b‖₂`` or the Manhattan ``‖a − b‖₁`` distance.  Distances are computed
in blocks of ``query_chunk × train_chunk`` pairs, so memory never holds an
``N × M × D`` tensor (nor the full ``N × M`` matrix): Euclidean through
``‖a‖² + ‖b‖² − 2 a·b`` (one matrix product per block), Manhattan through
``torch.cdist(p=1)``, which accumulates over ``D`` without materialising the
differences.  The running top-``k`` is merged block by block.

Ties: neighbours at equal distance are ordered by training index; a tied
vote goes to the tied class whose nearest member is closest (the vote of the
nearest neighbours decides), which is deterministic and reduces to 1-NN on a
full tie.  Departure from scikit-learn, which breaks vote ties towards the
smallest class index.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ._checks import check_positive_int
from ._registry import register_model

__all__ = ["LinearClassifier", "linear_classifier", "KNNClassifier", "pairwise_distances"]


class LinearClassifier(nn.Module):
    """Scores ``K(x) = Wx (+ b)`` on the flattened image (notes §3.2.1).

    Args:
        input_shape: shape of one input, e.g. ``(1, 8, 8)`` or ``(d,)``.
        num_classes: number of classes ``L`` (rows of ``W``).
        bias: add a bias per class (the ``w_0`` of the notes).

    Shape:
        input ``[B, *input_shape]``; output ``[B, L]`` scores (logits).
        ``W`` is ``[L, d]`` with ``d = prod(input_shape)``.
    """

    def __init__(self, *, input_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10, bias: bool = True) -> None:
        super().__init__()
        shape = tuple(input_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ConfigError(f"LinearClassifier input_shape must be positive integers; got {input_shape!r}")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"LinearClassifier num_classes must be an integer >= 2; got {num_classes!r}")
        self.input_shape, self.num_classes = shape, num_classes
        d = 1
        for s in shape:
            d *= s
        self.num_features = d
        self.classifier = nn.Linear(d, num_classes, bias=bias)

    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C·H·W]``, each channel column by column (notes §3.2.1)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"LinearClassifier expects input of shape [B, {', '.join(map(str, self.input_shape))}]; got {list(x.shape)}")
        if x.dim() >= 3:
            x = x.transpose(-1, -2)  # column-major: pixel (r, c) -> position c·H + r
        return x.reshape(x.shape[0], -1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``W`` with ``num_classes`` rows."""
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"num_classes must be an integer >= 2; got {num_classes!r}")
        self.num_classes = num_classes
        self.classifier = nn.Linear(self.num_features, num_classes, bias=self.classifier.bias is not None)

    def templates(self) -> torch.Tensor:
        """The rows of ``W`` reshaped to images: ``[L, *input_shape]`` (the learned class templates)."""
        w = self.classifier.weight.detach()
        if len(self.input_shape) >= 2:
            *lead, h, wd = self.input_shape
            return w.view(self.num_classes, *lead, wd, h).transpose(-1, -2).contiguous()
        return w.view(self.num_classes, *self.input_shape)


@register_model("linear_classifier", input_shape=(1, 8, 8))
def linear_classifier(*, input_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10, bias: bool = True) -> LinearClassifier:
    """Linear classifier ``K(x) = Wx + b`` on flattened images (notes §3.2.1)."""
    return LinearClassifier(input_shape=input_shape, num_classes=num_classes, bias=bias)


_METRICS = ("euclidean", "manhattan")


def pairwise_distances(a: torch.Tensor, b: torch.Tensor, *, metric: str = "euclidean") -> torch.Tensor:
    """Distances between the rows of ``a`` ``[N, D]`` and ``b`` ``[M, D]`` -> ``[N, M]``, without an ``N×M×D`` tensor.

    Euclidean: ``sqrt(max(0, ‖a‖² + ‖b‖² − 2 a·bᵀ))``; Manhattan: ``Σ_d |a_d − b_d|`` via ``torch.cdist(p=1)``.
    """
    if metric not in _METRICS:
        raise ConfigError(f"metric must be one of {_METRICS}; got {metric!r}")
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"pairwise_distances needs [N, D] and [M, D]; got {list(a.shape)} and {list(b.shape)}")
    if metric == "manhattan":
        return torch.cdist(a, b, p=1.0)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return sq.clamp_(min=0).sqrt_()


class KNNClassifier:
    """k-nearest-neighbour classifier with batched, chunked distances (notes §3.2.2).

    Args:
        k: neighbours that vote (``1 ≤ k ≤`` training size).
        metric: ``"euclidean"`` or ``"manhattan"``.
        query_chunk, train_chunk: block sizes of the distance computation
            (peak memory ≈ ``query_chunk · train_chunk`` distances).

    Attributes (after :meth:`fit`): ``x_train_`` ``[M, D]``, ``y_train_`` ``[M]``, ``num_classes_``.

    Shape:
        inputs ``[N, ...]`` (flattened to ``[N, D]``); labels int64 ``[N]``.
    """

    def __init__(self, *, k: int = 1, metric: str = "euclidean", query_chunk: int = 512, train_chunk: int = 8192) -> None:
        check_positive_int("KNNClassifier", "k", k)
        if metric not in _METRICS:
            raise ConfigError(f"KNNClassifier metric must be one of {_METRICS}; got {metric!r}")
        check_positive_int("KNNClassifier", "query_chunk", query_chunk)
        check_positive_int("KNNClassifier", "train_chunk", train_chunk)
        self.k, self.metric = k, metric
        self.query_chunk, self.train_chunk = query_chunk, train_chunk

    def fit(self, x: torch.Tensor, y: torch.Tensor, *, num_classes: int | None = None) -> KNNClassifier:
        """Store the training set (k-NN has no other training)."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
            raise ValueError(f"x must be a float tensor [N, ...]; got {getattr(x, 'shape', type(x).__name__)}")
        if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != x.shape[:1]:
            raise ValueError(f"y must be int64 labels of shape [{x.shape[0]}]; got {getattr(y, 'dtype', None)} {getattr(y, 'shape', None)}")
        if self.k > len(x):
            raise ConfigError(f"k={self.k} exceeds the {len(x)} training samples")
        if bool((y < 0).any()):
            raise ValueError("y must hold class indices >= 0")
        self.x_train_ = x.reshape(len(x), -1)
        self.y_train_ = y
        self.num_classes_ = int(num_classes) if num_classes is not None else int(y.max()) + 1
        return self

    def _check_query(self, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "x_train_"):
            raise ConfigError("KNNClassifier is not fitted; call fit(x, y) first")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError(f"x must be a float tensor; got {getattr(x, 'dtype', type(x).__name__)}")
        q = x.reshape(len(x), -1)
        if q.shape[1] != self.x_train_.shape[1]:
            raise ValueError(f"x has {q.shape[1]} features per sample; the training set has {self.x_train_.shape[1]}")
        return q.to(self.x_train_.dtype)

    def kneighbors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances and training indices of the ``k`` nearest neighbours, nearest first: two ``[N, k]``."""
        q = self._check_query(x)
        all_d, all_i = [], []
        for s in range(0, len(q), self.query_chunk):
            qc = q[s : s + self.query_chunk]
            best_d = qc.new_empty(len(qc), 0)
            best_i = torch.empty(len(qc), 0, dtype=torch.long, device=q.device)
            for t in range(0, len(self.x_train_), self.train_chunk):
                d = pairwise_distances(qc, self.x_train_[t : t + self.train_chunk], metric=self.metric)
                kk = min(self.k, d.shape[1])
                cd, ci = d.topk(kk, dim=1, largest=False)
                best_d, best_i = torch.cat([best_d, cd], 1), torch.cat([best_i, ci + t], 1)
                if best_d.shape[1] > self.k:
                    best_d, pos = best_d.topk(self.k, dim=1, largest=False)
                    best_i = best_i.gather(1, pos)
            # deterministic order: by distance, equal distances by training index
            by_index = best_i.argsort(dim=1)
            best_d, best_i = best_d.gather(1, by_index), best_i.gather(1, by_index)
            by_dist = best_d.argsort(dim=1, stable=True)
            all_d.append(best_d.gather(1, by_dist))
            all_i.append(best_i.gather(1, by_dist))
        return torch.cat(all_d), torch.cat(all_i)

    def _votes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Votes ``[N, L]`` and the rank of each class's nearest neighbour ``[N, L]`` (k if absent)."""
        _, idx = self.kneighbors(x)
        labels = self.y_train_[idx]  # (N, k), nearest first
        n, k = labels.shape
        votes = torch.zeros(n, self.num_classes_, dtype=torch.long, device=labels.device)
        votes.scatter_add_(1, labels, torch.ones_like(labels))
        first = torch.full((n, self.num_classes_), k, dtype=torch.long, device=labels.device)
        ranks = torch.arange(k, device=labels.device).expand(n, k)
        first.scatter_reduce_(1, labels, ranks, reduce="amin")
        return votes, first

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Majority label among the ``k`` neighbours ``[N]``; ties go to the class with the nearest member."""
        votes, first = self._votes(x)
        k = self.k
        score = votes * (k + 1) + (k - first)  # votes dominate; among equal votes, the earlier first rank wins
        return score.argmax(dim=1)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Fraction of the ``k`` neighbours in each class ``[N, L]``."""
        votes, _ = self._votes(x)
        return votes.float() / self.k

    def score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy of :meth:`predict` on ``(x, y)``."""
        return float((self.predict(x) == y).float().mean())
