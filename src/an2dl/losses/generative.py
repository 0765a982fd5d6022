"""Losses of autoencoders, VAEs and GANs (notes §3.6–§3.7).

Autoencoders (§3.6)
    The notes' reconstruction loss over a batch ``S`` is a sum of L2 norms,
    ``L = Σ_{s∈S} ‖s − D(E(s))‖₂`` (:func:`reconstruction_l2`); "typically"
    the mean squared error is optimised instead (:func:`reconstruction_mse`).
    A regulariser ``λ·R(s)`` is added to give the code or the output desired
    properties: sparsity (:func:`l1_sparsity`, :func:`kl_sparsity`) or
    smoothness with sharp edges for images (:func:`total_variation`).

VAEs (Kingma & Welling 2014)
    :func:`gaussian_kl` and :func:`elbo`.

GANs (§3.7.1, Goodfellow et al. 2014)
    The discriminator maximises ``E[log D(s)] + E[log(1 − D(G(z)))]``;
    :func:`discriminator_loss` is its negative, to be minimised.  The
    generator minimises ``E[log(1 − D(G(z)))]`` (:func:`generator_minimax_loss`);
    in practice it maximises ``E[log D(G(z))]`` instead
    (:func:`generator_nonsaturating_loss`), whose gradient does not vanish when
    ``D`` confidently rejects the samples (Goodfellow et al. 2014, §3).
    Everything is computed from logits ``a`` (``D = sigmoid(a)``) with
    ``log D = −softplus(−a)`` and ``log(1 − D) = −softplus(a)``, which are
    exact and do not overflow.

WGANs (Arjovsky, Chintala & Bottou 2017; Gulrajani et al. 2017)
    :func:`wgan_critic_loss`, :func:`wgan_generator_loss`, :func:`gradient_penalty`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "reconstruction_l2",
    "reconstruction_mse",
    "l1_sparsity",
    "kl_sparsity",
    "total_variation",
    "gaussian_kl",
    "ELBO",
    "elbo",
    "discriminator_loss",
    "generator_minimax_loss",
    "generator_nonsaturating_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
]

_REDUCTIONS = ("sum", "mean", "none")


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ConfigError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")


def _same_shape(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name} needs tensors of the same shape; got {list(a.shape)} and {list(b.shape)}")
    if a.dim() < 1:
        raise ValueError(f"{name} needs a batch dimension; got a scalar")


# ---------------------------------------------------------------------------------------- autoencoders
def reconstruction_l2(x: torch.Tensor, x_hat: torch.Tensor, *, reduction: str = "sum") -> torch.Tensor:
    """The notes' reconstruction loss ``Σ_{s∈S} ‖s − D(E(s))‖₂`` (§3.6).

    Each sample's error is the Euclidean norm over all its elements (not
    squared); the batch reduction is the notes' sum by default.

    Args:
        x: inputs ``s``, ``[B, ...]``.
        x_hat: reconstructions ``D(E(s))``, same shape.
        reduction: ``"sum"`` (the notes), ``"mean"`` (divides by ``B``) or ``"none"`` (``[B]``).

    Shape:
        ``[B, ...]`` x 2 -> scalar (or ``[B]``).
    """
    _same_shape("reconstruction_l2", x, x_hat)
    per_sample = torch.linalg.vector_norm((x - x_hat).flatten(1), ord=2, dim=1)
    return _reduce(per_sample, reduction)


def reconstruction_mse(x: torch.Tensor, x_hat: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error per element, ``(1 / B·D) Σ_s ‖s − D(E(s))‖₂²`` (§3.6's usual optimisation target).

    With ``reduction="mean"`` this equals ``F.mse_loss(x_hat, x)``; ``"none"``
    gives the per-sample mean ``[B]`` and ``"sum"`` the sum of those.
    """
    _same_shape("reconstruction_mse", x, x_hat)
    if reduction == "mean":
        return F.mse_loss(x_hat, x)
    return _reduce((x - x_hat).flatten(1).pow(2).mean(1), reduction)


def l1_sparsity(code: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """L1 sparsity of the code, ``R = ‖z‖₁`` per sample (Goodfellow, Bengio & Courville 2016, §14.2.1).

    Shape:
        ``[B, K]`` -> scalar (``"mean"``/``"sum"`` over the batch) or ``[B]``.
    """
    if code.dim() < 2:
        raise ValueError(f"l1_sparsity expects codes of shape [B, K]; got {list(code.shape)}")
    return _reduce(code.flatten(1).abs().sum(1), reduction)


def kl_sparsity(code: torch.Tensor, *, target: float = 0.05, eps: float = 1e-6) -> torch.Tensor:
    """KL sparsity penalty of a sigmoid code (Ng, *Sparse autoencoder*, CS294A notes, 2011).

    With ``ρ̂_j`` the mean activation of code unit ``j`` over the batch,
    ``R = Σ_j ρ log(ρ/ρ̂_j) + (1 − ρ) log((1 − ρ)/(1 − ρ̂_j))``: the KL
    divergence between Bernoulli(ρ) and Bernoulli(ρ̂_j), summed over units.
    Departure: ρ̂ is estimated on each mini-batch instead of the whole training set.

    Args:
        code: activations in [0, 1] (e.g. a sigmoid code), ``[B, K]``.
        target: the desired mean activation ρ, in (0, 1).
        eps: clamps ρ̂ into ``[eps, 1 − eps]`` so that the logarithms stay finite.

    Returns:
        A scalar (one value per batch: it is a property of the batch average).
    """
    if not 0 < target < 1:
        raise ConfigError(f"kl_sparsity target must be in (0, 1); got {target!r}")
    if code.dim() < 2:
        raise ValueError(f"kl_sparsity expects codes of shape [B, K]; got {list(code.shape)}")
    if code.numel() and (code.min() < 0 or code.max() > 1):
        raise ValueError("kl_sparsity needs code activations in [0, 1] (use code_activation='sigmoid')")
    rho_hat = code.flatten(1).mean(0).clamp(eps, 1 - eps)
    rho = target
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def total_variation(images: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Anisotropic total variation ``Σ |x_{i+1,j} − x_{i,j}| + |x_{i,j+1} − x_{i,j}|`` per image
    (Rudin, Osher & Fatemi 1992): small for piecewise-smooth images with sharp edges.

    Shape:
        ``[B, C, H, W]`` -> scalar or ``[B]``.
    """
    if images.dim() != 4:
        raise ValueError(f"total_variation expects images of shape [B, C, H, W]; got {list(images.shape)}")
    dh = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().sum(dim=(1, 2, 3))
    dw = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().sum(dim=(1, 2, 3))
    return _reduce(dh + dw, reduction)


# ------------------------------------------------------------------------------------------------- VAE
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)`` per sample
    (Kingma & Welling 2014, appendix B).

    Shape:
        ``mu``, ``logvar`` ``[B, K]`` -> ``[B]``.
    """
    _same_shape("gaussian_kl", mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


class ELBO(NamedTuple):
    """Terms of the negative ELBO, each averaged over the batch (nats per sample)."""

    loss: torch.Tensor  #: reconstruction + beta · kl, the quantity to minimise
    reconstruction: torch.Tensor  #: −E_q[log p(x | z)], estimated with one draw of z
    kl: torch.Tensor  #: KL(q(z | x) ‖ p(z))


def elbo(
    x: torch.Tensor,
    logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    likelihood: str = "bernoulli",
    beta: float = 1.0,
) -> ELBO:
    """The negative evidence lower bound of a VAE (Kingma & Welling 2014, eq. 10).

    ``−ELBO(x) = −log p(x | z) + β · KL(q(z | x) ‖ N(0, I))`` with ``z`` the
    reparameterised draw whose decoding gave ``logits``.

    Args:
        x: data ``[B, ...]`` in [0, 1].
        logits: decoder output for ``z``, same shape as ``x``.
        mu, logvar: ``q(z | x)``'s parameters ``[B, K]``.
        likelihood: ``"bernoulli"`` (pixel probabilities ``sigmoid(logits)``;
            grey levels are used as soft targets, as is customary for MNIST)
            or ``"gaussian"`` (mean ``sigmoid(logits)``, unit variance:
            ``½‖x − x̂‖² + (D/2) log 2π``).
        beta: weight of the KL term (1: the ELBO; β-VAE of Higgins et al. 2017 otherwise).

    Returns:
        :class:`ELBO` of batch means.
    """
    _same_shape("elbo", x, logits)
    if not (isinstance(beta, (int, float)) and beta >= 0):
        raise ConfigError(f"elbo beta must be a number >= 0; got {beta!r}")
    if likelihood == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    elif likelihood == "gaussian":
        d = x[0].numel()
        rec = 0.5 * (x - torch.sigmoid(logits)).flatten(1).pow(2).sum(1) + 0.5 * d * math.log(2 * math.pi)
    else:
        raise ConfigError(f"elbo likelihood must be 'bernoulli' or 'gaussian'; got {likelihood!r}")
    kl = gaussian_kl(mu, logvar)
    if kl.shape[0] != rec.shape[0]:
        raise ValueError(f"elbo: x has {rec.shape[0]} samples but mu has {kl.shape[0]}")
    return ELBO(loss=(rec + beta * kl).mean(), reconstruction=rec.mean(), kl=kl.mean())


# ------------------------------------------------------------------------------------------------- GAN
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Negative of the discriminator's objective (§3.7.1):
    ``−(E_s[log D(s)] + E_z[log(1 − D(G(z)))])``, i.e. binary cross-entropy with
    label 1 for real and 0 for generated samples.

    Args:
        real_logits: ``D``'s logits on training images ``[B]``.
        fake_logits: ``D``'s logits on generated images ``[B']``.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_minimax_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the minimax game (§3.7.1): ``E_z[log(1 − D(G(z)))]``, minimised.

    Saturates: when ``D`` rejects the samples confidently (``D(G(z)) → 0``) its
    gradient vanishes.
    """
    return -F.softplus(fake_logits).mean()


def generator_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``−E_z[log D(G(z))]`` (Goodfellow et al. 2014, §3).

    Same fixed point as the minimax loss, strong gradients early in training.
    """
    return F.softplus(-fake_logits).mean()


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E[f(G(z))] − E[f(s)]``: the negative of the critic's estimate of the Wasserstein-1 distance
    (Arjovsky et al. 2017, algorithm 1), minimised by the critic ``f``."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """``−E[f(G(z))]``, minimised by the generator (Arjovsky et al. 2017, algorithm 1)."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E_x̂[(‖∇_x̂ f(x̂)‖₂ − 1)²]`` (Gulrajani et al. 2017, algorithm 1).

    ``x̂ = ε·s + (1 − ε)·x̃`` with one ``ε ~ U[0, 1]`` per sample, on the line
    between a real ``s`` and a generated ``x̃``.  The graph is kept
    (``create_graph=True``) so the penalty trains the critic.

    Args:
        critic: maps ``[B, ...]`` to ``[B]`` scores.
        real, fake: ``[B, ...]`` each (``fake`` is detached here).
        generator: optional RNG for ``ε``.

    Returns:
        The batch-mean penalty (multiply by λ, 10 in the paper).
    """
    _same_shape("gradient_penalty", real, fake)
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = torch.linalg.vector_norm(grad.flatten(1), ord=2, dim=1)
    return (norms - 1.0).pow(2).mean()
