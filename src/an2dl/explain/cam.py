"""Class Activation Mapping (notes §3.5.2.1; Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

CAM applies to a network whose convolutional block ends in ``n`` feature maps
``f_k(x, y)``, followed by a **global average pooling** layer and a **single
fully connected** layer.  The pooling gives ``F_k = (1/Z) Σ_{x,y} f_k(x, y)``
(``Z = h·w`` positions) and the class score is

    S_c = Σ_k w_k^c F_k + b_c = (1/Z) Σ_{x,y} Σ_k w_k^c f_k(x, y) + b_c ,

so the score is the average over the positions of the class activation map

    M_c(x, y) = Σ_k w_k^c f_k(x, y),           S_c = mean_{x,y} M_c(x, y) + b_c .

(The notes write ``S_c = Σ_{x,y} Σ_k w_k^c f_k``, leaving out the constant
``1/Z`` and the bias.)  ``M_c`` says how much each position contributes to
class ``c``; it is upsampled bilinearly to the input's size to be read over
the image.

**GMP.**  With global *max* pooling, ``F_k = max_{x,y} f_k(x, y)``, the same
``M_c`` is computed from the same weights, but the identity above no longer
holds (the maximum of a sum is not the sum of the maxima): each map is only
rewarded for its strongest position, so GMP networks learn maps that fire on
the most discriminative part of the object, where GAP networks spread the
evidence over the whole object (the notes; Zhou et al. §2).

**Which models.**  :func:`cam_parts` finds the trunk, the pooling and the fully
connected layer of

* :class:`~an2dl.models.localization.CamNet` (conv trunk → GAP/GMP → Linear);
* any model with ``forward_features`` and ``forward_head`` whose head is a
  global pooling and one ``nn.Linear`` (dropout and flatten allowed): the zoo's
  ResNets, GoogLeNet, DenseNet, MobileNet v1/v2, EfficientNet, a
  :func:`~an2dl.models.transfer.transfer` model with a linear head, a
  ``plain_cnn(head="gap-linear")``;
* an ``nn.Sequential`` whose tail is a global pooling layer followed by one
  ``nn.Linear`` (flatten and dropout allowed);
* a :class:`~an2dl.models.localization.LocalizationNet`'s class head (GAP → Linear).

The head is checked on the images themselves: exactly one ``nn.Linear`` must run,
fed by the global average (or maximum) of the feature maps, and give the
model's scores; anything else (a hidden layer, 1×1-convolution classifiers as
in NiN or SqueezeNet, flatten + dense heads) fails with :class:`CamError`,
which says what CAM needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ._hooks import check_images, inspecting, resolve_classes

__all__ = ["class_activation_map", "cam_parts", "CamParts", "CamError"]

#: global pooling modules a CAM head may start with, and what each computes
_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_NEEDS = ("CAM needs a convolutional network whose feature maps go through global average (or max) pooling "
          "and then a single fully connected layer (Zhou et al. 2016)")


class CamError(ConfigError):
    """A model that is not the GAP (or GMP) + single fully connected layer network CAM needs."""


@dataclass
class CamParts:
    """The pieces of a CAM network.

    Attributes:
        features: ``images [N, C, H, W] -> maps f [N, K_maps, h, w]``.
        head: ``maps -> scores [N, K]`` (the model's own top, used to check the identity).
        fc: the fully connected layer whose weights ``w_k^c`` and bias ``b_c`` make the scores.
        pool: ``"avg"`` or ``"max"``: the global pooling between the maps and ``fc``.
    """

    features: Callable[[torch.Tensor], torch.Tensor]
    head: Callable[[torch.Tensor], torch.Tensor]
    fc: nn.Linear
    pool: str | None = None  # found by checking the head when None


def _global_pool(module: nn.Module) -> str | None:
    """``"avg"``/``"max"`` when ``module`` is a global pooling layer (output 1×1), else ``None``."""
    from ..nn.pooling import GlobalAvgPool2d, GlobalMaxPool2d

    if isinstance(module, GlobalAvgPool2d):
        return "avg"
    if isinstance(module, GlobalMaxPool2d):
        return "max"
    if isinstance(module, _GLOBAL_POOLS):
        size = module.output_size
        if size in (1, (1, 1)):
            return "avg" if isinstance(module, nn.AdaptiveAvgPool2d) else "max"
    return None


def cam_parts(model: nn.Module) -> CamParts:
    """The trunk, head and fully connected layer of a CAM network (see the module docstring).

    Raises:
        CamError: the model has no recognisable trunk + global pooling + single FC layout.
    """
    from ..models.localization import CamNet, LocalizationNet

    name = type(model).__name__
    if isinstance(model, CamNet):
        return CamParts(model.forward_features, model.forward_head, model.fc, model.pool)
    if isinstance(model, LocalizationNet):
        return CamParts(model.forward_features, lambda f: model.classifier(f.mean(dim=(2, 3))), model.classifier, "avg")
    if isinstance(model, nn.Sequential):
        children = list(model.children())
        at = next((i for i, m in enumerate(children) if _global_pool(m) is not None), None)
        if at is None:
            raise CamError(f"{_NEEDS}; the nn.Sequential {name} has no global pooling layer "
                           "(nn.AdaptiveAvgPool2d(1), GlobalAvgPool2d, or their max versions)")
        trunk, top = nn.Sequential(*children[:at]), nn.Sequential(*children[at:])
        linears = [m for m in top.modules() if isinstance(m, nn.Linear)]
        if len(linears) != 1:
            raise CamError(f"{_NEEDS}; {name} has {len(linears)} nn.Linear layers after its global pooling")
        return CamParts(trunk, top, linears[0], _global_pool(children[at]))
    if callable(getattr(model, "forward_features", None)) and callable(getattr(model, "forward_head", None)):
        return CamParts(model.forward_features, model.forward_head, _single_linear(model), None)
    raise CamError(f"{_NEEDS}; {name} has neither forward_features/forward_head (the zoo's interface) nor the "
                   "layout of an nn.Sequential ending in global pooling and one nn.Linear")


def _single_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear``; :func:`_checked_pool` then takes the one the head actually runs."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise CamError(f"{_NEEDS}; {type(model).__name__} has no nn.Linear layer (a 1x1-convolution classifier, as "
                       "in NiN or SqueezeNet, is not a CAM head: use Grad-CAM)")
    return linears[-1]


def _checked_pool(model: nn.Module, parts: CamParts, f: torch.Tensor) -> str:
    """Run the head on ``f`` and check that only ``parts.fc`` runs, on the global average (or maximum) of ``f``."""
    name = type(model).__name__
    calls: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []

    def hook(module, inputs, output):
        calls.append((module, inputs[0], output))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        scores = parts.head(f)
    finally:
        for h in handles:
            h.remove()
    if isinstance(scores, (tuple, list)):
        scores = scores[0]
    if len(calls) != 1:
        raise CamError(f"{_NEEDS}; the head of {name} runs {len(calls)} fully connected layers")
    fc, inp, out = calls[0]
    parts.fc = fc  # the layer that actually ran (a model may hold others, e.g. GoogLeNet's auxiliary heads)
    if not (isinstance(scores, torch.Tensor) and scores.shape == out.shape and torch.allclose(scores, out, atol=1e-5,
                                                                                                rtol=1e-4)):
        raise CamError(f"{_NEEDS}; the output of {name} is not the output of its fully connected layer "
                       "(something follows it)")
    wanted = [parts.pool] if parts.pool is not None else ["avg", "max"]
    for pool in wanted:
        pooled = f.mean(dim=(2, 3)) if pool == "avg" else f.amax(dim=(2, 3))
        if inp.numel() == pooled.numel() and torch.allclose(inp.reshape(pooled.shape), pooled, atol=1e-5, rtol=1e-4):
            return pool
    raise CamError(f"{_NEEDS}; the fully connected layer of {name} does not read the global average or maximum of "
                   "the feature maps")


def class_activation_map(model: nn.Module, images: torch.Tensor, class_index=None, *,
                         upsample: bool = True) -> torch.Tensor:
    """``M_c(x, y) = Σ_k w_k^c f_k(x, y)`` for each image (notes §3.5.2.1).

    Args:
        model: a GAP (or GMP) + single fully connected layer network (see :func:`cam_parts`).
        images: ``[N, C, H, W]`` (or one ``[C, H, W]`` image) as the model reads them.
        class_index: the class ``c`` to map: ``None`` (each image's predicted class), an int, or one
            id per image (a ``LongTensor`` ``[N]``).
        upsample: resize the maps bilinearly (``align_corners=False``) to the input's ``H × W``; ``False``
            returns them at the feature maps' ``h × w``, where ``M_c.mean() + b_c = S_c`` holds exactly for GAP.

    Returns:
        ``[N, H, W]`` (or ``[N, h, w]``) in the model's dtype, without gradient; the maps keep their sign.

    Raises:
        CamError: the model is not a GAP/GMP + single FC network (the message says what CAM needs).
        ConfigError: a class index outside ``[0, K)``.
    """
    if not isinstance(upsample, bool):
        raise TypeError(f"upsample must be True or False; got {upsample!r}")
    x = check_images(images)
    parts = cam_parts(model)
    with inspecting(model), torch.no_grad():
        f = parts.features(x)
        if not isinstance(f, torch.Tensor) or f.dim() != 4:
            got = list(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise CamError(f"{_NEEDS}; the trunk of {type(model).__name__} gives {got}, not maps [N, K, h, w]")
        parts.pool = _checked_pool(model, parts, f)
        w = parts.fc.weight  # (K, n_maps)
        if w.shape[1] != f.shape[1]:
            raise CamError(f"{_NEEDS}; the fully connected layer reads {w.shape[1]} features but the trunk gives "
                           f"{f.shape[1]} maps")
        pooled = f.mean(dim=(2, 3)) if parts.pool == "avg" else f.amax(dim=(2, 3))
        scores = parts.fc(pooled)
        c = resolve_classes(class_index, scores)
        cam = torch.einsum("nkhw,nk->nhw", f, w[c])  # M_c(x, y) = Σ_k w_k^c f_k(x, y)
        if upsample:
            cam = F.interpolate(cam.unsqueeze(1), size=tuple(x.shape[-2:]), mode="bilinear",
                                align_corners=False).squeeze(1)
    return cam
