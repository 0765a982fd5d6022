"""A small digit classifier whose features judge generated images (the evaluation of §3.7.1).

The notes close §3.7.1 with the difficulty of "quantitatively assessing the
generator's performance".  The common answer, the Fréchet Inception Distance
(Heusel et al. 2017), compares Gaussians fitted to Inception-v3 features of
real and generated images.  For 28×28 digits an2dl uses the same statistic on
the 128 penultimate features of this small CNN, trained on MNIST by an2dl
itself (:func:`an2dl.evaluation.generative.digit_judge`); its figures are
therefore *not* comparable with published FID values.  The same network's
softmax gives the accuracy and confidence of a held-out classifier on
reconstructed and generated digits.

Layout::

    input 1×28×28
    conv 3×3, 32, ReLU, max-pool 2      -> 32×14×14
    conv 3×3, 64, ReLU, max-pool 2      -> 64×7×7
    flatten, linear 128, ReLU           -> 128 features (forward_features)
    linear num_classes                  -> logits (forward_head)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .._registry import register_model
from ._common import check_batch, check_image_shape, check_positive_int

__all__ = ["FeatureCNN", "mnist_feature_cnn"]


class FeatureCNN(nn.Module):
    """Two-convolution classifier with a 128-unit feature layer.

    Args:
        num_classes: output units.
        input_shape: ``(C, H, W)``; ``H`` and ``W`` at least 4.
        num_features: width of the feature layer.

    Shape:
        input ``[B, C, H, W]`` in [0, 1]; features ``[B, num_features]``; output ``[B, num_classes]`` logits.
    """

    def __init__(self, *, num_classes: int = 10, input_shape: Sequence[int] = (1, 28, 28), num_features: int = 128) -> None:
        super().__init__()
        self.num_classes = check_positive_int("FeatureCNN", "num_classes", num_classes)
        self.num_features = check_positive_int("FeatureCNN", "num_features", num_features)
        self.input_shape = check_image_shape("FeatureCNN", input_shape)
        c, h, w = self.input_shape
        if h < 4 or w < 4:
            raise ConfigError(f"FeatureCNN needs images of at least 4x4; got {h}x{w}")
        self.features = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (h // 4) * (w // 4), num_features),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature vector used by the Fréchet distance: ``[B, C, H, W]`` -> ``[B, num_features]``."""
        check_batch("FeatureCNN", "images", x, self.input_shape)
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from features: ``[B, num_features]`` -> ``[B, num_classes]``."""
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer with a freshly initialised one of ``num_classes`` units."""
        self.num_classes = check_positive_int("FeatureCNN", "num_classes", num_classes)
        self.classifier = nn.Linear(self.num_features, num_classes)


@register_model("mnist_feature_cnn", input_shape=(1, 28, 28))
def mnist_feature_cnn(*, num_classes: int = 10, input_shape: Sequence[int] = (1, 28, 28), num_features: int = 128) -> FeatureCNN:
    """Small MNIST CNN whose features give an2dl's Fréchet distance (not Inception FID)."""
    return FeatureCNN(num_classes=num_classes, input_shape=input_shape, num_features=num_features)
