"""A configurable plain CNN: conv–activation–pool blocks, then a dense or a global-average-pooling head (notes §3.3).

Layout (notes §3.3.4, Figure 3.2)::

    input C×H×W
    block i (for each entry c_i of `channels`):
        `convs_per_block` × [conv k×k, c_i filters, "same" padding -> (norm) -> activation]
        pool 2×2, stride 2                                  -> c_i × H/2^i × W/2^i
    head "dense":      flatten -> [linear -> activation -> dropout] per `hidden` -> linear(num_classes)
    head "gap":        conv 1×1 to num_classes maps -> global average pooling  (one map per class,
                       softmax on the averages: Lin et al. 2014, notes §3.3.3)
    head "gap-linear": global average pooling -> dropout -> linear(num_classes)  (the notes' "hidden
                       layer" that adjusts the feature dimension when maps ≠ classes)

As the network deepens the number of channels grows while the height and
width shrink (notes §3.3).  Parameters of each convolution:
``(h_r·h_c·c)·n_f + n_f`` (:func:`an2dl.nn.cnn_layers.conv2d_parameter_count`).

Departures and choices: padding keeps the size through each convolution
(``padding = k // 2``, odd ``k``), so only pooling shrinks the maps; a
normalisation layer (e.g. batch norm, notes §3.5) can be injected after each
convolution; the activation is injectable (ReLU by default, notes §3.3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...nn.pooling import GlobalAvgPool2d
from .._checks import check_positive_int, check_probability
from .._registry import register_model
from ._base import FeatureMapsMixin, make_feature_info

__all__ = ["PlainCNN", "plain_cnn"]

_HEADS = ("dense", "gap", "gap-linear")



class PlainCNN(nn.Module, FeatureMapsMixin):
    """Stacked conv–activation–pool blocks followed by a classifier head.

    Args:
        num_classes: output units ``L``.
        in_channels: channels of the input image.
        input_size: ``(H, W)`` of the input (the dense head's size depends on it).
        channels: filters of each block; the length is the number of blocks.
        convs_per_block: convolutions before each pooling.
        kernel_size: odd side of the square filters.
        activation: factory of the activation module.
        norm_layer: ``norm_layer(channels) -> nn.Module`` after each convolution, or ``None``.
        pool: factory called as ``pool(kernel_size=2, stride=2)`` (``nn.MaxPool2d`` or ``nn.AvgPool2d``).
        head: ``"dense"``, ``"gap"`` or ``"gap-linear"`` (see the module docstring).
        hidden: widths of the dense head's hidden layers.
        dropout: dropout probability before each dense layer of the head.

    Feature stages (``feature_info``): the activation before each pooling
    (block ``i``: ``channels[i]`` maps, reduction ``2**i``) and the last
    pooling (the trunk's output, reduction ``2**len(channels)``); 2×2 pools
    floor odd sizes.

    Shape:
        input ``[B, in_channels, H, W]`` in [0, 1] (or normalised); output ``[B, num_classes]`` logits.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: tuple[int, int] = (28, 28),
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        kernel_size: int = 3,
        activation: Callable[[], nn.Module] = nn.ReLU,
        norm_layer: Callable[[int], nn.Module] | None = None,
        pool: Callable[..., nn.Module] = nn.MaxPool2d,
        head: str = "dense",
        hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive_int("PlainCNN", "num_classes", num_classes)
        check_positive_int("PlainCNN", "in_channels", in_channels)
        check_positive_int("PlainCNN", "convs_per_block", convs_per_block)
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"PlainCNN kernel_size must be an odd positive integer; got {kernel_size!r}")
        if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ConfigError(f"PlainCNN channels must be a non-empty list of positive integers; got {channels!r}")
        if not all(isinstance(h, int) and h > 0 for h in hidden):
            raise ConfigError(f"PlainCNN hidden must be a list of positive integers; got {hidden!r}")
        if head not in _HEADS:
            raise ConfigError(f"PlainCNN head must be one of {_HEADS}; got {head!r}")
        check_probability("PlainCNN", "dropout", dropout)
        if len(input_size) != 2 or not all(isinstance(s, int) and s > 0 for s in input_size):
            raise ConfigError(f"PlainCNN input_size must be (H, W) positive integers; got {input_size!r}")
        blocks = len(channels)
        h, w = input_size[0] >> blocks, input_size[1] >> blocks
        if h < 1 or w < 1:
            raise ConfigError(
                f"PlainCNN: {blocks} pooling blocks halve {tuple(input_size)} to nothing; "
                f"the input must be at least {2**blocks}×{2**blocks}"
            )
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, tuple(input_size)
        self.head_type = head

        layers: list[nn.Module] = []
        taps: list[tuple[str, int, int]] = []
        c_in = in_channels
        for c_out in channels:
            for _ in range(convs_per_block):
                layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=norm_layer is None))
                if norm_layer is not None:
                    layers.append(norm_layer(c_out))
                layers.append(activation())
                c_in = c_out
            taps.append((f"features.{len(layers) - 1}", c_out, 2 ** len(taps)))
            layers.append(pool(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.feature_info = make_feature_info(*taps, (f"features.{len(layers) - 1}", c_in, 2 ** len(taps)))
        self.feature_shape = (c_in, h, w)

        head_layers: list[nn.Module] = []
        if head == "dense":
            head_layers.append(nn.Flatten())
            d = c_in * h * w
            for width in hidden:
                if dropout > 0:
                    head_layers.append(nn.Dropout(dropout))
                head_layers += [nn.Linear(d, width), activation()]
                d = width
            if dropout > 0:
                head_layers.append(nn.Dropout(dropout))
            self.num_features = d
            self.classifier: nn.Module = nn.Linear(d, num_classes)
        elif head == "gap":
            self.num_features = c_in
            self.classifier = nn.Conv2d(c_in, num_classes, kernel_size=1)
        else:
            head_layers.append(GlobalAvgPool2d())
            if dropout > 0:
                head_layers.append(nn.Dropout(dropout))
            self.num_features = c_in
            self.classifier = nn.Linear(c_in, num_classes)
        self.pre_logits = nn.Sequential(*head_layers)
        self.global_pool = GlobalAvgPool2d() if head == "gap" else nn.Identity()

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != self.input_size:
            h, w = self.input_size
            raise ValueError(f"PlainCNN expects input of shape [B, {self.in_channels}, {h}, {w}]; got {list(x.shape)}")

    def _check_stage_input(self, x: torch.Tensor) -> None:
        self._check(x)

    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self._sequential_stages(self.features, "features", x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv–activation–pool blocks: ``[B, C, H, W]`` -> ``[B, c_last, H / 2^n, W / 2^n]``."""
        self._check(x)
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The head: feature maps -> ``[B, num_classes]`` logits."""
        return self.global_pool(self.classifier(self.pre_logits(features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer with a freshly initialised one of ``num_classes`` units."""
        check_positive_int("PlainCNN", "num_classes", num_classes)
        self.num_classes = num_classes
        if self.head_type == "gap":
            self.classifier = nn.Conv2d(self.num_features, num_classes, kernel_size=1)
        else:
            self.classifier = nn.Linear(self.num_features, num_classes)


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@register_model("plain_cnn", input_shape=(1, 28, 28))
def plain_cnn(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int | Sequence[int] = 28,
    channels: Sequence[int] = (32, 64),
    convs_per_block: int = 1,
    kernel_size: int = 3,
    activation: str = "relu",
    batch_norm: bool = False,
    pool: str = "max",
    head: str = "dense",
    hidden: Sequence[int] = (128,),
    dropout: float = 0.0,
) -> PlainCNN:
    """Plain CNN of conv–activation–pool blocks with a dense or GAP head (notes §3.3); see :class:`PlainCNN`."""
    if activation not in _ACTIVATIONS:
        raise ConfigError(f"plain_cnn activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
    if pool not in _POOLS:
        raise ConfigError(f"plain_cnn pool must be one of {sorted(_POOLS)}; got {pool!r}")
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return PlainCNN(
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=size,
        channels=tuple(channels),
        convs_per_block=convs_per_block,
        kernel_size=kernel_size,
        activation=_ACTIVATIONS[activation],
        norm_layer=nn.BatchNorm2d if batch_norm else None,
        pool=_POOLS[pool],
        head=head,
        hidden=tuple(hidden),
        dropout=dropout,
    )
