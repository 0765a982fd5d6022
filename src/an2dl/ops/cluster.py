"""k-means clustering: k-means++ seeding and Lloyd's algorithm (notes §1.1.2, unsupervised learning).

The notes name clustering as the typical unsupervised task: group the points
``x_1 .. x_N`` (no labels) by their intrinsic similarity.  k-means groups them
into ``K`` clusters with centres ``μ_1 .. μ_K`` that minimise the inertia
(within-cluster sum of squares)::

    J(μ, z) = Σ_n ‖x_n − μ_{z_n}‖²,   z_n ∈ {1..K}

Lloyd's algorithm (Lloyd 1982) decreases ``J`` by alternating two exact
minimisations until the assignments stop changing:

1. assignment: ``z_n = argmin_k ‖x_n − μ_k‖²`` (all ``N × K`` squared
   distances at once, ``‖x‖² + ‖μ‖² − 2 x·μ``);
2. update: ``μ_k = mean { x_n : z_n = k }``.

It stops when the labels repeat, when the squared centre shift summed over
the centres falls to ``tol · mean_d Var(x_d)`` (``tol`` relative to the
data's scale), or after ``max_iter`` iterations; the labels returned are those
of the final centres.  These rules, and the handling of empty clusters below,
are scikit-learn's ``KMeans(algorithm="lloyd")``, so that from the same
initial centres both give the same labels and inertia (the tests check it).

**Empty clusters.**  When no point is assigned to a centre, the centre is
moved onto a data point instead of being left where it is: the ``e`` empty
clusters (in increasing index order) take the ``e`` points farthest from
their assigned centres (in decreasing distance), and each such point is taken
out of the mean of the cluster it came from.  A cluster that loses its only
point in this way keeps its previous centre.

**k-means++** (Arthur & Vassilvitskii 2007) chooses the first centre
uniformly among the points and each next one with probability proportional
to ``D(x)²``, the squared distance of ``x`` to the closest centre chosen so
far; its expected inertia is at most ``8 (ln K + 2)`` times the optimum.  With
``n_local_trials = t > 1`` each step draws ``t`` candidates that way and keeps
the one that lowers the inertia most (the greedy variant scikit-learn uses,
``t = 2 + ⌊ln K⌋`` by default); ``t = 1`` is the original algorithm.

**Purity** (:func:`cluster_purity`) scores a clustering against known
classes: each cluster votes for its most frequent class, and purity is the
fraction of points in their cluster's majority class (1 for a perfect
clustering; it rewards many small clusters, so compare clusterings with the
same ``K``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError

__all__ = ["KMeansResult", "kmeans_plusplus", "kmeans", "KMeans", "cluster_purity"]

_INITS = ("k-means++", "random")


@dataclass
class KMeansResult:
    """Outcome of :func:`kmeans`."""

    centers: torch.Tensor  # [K, D] cluster centres μ_k, the data's dtype
    labels: torch.Tensor  # [N] int64, index of the centre of each point
    inertia: float  # Σ_n ‖x_n − μ_{z_n}‖²
    n_iter: int  # Lloyd iterations of the kept run


def _check_points(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, D]; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got {x.dtype}")
    if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape [N, D] with N, D >= 1; got {list(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must hold finite values; it contains NaN or infinity")
    return x


def _check_k(k: int, n: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n:
        raise ConfigError(f"k must be an integer in [1, N={n}] (no more clusters than points); got {k!r}")
    return k


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        return torch.Generator().manual_seed(0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer or a torch.Generator; got {seed!r}")
    return torch.Generator().manual_seed(seed)


def _squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``‖x_n − μ_k‖²`` for all pairs: ``[N, D]``, ``[K, D]`` -> ``[N, K]`` (no ``N × K × D`` tensor)."""
    sq = (x * x).sum(1, keepdim=True) + (centers * centers).sum(1)[None, :] - 2.0 * (x @ centers.T)
    return sq.clamp_(min=0)


def kmeans_plusplus(
    x: torch.Tensor,
    k: int,
    generator: torch.Generator | int | None = None,
    *,
    n_local_trials: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means++ seeding: ``K`` data points, each next one drawn with probability ∝ ``D(x)²``.

    Args:
        x: ``[N, D]`` float points.
        k: number of centres, ``1 ≤ K ≤ N``.
        generator: a CPU ``torch.Generator`` or an integer seed (None: seed 0).
        n_local_trials: candidates per step, keeping the best (see the module
            docstring); None: ``2 + ⌊ln K⌋``; 1: the original algorithm.

    Returns:
        ``(centers [K, D], indices [K])`` with ``centers == x[indices]``.
        When fewer than ``K`` distinct points exist, duplicates are chosen.
    """
    x = _check_points(x)
    n = x.shape[0]
    k = _check_k(k, n)
    gen = _generator(generator)
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(k))
    if not isinstance(n_local_trials, int) or isinstance(n_local_trials, bool) or n_local_trials < 1:
        raise ConfigError(f"n_local_trials must be a positive integer or None; got {n_local_trials!r}")
    indices = torch.empty(k, dtype=torch.long)
    indices[0] = int(torch.randint(n, (1,), generator=gen))
    closest = _squared_distances(x, x[indices[:1]])[:, 0]  # (N,) D(x)² to the nearest chosen centre
    for j in range(1, k):
        potential = closest.sum()
        # D² sampling: the first index whose cumulative D² exceeds u · Σ D²; points at D = 0 are never drawn
        u = torch.rand(n_local_trials, generator=gen, dtype=x.dtype).to(x.device) * potential
        candidates = torch.searchsorted(closest.cumsum(0), u, right=True).clamp_(max=n - 1)  # (t,)
        trial = torch.minimum(closest[None, :], _squared_distances(x[candidates], x))  # (t, N)
        best = int(trial.sum(1).argmin())
        indices[j] = candidates[best]
        closest = trial[best]
    indices = indices.to(x.device)
    return x[indices].clone(), indices


def _update_centers(x: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor,
                    nearest: torch.Tensor) -> torch.Tensor:
    """Means of the clusters, moving empty clusters onto the farthest points (module docstring)."""
    k = centers.shape[0]
    sums = torch.zeros_like(centers).index_add_(0, labels, x)  # (K, D)
    counts = torch.bincount(labels, minlength=k).to(x.dtype)  # (K,)
    empty = torch.nonzero(counts == 0).flatten()
    if empty.numel():
        far = torch.argsort(nearest, descending=True, stable=True)[: empty.numel()]
        old = labels[far]
        sums.index_add_(0, old, -x[far])
        counts.index_add_(0, old, -torch.ones_like(old, dtype=x.dtype))
        sums[empty] = x[far]
        counts[empty] = 1
    new = sums / counts.clamp(min=1)[:, None]
    return torch.where((counts > 0)[:, None], new, centers)


def _lloyd(x: torch.Tensor, centers: torch.Tensor, max_iter: int, tol: float) -> KMeansResult:
    labels_old: torch.Tensor | None = None
    strict = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        d2 = _squared_distances(x, centers)  # (N, K)
        nearest, labels = d2.min(1)
        new = _update_centers(x, labels, centers, nearest)
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if labels_old is not None and torch.equal(labels, labels_old):
            strict = True
            break
        if shift <= tol:
            break
        labels_old = labels
    if not strict:  # the centres moved after the last assignment: assign once more
        labels = _squared_distances(x, centers).argmin(1)
    inertia = float(((x - centers[labels]) ** 2).sum())
    return KMeansResult(centers=centers, labels=labels, inertia=inertia, n_iter=n_iter)


def kmeans(
    x: torch.Tensor,
    k: int,
    *,
    init: str | torch.Tensor = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int | torch.Generator | None = 0,
) -> KMeansResult:
    """Cluster the rows of ``x`` into ``K`` groups with Lloyd's algorithm (notes §1.1.2).

    Args:
        x: ``[N, D]`` float points (float64 for results that match scikit-learn to rounding).
        k: number of clusters, ``1 ≤ K ≤ N``.
        init: ``"k-means++"`` (:func:`kmeans_plusplus`), ``"random"`` (``K``
            distinct points drawn uniformly) or a ``[K, D]`` tensor of initial centres.
        n_init: independent runs from different initialisations; the one with the
            lowest inertia is kept.  Must be 1 when ``init`` is a tensor.
        max_iter: most Lloyd iterations per run.
        tol: stop when ``Σ_k ‖μ_k^new − μ_k‖² ≤ tol · mean_d Var(x_d)``.
        seed: integer seed or CPU ``torch.Generator`` of the initialisations.

    Returns:
        :class:`KMeansResult` ``(centers [K, D], labels [N], inertia, n_iter)``.

    Raises:
        TypeError / ValueError: ``x`` not a finite float ``[N, D]`` tensor;
        ConfigError: bad ``k``, ``init``, ``n_init``, ``max_iter``, ``tol`` or ``seed``.
    """
    x = _check_points(x)
    n, d = x.shape
    k = _check_k(k, n)
    for name, value in (("n_init", n_init), ("max_iter", max_iter)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise ConfigError(f"tol must be a number >= 0; got {tol!r}")
    if isinstance(init, torch.Tensor):
        if init.shape != (k, d):
            raise ConfigError(f"init centres must have shape [K, D] = [{k}, {d}]; got {list(init.shape)}")
        if n_init != 1:
            raise ConfigError(f"n_init must be 1 when init is a tensor of centres (every run would be the same); got {n_init}")
    elif init not in _INITS:
        raise ConfigError(f"init must be one of {_INITS} or a [K, D] tensor; got {init!r}")
    gen = _generator(seed)
    tol_abs = float(tol) * float(x.var(dim=0, unbiased=False).mean())
    best: KMeansResult | None = None
    for _ in range(n_init):
        if isinstance(init, torch.Tensor):
            start = init.to(device=x.device, dtype=x.dtype).clone()
        elif init == "k-means++":
            start, _idx = kmeans_plusplus(x, k, gen)
        else:
            start = x[torch.randperm(n, generator=gen)[:k].to(x.device)].clone()
        result = _lloyd(x, start, max_iter, tol_abs)
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None
    return best


class KMeans:
    """k-means with scikit-learn's estimator interface: ``fit``, ``predict``, ``fit_predict``, ``transform``.

    The constructor only stores its arguments (those of :func:`kmeans`);
    :meth:`fit` sets ``cluster_centers_`` ``[K, D]``, ``labels_`` ``[N]``,
    ``inertia_`` and ``n_iter_``.

    Example::

        km = KMeans(10, n_init=4, seed=0).fit(features)   # features [N, D]
        z = km.predict(new_features)                     # [M] cluster indices
    """

    def __init__(self, n_clusters: int = 8, *, init: str | torch.Tensor = "k-means++", n_init: int = 1,
                 max_iter: int = 300, tol: float = 1e-4, seed: int | None = 0) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def fit(self, x: torch.Tensor) -> KMeans:
        """Cluster ``x`` ``[N, D]``; returns ``self``."""
        result = kmeans(x, self.n_clusters, init=self.init, n_init=self.n_init, max_iter=self.max_iter,
                        tol=self.tol, seed=self.seed)
        self.cluster_centers_ = result.centers
        self.labels_ = result.labels
        self.inertia_ = result.inertia
        self.n_iter_ = result.n_iter
        return self

    def _centers(self, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "cluster_centers_"):
            raise ConfigError("KMeans is not fitted; call fit(x) first")
        x = _check_points(x)
        if x.shape[1] != self.cluster_centers_.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features but KMeans was fitted on {self.cluster_centers_.shape[1]}")
        return self.cluster_centers_.to(device=x.device, dtype=x.dtype)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Index ``[M]`` (int64) of the nearest centre of each row of ``x`` ``[M, D]``."""
        return _squared_distances(x, self._centers(x)).argmin(1)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distances ``[M, K]`` of each row of ``x`` ``[M, D]`` to every centre."""
        return _squared_distances(x, self._centers(x)).sqrt_()

    def fit_predict(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`fit` on ``x`` and return ``labels_``."""
        return self.fit(x).labels_

    def __repr__(self) -> str:
        return (f"KMeans(n_clusters={self.n_clusters}, init={self.init if isinstance(self.init, str) else 'tensor'!r}, "
                f"n_init={self.n_init}, max_iter={self.max_iter}, tol={self.tol}, seed={self.seed})")


def cluster_purity(labels_true: torch.Tensor, labels_pred: torch.Tensor) -> float:
    """Fraction of points that belong to the majority class of their cluster: ``(1/N) Σ_k max_j |C_k ∩ L_j|``.

    Args:
        labels_true: ``[N]`` integer class of each point.
        labels_pred: ``[N]`` integer cluster of each point (any integer ids).

    Returns:
        purity in ``(0, 1]``.
    """
    for name, t in (("labels_true", labels_true), ("labels_pred", labels_pred)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.is_floating_point() or t.dtype == torch.bool:
            raise ValueError(f"{name} must be a 1-D integer tensor; got {getattr(t, 'dtype', type(t).__name__)} "
                             f"{list(getattr(t, 'shape', []))}")
    if labels_true.shape != labels_pred.shape or labels_true.numel() == 0:
        raise ValueError(f"labels_true and labels_pred must have the same non-zero length; got "
                         f"{labels_true.numel()} and {labels_pred.numel()}")
    _, cls = torch.unique(labels_true.cpu(), return_inverse=True)
    _, clu = torch.unique(labels_pred.cpu(), return_inverse=True)
    table = torch.zeros(int(clu.max()) + 1, int(cls.max()) + 1, dtype=torch.long)  # (clusters, classes)
    table.index_put_((clu, cls), torch.ones_like(cls), accumulate=True)
    return float(table.max(1).values.sum()) / labels_true.numel()
