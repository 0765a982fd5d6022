"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998), notes §3.4.2.

Layout, as in the paper::

    input 1×32×32
    C1  conv 5×5, 6 maps        -> 6×28×28
    S2  subsampling 2×2         -> 6×14×14
    C3  conv 5×5, 16 maps       -> 16×10×10
    S4  subsampling 2×2         -> 16×5×5
    C5  conv 5×5, 120 maps      -> 120×1×1
    F6  fully connected, 84 units
    output: num_classes units

Departures from the paper, each a common modern choice:

* C3 connects every S2 map to every C3 map (the paper's table 1 connects each
  C3 map to 3–6 of the S2 maps, to break symmetry and save parameters); C3
  then has 2,416 parameters instead of 1,516.
* S2/S4 are parameter-free pooling layers (max by default, ``pool=nn.AvgPool2d``
  gives plain averaging); the paper's subsampling adds a trainable coefficient
  and bias per map followed by a sigmoid.
* The activation is injectable (``activation=nn.ReLU`` by default; the paper
  uses the scaled tanh 1.7159·tanh(2a/3)).
* The output layer is linear and trained with cross-entropy on softmax
  probabilities; the paper uses Euclidean radial basis function units.

With ``num_classes=10`` and one input channel the model has 61,706 parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int
from .._registry import register_model
from ._base import FeatureMapsMixin, make_feature_info

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module, FeatureMapsMixin):
    """LeNet-5 classifier.

    Args:
        num_classes: number of output units.
        in_channels: channels of the input image.
        activation: factory of the activation module used after C1, C3, C5 and F6.
        pool: factory of the subsampling layer, called with ``kernel_size=2, stride=2``.

    Feature stages (``feature_info``): the activations after C1, C3 and C5
    (6, 16, 120 channels; 28×28, 10×10, 1×1 maps; reductions 1, 2, 4, the
    unpadded 5×5 convolutions trimming 4 pixels each).
    ``forward_intermediates(x)[-1]`` is ``[B, 120, 1, 1]``, which
    ``forward_features`` flattens to ``[B, 120]``.

    Shape:
        input ``[B, in_channels, 32, 32]`` (values in [0, 1] or normalised);
        output ``[B, num_classes]`` logits.
    """

    input_size = (32, 32)

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        activation: Callable[[], nn.Module] = nn.ReLU,
        pool: Callable[..., nn.Module] = nn.MaxPool2d,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("LeNet5", "num_classes", num_classes)
        self.in_channels = check_positive_int("LeNet5", "in_channels", in_channels)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),  # C1
            activation(),
            pool(kernel_size=2, stride=2),  # S2
            nn.Conv2d(6, 16, kernel_size=5),  # C3
            activation(),
            pool(kernel_size=2, stride=2),  # S4
            nn.Conv2d(16, 120, kernel_size=5),  # C5
            activation(),
            nn.Flatten(),
        )
        self.num_features = 120
        self.feature_info = make_feature_info(("features.1", 6, 1), ("features.4", 16, 2), ("features.7", 120, 4))
        self.pre_logits = nn.Sequential(nn.Linear(120, 84), activation())  # F6
        self.classifier = nn.Linear(84, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"LeNet5 expects input of shape [B, {self.in_channels}, 32, 32]; got {list(x.shape)} "
                "(pad 28×28 digits to 32×32, e.g. mnist(pad_to=32))"
            )

    def _check_stage_input(self, x: torch.Tensor) -> None:
        self._check(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """C1 … C5: ``[B, C, 32, 32]`` -> ``[B, 120]``."""
        self._check(x)
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """F6 and the output layer: ``[B, 120]`` -> ``[B, num_classes]``."""
        return self.classifier(self.pre_logits(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer with a freshly initialised one of ``num_classes`` units."""
        self.num_classes = check_positive_int("LeNet5.reset_classifier", "num_classes", num_classes)
        self.classifier = nn.Linear(84, num_classes)


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@register_model("lenet5", input_shape=(1, 32, 32))
def lenet5(*, num_classes: int = 10, in_channels: int = 1, activation: str = "relu", pool: str = "max") -> LeNet5:
    """LeNet-5 (LeCun et al. 1998); ``activation`` in {relu, tanh, sigmoid}, ``pool`` in {max, avg}."""
    if activation not in _ACTIVATIONS:
        raise ConfigError(f"lenet5 activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
    if pool not in _POOLS:
        raise ConfigError(f"lenet5 pool must be one of {sorted(_POOLS)}; got {pool!r}")
    return LeNet5(num_classes=num_classes, in_channels=in_channels, activation=_ACTIVATIONS[activation], pool=_POOLS[pool])
