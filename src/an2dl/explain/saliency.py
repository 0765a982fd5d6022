"""Saliency maps ``|∂S_c / ∂I|`` (notes §3.5.2.2, "Explanation").

Simonyan, Vedaldi & Zisserman (2014), "Deep Inside Convolutional Networks":
the class score ``S_c`` — the pre-softmax output, not the probability, whose
gradient also depends on the other classes — is linearised around the image,
``S_c(I) ≈ wᵀ I + b`` with ``w = ∂S_c/∂I |_I``, and the magnitude of ``w`` says
how much each pixel influences the score.  For a colour image the map keeps,
at each pixel, the largest magnitude over the channels:

    M(x, y) = max_ch |w(ch, x, y)|.
"""

from __future__ import annotations

import torch
from torch import nn

from ._hooks import check_images, class_scores, inspecting, resolve_classes

__all__ = ["saliency_map", "input_gradient"]


def input_gradient(model: nn.Module, images: torch.Tensor, class_index=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``∂S_c/∂I`` for each image and the explained classes.

    Args:
        model: a classifier returning scores ``[N, K]``.
        images: ``[N, C, H, W]`` (or one ``[C, H, W]``) as the model reads them.
        class_index: an int, one per image, or ``None`` for each image's predicted class.

    Returns:
        ``(gradient [N, C, H, W], classes [N])``.  The model is evaluated in eval mode and
        its mode and its parameters' ``requires_grad`` are restored; no parameter gets a ``.grad``.
    """
    x = check_images(images).detach().clone().requires_grad_(True)
    with inspecting(model), torch.enable_grad():
        scores = class_scores(model(x))
        classes = resolve_classes(class_index, scores.detach())
        picked = scores.gather(1, classes[:, None]).sum()  # images are independent in eval mode
        (grad,) = torch.autograd.grad(picked, x)
    return grad, classes


def saliency_map(model: nn.Module, images: torch.Tensor, class_index=None) -> torch.Tensor:
    """Simonyan et al.'s saliency: ``max`` over channels of ``|∂S_c/∂I|``.

    Args:
        model: a classifier returning pre-softmax scores ``[N, K]``.
        images: ``[N, C, H, W]`` (or one ``[C, H, W]``).
        class_index: the explained class (an int or one per image); ``None``: the predicted class.

    Returns:
        ``[N, H, W]``, non-negative, in the units of the score per unit of input.

    Raises:
        ConfigError: a class outside ``[0, K)``, or a model whose output is not ``[N, K]``.
    """
    grad, _ = input_gradient(model, images, class_index)
    return grad.abs().amax(dim=1)
