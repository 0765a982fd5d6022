"""Losses of §2.3–§2.5.3 against PyTorch's fused losses (float64) and weight decay in both forms."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.errors import ConfigError
from an2dl.losses import basic as L
from an2dl.models import get_model

DT = torch.float64


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_sse_and_mse():
    y, t = torch.randn(7, 3, dtype=DT, generator=_g()), torch.randn(7, 3, dtype=DT, generator=_g(1))
    torch.testing.assert_close(L.sse(y, t), sum(((t[i] - y[i]) ** 2).sum() for i in range(7)))
    torch.testing.assert_close(L.sse(y, t), F.mse_loss(y, t, reduction="sum"))
    torch.testing.assert_close(L.mse(y, t), F.mse_loss(y, t))


def test_bce_from_probabilities_and_from_logits():
    z = torch.randn(50, dtype=DT, generator=_g()) * 8
    z = torch.cat([z, torch.tensor([60.0, -60.0, 0.0], dtype=DT)]).requires_grad_(True)
    t = (torch.rand(53, dtype=DT, generator=_g(1)) > 0.5).to(DT)
    ours, ref = L.bce_with_logits(z, t), F.binary_cross_entropy_with_logits(z, t)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(torch.autograd.grad(ours, z)[0], torch.autograd.grad(ref, z)[0], rtol=1e-12, atol=1e-15)
    p = torch.sigmoid(z.detach())
    torch.testing.assert_close(L.bce(p, t), F.binary_cross_entropy(p, t), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(L.bce(p, t, reduction="sum"), F.binary_cross_entropy(p, t, reduction="sum"))
    # p = 0 or 1 with the wrong label: the log is clamped at -100, as PyTorch does
    edge = torch.tensor([0.0, 1.0], dtype=DT)
    torch.testing.assert_close(L.bce(edge, 1 - edge), F.binary_cross_entropy(edge, 1 - edge))
    assert float(L.bce(edge, 1 - edge)) == pytest.approx(100.0)


def test_cross_entropy_from_logits_and_from_probabilities():
    z = (torch.randn(20, 6, dtype=DT, generator=_g()) * 3).requires_grad_(True)
    idx = torch.randint(0, 6, (20,), generator=_g(1))
    soft = torch.softmax(torch.randn(20, 6, dtype=DT, generator=_g(2)), dim=1)
    for target in (idx, soft):
        for red in ("mean", "sum"):
            ours, ref = L.cross_entropy(z, target, reduction=red), F.cross_entropy(z, target, reduction=red)
            torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(torch.autograd.grad(ours, z)[0], torch.autograd.grad(ref, z)[0], rtol=1e-12, atol=1e-15)
        probs = torch.softmax(z.detach(), dim=1)
        torch.testing.assert_close(L.cross_entropy_from_probs(probs, target), F.cross_entropy(z.detach(), target))
    torch.testing.assert_close(L.cross_entropy_from_probs(torch.softmax(z.detach(), 1), idx), F.nll_loss(torch.log_softmax(z.detach(), 1), idx))


def test_mlp_logits_and_softmax_output_give_the_same_cross_entropy():
    model = get_model("mlp", hidden=[16]).double()
    x, t = torch.rand(9, 1, 8, 8, dtype=DT), torch.randint(0, 10, (9,))
    torch.testing.assert_close(L.cross_entropy(model(x), t), L.cross_entropy_from_probs(model.output(x), t))


def test_perceptron_criterion_sums_over_misclassified_points_only():
    s = torch.tensor([2.0, -1.0, 0.0, 3.0, -0.5], dtype=DT)
    t = torch.tensor([1.0, 1.0, -1.0, -1.0, -1.0], dtype=DT)
    # misclassified: index 1 (t s = -1), 2 (on the boundary), 3 (t s = -3)
    expected = -sum(float(t[i] * s[i]) for i in range(5) if float(t[i] * s[i]) <= 0)
    assert float(L.perceptron_criterion(s, t)) == pytest.approx(expected) == pytest.approx(4.0)
    assert float(L.perceptron_criterion(torch.tensor([1.0, -2.0]), torch.tensor([1.0, -1.0]))) == 0.0


# ---------------------------------------------------------------- weight decay, §2.5.3
def test_l2_penalty_value_and_gradient():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    gamma = 0.3
    weights = [model[0].weight, model[2].weight]
    pen = L.l2_penalty(model, gamma)
    torch.testing.assert_close(pen, gamma * sum((w**2).sum() for w in weights))
    grads = torch.autograd.grad(pen, weights)
    for w, g in zip(weights, grads):
        torch.testing.assert_close(g, 2 * gamma * w)
    every = L.l2_penalty(model, gamma, include_bias=True)
    torch.testing.assert_close(every, gamma * sum((p**2).sum() for p in model.parameters()))
    torch.testing.assert_close(L.l2_penalty([weights[0]], 1.0), (weights[0] ** 2).sum())


def test_penalty_in_the_loss_equals_coupled_weight_decay_of_sgd():
    """Gradient descent on L + γ‖w‖² takes the same step as SGD with weight_decay = 2γ."""
    torch.manual_seed(0)
    a = nn.Linear(5, 3, bias=False).double()
    b = nn.Linear(5, 3, bias=False).double()
    b.load_state_dict(a.state_dict())
    x, t = torch.randn(16, 5, dtype=DT), torch.randn(16, 3, dtype=DT)
    gamma, lr = 0.05, 0.1
    opt_a = torch.optim.SGD(a.parameters(), lr=lr)
    opt_b = torch.optim.SGD(b.parameters(), lr=lr, weight_decay=2 * gamma)
    penalised = L.with_l2_penalty(L.mse, a, gamma)
    for _ in range(5):
        opt_a.zero_grad()
        penalised(a(x), t).backward()
        opt_a.step()
        opt_b.zero_grad()
        L.mse(b(x), t).backward()
        opt_b.step()
    torch.testing.assert_close(a.weight, b.weight, rtol=1e-12, atol=1e-14)


def test_adamw_decays_the_weights_outside_the_adaptive_step():
    """Decoupled decay (Loshchilov & Hutter 2019): AdamW = Adam without decay, then w -= lr·λ·w_old."""
    torch.manual_seed(0)
    w0 = torch.randn(6, dtype=DT)
    grads = [torch.randn(6, dtype=DT) for _ in range(4)]
    lr, lam = 0.01, 0.1

    def run(opt_cls, **kw):
        w = w0.clone().requires_grad_(True)
        opt = opt_cls([w], lr=lr, **kw)
        out = []
        for g in grads:
            w.grad = g.clone()
            before = w.detach().clone()
            opt.step()
            out.append((before, w.detach().clone()))
        return out

    decoupled = run(torch.optim.AdamW, weight_decay=lam)
    coupled = run(torch.optim.Adam, weight_decay=lam)
    # replay: the same Adam moments with no decay, plus the decoupled shrink of each step's starting point
    w = w0.clone().requires_grad_(True)
    adam = torch.optim.Adam([w], lr=lr)
    for (before, after), g in zip(decoupled, grads):
        with torch.no_grad():
            w.copy_(before)
        w.grad = g.clone()
        adam.step()
        torch.testing.assert_close(after, w.detach() - lr * lam * before, rtol=1e-12, atol=1e-14)
    # coupled decay (λw added to the gradient, then normalised by Adam) is a different method
    assert not torch.allclose(decoupled[-1][1], coupled[-1][1], atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match=r"sse: prediction and target must have the same shape; got \[3\] and \[3, 1\]"):
        L.sse(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ConfigError, match=r"bce reduction must be one of \['mean', 'sum'\]; got 'none'"):
        L.bce(torch.full((2,), 0.5), torch.ones(2), reduction="none")
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\)"):
        L.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="class-index targets must be an integer tensor"):
        L.cross_entropy(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets must be indices \[B\] or probabilities \[B, 3\]"):
        L.cross_entropy_from_probs(torch.full((2, 3), 1 / 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"perceptron_criterion targets must be -1 or \+1; got \[0.0\]"):
        L.perceptron_criterion(torch.zeros(2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ConfigError, match="l2_penalty gamma must be a number >= 0; got -0.1"):
        L.l2_penalty(nn.Linear(2, 2), -0.1)
    with pytest.raises(ConfigError, match=r"loss must be one of .* got 'hinge2'"):
        L.get_loss("hinge2")
