"""Generators, discriminators and critics for GANs (notes §3.7.1).

A generator ``G`` maps noise ``z ~ φ_z = N(0, I)`` to an image; a
discriminator ``D`` maps an image to the logit of "real" (``D(s) =
sigmoid(logit)``, the probability of the notes); a WGAN critic maps an image to
an unbounded score.  The losses are in :mod:`an2dl.losses.generative`, the
alternating updates in :class:`an2dl.tasks.generative.GANTask`.

Contract::

    x = G(z)          # [B, latent_dim] -> [B, C, H, W] in (0, 1)
    logit = D(x)      # [B, C, H, W] -> [B]

Families:

* MLP (Goodfellow et al. 2014): fully-connected ``G`` (ReLU, sigmoid output)
  and ``D`` (LeakyReLU 0.2 and dropout — the notes: GANs "are trained using
  standard backpropagation and dropout").
* DCGAN (Radford, Metz & Chintala 2016): ``G`` projects ``z`` to a small
  ``h0 × w0`` map and doubles it with stride-2 transpose convolutions, with
  batch norm and ReLU; ``D`` halves the resolution with stride-2
  convolutions, LeakyReLU 0.2 and batch norm (none on its input layer), and
  ends in one linear unit.  Weights start from ``N(0, 0.02²)`` as in the paper.
* WGAN critic (Arjovsky et al. 2017; Gulrajani et al. 2017): the DCGAN
  discriminator with layer normalisation instead of batch norm, because the
  gradient penalty is defined per sample and batch norm couples the samples
  of a batch (Gulrajani et al. §4).  Layer norm over ``(C, H, W)`` is
  ``GroupNorm(1, C)``.

Departures: the generators end in a sigmoid because an2dl images are in
[0, 1] (DESIGN §4); the DCGAN paper uses tanh on images in [-1, 1], and
``(tanh(a) + 1) / 2 = sigmoid(2a)``, so the two are the same family of
functions.  The paper's 64×64 layout (4 doublings from 4×4) becomes 2
doublings from 7×7 for 28×28 MNIST; ``channels`` sets the widths.  The
generators can only produce sizes that are ``h0·2**len(channels)``; other
sizes are rejected with the sizes that work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...nn.device import module_device, randn
from .._registry import register_model
from ._common import (
    activation_factory,
    check_batch,
    check_image_shape,
    check_latent_dim,
    check_positive_int,
    check_positive_ints,
    downsampled_size,
    upsampled_base,
)

__all__ = [
    "MLPGenerator",
    "MLPDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "dcgan_init_",
    "mlp_generator",
    "mlp_discriminator",
    "dcgan_generator",
    "dcgan_discriminator",
    "wgan_critic",
    "NORMS",
]

#: normalisation layers selectable by name, called with the number of channels/features
NORMS: dict[str, Callable[[int], nn.Module] | None] = {
    "none": None,
    "batch": nn.BatchNorm2d,
    "layer": lambda c: nn.GroupNorm(1, c),
}


def _norm(owner: str, name: str) -> Callable[[int], nn.Module] | None:
    if name not in NORMS:
        raise ConfigError(f"{owner} norm must be one of {sorted(NORMS)}; got {name!r}")
    return NORMS[name]


def dcgan_init_(module: nn.Module) -> nn.Module:
    """Radford et al. (2016) initialisation: conv/linear weights ``N(0, 0.02²)``, norm gains ``N(1, 0.02²)``, biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class _Generator(nn.Module):
    """The generator contract: ``latent_dim``, ``output_shape``, ``forward(z)`` and ``sample(n)``."""

    latent_dim: int
    output_shape: tuple[int, int, int]
    net: nn.Module

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_batch(type(self).__name__, "noise", z, (self.latent_dim,))
        return self.net(z)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``G(z)``, ``z ~ N(0, I)``: ``[n, C, H, W]``."""
        check_positive_int(f"{type(self).__name__}.sample", "n", n)
        return self(randn(n, self.latent_dim, generator=generator, device=module_device(self)))


class _Discriminator(nn.Module):
    """The discriminator contract: ``input_shape`` and ``forward(x) -> [B]`` logits or scores."""

    input_shape: tuple[int, int, int]
    net: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(type(self).__name__, "images", x, self.input_shape)
        return self.net(x).squeeze(-1)


class MLPGenerator(_Generator):
    """Fully-connected generator (Goodfellow et al. 2014).

    Args:
        latent_dim: size of the noise ``z``.
        hidden: hidden widths.
        output_shape: ``(C, H, W)`` of the images.
        norm_layer: optional ``norm_layer(width)`` after each hidden linear layer (e.g. ``nn.BatchNorm1d``).
        activation: factory of the hidden activations.

    Shape:
        ``[B, latent_dim]`` -> ``[B, C, H, W]`` in (0, 1).
    """

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        hidden: Sequence[int] = (256, 512),
        output_shape: Sequence[int] = (1, 28, 28),
        norm_layer: Callable[[int], nn.Module] | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.latent_dim = check_latent_dim("MLPGenerator", latent_dim)
        self.output_shape = check_image_shape("MLPGenerator", output_shape)
        hidden = check_positive_ints("MLPGenerator", "hidden", hidden)
        layers: list[nn.Module] = []
        prev = latent_dim
        for h in hidden:
            layers.append(nn.Linear(prev, h))
            if norm_layer is not None:
                layers.append(norm_layer(h))
            layers.append(activation())
            prev = h
        layers += [nn.Linear(prev, math.prod(self.output_shape)), nn.Sigmoid(), nn.Unflatten(1, self.output_shape)]
        self.net = nn.Sequential(*layers)


class MLPDiscriminator(_Discriminator):
    """Fully-connected discriminator with LeakyReLU and dropout (Goodfellow et al. 2014).

    Args:
        input_shape: ``(C, H, W)`` of the images.
        hidden: hidden widths.
        dropout: dropout probability after each hidden layer.
        negative_slope: slope of the LeakyReLU for negative inputs.

    Shape:
        ``[B, C, H, W]`` -> ``[B]`` logits of "real".
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden: Sequence[int] = (512, 256),
        dropout: float = 0.3,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.input_shape = check_image_shape("MLPDiscriminator", input_shape)
        hidden = check_positive_ints("MLPDiscriminator", "hidden", hidden)
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"MLPDiscriminator dropout must be in [0, 1); got {dropout!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        prev = math.prod(self.input_shape)
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.LeakyReLU(negative_slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = h
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)


class DCGANGenerator(_Generator):
    """DCGAN generator: project and reshape, then stride-2 transpose convolutions (Radford et al. 2016).

    Args:
        latent_dim: size of the noise ``z``.
        out_channels: image channels.
        image_size: ``H`` or ``(H, W)``; each side must be a multiple of ``2**len(channels)``.
        channels: widths from the projected ``h0 × w0`` map to the last hidden map
            (one doubling per entry).

    Shape:
        ``[B, latent_dim]`` -> ``[B, out_channels, H, W]`` in (0, 1).
    """

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        out_channels: int = 1,
        image_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (64, 32),
    ) -> None:
        super().__init__()
        self.latent_dim = check_latent_dim("DCGANGenerator", latent_dim)
        check_positive_int("DCGANGenerator", "out_channels", out_channels)
        channels = check_positive_ints("DCGANGenerator", "channels", channels)
        (h, w), (h0, w0) = upsampled_base("DCGANGenerator", image_size, len(channels))
        self.output_shape = (out_channels, h, w)
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, channels[0] * h0 * w0, bias=False),  # "project and reshape"
            nn.Unflatten(1, (channels[0], h0, w0)),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(),
        ]
        for a, b in zip(channels[:-1], channels[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        layers += [nn.ConvTranspose2d(channels[-1], out_channels, 4, stride=2, padding=1), nn.Sigmoid()]
        self.net = dcgan_init_(nn.Sequential(*layers))


class DCGANDiscriminator(_Discriminator):
    """DCGAN discriminator / WGAN critic: stride-2 convolutions and one linear output (Radford et al. 2016).

    Args:
        in_channels: image channels.
        image_size: ``H`` or ``(H, W)`` of the inputs.
        channels: widths of the stride-2 convolutions.
        norm_layer: ``norm_layer(C)`` after every convolution but the first
            (``nn.BatchNorm2d`` for DCGAN, layer norm for a WGAN-GP critic, ``None``: no normalisation).
        negative_slope: LeakyReLU slope.

    Shape:
        ``[B, C, H, W]`` -> ``[B]`` logits (or critic scores).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (32, 64),
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        check_positive_int("DCGANDiscriminator", "in_channels", in_channels)
        channels = check_positive_ints("DCGANDiscriminator", "channels", channels)
        (h, w), (h0, w0) = downsampled_size("DCGANDiscriminator", image_size, len(channels))
        self.input_shape = (in_channels, h, w)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 4, stride=2, padding=1), nn.LeakyReLU(negative_slope)]
        for a, b in zip(channels[:-1], channels[1:]):
            layers.append(nn.Conv2d(a, b, 4, stride=2, padding=1, bias=norm_layer is None))
            if norm_layer is not None:
                layers.append(norm_layer(b))
            layers.append(nn.LeakyReLU(negative_slope))
        layers += [nn.Flatten(), nn.Linear(channels[-1] * h0 * w0, 1)]
        self.net = dcgan_init_(nn.Sequential(*layers))


def _noise_example(latent_dim: int) -> Callable[[int], tuple[torch.Tensor]]:
    return lambda batch: (torch.randn(batch, latent_dim),)


@register_model("mlp_generator", example=_noise_example(64))
def mlp_generator(
    *,
    latent_dim: int = 64,
    hidden: Sequence[int] = (256, 512, 1024),
    output_shape: Sequence[int] = (1, 28, 28),
    norm: str = "batch",
    activation: str = "leaky_relu",
) -> MLPGenerator:
    """Fully-connected GAN generator (Goodfellow et al. 2014); ``norm`` in {none, batch}."""
    if norm not in ("none", "batch"):
        raise ConfigError(f"mlp_generator norm must be 'none' or 'batch'; got {norm!r}")
    return MLPGenerator(latent_dim=latent_dim, hidden=hidden, output_shape=output_shape,
                        norm_layer=nn.BatchNorm1d if norm == "batch" else None,
                        activation=activation_factory("mlp_generator", activation))


@register_model("mlp_discriminator", input_shape=(1, 28, 28))
def mlp_discriminator(
    *, input_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (512, 256), dropout: float = 0.3
) -> MLPDiscriminator:
    """Fully-connected GAN discriminator with LeakyReLU and dropout (Goodfellow et al. 2014)."""
    return MLPDiscriminator(input_shape=input_shape, hidden=hidden, dropout=dropout)


@register_model("dcgan_generator", example=_noise_example(64))
def dcgan_generator(
    *, latent_dim: int = 64, out_channels: int = 1, image_size: int | Sequence[int] = 28, channels: Sequence[int] = (64, 32)
) -> DCGANGenerator:
    """DCGAN generator (Radford et al. 2016) for 28x28 images by default."""
    return DCGANGenerator(latent_dim=latent_dim, out_channels=out_channels, image_size=image_size, channels=channels)


@register_model("dcgan_discriminator", input_shape=(1, 28, 28))
def dcgan_discriminator(
    *, in_channels: int = 1, image_size: int | Sequence[int] = 28, channels: Sequence[int] = (32, 64), norm: str = "batch"
) -> DCGANDiscriminator:
    """DCGAN discriminator (Radford et al. 2016); ``norm`` in {batch, layer, none}."""
    return DCGANDiscriminator(in_channels=in_channels, image_size=image_size, channels=channels,
                              norm_layer=_norm("dcgan_discriminator", norm))


@register_model("wgan_critic", input_shape=(1, 28, 28))
def wgan_critic(
    *, in_channels: int = 1, image_size: int | Sequence[int] = 28, channels: Sequence[int] = (32, 64), norm: str = "layer"
) -> DCGANDiscriminator:
    """WGAN(-GP) critic: the DCGAN discriminator with layer norm, read as a score (Gulrajani et al. 2017)."""
    return DCGANDiscriminator(in_channels=in_channels, image_size=image_size, channels=channels,
                              norm_layer=_norm("wgan_critic", norm))
