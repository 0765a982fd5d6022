"""Human pose estimation by regression: a CNN maps the person's image to the 2k joint coordinates (notes §3.5.3).

The notes: "human pose estimation ... can be framed as a Convolutional
Neural Network regression problem"; the network "receives the entire input
image" of the person, so every joint is predicted with the full context, and
outputs a vector of size 2k whose consecutive pairs are the joints'
coordinates.  "Transfer learning from pre-trained classification networks"
helps: any zoo classifier's trunk can be the backbone.

As in DeepPose (Toshev & Szegedy 2014, §3), the image the network sees is
the person box cropped from the scene and resized to a fixed ``S × S``
(``N(x; b)``, :func:`crop_to_boxes`), and the outputs are the joints in
box-normalised coordinates (:func:`an2dl.losses.pose.normalize_keypoints`):
``(0, 0)`` is the box centre, ``±1/2`` its edges.  When the box is the whole
image the network sees the entire image, as in the notes.

Layout of :class:`PoseRegressor`::

    crop [B, C, S, S]
    backbone  "plain_cnn": [conv 3×3 -> BN -> ReLU -> max-pool 2×2] per entry of `channels`
              a zoo name ("resnet18", ...): that classifier's convolutional trunk (forward_features)
    head      plain: flatten -> [linear -> ReLU -> dropout] per `hidden` -> linear(2K)
              zoo:   global average pooling -> dropout -> linear(2K)
    output    [B, 2K] = (x_1, y_1, ..., x_K, y_K), box-normalised

Departures from DeepPose: one stage (the paper refines each joint with a
cascade of regressors on ever smaller crops); a small plain CNN by default
instead of AlexNet on 220×220 crops (a laptop CPU); batch normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..ops.roi import roi_align
from ._checks import check_positive_int, check_probability
from ._registry import get_model, register_model
from .vision._base import ImageClassifier

__all__ = ["PoseRegressor", "pose_regressor", "crop_to_boxes", "load_backbone_weights"]


def crop_to_boxes(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """``N(x; b)``: the box of each image resampled to ``size × size`` (RoIAlign, 2×2 samples per output pixel).

    Output pixel ``(r, c)`` covers the box fraction ``[c/S, (c+1)/S] × [r/S, (r+1)/S]``,
    so a joint at normalised ``u`` lies at crop pixel ``(u + 1/2) · S``.

    Shape:
        ``images`` ``[B, C, H, W]``, ``boxes`` ``[B, 4]`` xyxy pixels -> ``[B, C, size, size]``.
    """
    if images.dim() != 4 or boxes.shape != (images.shape[0], 4):
        raise ConfigError(f"crop_to_boxes needs images [B, C, H, W] and one box [B, 4] per image; got "
                          f"{list(images.shape)} and {list(boxes.shape)}")
    rois = torch.cat([torch.arange(len(boxes), dtype=images.dtype, device=images.device)[:, None],
                      boxes.to(images.dtype)], dim=1)
    return roi_align(images, rois, size, sampling_ratio=2, aligned=True)


class PoseRegressor(nn.Module):
    """A CNN backbone and a linear regression head for the ``2K`` box-normalised joint coordinates.

    Args:
        num_joints: K.
        in_channels: channels of the crops.
        input_size: side S of the square crops the network reads.
        backbone: ``"plain_cnn"`` or the registry name of a zoo classifier (``"resnet18"``, ...)
            whose trunk is used (transfer: load its weights into ``model.backbone``).
        channels: filters of each plain-CNN block.
        hidden: widths of the plain head's hidden layers (``()``: one linear layer on the features).
        dropout: dropout before each linear layer of the head.
        small_input: zoo backbone: the family's variant for 28–32 pixel images (a 3×3 stem without
            pooling; ImageNet weights need the standard stem and crops of 64 pixels or more).

    Shape:
        input ``[B, in_channels, S, S]`` in [0, 1]; output ``[B, 2K]``.
    """

    def __init__(self, *, num_joints: int = 14, in_channels: int = 3, input_size: int = 32,
                 backbone: str = "plain_cnn", channels: Sequence[int] = (32, 64, 128), hidden: Sequence[int] = (256,),
                 dropout: float = 0.0, small_input: bool = False) -> None:
        super().__init__()
        self.num_joints = check_positive_int("PoseRegressor", "num_joints", num_joints)
        self.in_channels = check_positive_int("PoseRegressor", "in_channels", in_channels)
        self.input_size = check_positive_int("PoseRegressor", "input_size", input_size)
        p = check_probability("PoseRegressor", "dropout", dropout)
        self.backbone_name = backbone
        out = 2 * num_joints
        if backbone == "plain_cnn":
            if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
                raise ConfigError(f"PoseRegressor channels must be a non-empty list of positive integers; got {channels!r}")
            side = input_size >> len(channels)
            if side < 1:
                raise ConfigError(f"PoseRegressor: {len(channels)} poolings need crops of at least "
                                  f"{2 ** len(channels)} pixels; got input_size={input_size}")
            layers: list[nn.Module] = []
            c_in = in_channels
            for c in channels:
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                           nn.MaxPool2d(2)]
                c_in = c
            self.backbone: nn.Module = nn.Sequential(*layers)
            head: list[nn.Module] = [nn.Flatten()]
            d = c_in * side * side
            for width in hidden:
                head += [nn.Dropout(p), nn.Linear(d, check_positive_int("PoseRegressor", "hidden", width)),
                         nn.ReLU(inplace=True)]
                d = width
        else:
            trunk = get_model(backbone, in_channels=in_channels, num_classes=1, small_input=small_input)
            if not isinstance(trunk, ImageClassifier):
                raise ConfigError(f"PoseRegressor backbone must be 'plain_cnn' or a zoo classifier; {backbone!r} "
                                  f"is a {type(trunk).__name__}")
            trunk.replace_head(nn.Identity(), num_classes=1)  # the classifier's own top is never used
            self.backbone = trunk
            head = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            d = trunk.num_features
        head += [nn.Dropout(p), nn.Linear(d, out)]
        self.head = nn.Sequential(*head)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map ``[B, C', h, w]``."""
        if isinstance(self.backbone, ImageClassifier):
            return self.backbone.forward_features(x)
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(f"PoseRegressor expects crops [B, {self.in_channels}, {self.input_size}, "
                              f"{self.input_size}]; got {list(x.shape)}")
        return self.head(self.forward_features(x))  # (B, 2K)


@register_model("pose_regressor", input_shape=(3, 32, 32))
def pose_regressor(**kwargs) -> PoseRegressor:
    """:class:`PoseRegressor` (notes §3.5.3; DeepPose, Toshev & Szegedy 2014): plain CNN or zoo trunk + linear head."""
    return PoseRegressor(**kwargs)


def load_backbone_weights(model: PoseRegressor, path: str | Path) -> PoseRegressor:
    """Transfer (notes §3.4.2): load a zoo classifier's weights file into the regressor's trunk.

    The file holds the whole classifier (e.g. ImageNet ResNet-18 weights); its
    top (pooling, fully connected layers) is left out, every trunk tensor must
    be present with its shape.

    Raises:
        ConfigError: the regressor has a plain CNN backbone.
        CheckpointError: a trunk tensor is missing from the file or has another shape.
    """
    from .weights import read_state_dict

    if not isinstance(model.backbone, ImageClassifier):
        raise ConfigError(f"load_backbone_weights needs a zoo backbone (e.g. backbone='resnet18'); this regressor's "
                          f"is {model.backbone_name!r}")
    state = read_state_dict(path)
    own = model.backbone.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {len(missing)} tensor(s) of the {model.backbone_name} trunk, e.g. "
                              f"{missing[:3]}")
    wrong = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{path}: {k} has shape {list(state[k].shape)}; the trunk needs {list(own[k].shape)}")
    model.backbone.load_state_dict({k: state[k] for k in own})
    return model
