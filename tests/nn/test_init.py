"""Weight initialisation (notes §2.3.3): variances, PyTorch equivalents, zero-init symmetry."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.nn import init as I

N_IN, N_OUT = 300, 400  # 120,000 draws: the sample variance is within 1.5% with overwhelming probability

EXPECTED_VAR = {
    "zero": 0.0,
    "small": 0.01**2,
    "large": 1.0,
    "xavier": 1 / N_IN,
    "glorot": 2 / (N_IN + N_OUT),
    "he": 2 / N_IN,
}


@pytest.mark.parametrize("scheme", I.INIT_SCHEMES)
def test_sample_variance_matches_the_scheme(scheme):
    w = torch.empty(N_OUT, N_IN, dtype=torch.float64)
    I.init_weight_(w, scheme, generator=torch.Generator().manual_seed(3))
    var = EXPECTED_VAR[scheme]
    if var == 0:
        assert torch.count_nonzero(w) == 0
        return
    n = w.numel()
    # mean within 5 standard errors; variance within 5 standard errors of the sample variance (sqrt(2/n) relative)
    assert abs(float(w.mean())) < 5 * math.sqrt(var / n)
    assert abs(float(w.var()) / var - 1) < 5 * math.sqrt(2 / n)


def test_same_draws_as_the_pytorch_equivalents():
    def pair(ours, theirs):
        a, b = torch.empty(64, 32, 3, 3, dtype=torch.float64), torch.empty(64, 32, 3, 3, dtype=torch.float64)
        ours(a, generator=torch.Generator().manual_seed(7))
        theirs(b, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)

    pair(I.xavier_, lambda w, generator: nn.init.kaiming_normal_(w, nonlinearity="linear", generator=generator))
    pair(I.glorot_, lambda w, generator: nn.init.xavier_normal_(w, generator=generator))
    pair(I.he_, lambda w, generator: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=generator))
    pair(I.small_random_, lambda w, generator: nn.init.normal_(w, 0, 0.01, generator=generator))
    pair(I.large_random_, lambda w, generator: nn.init.normal_(w, 0, 1.0, generator=generator))


def test_fans_of_linear_and_convolution_weights():
    assert I.fan_in_out(torch.empty(10, 20)) == (20, 10)
    assert I.fan_in_out(torch.empty(8, 3, 5, 5)) == (75, 200)
    assert I.init_std("he", torch.empty(10, 50)) == pytest.approx(math.sqrt(2 / 50))


def test_initialize_reaches_every_linear_layer_and_sets_biases():
    model = get_model("mlp", hidden=[32, 16], init="he")
    for layer in model.linear_layers():
        assert torch.all(layer.bias == 0)
    I.initialize(model, "small", std=0.5, bias=0.25)
    for layer in model.linear_layers():
        assert torch.all(layer.bias == 0.25)
        assert 0.3 < float(layer.weight.detach().std()) < 0.7


def test_zero_initialisation_keeps_every_hidden_unit_identical():
    """§2.3.3: with w = 0 every unit of a layer gets the same gradient, so the units never differ."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    model = get_model("mlp", hidden=[16, 8], activation="sigmoid", init="zero")
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.requires_grad_(False)
    first, second = model.features[0].linear, model.features[1].linear
    # the weights did change ...
    assert float(first.weight.abs().max()) > 0 and float(model.classifier.weight.abs().max()) > 1e-3
    # ... yet every hidden unit of each layer has the same incoming weights and bias
    for layer in (first, second):
        torch.testing.assert_close(layer.weight, layer.weight[:1].expand_as(layer.weight), rtol=0, atol=1e-7)
        torch.testing.assert_close(layer.bias, layer.bias[:1].expand_as(layer.bias), rtol=0, atol=1e-7)
    # and the output layer reads them all with the same weight
    w = model.classifier.weight
    torch.testing.assert_close(w, w[:, :1].expand_as(w), rtol=0, atol=1e-7)
    # a random initialisation breaks the symmetry
    other = get_model("mlp", hidden=[16, 8], activation="sigmoid", init="glorot")
    w0 = other.features[0].linear.weight.detach()
    assert float((w0 - w0[:1]).abs().max()) > 0.01


def test_bad_input():
    with pytest.raises(ConfigError, match=r"init scheme must be one of .* got 'uniform'"):
        I.init_weight_(torch.empty(3, 3), "uniform")
    with pytest.raises(ConfigError, match="init std must be a number > 0; got -1"):
        I.small_random_(torch.empty(3, 3), std=-1)
    with pytest.raises(ValueError, match=r"weight must be a tensor of shape \[out, in, \*kernel\] with >= 2 dims; got \[5\]"):
        I.he_(torch.empty(5))
    with pytest.raises(ConfigError, match="init scheme must be one of"):
        I.initialize(nn.Linear(2, 2), "ones")
    with pytest.raises(ConfigError, match="MLP init must be one of"):
        get_model("mlp", init="ones")
