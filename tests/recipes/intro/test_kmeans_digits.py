"""``kmeans-digits``: the codes of a briefly trained autoencoder cluster MNIST better than its pixels (notes §1.1.2).

Measured with the default settings (first 5,000 MNIST training images: 4,500 train, 500 validation; all 10,000
test images; dense autoencoder 784-512-256-10, 20 epochs; k-means K=10, best of 20, fitted on the training images),
purity / adjusted Rand index (ARI) against the classes k-means never saw:

=====  ==============  ==============  ==============  ==============  ===============
seed   pixels train    pixels test     codes train     codes test      chance test
=====  ==============  ==============  ==============  ==============  ===============
0      0.546 / 0.321   0.553 / 0.331   0.610 / 0.392   0.613 / 0.387   0.120 / 0.000
1      0.539 / 0.320   0.544 / 0.329   0.663 / 0.469   0.647 / 0.452   0.118 / -0.000
2      0.546 / 0.320   0.553 / 0.329   0.643 / 0.447   0.642 / 0.449   0.119 / 0.000
=====  ==============  ==============  ==============  ==============  ===============

Codes minus pixels, (purity, ARI): seed 0 train (+0.065, +0.071), test (+0.060, +0.056); seed 1 train
(+0.124, +0.149), test (+0.103, +0.123); seed 2 train (+0.097, +0.127), test (+0.088, +0.120).  The smallest gaps
are 0.060 (purity) and 0.056 (ARI), both on seed 0's test images; the slow test runs that seed, the one with
the smallest gaps, and asks for more than 0.04 in both.
"""

from __future__ import annotations

import pytest

import an2dl
from an2dl.errors import ConfigError
from conftest import require_data

_QUICK = ["cluster.n_init=3", "checkpoint.every_n_epochs=null"]


def _check_chance(m):
    for split in ("train", "test"):
        assert m[f"chance/{split}_purity"] < 0.25 and abs(m[f"chance/{split}_ari"]) < 0.05


def _check_at_least(m, space, *, purity, ari):
    for split in ("train", "test"):
        assert m[f"{space}/{split}_purity"] >= purity, (space, split, m[f"{space}/{split}_purity"])
        assert m[f"{space}/{split}_ari"] >= ari, (space, split, m[f"{space}/{split}_ari"])


def test_kmeans_digits_short_run_on_mnist(tmp_path):
    require_data("mnist")
    # 1,350 training images, 3 epochs of a 784-64-10 autoencoder: pixels purity 0.49-0.56, ARI 0.25-0.32; the codes
    # are barely trained (ARI 0.08-0.09) but above chance
    r = an2dl.run("kmeans-digits", ["data.limit_train=1500", "data.limit_test=500", "trainer.max_epochs=3",
                                    "model.hidden=[64]", *_QUICK], runs_root=tmp_path, progress=False)
    m = r.metrics
    assert (m["pixels/dim"], m["codes/dim"]) == (784, 10)
    _check_chance(m)
    _check_at_least(m, "pixels", purity=0.4, ari=0.15)
    _check_at_least(m, "codes", purity=0.22, ari=0.03)
    for split in ("train", "test"):
        for key in ("purity", "ari"):
            assert m[f"gap/{split}_{key}_codes_minus_pixels"] == pytest.approx(
                m[f"codes/{split}_{key}"] - m[f"pixels/{split}_{key}"])
    for name in ("cluster_means", "cluster_scores"):
        assert (r.run_dir / "plots" / f"{name}.png").is_file()
    assert (r.run_dir / "model" / "model.json").is_file() and (r.run_dir / "report.html").is_file()


def test_kmeans_digits_on_the_embedded_digits(tmp_path):
    # no files needed; the 64 pixels of the 8x8 digits already cluster well (purity 0.79-0.80, ARI 0.64-0.67)
    r = an2dl.run("kmeans-digits", ["data.name=digits", "trainer.max_epochs=2", "model.hidden=[32]", *_QUICK],
                  runs_root=tmp_path, progress=False)
    m = r.metrics
    assert (m["pixels/dim"], m["codes/dim"]) == (64, 10)
    _check_chance(m)
    _check_at_least(m, "pixels", purity=0.75, ari=0.6)


@pytest.mark.slow
def test_autoencoder_codes_cluster_mnist_better_than_pixels(tmp_path):
    require_data("mnist")
    # trainer seed 0, the seed of the smallest gaps (table above)
    r = an2dl.run("kmeans-digits", ["trainer.seed=0"], runs_root=tmp_path, progress=False)
    m = r.metrics
    _check_chance(m)
    _check_at_least(m, "pixels", purity=0.5, ari=0.28)
    _check_at_least(m, "codes", purity=0.58, ari=0.35)
    # smallest measured gaps: 0.060 (purity) and 0.056 (ARI), see the table above
    for split in ("train", "test"):
        for key in ("purity", "ari"):
            assert m[f"gap/{split}_{key}_codes_minus_pixels"] > 0.04, (split, key, m)


def test_kmeans_digits_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match="cluster.k must be a positive integer"):
        an2dl.run("kmeans-digits", ["cluster.k=0"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="data.name must be one of"):
        an2dl.run("kmeans-digits", ["data.name=cifar10"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="data.limit_train must be an integer >= 10"):
        an2dl.run("kmeans-digits", ["data.limit_train=5"], runs_root=tmp_path, progress=False)
