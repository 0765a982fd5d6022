"""Dropout (notes §2.5.4): inverted and weight-scaling modes, expected activations, weight folding."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.nn.dropout import Dropout, dropout, fold_weight_scaling


@pytest.mark.parametrize("mode", ["inverted", "weight_scaling"])
@pytest.mark.parametrize("fused", [True, False])
def test_expected_training_output_equals_the_test_output(mode, fused):
    p, n = 0.3, 400_000
    x = torch.full((n,), 2.0, dtype=torch.float64)
    layer = Dropout(p, mode=mode, fused=fused)
    torch.manual_seed(0)
    train_out = layer.train()(x)
    test_out = layer.eval()(x)
    expected = 2.0 if mode == "inverted" else 2.0 * (1 - p)
    torch.testing.assert_close(test_out, torch.full_like(x, expected))
    # every training value is 0 or the kept value; the kept fraction is 1 - p
    kept_value = 2.0 / (1 - p) if mode == "inverted" else 2.0
    kept = train_out != 0
    torch.testing.assert_close(train_out[kept], torch.full_like(train_out[kept], kept_value))
    assert abs(float(kept.double().mean()) - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # E[train] = test, within 5 standard errors of the Monte Carlo mean
    se = kept_value * math.sqrt(p * (1 - p) / n)
    assert abs(float(train_out.mean()) - expected) < 5 * se


def test_written_out_inverted_dropout_matches_f_dropout_in_distribution():
    x = torch.rand(1000, 50, dtype=torch.float64) + 0.5
    ours = dropout(x, 0.5, training=True, generator=torch.Generator().manual_seed(0))
    ref = F.dropout(x, 0.5, training=True)
    for out in (ours, ref):
        kept = out != 0
        torch.testing.assert_close(out[kept], x[kept] * 2)
        assert 0.48 < float(kept.double().mean()) < 0.52
    assert torch.equal(dropout(x, 0.5, training=False), x)
    assert torch.equal(dropout(x, 0.0, training=True), x)


def test_weight_scaling_at_test_time_is_a_scaling_of_the_next_layers_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), Dropout(0.4, mode="weight_scaling"), nn.Linear(10, 3)).eval()
    folded = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Identity(), nn.Linear(10, 3)).eval()
    folded.load_state_dict(net.state_dict())
    fold_weight_scaling(folded[3], 0.4)
    x = torch.randn(8, 6)
    torch.testing.assert_close(net(x), folded(x))


def test_mlp_uses_dropout_only_in_training():
    model = get_model("mlp", hidden=[64], dropout=0.5, dropout_mode="weight_scaling")
    x = torch.rand(4, 1, 8, 8)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.equal(a, model(x))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, True, "0.5"])
def test_probability_outside_0_1_is_rejected(p):
    with pytest.raises(ConfigError, match=r"dropout probability p must be a number in \[0, 1\)"):
        Dropout(p)
    with pytest.raises(ConfigError, match=r"dropout probability p must be a number in \[0, 1\)"):
        dropout(torch.ones(3), p, training=True)


def test_bad_mode_and_layer():
    with pytest.raises(ConfigError, match=r"dropout mode must be one of \['inverted', 'weight_scaling'\]; got 'gaussian'"):
        Dropout(0.5, mode="gaussian")
    with pytest.raises(TypeError, match="next_layer must be an nn.Linear; got Conv2d"):
        fold_weight_scaling(nn.Conv2d(1, 1, 1), 0.5)
    with pytest.raises(ConfigError, match=r"MLP dropout must be a number in \[0, 1\); got 1"):
        get_model("mlp", dropout=1)
