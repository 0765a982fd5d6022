"""The registered MLP (notes §2.1–§2.2): layout, output layers by task, interface, bad input."""

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.ffnn import MLP, OUTPUT_FOR_TASK
from an2dl.models.ffnn.analysis import hidden_activations, layer_gradient_norms


def test_layout_and_parameter_count():
    model = get_model("mlp", in_features=64, hidden=[32, 16], num_outputs=10)
    assert [(m.in_features, m.out_features) for m in model.linear_layers()] == [(64, 32), (32, 16), (16, 10)]
    assert sum(p.numel() for p in model.parameters()) == 64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    bn = get_model("mlp", hidden=[32], batch_norm=True)
    assert sum(p.numel() for p in bn.parameters()) == 64 * 32 + 32 + 2 * 32 + 32 * 10 + 10
    single = get_model("mlp", hidden=[], num_outputs=3)  # no hidden layer: softmax regression
    assert len(single.linear_layers()) == 1


def test_output_layer_follows_the_task():
    assert OUTPUT_FOR_TASK == {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}
    x = torch.rand(5, 1, 8, 8)
    for output, check in (
        ("linear", lambda z, y: torch.equal(z, y)),
        ("sigmoid", lambda z, y: torch.allclose(y, torch.sigmoid(z))),
        ("tanh", lambda z, y: torch.allclose(y, torch.tanh(z))),
        ("softmax", lambda z, y: torch.allclose(y, torch.softmax(z, 1)) and torch.allclose(y.sum(1), torch.ones(5))),
    ):
        model = get_model("mlp", output=output, num_outputs=2).eval()
        z, y = model(x), model.output(x)
        assert check(z, y), output


def test_interface_flattening_and_reset_classifier():
    model = get_model("mlp", hidden=[16])
    x = torch.rand(3, 1, 8, 8)
    f = model.forward_features(x)
    assert f.shape == (3, 16) and torch.equal(model.forward_head(f), model(x))
    assert torch.equal(model(x), model(x.reshape(3, 64)))  # any layout with 64 values per sample
    model.reset_classifier(4)
    assert model(x).shape == (3, 4)


def test_probes_of_hidden_layers_and_gradients():
    model = get_model("mlp", hidden=[8, 8, 8], activation="sigmoid")
    x, y = torch.rand(6, 64), torch.randint(0, 10, (6,))
    hs = hidden_activations(model, x)
    assert [h.shape for h in hs] == [(6, 8)] * 3 and all(float(h.min()) > 0 for h in hs)
    norms = layer_gradient_norms(model, x, y, torch.nn.functional.cross_entropy)
    assert len(norms) == 4 and all(n > 0 for n in norms)
    assert all(p.grad is None for p in model.parameters())  # the probe leaves .grad untouched


def test_bad_input():
    model = get_model("mlp")
    with pytest.raises(ValueError, match=r"MLP expects input \[B, \.\.\.\] with 64 values per sample; got shape \[2, 1, 28, 28\]"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="with 64 values per sample; got shape"):
        model(torch.rand(64))
    with pytest.raises(ConfigError, match=r"MLP hidden\[1\] must be a positive integer; got 0"):
        MLP(in_features=4, hidden=[3, 0])
    with pytest.raises(ConfigError, match="MLP hidden must be a sequence of layer widths"):
        MLP(in_features=4, hidden=12)
    with pytest.raises(ConfigError, match=r"MLP activation must be one of .* got 'gelu'"):
        get_model("mlp", activation="gelu")
    with pytest.raises(ConfigError, match=r"MLP output must be one of .* got 'relu'"):
        get_model("mlp", output="relu")
    with pytest.raises(ConfigError, match="output='softmax' needs num_outputs >= 2; got 1"):
        get_model("mlp", num_outputs=1)
    with pytest.raises(ConfigError, match="MLP in_features must be a positive integer; got -3"):
        get_model("mlp", in_features=-3)
    with pytest.raises(ConfigError, match=r"MLP dropout_mode must be one of"):
        get_model("mlp", dropout=0.1, dropout_mode="alpha")
    with pytest.raises(TypeError, match="expected an an2dl MLP; got Linear"):
        hidden_activations(torch.nn.Linear(2, 2), torch.rand(1, 2))
