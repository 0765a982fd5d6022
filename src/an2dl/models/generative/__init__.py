"""Unsupervised and generative models of the notes' §3.6–§3.7: autoencoders, VAEs, GANs."""

from .autoencoder import (
    ConvAutoencoder,
    DenseAutoencoder,
    EncoderClassifier,
    LatentGaussian,
    classifier_from_autoencoder,
)
from .feature_cnn import FeatureCNN
from .gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from .vae import VAE, ConvVAE, DenseVAE

__all__ = [
    "ConvAutoencoder", "ConvVAE", "DCGANDiscriminator", "DCGANGenerator", "DenseAutoencoder", "DenseVAE",
    "EncoderClassifier", "FeatureCNN", "LatentGaussian", "MLPDiscriminator", "MLPGenerator", "VAE",
    "classifier_from_autoencoder",
]
