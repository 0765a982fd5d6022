"""Variational autoencoders (Kingma & Welling 2014), the answer of the notes' §3.6.2.

§3.6.2 ends: "Variational Autoencoders address this issue by forcing the
latent space to follow a Gaussian distribution", so that decoding ``z ~ N(0, I)``
gives new samples.  The encoder is Gaussian,
``q(z | x) = N(μ(x), diag(σ²(x)))``, and outputs ``(μ, log σ²)``; a code is
drawn with the reparameterisation ``z = μ + σ ⊙ ε``, ``ε ~ N(0, I)``, so that
gradients flow through the draw; the decoder outputs the logits of a
Bernoulli (or the mean of a unit-variance Gaussian) over pixels.  Training
maximises the ELBO (:func:`an2dl.losses.generative.elbo`)::

    ELBO(x) = E_q[log p(x | z)] − KL(q(z | x) ‖ N(0, I))

Layouts mirror the autoencoders (:mod:`.autoencoder`): ``dense_vae`` is
``flatten -> 512 -> 256 -> (μ, log σ²)`` and back; ``conv_vae`` uses stride-2
convolutions and a transpose-convolution decoder.

Contract::

    mu, logvar = model.encode(x)            # [B, C, H, W] -> 2 x [B, latent_dim]
    z = model.reparameterize(mu, logvar)     # [B, latent_dim]
    logits = model.decode_logits(z)          # [B, C, H, W]
    x_hat = model(x)                         # sigmoid(decode_logits(z)); z sampled in train mode, μ in eval mode
    x_new = model.sample(n)                  # decode z ~ N(0, I)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...nn.device import randn
from .._registry import register_model
from ._common import (
    activation_factory,
    check_batch,
    check_image_shape,
    check_latent_dim,
    check_positive_int,
    check_positive_ints,
    upsampled_base,
)
from .autoencoder import conv_decoder_layers, conv_encoder_layers, mlp_layers

__all__ = ["VAE", "DenseVAE", "ConvVAE", "dense_vae", "conv_vae"]


class VAE(nn.Module):
    """A VAE from an encoder body, Gaussian heads and a decoder (Kingma & Welling 2014).

    Args:
        body: maps ``[B, C, H, W]`` to features ``[B, feature_dim]``.
        feature_dim: size of the body's output.
        decoder: maps ``[B, latent_dim]`` to pixel logits ``[B, C, H, W]``.
        latent_dim: size of ``z``.
        input_shape: ``(C, H, W)``.

    Shape:
        input ``[B, C, H, W]`` in [0, 1]; ``mu``/``logvar`` ``[B, latent_dim]``;
        output ``[B, C, H, W]`` in (0, 1).
    """

    def __init__(
        self, *, body: nn.Module, feature_dim: int, decoder: nn.Module, latent_dim: int, input_shape: Sequence[int]
    ) -> None:
        super().__init__()
        self.latent_dim = check_latent_dim(type(self).__name__, latent_dim)
        self.input_shape = check_image_shape(type(self).__name__, input_shape)
        self.body = body
        self.fc_mu = nn.Linear(feature_dim, latent_dim)
        self.fc_logvar = nn.Linear(feature_dim, latent_dim)
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of ``q(z | x)``: mean ``μ`` and log-variance ``log σ²``, each ``[B, latent_dim]``."""
        check_batch(type(self).__name__, "images", x, self.input_shape)
        h = self.body(x)
        return self.fc_mu(h), self.fc_logvar(h)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``z = μ + exp(½ log σ²) ⊙ ε`` with ``ε ~ N(0, I)`` (the reparameterisation trick)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of ``p(x | z)``: ``[B, latent_dim]`` -> ``[B, C, H, W]``."""
        check_batch(type(self).__name__, "codes", z, (self.latent_dim,))
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means ``sigmoid(decode_logits(z))`` in (0, 1)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images ``[n, C, H, W]``: decode ``z ~ N(0, I)`` (the prior)."""
        n = check_positive_int(f"{type(self).__name__}.sample", "n", n)
        device = self.fc_mu.weight.device
        z = randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, *, steps: int = 10) -> torch.Tensor:
        """Decode the straight line between the posterior means of ``x_a`` and ``x_b``.

        Shape:
            ``x_a``, ``x_b`` ``[B, C, H, W]`` -> ``[B, steps, C, H, W]`` (first
            and last columns decode ``μ(x_a)`` and ``μ(x_b)``).
        """
        steps = check_positive_int(f"{type(self).__name__}.interpolate", "steps", steps)
        if steps < 2:
            raise ValueError(f"{type(self).__name__}.interpolate steps must be >= 2; got {steps}")
        mu_a, _ = self.encode(x_a)
        mu_b, _ = self.encode(x_b)
        if mu_a.shape != mu_b.shape:
            raise ValueError(f"interpolate needs x_a and x_b of the same batch size; got {len(mu_a)} and {len(mu_b)}")
        t = torch.linspace(0, 1, steps, device=mu_a.device).view(1, steps, 1)
        z = (1 - t) * mu_a.unsqueeze(1) + t * mu_b.unsqueeze(1)  # (B, steps, latent)
        out = self.decode(z.reshape(-1, self.latent_dim))
        return out.view(len(mu_a), steps, *self.input_shape)

    @torch.no_grad()
    def latent_grid(self, n: int = 15, *, dims: tuple[int, int] = (0, 1), low: float = 0.05, high: float = 0.95) -> torch.Tensor:
        """The decoded 2-D latent map of Kingma & Welling (2014, fig. 4).

        Codes on an ``n × n`` grid whose coordinates along ``dims`` are the
        prior's quantiles ``Φ⁻¹(p)`` for ``p`` evenly spaced in ``[low, high]``
        (the other coordinates are 0, the prior's mean): with
        ``latent_dim == 2`` this is the whole learned manifold, otherwise a
        slice through it.

        Shape:
            output ``[n, n, C, H, W]``; row ``i`` has the ``i``-th value of
            ``dims[1]`` (top: highest), column ``j`` the ``j``-th of ``dims[0]``.
        """
        n = check_positive_int(f"{type(self).__name__}.latent_grid", "n", n)
        a, b = dims
        if not (0 <= a < self.latent_dim and 0 <= b < self.latent_dim and a != b):
            raise ValueError(f"latent_grid dims must be two different indices in [0, {self.latent_dim}); got {dims}")
        if not 0 < low < high < 1:
            raise ValueError(f"latent_grid needs 0 < low < high < 1; got low={low}, high={high}")
        q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(low, high, n))
        device = self.fc_mu.weight.device
        z = torch.zeros(n, n, self.latent_dim, device=device)
        z[:, :, a] = q.view(1, n).to(device)
        z[:, :, b] = q.flip(0).view(n, 1).to(device)
        return self.decode(z.view(-1, self.latent_dim)).view(n, n, *self.input_shape)


class DenseVAE(VAE):
    """Fully-connected VAE.

    Args:
        input_shape: ``(C, H, W)``.
        hidden: encoder hidden widths (the decoder mirrors them).
        latent_dim: size of ``z``.
        activation: factory of the hidden activations.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden: Sequence[int] = (512, 256),
        latent_dim: int = 2,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        shape = check_image_shape("DenseVAE", input_shape)
        check_latent_dim("DenseVAE", latent_dim)
        hidden = check_positive_ints("DenseVAE", "hidden", hidden)
        d = math.prod(shape)
        body = nn.Sequential(nn.Flatten(), *mlp_layers([d, *hidden], activation), activation())
        decoder = nn.Sequential(*mlp_layers([latent_dim, *reversed(hidden), d], activation), nn.Unflatten(1, shape))
        super().__init__(body=body, feature_dim=hidden[-1], decoder=decoder, latent_dim=latent_dim, input_shape=shape)


class ConvVAE(VAE):
    """Convolutional VAE with a transpose-convolution decoder.

    Args:
        in_channels: image channels.
        image_size: ``H`` or ``(H, W)``, multiples of ``2**len(channels)``.
        channels: channels of the stride-2 convolutions (the decoder mirrors them).
        latent_dim: size of ``z``.
        activation: factory of the hidden activations.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (32, 64),
        latent_dim: int = 16,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        check_latent_dim("ConvVAE", latent_dim)
        check_positive_int("ConvVAE", "in_channels", in_channels)
        channels = check_positive_ints("ConvVAE", "channels", channels)
        (h, w), (h0, w0) = upsampled_base("ConvVAE", image_size, len(channels))
        flat = channels[-1] * h0 * w0
        body = nn.Sequential(*conv_encoder_layers(in_channels, channels, activation), nn.Flatten())
        decoder = nn.Sequential(*conv_decoder_layers(latent_dim, in_channels, channels, (h0, w0), activation))
        super().__init__(body=body, feature_dim=flat, decoder=decoder, latent_dim=latent_dim, input_shape=(in_channels, h, w))


@register_model("dense_vae", input_shape=(1, 28, 28))
def dense_vae(
    *, input_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (512, 256), latent_dim: int = 2, activation: str = "relu"
) -> DenseVAE:
    """Fully-connected VAE (Kingma & Welling 2014); the 2-D default draws the latent map."""
    return DenseVAE(input_shape=input_shape, hidden=hidden, latent_dim=latent_dim,
                    activation=activation_factory("dense_vae", activation))


@register_model("conv_vae", input_shape=(1, 28, 28))
def conv_vae(
    *,
    in_channels: int = 1,
    image_size: int | Sequence[int] = 28,
    channels: Sequence[int] = (32, 64),
    latent_dim: int = 16,
    activation: str = "relu",
) -> ConvVAE:
    """Convolutional VAE with a transpose-convolution decoder."""
    return ConvVAE(in_channels=in_channels, image_size=image_size, channels=channels, latent_dim=latent_dim,
                   activation=activation_factory("conv_vae", activation))
