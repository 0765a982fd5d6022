"""Written-out backpropagation (notes §2.3.1) against autograd, in float64, for every activation."""

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.nn.activations import ACTIVATIONS
from an2dl.nn.backprop import LOSS_NAMES, ManualMLP, loss_gradient, loss_value

DT = torch.float64
HEADS = [("linear", "sse", 3), ("tanh", "mse", 2), ("sigmoid", "bce", 2), ("softmax", "cross_entropy", 4)]


def _targets(output, k, batch, g):
    if output == "softmax":
        return torch.nn.functional.one_hot(torch.randint(0, k, (batch,), generator=g), k).to(DT)
    if output == "sigmoid":
        return (torch.rand(batch, k, generator=g, dtype=DT) > 0.5).to(DT)
    return torch.randn(batch, k, generator=g, dtype=DT)


@pytest.mark.parametrize("output,loss,k", HEADS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_equal_autograd(activation, output, loss, k):
    torch.manual_seed(0)
    model = get_model("mlp", in_features=6, hidden=[7, 5], num_outputs=k, activation=activation, alpha=0.7,
                      output=output).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(11, 6, generator=g, dtype=DT).requires_grad_(True)
    t = _targets(output, k, 11, g)
    manual = ManualMLP.from_module(model)
    y = manual.forward(x.detach())
    grads = manual.backward(loss_gradient(loss, y, t))

    y_ref = model.output(x)
    torch.testing.assert_close(y, y_ref.detach(), rtol=1e-12, atol=1e-14)
    e_ref = loss_value(loss, y_ref, t)
    layers = model.linear_layers()
    params = [p for m in layers for p in (m.weight, m.bias)]
    ref = torch.autograd.grad(e_ref, params + [x])
    ours = [p for wb in zip(grads.weights, grads.biases) for p in wb] + [grads.input]
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_loss_gradient_equals_autograd(loss):
    g = torch.Generator().manual_seed(0)
    y = torch.softmax(torch.randn(5, 3, generator=g, dtype=DT), 1).requires_grad_(True)
    t = torch.nn.functional.one_hot(torch.tensor([0, 2, 1, 1, 0]), 3).to(DT)
    (ref,) = torch.autograd.grad(loss_value(loss, y, t), y)
    torch.testing.assert_close(loss_gradient(loss, y.detach(), t), ref, rtol=1e-12, atol=1e-14)


def test_manual_gradient_descent_follows_autograd_gradient_descent():
    torch.manual_seed(0)
    model = get_model("mlp", in_features=2, hidden=[4], num_outputs=1, activation="tanh", output="sigmoid").double()
    manual = ManualMLP.from_module(model)
    x = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=DT)
    t = torch.tensor([[0], [1], [1], [0]], dtype=DT)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(200):
        losses.append(manual.train_step(x, t, loss="bce", lr=0.5))
        opt.zero_grad()
        loss_value("bce", model.output(x), t).backward()
        opt.step()
    for w, m in zip(manual.weights, model.linear_layers()):
        torch.testing.assert_close(w, m.weight.detach(), rtol=1e-9, atol=1e-11)
    assert losses[-1] < losses[0]


def test_from_sizes_builds_the_requested_layers():
    net = ManualMLP.from_sizes([3, 8, 2], activation="relu", output="softmax", init="he", dtype=DT,
                               generator=torch.Generator().manual_seed(0))
    assert net.sizes == [3, 8, 2]
    y = net.forward(torch.randn(4, 3, dtype=DT))
    torch.testing.assert_close(y.sum(1), torch.ones(4, dtype=DT))


def test_bad_input():
    net = ManualMLP.from_sizes([3, 4, 2])
    with pytest.raises(ConfigError, match=r"call forward\(x\) before backward"):
        net.backward(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"ManualMLP expects input \[B, 3\]; got \[5, 4\]"):
        net.forward(torch.zeros(5, 4))
    net.forward(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"grad_output must have the output's shape \[5, 2\]"):
        net.backward(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="layer 1 expects 5 inputs but layer 0 has 4 outputs"):
        ManualMLP([torch.zeros(4, 3), torch.zeros(2, 5)], [torch.zeros(4), torch.zeros(2)])
    with pytest.raises(ConfigError, match="without batch_norm and dropout"):
        ManualMLP.from_module(get_model("mlp", batch_norm=True))
    with pytest.raises(TypeError, match="from_module expects an an2dl MLP; got Linear"):
        ManualMLP.from_module(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"loss must be one of .* got 'hinge'"):
        loss_gradient("hinge", torch.zeros(2), torch.zeros(2))
