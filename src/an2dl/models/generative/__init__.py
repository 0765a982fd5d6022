"""Unsupervised and generative models of the notes' §3.6–§3.7: autoencoders, VAEs, GANs, and the
image-to-image U-Net of §3.7's inverse problems."""

from .autoencoder import (
    ConvAutoencoder,
    DenseAutoencoder,
    EncoderClassifier,
    LatentGaussian,
    classifier_from_autoencoder,
)
from .feature_cnn import FeatureCNN
from .gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from .unet import ImageUNet
from .vae import VAE, ConvVAE, DenseVAE

__all__ = [
    "ConvAutoencoder", "ConvVAE", "DCGANDiscriminator", "DCGANGenerator", "DenseAutoencoder", "DenseVAE",
    "EncoderClassifier", "FeatureCNN", "ImageUNet", "LatentGaussian", "MLPDiscriminator", "MLPGenerator", "VAE",
    "classifier_from_autoencoder",
]
