"""Table 2.1 activations and the softmax: values and derivatives against PyTorch (float64)."""

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.nn import activations as A

REFERENCE = {
    "linear": lambda a: a,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda a: F.leaky_relu(a, 0.01),
    "elu": lambda a: F.elu(a, 1.0),
}


def _points():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, dtype=torch.float64, generator=g) * 6
    # the kinks, and values far in the saturated tails
    return torch.cat([a, torch.tensor([0.0, -0.0, 1e-12, -1e-12, 40.0, -40.0, 800.0, -800.0], dtype=torch.float64)])


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_values_and_derivatives_equal_pytorch(name):
    act = A.get_activation(name)
    a = _points().requires_grad_(True)
    ref = REFERENCE[name](a)
    (grad,) = torch.autograd.grad(ref.sum(), a)
    with torch.no_grad():
        torch.testing.assert_close(act.fn(a), ref, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(act.derivative(a), grad, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(act.module()(a), ref, rtol=0, atol=0)
        assert torch.isfinite(act.fn(a)).all()


def test_formulas_of_table_2_1_at_chosen_points():
    a = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    e = torch.exp
    torch.testing.assert_close(A.sigmoid(a), 1 / (1 + e(-a)))
    torch.testing.assert_close(A.tanh(a), (e(a) - e(-a)) / (e(a) + e(-a)))
    torch.testing.assert_close(A.relu(a), torch.tensor([0, 0, 0, 0.5, 2], dtype=torch.float64))
    torch.testing.assert_close(A.leaky_relu(a), torch.tensor([-0.02, -0.005, 0, 0.5, 2], dtype=torch.float64))
    alpha = 1.7
    torch.testing.assert_close(A.elu(a, alpha), torch.where(a < 0, alpha * (e(a) - 1), a))
    torch.testing.assert_close(A.elu_derivative(a, alpha), torch.where(a > 0, torch.ones_like(a), alpha * e(a)))
    torch.testing.assert_close(A.get_activation("elu", alpha=alpha).module()(a), F.elu(a, alpha))


def test_softmax_value_jacobian_and_backward():
    g = torch.Generator().manual_seed(1)
    z = (torch.randn(5, 7, dtype=torch.float64, generator=g) * 10).requires_grad_(True)
    y = A.softmax(z)
    torch.testing.assert_close(y, torch.softmax(z, dim=-1), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(y.sum(-1), torch.ones(5, dtype=torch.float64))
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, -1), z.detach())  # [5,7,5,7]
    per_sample = torch.stack([jac[b, :, b, :] for b in range(5)])
    torch.testing.assert_close(A.softmax_jacobian(y.detach()), per_sample, rtol=1e-12, atol=1e-14)
    grad_y = torch.randn(5, 7, dtype=torch.float64, generator=g)
    (ref,) = torch.autograd.grad(torch.softmax(z, -1), z, grad_y)
    torch.testing.assert_close(A.softmax_backward(y.detach(), grad_y), ref, rtol=1e-12, atol=1e-14)
    # huge logits stay finite
    assert torch.isfinite(A.softmax(torch.tensor([[1000.0, -1000.0, 0.0]]))).all()


def test_bad_names_and_parameters():
    with pytest.raises(ConfigError, match=r"activation must be one of .* got 'swish'"):
        A.get_activation("swish")
    with pytest.raises(ConfigError, match="alpha must be a number > 0; got -1"):
        A.get_activation("elu", alpha=-1)
    with pytest.raises(ConfigError, match="negative_slope must be a number >= 0"):
        A.activation_module("leaky_relu", negative_slope=-0.1)
    with pytest.raises(ValueError, match=r"softmax_jacobian expects y of shape \[B, K\]"):
        A.softmax_jacobian(torch.rand(3))
