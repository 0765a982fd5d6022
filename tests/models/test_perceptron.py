"""The Perceptron (notes §1.3.1) and the perceptron criterion (§2.4.1)."""

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.losses.basic import perceptron_criterion
from an2dl.models import get_model
from an2dl.models.ffnn import Perceptron, hebbian_update, to_pm1

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
GATES = {
    "and": [-1, -1, -1, 1],
    "or": [-1, 1, 1, 1],
    "nand": [1, 1, 1, -1],
    "xor": [-1, 1, 1, -1],
}


def _t(name):
    return torch.tensor(GATES[name], dtype=torch.float64)


@pytest.mark.parametrize("gate", ["and", "or", "nand"])
@pytest.mark.parametrize("seed", range(5))
def test_hebbian_rule_learns_the_linearly_separable_gates(gate, seed):
    p = Perceptron(in_features=2, init_std=0.5, generator=torch.Generator().manual_seed(seed))
    result = p.fit_hebbian(X, _t(gate), lr=0.5, max_epochs=100)
    assert result.converged and result.mistakes[-1] == 0
    assert p.accuracy(X, _t(gate)) == 1.0
    assert torch.equal(p.predict(X), _t(gate).to(p.weight.dtype))


@pytest.mark.parametrize("seed", range(10))
def test_hebbian_rule_never_learns_xor(seed):
    p = Perceptron(in_features=2, init_std=1.0, generator=torch.Generator().manual_seed(seed))
    result = p.fit_hebbian(X, _t("xor"), lr=0.3, max_epochs=300, shuffle=True, generator=torch.Generator().manual_seed(seed))
    assert not result.converged
    assert min(result.mistakes) > 0  # no epoch without a mistake
    # no weight vector visited during learning classifies all four points
    xa = p.augment(X)
    assert all(bool((torch.sign(xa @ w.to(xa.dtype)) != _t("xor")).any()) for w in result.weights)
    assert p.accuracy(X, _t("xor")) <= 0.75


def test_each_update_is_w_plus_eta_t_x():
    p = Perceptron(in_features=2, init_std=0.0)  # w = 0: every point is on the boundary
    result = p.fit_hebbian(X[1:2], torch.tensor([1.0]), lr=0.25, max_epochs=5)
    # one update w = 0 + 0.25 * (+1) * [1, 0, 1], then no mistakes
    torch.testing.assert_close(p.weight.detach(), torch.tensor([0.25, 0.0, 0.25]))
    assert result.updates == 1 and result.epochs == 2 and result.converged
    torch.testing.assert_close(hebbian_update(torch.zeros(3), torch.ones(3), -1.0, 2.0), torch.full((3,), -2.0))


def test_sgd_on_the_perceptron_criterion_is_the_hebbian_update():
    """§2.4.1: a stochastic gradient step on L(w) = -Σ_M t_i wᵀx_i is w + η t_i x_i."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 3, generator=g, dtype=torch.float64)
    t = torch.where(torch.randn(30, generator=g) > 0, 1.0, -1.0).to(torch.float64)
    model = Perceptron(in_features=3, init_std=1.0, generator=g).double()
    w_hebb = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    xa = model.augment(x)
    for i in range(30):  # one sample at a time, in order
        if float(t[i] * (w_hebb @ xa[i])) <= 0:
            w_hebb = hebbian_update(w_hebb, xa[i], t[i], 0.2)
        opt.zero_grad()
        perceptron_criterion(model(x[i : i + 1]), t[i : i + 1]).backward()
        opt.step()
        torch.testing.assert_close(model.weight.detach(), w_hebb, rtol=0, atol=1e-14)
    # batch form: one step on the whole set adds η Σ_{i∈M} t_i x_i
    before = model.weight.detach().clone()
    wrong = (t * (xa @ before)) <= 0
    opt.zero_grad()
    perceptron_criterion(model(x), t).backward()
    opt.step()
    torch.testing.assert_close(model.weight.detach(), before + 0.2 * (t[wrong, None] * xa[wrong]).sum(0))


def test_registered_builder_and_labels_mapping():
    p = get_model("perceptron", in_features=3)
    assert p(torch.rand(5, 3)).shape == (5,)
    torch.testing.assert_close(to_pm1(torch.tensor([0, 1, 1])), torch.tensor([-1.0, 1.0, 1.0]))


def test_bad_input():
    p = Perceptron(in_features=2)
    with pytest.raises(ValueError, match=r"perceptron targets must be -1 or \+1; got values \[0.0\] \(0/1 labels: map them with to_pm1\)"):
        p.fit_hebbian(X, torch.tensor([0.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"perceptron targets must be -1 or \+1; got values \[2.0\]"):
        p.fit_hebbian(X, torch.tensor([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"Perceptron expects inputs of shape \[B, 2\]; got \[4, 3\]"):
        p.fit_hebbian(torch.zeros(4, 3), _t("and"))
    with pytest.raises(ValueError, match=r"targets must have shape \[4\] \(one per sample\); got \[3\]"):
        p.fit_hebbian(X, torch.tensor([1.0, 1.0, -1.0]))
    with pytest.raises(ConfigError, match="in_features must be a positive integer; got 0"):
        Perceptron(in_features=0)
    with pytest.raises(ConfigError, match="lr must be a number > 0"):
        p.fit_hebbian(X, _t("and"), lr=0)
    with pytest.raises(ValueError, match=r"to_pm1 expects labels 0 or 1; got \[2\]"):
        to_pm1(torch.tensor([0, 2]))
