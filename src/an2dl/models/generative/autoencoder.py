"""Autoencoders (notes §3.6): dense and convolutional, their encoder as an initialisation
(§3.6.1) and a Gaussian fitted to their codes as a generator (§3.6.2).

An autoencoder is an encoder ``E`` and a decoder ``D`` trained so that
``D(E(s)) ≈ s``; the code ``z = E(s)`` is the latent representation.  Both
families here share one contract::

    z = model.encode(x)        # [B, C, H, W] in [0, 1] -> [B, latent_dim]
    x_hat = model.decode(z)    # [B, latent_dim] -> [B, C, H, W] in (0, 1)
    x_hat = model(x)           # decode(encode(x))

Layouts (``hidden=(512, 256)``, ``channels=(32, 64)``, the defaults)::

    DenseAutoencoder  E: flatten -> 512 -> 256 -> latent_dim      (ReLU between layers)
                      D: latent_dim -> 256 -> 512 -> C·H·W -> sigmoid -> [C, H, W]
    ConvAutoencoder   E: conv4x4/2 32 -> conv4x4/2 64 -> flatten -> linear latent_dim
                      D: linear 64·h0·w0 -> convT4x4/2 32 -> convT4x4/2 C -> sigmoid

The convolutional decoder is built from transpose convolutions (kernel 4,
stride 2, padding 1), each of which doubles the resolution exactly, so it can
only produce images whose sides are multiples of ``2**len(channels)``; other
sizes are rejected with the sizes that work.

Departures and choices: the output layer is a sigmoid because images are in
[0, 1] (DESIGN §4); the code is linear unless ``code_activation`` is given
(a sigmoid code is needed by the KL sparsity regulariser, whose target is an
average activation in (0, 1)).  Down-sampling is by strided convolution
rather than pooling, the usual choice for convolutional autoencoders since
the DCGAN paper (Radford et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...errors import ConfigError
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

__all__ = [
    "DenseAutoencoder",
    "ConvAutoencoder",
    "EncoderClassifier",
    "LatentGaussian",
    "dense_autoencoder",
    "conv_autoencoder",
    "dense_ae_classifier",
    "conv_ae_classifier",
    "classifier_from_autoencoder",
    "CODE_ACTIVATIONS",
]

#: code activations selectable by name in the registered builders
CODE_ACTIVATIONS: dict[str, Callable[[], nn.Module] | None] = {"none": None, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def _code_activation(owner: str, name: str) -> Callable[[], nn.Module] | None:
    if name not in CODE_ACTIVATIONS:
        raise ConfigError(f"{owner} code_activation must be one of {sorted(CODE_ACTIVATIONS)}; got {name!r}")
    return CODE_ACTIVATIONS[name]


def mlp_layers(widths: Sequence[int], activation: Callable[[], nn.Module]) -> list[nn.Module]:
    """``Linear(w[0], w[1]), act, ..., Linear(w[-2], w[-1])`` (no activation after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation())
    return layers


def conv_encoder_layers(in_channels: int, channels: Sequence[int], activation: Callable[[], nn.Module]) -> list[nn.Module]:
    """Stride-2 convolutions (kernel 4, padding 1), each halving the resolution, with activations."""
    layers: list[nn.Module] = []
    prev = in_channels
    for c in channels:
        layers += [nn.Conv2d(prev, c, kernel_size=4, stride=2, padding=1), activation()]
        prev = c
    return layers


def conv_decoder_layers(
    latent_dim: int,
    out_channels: int,
    channels: Sequence[int],
    base: tuple[int, int],
    activation: Callable[[], nn.Module],
) -> list[nn.Module]:
    """Project a code to the ``channels[-1] × h0 × w0`` base map, then transpose-convolve up to ``out_channels``.

    ``Linear(latent_dim, channels[-1]·h0·w0)``, activation, reshape, then
    stride-2 transpose convolutions, each doubling the size.  ``channels`` is
    given in encoder order; the decoder mirrors it.  No activation follows the
    last layer (the caller adds the output non-linearity).
    """
    h0, w0 = base
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, channels[-1] * h0 * w0),
        activation(),
        nn.Unflatten(1, (channels[-1], h0, w0)),
    ]
    widths = list(reversed(channels)) + [out_channels]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.ConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1))
        if i < len(widths) - 2:
            layers.append(activation())
    return layers


class _AutoencoderBase(nn.Module):
    """Input checks and the ``encode``/``decode``/``forward`` contract shared by both families."""

    input_shape: tuple[int, int, int]
    latent_dim: int
    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent representation ``z = E(x)``: ``[B, C, H, W]`` -> ``[B, latent_dim]``."""
        check_batch(type(self).__name__, "images", x, self.input_shape)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``D(z)``: ``[B, latent_dim]`` -> ``[B, C, H, W]`` in (0, 1)."""
        check_batch(type(self).__name__, "codes", z, (self.latent_dim,))
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class DenseAutoencoder(_AutoencoderBase):
    """Fully-connected autoencoder with a configurable latent size (notes §3.6).

    Args:
        input_shape: ``(C, H, W)`` of the images.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        latent_dim: size of the code ``z``.
        activation: factory of the hidden activations.
        code_activation: factory of an activation applied to the code (``None``: linear code).

    Shape:
        input ``[B, C, H, W]`` in [0, 1]; code ``[B, latent_dim]``; output ``[B, C, H, W]`` in (0, 1).
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden: Sequence[int] = (512, 256),
        latent_dim: int = 32,
        activation: Callable[[], nn.Module] = nn.ReLU,
        code_activation: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.input_shape = check_image_shape("DenseAutoencoder", input_shape)
        self.latent_dim = check_latent_dim("DenseAutoencoder", latent_dim)
        hidden = check_positive_ints("DenseAutoencoder", "hidden", hidden, allow_empty=True)
        d = math.prod(self.input_shape)
        enc = [nn.Flatten(), *mlp_layers([d, *hidden, latent_dim], activation)]
        if code_activation is not None:
            enc.append(code_activation())
        dec = mlp_layers([latent_dim, *reversed(hidden), d], activation)
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec, nn.Sigmoid(), nn.Unflatten(1, self.input_shape))


class ConvAutoencoder(_AutoencoderBase):
    """Convolutional autoencoder with a transpose-convolution decoder (notes §3.6).

    Args:
        in_channels: image channels C.
        image_size: ``H`` (square) or ``(H, W)``; each side must be a multiple
            of ``2**len(channels)``, the only sizes the decoder can produce.
        channels: channels of the encoder's stride-2 convolutions (the decoder mirrors them).
        latent_dim: size of the code ``z``.
        activation: factory of the hidden activations.
        code_activation: factory of an activation applied to the code (``None``: linear code).

    Shape:
        input ``[B, C, H, W]`` in [0, 1]; code ``[B, latent_dim]``; output ``[B, C, H, W]`` in (0, 1).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (32, 64),
        latent_dim: int = 16,
        activation: Callable[[], nn.Module] = nn.ReLU,
        code_activation: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = check_latent_dim("ConvAutoencoder", latent_dim)
        channels = check_positive_ints("ConvAutoencoder", "channels", channels)
        check_positive_int("ConvAutoencoder", "in_channels", in_channels)
        (h, w), (h0, w0) = upsampled_base("ConvAutoencoder", image_size, len(channels))
        self.input_shape = (in_channels, h, w)
        flat = channels[-1] * h0 * w0
        enc: list[nn.Module] = [*conv_encoder_layers(in_channels, channels, activation), nn.Flatten(), nn.Linear(flat, latent_dim)]
        if code_activation is not None:
            enc.append(code_activation())
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(
            *conv_decoder_layers(latent_dim, in_channels, channels, (h0, w0), activation),
            nn.Sigmoid(),
        )


class EncoderClassifier(nn.Module):
    """An autoencoder's encoder followed by a fully-connected classifier (notes §3.6.1).

    The recipe of §3.6.1: train an autoencoder on unlabelled data, drop the
    decoder, add a fully-connected layer on the code and fine-tune on the
    labelled data.  ``encoder`` has the same layout (and parameter names) as
    the autoencoder's, so ``load_encoder(ae)`` copies its weights.

    Args:
        encoder: maps ``[B, C, H, W]`` to ``[B, latent_dim]`` codes.
        latent_dim: code size.
        num_classes: output units.

    Shape:
        input ``[B, C, H, W]``; output ``[B, num_classes]`` logits.
    """

    def __init__(self, *, encoder: nn.Module, latent_dim: int, num_classes: int, input_shape: Sequence[int]) -> None:
        super().__init__()
        self.num_classes = check_positive_int("EncoderClassifier", "num_classes", num_classes)
        self.latent_dim = check_latent_dim("EncoderClassifier", latent_dim)
        self.input_shape = check_image_shape("EncoderClassifier", input_shape)
        self.num_features = latent_dim
        self.encoder = encoder
        self.classifier = nn.Linear(latent_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The code: ``[B, C, H, W]`` -> ``[B, latent_dim]``."""
        check_batch("EncoderClassifier", "images", x, self.input_shape)
        return self.encoder(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from codes: ``[B, latent_dim]`` -> ``[B, num_classes]``."""
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer with a freshly initialised one of ``num_classes`` units."""
        self.num_classes = check_positive_int("EncoderClassifier.reset_classifier", "num_classes", num_classes)
        self.classifier = nn.Linear(self.latent_dim, num_classes)

    def load_encoder(self, autoencoder: nn.Module) -> EncoderClassifier:
        """Copy the encoder weights of a trained autoencoder of the same layout (strict)."""
        source = getattr(autoencoder, "encoder", None)
        if not isinstance(source, nn.Module):
            raise ConfigError(f"load_encoder needs an autoencoder with an .encoder; got {type(autoencoder).__name__}")
        try:
            self.encoder.load_state_dict(source.state_dict(), strict=True)
        except RuntimeError as e:
            raise ConfigError(f"the autoencoder's encoder does not fit this classifier: {str(e).splitlines()[0]}") from None
        return self


class LatentGaussian(nn.Module):
    """A Gaussian fitted to autoencoder codes, used to generate new codes (notes §3.6.2).

    §3.6.2 turns a trained autoencoder into a generator by discarding the
    encoder and decoding random codes ``z ~ φ_z``; here ``φ_z`` is the
    maximum-likelihood Gaussian of the training codes, with a full or a
    diagonal covariance.  The notes warn that as the latent dimension grows,
    such an estimate puts more and more mass where no code lies, and the
    decoded samples degrade; ``ae-generative-mnist`` measures this.

    Args:
        latent_dim: code size.
        covariance: ``"full"`` or ``"diagonal"``.

    Attributes (buffers, set by :meth:`fit`): ``mean`` ``[latent_dim]`` and
    ``scale_tril`` ``[latent_dim, latent_dim]`` (the Cholesky factor of the covariance).
    """

    def __init__(self, *, latent_dim: int, covariance: str = "full") -> None:
        super().__init__()
        self.latent_dim = check_latent_dim("LatentGaussian", latent_dim)
        if covariance not in ("full", "diagonal"):
            raise ConfigError(f"LatentGaussian covariance must be 'full' or 'diagonal'; got {covariance!r}")
        self.covariance = covariance
        self.register_buffer("mean", torch.zeros(latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim))

    @torch.no_grad()
    def fit(self, codes: torch.Tensor, *, jitter: float = 1e-6) -> LatentGaussian:
        """Maximum-likelihood mean and covariance of ``codes`` ``[N, latent_dim]`` (N ≥ 2).

        ``jitter`` times the mean variance is added to the diagonal so that
        the Cholesky factor exists for rank-deficient codes.
        """
        if codes.dim() != 2 or codes.shape[1] != self.latent_dim or codes.shape[0] < 2:
            raise ValueError(f"LatentGaussian.fit expects codes of shape [N >= 2, {self.latent_dim}]; got {list(codes.shape)}")
        z = codes.double()
        mean = z.mean(0)
        centred = z - mean
        cov = centred.T @ centred / z.shape[0]
        if self.covariance == "diagonal":
            cov = torch.diag(torch.diagonal(cov))
        cov = cov + jitter * float(torch.diagonal(cov).mean().clamp_min(1e-12)) * torch.eye(self.latent_dim, dtype=cov.dtype)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.scale_tril.copy_(torch.linalg.cholesky(cov).to(self.scale_tril.dtype))
        return self

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes ``[n, latent_dim]`` drawn as ``mean + L·ε``, ``ε ~ N(0, I)``."""
        check_positive_int("LatentGaussian.sample", "n", n)
        eps = randn(n, self.latent_dim, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + eps @ self.scale_tril.T

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """Log-density of ``codes`` ``[N, latent_dim]`` under the fitted Gaussian: ``[N]``."""
        dist = torch.distributions.MultivariateNormal(self.mean, scale_tril=self.scale_tril)
        return dist.log_prob(codes)


# ---------------------------------------------------------------------------------------------- builders
@register_model("dense_autoencoder", input_shape=(1, 28, 28))
def dense_autoencoder(
    *,
    input_shape: Sequence[int] = (1, 28, 28),
    hidden: Sequence[int] = (512, 256),
    latent_dim: int = 32,
    activation: str = "relu",
    code_activation: str = "none",
) -> DenseAutoencoder:
    """Dense autoencoder (notes §3.6); ``code_activation`` in {none, sigmoid, tanh, relu}."""
    return DenseAutoencoder(
        input_shape=input_shape,
        hidden=hidden,
        latent_dim=latent_dim,
        activation=activation_factory("dense_autoencoder", activation),
        code_activation=_code_activation("dense_autoencoder", code_activation),
    )


@register_model("conv_autoencoder", input_shape=(1, 28, 28))
def conv_autoencoder(
    *,
    in_channels: int = 1,
    image_size: int | Sequence[int] = 28,
    channels: Sequence[int] = (32, 64),
    latent_dim: int = 16,
    activation: str = "relu",
    code_activation: str = "none",
) -> ConvAutoencoder:
    """Convolutional autoencoder with a transpose-convolution decoder (notes §3.6)."""
    return ConvAutoencoder(
        in_channels=in_channels,
        image_size=image_size,
        channels=channels,
        latent_dim=latent_dim,
        activation=activation_factory("conv_autoencoder", activation),
        code_activation=_code_activation("conv_autoencoder", code_activation),
    )


@register_model("dense_ae_classifier", input_shape=(1, 28, 28))
def dense_ae_classifier(
    *,
    num_classes: int = 10,
    input_shape: Sequence[int] = (1, 28, 28),
    hidden: Sequence[int] = (512, 256),
    latent_dim: int = 32,
    activation: str = "relu",
    code_activation: str = "none",
) -> EncoderClassifier:
    """The encoder of ``dense_autoencoder`` plus a fully-connected classifier (notes §3.6.1)."""
    ae = dense_autoencoder(input_shape=input_shape, hidden=hidden, latent_dim=latent_dim, activation=activation,
                           code_activation=code_activation)
    return EncoderClassifier(encoder=ae.encoder, latent_dim=latent_dim, num_classes=num_classes, input_shape=ae.input_shape)


@register_model("conv_ae_classifier", input_shape=(1, 28, 28))
def conv_ae_classifier(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    image_size: int | Sequence[int] = 28,
    channels: Sequence[int] = (32, 64),
    latent_dim: int = 16,
    activation: str = "relu",
    code_activation: str = "none",
) -> EncoderClassifier:
    """The encoder of ``conv_autoencoder`` plus a fully-connected classifier (notes §3.6.1)."""
    ae = conv_autoencoder(in_channels=in_channels, image_size=image_size, channels=channels, latent_dim=latent_dim,
                          activation=activation, code_activation=code_activation)
    return EncoderClassifier(encoder=ae.encoder, latent_dim=latent_dim, num_classes=num_classes, input_shape=ae.input_shape)


_CLASSIFIER_OF = {"dense_autoencoder": "dense_ae_classifier", "conv_autoencoder": "conv_ae_classifier"}


def classifier_from_autoencoder(autoencoder: nn.Module, *, num_classes: int, pretrained: bool = True) -> EncoderClassifier:
    """The §3.6.1 classifier for a registered autoencoder: same encoder, new linear head.

    Args:
        autoencoder: a model built with ``get_model("dense_autoencoder" | "conv_autoencoder", ...)``.
        num_classes: output units of the new head.
        pretrained: copy the autoencoder's encoder weights (``False``: the
            same architecture, randomly initialised — the baseline).

    Returns:
        An :class:`EncoderClassifier` built through ``get_model`` (so it can be exported).
    """
    from .._registry import get_model, model_spec

    spec = model_spec(autoencoder)
    if spec["name"] not in _CLASSIFIER_OF:
        raise ConfigError(f"classifier_from_autoencoder supports {sorted(_CLASSIFIER_OF)}; got {spec['name']!r}")
    model = get_model(_CLASSIFIER_OF[spec["name"]], num_classes=num_classes, **spec["kwargs"])
    if pretrained:
        model.load_encoder(autoencoder)
    return model  # type: ignore[return-value]
