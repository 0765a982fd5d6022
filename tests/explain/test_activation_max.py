"""Activation maximisation (an2dl.explain.maximize_class): the closed form of a linear score, and a trained
network that recognises its own class images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from an2dl.errors import ConfigError
from an2dl.explain import maximize_class


def _linear(shape=(1, 4, 5), classes=3, seed=0):
    torch.manual_seed(seed)
    c, h, w = shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, classes, bias=False)).double()


def test_linear_score_converges_to_the_closed_form():
    """S = w·I gives the objective w·I − λ‖I‖², maximised at I* = w / (2λ)."""
    net = _linear()
    lam = 0.5
    out = maximize_class(net, [0, 2], (1, 4, 5), steps=60, lr=0.5, l2=lam, value_range=None)
    w = net[1].weight.detach()
    want = torch.stack([w[0], w[2]]).reshape(2, 1, 4, 5) / (2 * lam)
    torch.testing.assert_close(out.images, want)
    assert bool((out.objective.diff() >= -1e-12).all())  # gradient ascent never lowers the objective here
    # the maximum of the objective is ‖w‖² / (4λ)
    torch.testing.assert_close(out.objective[-1], (w[[0, 2]].pow(2).sum(1) / (4 * lam)).mean(), rtol=1e-6, atol=1e-9)


def test_the_penalty_lowers_the_norm_and_clamping_keeps_the_range():
    net = _linear(seed=1)
    with torch.no_grad():  # every weight at least 0.2 in magnitude: each pixel reaches its bound in 40 steps
        w = net[1].weight
        w.copy_(w.sign() * (0.2 + w.abs()))
    free = maximize_class(net, 1, (1, 4, 5), steps=40, lr=0.2, l2=0.0, value_range=(0.0, 1.0))
    tied = maximize_class(net, 1, (1, 4, 5), steps=40, lr=0.2, l2=2.0, value_range=(0.0, 1.0))
    assert float(tied.images.norm()) < float(free.images.norm())
    assert float(free.images.min()) >= 0 and float(free.images.max()) <= 1
    # without a penalty and with a bound, every pixel goes to the bound its weight points at
    w = net[1].weight.detach()[1].reshape(1, 1, 4, 5)
    torch.testing.assert_close(free.images, (w > 0).double())


@pytest.fixture(scope="module")
def digits_cnn():
    """A small CNN trained for 60 Adam steps (batches of 256) on scikit-learn's 8x8 digits (about 2 s; 97% on them)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(60):
        idx = torch.randint(0, len(x), (256,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        assert float((net(x).argmax(1) == y).float().mean()) > 0.9
    return net


def test_a_trained_network_recognises_its_class_images(digits_cnn):
    """Each of the ten images is classified as its target with p > 0.99 (measured: the least confident of the
    ten has p = 0.999998, 0.9999999, 0.9999998 for seeds 0, 1, 2 at lr 0.05)."""
    out = maximize_class(digits_cnn, list(range(10)), (1, 8, 8), steps=100, lr=0.05, l2=1e-3, seed=0)
    with torch.no_grad():
        probs = digits_cnn(out.images).softmax(1)
    assert torch.equal(probs.argmax(1), torch.arange(10))
    assert float(probs[torch.arange(10), torch.arange(10)].min()) > 0.99
    torch.testing.assert_close(out.probabilities, probs[torch.arange(10), torch.arange(10)])
    assert digits_cnn.training and all(p.grad is None for p in digits_cnn.parameters())
    # the image priors (jitter, blur) keep the images in range
    smooth = maximize_class(digits_cnn, [3], (1, 8, 8), steps=6, lr=0.05, jitter=1, blur_every=3, seed=1)
    assert smooth.images.shape == (1, 1, 8, 8) and 0 <= float(smooth.images.min()) <= float(smooth.images.max()) <= 1


def test_bad_input():
    net = _linear()
    with pytest.raises(ConfigError, match=r"class_index must lie in \[0, 2\].*got 3"):
        maximize_class(net, 3, (1, 4, 5))
    with pytest.raises(ConfigError, match="steps must be an integer >= 1; got 0"):
        maximize_class(net, 0, (1, 4, 5), steps=0)
    with pytest.raises(ConfigError, match="lr must be a number > 0"):
        maximize_class(net, 0, (1, 4, 5), lr=-1)
    with pytest.raises(ConfigError, match=r"shape must be an input shape \[C, H, W\]"):
        maximize_class(net, 0, (4, 5))
    with pytest.raises(ConfigError, match=r"init must have shape \[1, 1, 4, 5\]"):
        maximize_class(net, 0, (1, 4, 5), init=torch.zeros(1, 4, 5))


def test_more_bad_settings():
    net = _linear()
    with pytest.raises(ConfigError, match="jitter must be an integer >= 0; got -1"):
        maximize_class(net, 0, (1, 4, 5), jitter=-1)
    with pytest.raises(ConfigError, match="blur_sigma must be a number > 0; got 0"):
        maximize_class(net, 0, (1, 4, 5), blur_sigma=0)
    with pytest.raises(ConfigError, match=r"value_range must be \(lo, hi\) with lo < hi; got \(1.0, 0.0\)"):
        maximize_class(net, 0, (1, 4, 5), value_range=(1.0, 0.0))
