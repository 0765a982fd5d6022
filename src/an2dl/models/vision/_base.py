"""The interface shared by every image classifier of the zoo (notes §3.4.2).

Every architecture of the zoo (AlexNet … EfficientNet) derives from
:class:`ImageClassifier`, so that one piece of code can train, inspect and
transfer any of them:

* ``forward_features(x)``: the convolutional trunk, ``[B, C_in, H, W] ->
  [B, num_features, h, w]`` (an unpooled feature map);
* ``forward_head(features)``: pooling and the top layers, ``-> [B, num_classes]``;
* ``forward(x) = forward_head(forward_features(x))``;
* ``reset_classifier(num_classes)``: a freshly initialised output layer;
* ``stages()``: the trunk as an ordered list of blocks (input to output),
  each a tuple of sub-module names: what ``fine_tune`` unfreezes "from the top";
* ``replace_head(head)``: remove the top layers of the original task and
  install ``head`` (a module mapping the feature map to logits);
* attributes ``in_channels``, ``num_classes``, ``num_features``,
  ``default_input_size`` and ``min_input_size`` (the smallest square input the
  network accepts in its current configuration; smaller inputs are rejected
  with a message that gives it).

Small inputs: every family accepts ``small_input=True``, a CIFAR-style variant
for 28×28 and 32×32 images (a stride-1 stem without the early pooling, or the
family's published small-image layout), so that each family trains on MNIST
on a CPU.  Such a variant changes at most the stem's shape and the top
layers' sizes: it cannot load ImageNet weights into those layers.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int, check_probability

__all__ = ["ImageClassifier", "check_positive_int", "check_probability"]


class ImageClassifier(nn.Module, abc.ABC):
    """Base class of the zoo's image classifiers (see the module docstring for the contract).

    Subclasses build their layers in ``__init__`` (after calling
    ``super().__init__(num_classes=..., in_channels=..., small_input=...)``),
    set ``num_features`` and ``min_input_size``, and implement
    ``_forward_features``, ``_forward_head``, ``_reset_classifier`` and
    ``stages``.  They list in ``top_modules`` the attributes that form the
    original task's top (pooling and fully connected layers, auxiliary heads),
    which :meth:`replace_head` removes.

    Args:
        num_classes: number of output units K (> 0).
        in_channels: channels of the input image (3 for RGB, 1 for MNIST).
        small_input: build the family's variant for 28–32 pixel inputs.

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= min_input_size``;
        output ``[B, num_classes]`` logits.
    """

    #: attributes holding the top of the original task (removed by replace_head)
    top_modules: tuple[str, ...] = ()
    #: resolution of the ImageNet configuration (the registered example input)
    default_input_size: int = 224

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, small_input: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_classes = check_positive_int(name, "num_classes", num_classes)
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        if not isinstance(small_input, bool):
            raise ConfigError(f"{name} small_input must be True or False; got {small_input!r}")
        self.small_input = small_input
        self.num_features = 0
        self.min_input_size = 1
        # set by replace_head: the new top that maps the feature map to logits
        self.head: nn.Module | None = None

    # ------------------------------------------------------------------ the contract
    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``[B, in_channels, H, W]`` with ``H, W >= min_input_size``."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} expects a tensor [B, {self.in_channels}, H, W]; got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{name} expects input of shape [B, {self.in_channels}, H, W]; got {list(x.shape)}")
        h, w = x.shape[-2:]
        m = self.min_input_size
        if h < m or w < m:
            hint = "; small_input=True builds the variant for 28-32 pixel images" if not self.small_input and m > 28 else ""
            raise ValueError(
                f"{name} needs inputs of at least {m}×{m} pixels in this configuration; got {h}×{w}{hint}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional trunk: ``[B, in_channels, H, W] -> [B, num_features, h, w]``."""
        self.check_input(x)
        return self._forward_features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Pooling and top layers: ``[B, num_features, h, w] -> [B, num_classes]``."""
        if self.head is not None:
            return self.head(features)
        return self._forward_head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer by a freshly initialised one with ``num_classes`` units.

        The layers below it (the hidden fully connected layers of AlexNet and
        VGG, for instance) are kept; :func:`an2dl.models.transfer.transfer`
        replaces the whole top instead.
        """
        num_classes = check_positive_int(type(self).__name__, "num_classes", num_classes)
        if self.head is not None:
            raise ConfigError(
                f"{type(self).__name__} has a replaced head; call replace_head with a new head instead of reset_classifier"
            )
        ref = next(self.parameters(), None)
        self._reset_classifier(num_classes)
        if ref is not None:  # the new layer joins the model's device and precision
            self.to(device=ref.device, dtype=ref.dtype)
        self.num_classes = num_classes

    def replace_head(self, head: nn.Module, *, num_classes: int) -> None:
        """Remove the original top (``top_modules``) and use ``head`` on the feature map.

        Args:
            head: maps ``[B, num_features, h, w]`` to ``[B, num_classes]``.
            num_classes: the new number of classes (recorded in ``num_classes``).
        """
        if not isinstance(head, nn.Module):
            raise TypeError(f"head must be an nn.Module; got {type(head).__name__}")
        num_classes = check_positive_int(type(self).__name__, "num_classes", num_classes)
        for name in self.top_modules:
            if name in self._modules:
                delattr(self, name)
        self.head = head
        self.num_classes = num_classes

    @abc.abstractmethod
    def stages(self) -> list[tuple[str, ...]]:
        """The trunk's blocks from input to output, each a tuple of sub-module names."""

    # ------------------------------------------------------------------ for subclasses
    @abc.abstractmethod
    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk after input validation."""

    @abc.abstractmethod
    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The original top: pooling and the fully connected layers."""

    @abc.abstractmethod
    def _reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer by a new one with ``num_classes`` units."""
