"""Grad-CAM: class activation maps for any convolutional layer (notes §3.5.2.1–§3.5.2.2).

Selvaraju et al. (2017), "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization".  For the feature maps ``A_k`` (``k = 1..C``, each
``h × w``) of a chosen layer and the pre-softmax class score ``S_c``:

    α_k^c = (1 / Z) Σ_{x,y} ∂S_c / ∂A_k(x, y)          (Z = h·w)
    L^c(x, y) = ReLU( Σ_k α_k^c A_k(x, y) )

and ``L^c`` is upsampled bilinearly to the input's size.

Relation to CAM (notes §3.5.2.1).  For a network that ends in global average
pooling and one fully connected layer, ``S_c = Σ_k w_k^c (1/Z) Σ_{x,y} f_k(x, y) + b_c``;
taking ``A = f`` gives ``∂S_c/∂f_k(x, y) = w_k^c / Z``, so ``α_k^c = w_k^c / Z`` and

    L^c = ReLU( (1/Z) Σ_k w_k^c f_k ) = (1/Z) · ReLU(M_c),

Grad-CAM is the rectified class activation map up to the constant factor
``1/Z``; ``tests/explain/test_saliency_gradcam.py`` checks this identity.
Grad-CAM needs no GAP: it applies to any layer whose output is a spatial map
``[B, C, h, w]``.

The default layer (:func:`default_gradcam_layer`) is the last ``nn.Conv2d``
whose output is a map of more than one position, followed through the
normalisation and activation modules the forward pass applies right after it
(so a ``conv → BN → ReLU`` block gives the rectified map, as in the paper,
which takes the last convolutional layer's rectified output).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ._hooks import capture, check_images, class_scores, get_layer, inspecting, resolve_classes

__all__ = ["grad_cam", "default_gradcam_layer", "conv_layers", "NoConvLayerError"]

#: modules that keep a feature map's shape and may follow a convolution inside its block
_FOLLOWERS = (
    nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU,
    nn.SiLU, nn.Hardswish, nn.Tanh, nn.Sigmoid, nn.PReLU, nn.Mish,
)


class NoConvLayerError(ConfigError):
    """A model without the convolutional layer an explanation method needs."""


def conv_layers(model: nn.Module) -> list[str]:
    """Dotted names of the ``nn.Conv2d`` sub-modules of ``model``, in registration order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def default_gradcam_layer(model: nn.Module, images: torch.Tensor) -> str:
    """The layer Grad-CAM explains by default (see the module docstring).

    One forward pass with hooks on every module records the order of the calls and
    the output shapes; the last ``nn.Conv2d`` with a map of more than one position is
    taken, then the normalisation/activation modules called right after it on a
    map of the same shape.

    Raises:
        NoConvLayerError: the model has no ``nn.Conv2d`` producing a spatial map.
    """
    x = check_images(images)[:1]
    if not conv_layers(model):
        raise NoConvLayerError(
            f"Grad-CAM needs a convolutional layer (an nn.Conv2d whose output is a spatial map [B, C, h, w]); "
            f"{type(model).__name__} has none")
    calls: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    handles = []
    for name, module in model.named_modules():
        if name and not list(module.children()):  # leaves only: the order of the actual operations
            def hook(m, _inp, out, _name=name):
                if isinstance(out, torch.Tensor):
                    calls.append((_name, m, tuple(out.shape)))
            handles.append(module.register_forward_hook(hook))
    try:
        with inspecting(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    spatial = [i for i, (_, m, shape) in enumerate(calls)
               if isinstance(m, nn.Conv2d) and len(shape) == 4 and shape[-1] * shape[-2] > 1]
    if not spatial:
        raise NoConvLayerError(
            f"Grad-CAM needs a convolutional layer whose output is a spatial map of more than one position; the "
            f"convolutions of {type(model).__name__} ({', '.join(conv_layers(model))}) all give 1x1 maps for input "
            f"{list(x.shape[1:])}")
    i = spatial[-1]
    shape = calls[i][2]
    while i + 1 < len(calls) and isinstance(calls[i + 1][1], _FOLLOWERS) and calls[i + 1][2] == shape:
        i += 1
    return calls[i][0]


def grad_cam(model: nn.Module, images: torch.Tensor, class_index=None, *, layer: str | None = None,
             upsample: bool = True) -> torch.Tensor:
    """Grad-CAM maps ``ReLU(Σ_k α_k^c A_k)`` of ``layer`` for class ``c``.

    Args:
        model: a classifier returning pre-softmax scores ``[N, K]``.
        images: ``[N, C, H, W]`` (or one ``[C, H, W]``) as the model reads them.
        class_index: the explained class (an int or one per image); ``None``: the predicted class.
        layer: dotted name of the sub-module whose output ``A`` ``[N, C', h, w]`` is explained;
            ``None``: :func:`default_gradcam_layer`.
        upsample: resize the maps bilinearly (``align_corners=False``) to the input's ``H × W``.

    Returns:
        ``[N, H, W]`` (or ``[N, h, w]`` without ``upsample``), non-negative, not normalised.

    Raises:
        NoConvLayerError: ``layer`` is ``None`` and the model has no convolution with a spatial map.
        ConfigError: an unknown ``layer`` (the closest names are listed), a layer whose output is not
            ``[N, C', h, w]``, a class outside ``[0, K)``.
    """
    x = check_images(images).detach()
    name = default_gradcam_layer(model, x) if layer is None else layer
    module = get_layer(model, name)
    with inspecting(model), torch.enable_grad(), capture(module) as seen:
        # the input requires grad only so that the layer's output is part of the graph; the backward pass
        # stops at A and the parameters (frozen by `inspecting`) get no gradient
        scores = class_scores(model(x.clone().requires_grad_(True)))
        a = seen.last
        if not isinstance(a, torch.Tensor) or a.dim() != 4:
            got = list(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
            raise ConfigError(f"Grad-CAM explains a layer whose output is a feature map [N, C, h, w]; layer {name!r} "
                              f"gives {got}")
        classes = resolve_classes(class_index, scores.detach())
        picked = scores.gather(1, classes[:, None]).sum()
        (grad,) = torch.autograd.grad(picked, a, allow_unused=True)
    if grad is None:
        raise ConfigError(f"the class scores do not depend on layer {name!r}; choose a layer the scores are computed from")
    alpha = grad.mean(dim=(2, 3), keepdim=True)  # (N, C', 1, 1): α_k = (1/Z) Σ_xy ∂S_c/∂A_k(x, y)
    cam = F.relu((alpha * a.detach()).sum(dim=1))  # (N, h, w)
    if upsample:
        cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return cam
