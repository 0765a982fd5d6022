"""k-means++ and Lloyd's k-means against scikit-learn (notes §1.1.2, clustering)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.ops import KMeans, cluster_purity, kmeans, kmeans_plusplus

sk_cluster = pytest.importorskip("sklearn.cluster")
sk_datasets = pytest.importorskip("sklearn.datasets")


def _blobs(n=500, k=6, d=4, std=2.5, seed=0):
    x, y, centers = sk_datasets.make_blobs(n, centers=k, n_features=d, cluster_std=std, center_box=(-20, 20),
                                          random_state=seed, return_centers=True)
    return torch.from_numpy(x), y, torch.from_numpy(centers)


def _inertia(x: torch.Tensor, centers: torch.Tensor) -> float:
    return float(torch.cdist(x, centers).min(1).values.pow(2).sum())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k, d, std", [(6, 4, 2.5), (3, 2, 6.0), (10, 8, 4.0)])
def test_lloyd_equals_scikit_learn_from_the_same_centres(seed, k, d, std):
    x, _, _ = _blobs(k=k, d=d, std=std, seed=seed)
    init = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:k]]
    ours = kmeans(x, k, init=init)
    ref = sk_cluster.KMeans(k, init=init.numpy(), n_init=1, algorithm="lloyd").fit(x.numpy())
    np.testing.assert_array_equal(ours.labels.numpy(), ref.labels_)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-10)
    np.testing.assert_allclose(ours.centers.numpy(), ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert ours.n_iter == ref.n_iter_
    assert ours.labels.dtype == torch.int64 and ours.centers.dtype == x.dtype


def test_max_iter_and_tol_stop_like_scikit_learn():
    x, _, _ = _blobs(n=400, k=5, d=3, std=5.0, seed=3)
    init = x[:5]
    for max_iter, tol in [(1, 1e-4), (2, 1e-4), (300, 1e-1), (300, 0.0)]:
        ours = kmeans(x, 5, init=init, max_iter=max_iter, tol=tol)
        ref = sk_cluster.KMeans(5, init=init.numpy(), n_init=1, algorithm="lloyd", max_iter=max_iter,
                                tol=tol).fit(x.numpy())
        np.testing.assert_array_equal(ours.labels.numpy(), ref.labels_)
        assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-10)
        assert ours.n_iter == ref.n_iter_


def test_empty_cluster_moves_to_the_farthest_point_like_scikit_learn():
    x = np.r_[np.zeros((5, 2)), np.full((5, 2), 10.0), [[5.0, 5.0]], [[6.0, 4.0]]]
    init = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0], [-50.0, -50.0]])  # two centres far from every point
    ours = kmeans(torch.from_numpy(x), 4, init=torch.from_numpy(init))
    ref = sk_cluster.KMeans(4, init=init, n_init=1, algorithm="lloyd").fit(x)
    np.testing.assert_array_equal(ours.labels.numpy(), ref.labels_)
    np.testing.assert_allclose(ours.centers.numpy(), ref.cluster_centers_, atol=1e-12)
    assert ours.inertia == pytest.approx(ref.inertia_)
    assert torch.bincount(ours.labels, minlength=4).min() >= 1  # no centre left without points


def test_kmeans_plusplus_picks_data_points():
    x, _, _ = _blobs(n=300, k=5, d=3, seed=1)
    for trials in (1, None):
        centers, idx = kmeans_plusplus(x, 5, torch.Generator().manual_seed(0), n_local_trials=trials)
        assert centers.shape == (5, 3) and idx.shape == (5,)
        assert torch.equal(centers, x[idx])
        assert idx.unique().numel() == 5  # a chosen point has D(x) = 0 and is never drawn again
    a, _ = kmeans_plusplus(x, 5, 7)
    b, _ = kmeans_plusplus(x, 5, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_kmeans_plusplus_within_its_bound_where_random_seeding_is_not():
    # Arthur & Vassilvitskii (2007): E[inertia of the seeding] <= 8 (ln K + 2) · OPT.
    # Measured on these blobs (30 seeds): OPT ≈ 472, bound ≈ 15 400; k-means++ seeding mean ≈ 2 245
    # (greedy ≈ 811); uniformly random seeding mean ≈ 60 700; after Lloyd, k-means++ reached the optimum
    # 30/30 times and random seeding 2/30.
    k = 8
    x, _, true_centers = _blobs(n=1000, k=k, d=2, std=0.5, seed=0)
    opt = min(_inertia(x, true_centers), kmeans(x, k, n_init=10, seed=0).inertia)  # ≥ OPT, a safe stand-in
    bound = 8 * (math.log(k) + 2) * opt
    seeds = range(30)
    plusplus = [_inertia(x, kmeans_plusplus(x, k, s, n_local_trials=1)[0]) for s in seeds]
    greedy = [_inertia(x, kmeans_plusplus(x, k, s)[0]) for s in seeds]
    rand = [_inertia(x, x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(s))[:k]]) for s in seeds]
    assert np.mean(plusplus) <= bound and np.mean(greedy) <= np.mean(plusplus)
    assert np.mean(rand) > bound
    assert np.mean(rand) > 5 * np.mean(plusplus)
    hits_pp = sum(kmeans(x, k, seed=s).inertia <= opt * (1 + 1e-9) for s in seeds)
    hits_rand = sum(kmeans(x, k, init="random", seed=s).inertia <= opt * (1 + 1e-9) for s in seeds)
    assert hits_pp >= 25 and hits_rand <= 15


def test_n_init_keeps_the_best_run():
    x, _, _ = _blobs(n=400, k=8, d=2, std=1.0, seed=2)
    single = kmeans(x, 8, init="random", seed=0)  # the first of the six runs below
    many = kmeans(x, 8, init="random", n_init=6, seed=0)
    gen = torch.Generator().manual_seed(0)
    runs = [kmeans(x, 8, init="random", seed=gen) for _ in range(6)]  # the same six draws, one by one
    assert many.inertia == min(r.inertia for r in runs)
    assert many.inertia <= single.inertia == runs[0].inertia


def test_estimator_interface():
    x, y = sk_datasets.make_blobs(300, centers=[[-10.0, 0.0], [10.0, 0.0], [0.0, 12.0]], cluster_std=0.8,
                                  random_state=5)
    x = torch.from_numpy(x)
    km = KMeans(3, n_init=2, seed=0)
    assert not hasattr(km, "cluster_centers_")  # the constructor only stores its arguments
    labels = km.fit_predict(x)
    assert torch.equal(labels, km.labels_) and torch.equal(km.predict(x), labels)
    assert km.cluster_centers_.shape == (3, 2) and km.n_iter_ >= 1
    assert km.inertia_ == pytest.approx(_inertia(x, km.cluster_centers_), rel=1e-9)
    dist = km.transform(x[:7])
    assert dist.shape == (7, 3)
    torch.testing.assert_close(dist, torch.cdist(x[:7], km.cluster_centers_))
    # well-separated blobs: the clusters are the classes up to a renaming
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, labels.numpy()) == pytest.approx(1.0)
    assert "n_clusters=3" in repr(km)


@pytest.mark.parametrize(
    "x, k, kwargs, error, match",
    [
        (np.zeros((5, 2)), 2, {}, TypeError, "torch.Tensor"),
        (torch.zeros(5, 2, dtype=torch.long), 2, {}, TypeError, "floating-point"),
        (torch.zeros(5), 2, {}, ValueError, r"shape \[N, D\]"),
        (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), 1, {}, ValueError, "finite"),
        (torch.zeros(5, 2), 0, {}, ConfigError, r"k must be an integer in \[1, N=5\]"),
        (torch.zeros(5, 2), 6, {}, ConfigError, "no more clusters than points"),
        (torch.zeros(5, 2), 2, {"init": "forgy"}, ConfigError, "init must be one of"),
        (torch.zeros(5, 2), 2, {"init": torch.zeros(3, 2)}, ConfigError, r"\[K, D\] = \[2, 2\]"),
        (torch.zeros(5, 2), 2, {"init": torch.zeros(2, 2), "n_init": 3}, ConfigError, "n_init must be 1"),
        (torch.zeros(5, 2), 2, {"n_init": 0}, ConfigError, "n_init must be a positive integer"),
        (torch.zeros(5, 2), 2, {"max_iter": 0}, ConfigError, "max_iter must be a positive integer"),
        (torch.zeros(5, 2), 2, {"tol": -1.0}, ConfigError, "tol must be a number >= 0"),
        (torch.zeros(5, 2), 2, {"seed": "a"}, ConfigError, "seed must be an integer"),
    ],
)
def test_kmeans_bad_arguments(x, k, kwargs, error, match):
    with pytest.raises(error, match=match):
        kmeans(x, k, **kwargs)


def test_cluster_purity_by_hand():
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    assert cluster_purity(y, y) == 1.0
    assert cluster_purity(y, torch.tensor([7, 7, 7, 3, 3, 9, 9, 9])) == 1.0  # ids are arbitrary
    # cluster a = {0, 0, 1} -> 2, cluster b = {0, 1, 2, 2, 2} -> 3: purity (2 + 3) / 8
    assert cluster_purity(y, torch.tensor([0, 0, 1, 0, 1, 1, 1, 1])) == pytest.approx(5 / 8)
    assert cluster_purity(y, torch.zeros(8, dtype=torch.long)) == pytest.approx(3 / 8)  # one cluster: the largest class
    with pytest.raises(ValueError, match="labels_pred must be a 1-D integer tensor"):
        cluster_purity(y, y.float())
    with pytest.raises(ValueError, match="same non-zero length"):
        cluster_purity(y, y[:3])


def test_other_bad_arguments():
    with pytest.raises(ConfigError, match="n_local_trials must be a positive integer"):
        kmeans_plusplus(torch.zeros(5, 2), 2, 0, n_local_trials=0)
    with pytest.raises(ConfigError, match="KMeans is not fitted"):
        KMeans(2).predict(torch.zeros(3, 2))
    km = KMeans(2).fit(torch.rand(10, 2, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="x has 3 features but KMeans was fitted on 2"):
        km.predict(torch.zeros(4, 3))
