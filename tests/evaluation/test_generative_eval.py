"""Evaluation of generative models: Fréchet distance, judge scores, reconstruction error, callbacks."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import an2dl
from _generative_support import JUDGE, small_judge, use_session_cache
from an2dl.data import ArrayDataset
from an2dl.engine import Trainer
from an2dl.errors import ConfigError
from an2dl.evaluation.generative import (
    FrechetMonitor,
    SampleGrid,
    frechet_distance,
    frechet_distance_from_features,
    gaussian_statistics,
    image_grid,
    judge_accuracy,
    judge_scores,
    reconstruction_error,
)
from conftest import require_data


@pytest.fixture
def judge_cache(tmp_path_factory, monkeypatch):
    return use_session_cache(tmp_path_factory, monkeypatch)


def _spd(f, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(f, f, generator=g, dtype=torch.float64)
    return a @ a.T / f + 0.1 * torch.eye(f, dtype=torch.float64)


def test_frechet_distance_matches_scipy_sqrtm():
    from scipy import linalg

    f = 12
    mu1, mu2 = torch.randn(f, dtype=torch.float64), torch.randn(f, dtype=torch.float64)
    s1, s2 = _spd(f, 1), _spd(f, 2)
    covmean = linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float(((mu1 - mu2) ** 2).sum()) + np.trace(s1.numpy() + s2.numpy() - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_closed_forms():
    mu = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    s = _spd(3, 4)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu, s, mu + torch.tensor([3.0, 4.0, 0.0]), s) == pytest.approx(25.0, rel=1e-9)
    sd1, sd2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([2.0, 2.0, 1.5])
    expected = float(((sd1 - sd2) ** 2).sum())  # diagonal covariances: Σ (σ1 − σ2)²
    assert frechet_distance(mu, torch.diag(sd1**2), mu, torch.diag(sd2**2)) == pytest.approx(expected, rel=1e-9)


def test_gaussian_statistics_and_errors():
    x = torch.randn(50, 4, dtype=torch.float64)
    mu, sigma = gaussian_statistics(x)
    assert np.allclose(sigma.numpy(), np.cov(x.numpy(), rowvar=False))
    assert np.allclose(mu.numpy(), x.numpy().mean(0))
    with pytest.raises(ValueError, match=r"\[N >= 2, F\]"):
        gaussian_statistics(torch.randn(1, 4))
    with pytest.raises(ValueError, match="means \\[F\\] and covariances"):
        frechet_distance(mu, sigma, mu[:3], sigma)
    same = frechet_distance_from_features(x, x)
    assert same == pytest.approx(0.0, abs=1e-9)


class _ClassJudge(nn.Module):
    """Reads the class from the first pixel (value / 10) and answers with confidence ``sharp``."""

    def __init__(self, sharp=20.0):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.sharp = sharp

    def forward_features(self, x):
        return x.flatten(1)

    def forward(self, x):
        k = (x[:, 0, 0, 0] * 10).round().long().clamp(0, 9)
        return self.sharp * nn.functional.one_hot(k, 10).float() + self.w


def _digits(classes):
    x = torch.zeros(len(classes), 1, 4, 4)
    x[:, 0, 0, 0] = torch.tensor(classes, dtype=torch.float32) / 10
    return x


def test_judge_scores_on_known_predictions():
    judge = _ClassJudge()
    balanced = judge_scores(judge, _digits(list(range(10)) * 3))
    assert balanced["confidence"] > 0.999 and balanced["confident_fraction"] == 1.0
    assert balanced["class_entropy"] == pytest.approx(math.log(10), rel=1e-6)
    assert balanced["classifier_score"] == pytest.approx(10.0, rel=1e-3)
    assert balanced["class_histogram"] == [3] * 10
    collapsed = judge_scores(judge, _digits([7] * 20))  # mode collapse: one class only
    assert collapsed["class_entropy"] == pytest.approx(0.0, abs=1e-6)
    assert collapsed["classifier_score"] == pytest.approx(1.0, rel=1e-6)
    unsure = judge_scores(_ClassJudge(sharp=0.0), _digits([1, 2]))
    assert unsure["confidence"] == pytest.approx(0.1) and unsure["confident_fraction"] == 0.0
    assert judge_accuracy(judge, _digits([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="as many labels as images"):
        judge_accuracy(judge, _digits([1, 2]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"\[N > 0, C, H, W\]"):
        judge_scores(judge, torch.rand(3, 16))


def test_reconstruction_error():
    x = torch.rand(6, 1, 4, 4)
    perfect = reconstruction_error(nn.Identity(), x, labels=torch.zeros(6, dtype=torch.long), judge=_ClassJudge())
    assert perfect["l2"] == 0.0 and perfect["mse"] == 0.0
    assert perfect["judge_accuracy"] == perfect["judge_accuracy_original"]

    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x * 0.5

    err = reconstruction_error(Half(), x)
    assert err["mse"] == pytest.approx(float(((x * 0.5) ** 2).mean()), rel=1e-6)
    assert err["l2"] == pytest.approx(float((x * 0.5).flatten(1).norm(dim=1).mean()), rel=1e-6)


def test_image_grid_places_images():
    imgs = torch.zeros(5, 1, 3, 3)
    imgs[4] = 0.5
    grid = image_grid(imgs, nrow=2, padding=1)
    assert grid.shape == (3 * 4 + 1, 2 * 4 + 1)
    assert np.all(grid[9:12, 1:4] == 0.5)  # the fifth image: row 2, column 0
    rgb = image_grid(torch.rand(2, 3, 4, 4), nrow=2)
    assert rgb.shape == (8, 14, 3)
    with pytest.raises(ValueError, match="image_grid expects"):
        image_grid(torch.rand(4, 4))


class _SamplingTask(an2dl.Task):
    """A 'generator' that blends noise with one real image, moving towards it as it trains."""

    def __init__(self, target):
        super().__init__(an2dl.OptimizerSpec("sgd", lr=0.1))
        self.alpha = nn.Parameter(torch.zeros(()))
        self.target = target

    def sample(self, n, *, generator=None):
        noise = torch.rand(n, *self.target.shape[1:], generator=generator)
        a = torch.sigmoid(self.alpha * 4 - 2)
        return a * self.target[torch.arange(n) % len(self.target)] + (1 - a) * noise

    def training_step(self, batch, ctx):
        return (self.alpha - 2.0) ** 2


def test_frechet_monitor_and_sample_grid(tmp_path):
    target = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    judge = _ClassJudge()
    monitor = FrechetMonitor(judge, target, n_samples=40, seed=1)
    grid = SampleGrid(n=6, nrow=3, seed=1)
    task = _SamplingTask(target)
    trainer = Trainer(max_epochs=2, batch_size=8, progress=False, run_dir=tmp_path, callbacks=[monitor, grid])
    trainer.fit(task, ArrayDataset(target))
    values = [v for _, _, v in monitor.curve]
    assert [e for e, _, _ in monitor.curve] == [0, 1, 2]
    assert values[2] < values[1] < values[0]
    assert trainer.history[-1]["val/frechet"] == values[2]
    assert "val/frechet" in (tmp_path / "metrics.csv").read_text().splitlines()[0]
    index = json.loads((tmp_path / "plots" / "index.json").read_text())
    assert [e["file"] for e in index] == ["samples_epoch_001.png", "samples_epoch_002.png"]
    assert grid.saved == ["samples_epoch_001", "samples_epoch_002"]
    with pytest.raises(ConfigError, match="n_samples must be an integer >= 2"):
        FrechetMonitor(judge, target, n_samples=1)
    with pytest.raises(ConfigError, match="every_n_epochs must be a positive integer"):
        SampleGrid(every_n_epochs=0)


def test_digit_judge_is_trained_once_and_cached(judge_cache, monkeypatch):
    require_data("mnist")
    judge = small_judge()
    assert judge.judge_info["test_accuracy"] > 0.8  # 3,000 images, 2 epochs: about 0.87
    assert judge.judge_info["limit_train"] == JUDGE["limit_train"]

    def no_training(*a, **k):
        raise AssertionError("the cached judge must not be trained again")

    monkeypatch.setattr(Trainer, "fit", no_training)
    again = small_judge()
    assert all(torch.equal(a, b) for a, b in zip(judge.state_dict().values(), again.state_dict().values()))
    assert again.judge_info == judge.judge_info
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        from an2dl.evaluation.generative import digit_judge

        digit_judge(epochs=0)
