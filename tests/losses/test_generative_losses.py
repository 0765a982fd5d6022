"""Losses of §3.6–§3.7 against independent computations (float64)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from an2dl.errors import ConfigError
from an2dl.losses.generative import (
    discriminator_loss,
    elbo,
    gaussian_kl,
    generator_minimax_loss,
    generator_nonsaturating_loss,
    gradient_penalty,
    kl_sparsity,
    l1_sparsity,
    reconstruction_l2,
    reconstruction_mse,
    total_variation,
    wgan_critic_loss,
    wgan_generator_loss,
)

torch.manual_seed(0)
X = torch.rand(5, 1, 4, 6, dtype=torch.float64)
XH = torch.rand(5, 1, 4, 6, dtype=torch.float64)


def test_reconstruction_l2_is_the_notes_sum_of_norms():
    expected = sum(math.sqrt(float(((s - r) ** 2).sum())) for s, r in zip(X, XH))
    assert reconstruction_l2(X, XH).item() == pytest.approx(expected, rel=1e-12)
    assert reconstruction_l2(X, XH, reduction="mean").item() == pytest.approx(expected / 5, rel=1e-12)
    per = reconstruction_l2(X, XH, reduction="none")
    assert per.shape == (5,) and per.sum().item() == pytest.approx(expected, rel=1e-12)
    assert reconstruction_l2(X, X).item() == 0.0
    perfect = X.clone().requires_grad_(True)
    reconstruction_l2(X, perfect).backward()  # the norm's subgradient at a perfect reconstruction is 0, not NaN
    assert torch.equal(perfect.grad, torch.zeros_like(X))


def test_reconstruction_mse_matches_pytorch():
    assert torch.equal(reconstruction_mse(X, XH), F.mse_loss(XH, X))
    per = reconstruction_mse(X, XH, reduction="none")
    assert torch.allclose(per, ((X - XH) ** 2).flatten(1).mean(1))


def test_reconstruction_errors():
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_l2(X, XH[:3])
    with pytest.raises(ConfigError, match="reduction must be one of"):
        reconstruction_l2(X, XH, reduction="max")
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_mse(X, XH[:, :, :2])


def test_l1_sparsity():
    z = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.5, -1.0]], dtype=torch.float64)
    assert l1_sparsity(z).item() == pytest.approx((3 + 2) / 2)
    assert l1_sparsity(z, reduction="sum").item() == pytest.approx(5)
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        l1_sparsity(torch.ones(3))


def test_kl_sparsity_is_the_bernoulli_kl_of_mean_activations():
    code = torch.rand(64, 7, dtype=torch.float64)
    rho = 0.1
    rho_hat = code.mean(0)
    expected = kl_divergence(Bernoulli(probs=torch.full_like(rho_hat, rho)), Bernoulli(probs=rho_hat)).sum()
    assert kl_sparsity(code, target=rho).item() == pytest.approx(expected.item(), rel=1e-10)
    at_target = torch.full((4, 3), 0.2, dtype=torch.float64)
    assert kl_sparsity(at_target, target=0.2).item() == pytest.approx(0.0, abs=1e-12)


def test_kl_sparsity_errors():
    with pytest.raises(ConfigError, match=r"target must be in \(0, 1\)"):
        kl_sparsity(torch.rand(4, 3), target=1.0)
    with pytest.raises(ValueError, match="activations in \\[0, 1\\]"):
        kl_sparsity(torch.randn(4, 3) * 5)


def test_total_variation_against_a_loop():
    img = torch.rand(2, 2, 5, 4, dtype=torch.float64)
    expected = []
    for b in range(2):
        t = 0.0
        for c in range(2):
            for i in range(5):
                for j in range(4):
                    if i + 1 < 5:
                        t += abs(float(img[b, c, i + 1, j] - img[b, c, i, j]))
                    if j + 1 < 4:
                        t += abs(float(img[b, c, i, j + 1] - img[b, c, i, j]))
        expected.append(t)
    assert torch.allclose(total_variation(img, reduction="none"), torch.tensor(expected, dtype=torch.float64))
    # a sharp vertical edge of height 1 over 6 rows costs exactly 6; a constant image costs 0
    edge = torch.zeros(1, 1, 6, 6)
    edge[..., 3:] = 1
    assert total_variation(edge).item() == 6.0
    assert total_variation(torch.full((1, 1, 6, 6), 0.3)).item() == 0.0
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        total_variation(torch.rand(3, 4))


def test_gaussian_kl_matches_torch_distributions():
    mu = torch.randn(6, 4, dtype=torch.float64)
    logvar = torch.randn(6, 4, dtype=torch.float64)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(gaussian_kl(mu, logvar), kl_divergence(q, p).sum(1), rtol=1e-12, atol=1e-12)
    assert torch.all(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)) == 0)


def test_elbo_bernoulli_and_gaussian_likelihoods():
    x = torch.bernoulli(torch.full((5, 1, 3, 3), 0.4, dtype=torch.float64))
    logits = torch.randn(5, 1, 3, 3, dtype=torch.float64)
    mu, logvar = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    nll = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    terms = elbo(x, logits, mu, logvar)
    assert terms.reconstruction.item() == pytest.approx(nll.mean().item(), rel=1e-12)
    assert terms.kl.item() == pytest.approx(kl.mean().item(), rel=1e-12)
    assert terms.loss.item() == pytest.approx((nll + kl).mean().item(), rel=1e-12)
    assert elbo(x, logits, mu, logvar, beta=4.0).loss.item() == pytest.approx((nll + 4 * kl).mean().item(), rel=1e-12)
    g_nll = -Normal(torch.sigmoid(logits), 1.0).log_prob(x).flatten(1).sum(1)
    assert elbo(x, logits, mu, logvar, likelihood="gaussian").reconstruction.item() == pytest.approx(g_nll.mean().item(), rel=1e-12)


def test_elbo_errors():
    x = torch.rand(2, 4)
    with pytest.raises(ConfigError, match="likelihood must be"):
        elbo(x, x, torch.zeros(2, 2), torch.zeros(2, 2), likelihood="poisson")
    with pytest.raises(ConfigError, match="beta must be"):
        elbo(x, x, torch.zeros(2, 2), torch.zeros(2, 2), beta=-1)
    with pytest.raises(ValueError, match="same shape"):
        elbo(x, x[:, :2], torch.zeros(2, 2), torch.zeros(2, 2))


def test_discriminator_loss_is_the_negated_bce_objective():
    real = torch.randn(7, dtype=torch.float64) * 3
    fake = torch.randn(9, dtype=torch.float64) * 3
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    objective = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()  # the notes' max_θd
    assert discriminator_loss(real, fake).item() == pytest.approx(-objective.item(), rel=1e-12)
    bce = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)
    )
    assert discriminator_loss(real, fake).item() == pytest.approx(bce.item(), rel=1e-12)
    # stable for confident logits where the probability form overflows to log(0)
    assert torch.isfinite(discriminator_loss(torch.tensor([200.0]), torch.tensor([-200.0])))


def test_generator_losses_and_saturation():
    fake = torch.randn(8, dtype=torch.float64)
    d = torch.sigmoid(fake)
    assert generator_minimax_loss(fake).item() == pytest.approx(torch.log(1 - d).mean().item(), rel=1e-12)
    assert generator_nonsaturating_loss(fake).item() == pytest.approx(-torch.log(d).mean().item(), rel=1e-12)
    # when D rejects the samples confidently (D(G(z)) ≈ 0), the minimax gradient vanishes, the other does not
    a = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(generator_minimax_loss(a), a)
    (g_nonsat,) = torch.autograd.grad(generator_nonsaturating_loss(a), a)
    assert abs(g_minimax.item()) < 1e-4
    assert abs(g_nonsat.item()) > 0.99


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0, 1.0])
    assert wgan_critic_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert wgan_generator_loss(fake).item() == pytest.approx(0.0)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)  # ‖∇f‖ = 5 everywhere

    def critic(x):
        return x.flatten(1) @ w

    real, fake = torch.rand(6, 2, dtype=torch.float64), torch.rand(6, 2, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((5 - 1) ** 2, rel=1e-12)
    (grad,) = torch.autograd.grad(gp, w)  # create_graph=True: the penalty trains the critic
    assert torch.allclose(grad, 2 * (5 - 1) * w.detach() / 5)
    unit = torch.tensor([0.6, 0.8], dtype=torch.float64)
    assert gradient_penalty(lambda x: x @ unit, real, fake).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, real, fake[:2])
