"""Weakly supervised localisation: a box from a class activation map (notes §3.5.2.1).

A classifier trained with image-level class labels only — no box ever seen —
still localises: its class activation map ``M_c`` (:mod:`.cam`) is high where
the evidence for the class lies.  The notes: "For Weakly Supervised
localization we can use thresholding Class Activation Mapping values".  The
procedure of Zhou et al. (2016, §3.1):

1. threshold the map at a fraction of its maximum — 20 % in the paper,
   :data:`DEFAULT_THRESHOLD`: keep the positions with ``M_c(x, y) >= t · max M_c``;
2. take the largest connected component of the kept positions (4-connected,
   :func:`scipy.ndimage.label`);
3. the box is the tight box of that component.

A map with no positive value (``max M_c <= 0``) holds no evidence for the
class; its box is then the whole image (documented fallback, so that every
image gets a box and the evaluation counts it).

Boxes are ``(x1, y1, x2, y2)`` in pixels of the map (pixel ``(r, c)`` spans
``[c, c + 1] × [r, r + 1]``), the format of DESIGN §4; with
``class_activation_map(..., upsample=True)`` those are the input's pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .cam import class_activation_map

__all__ = ["DEFAULT_THRESHOLD", "cam_box", "cam_boxes", "largest_component", "weak_localize"]

#: the fraction of the map's maximum kept by the threshold (Zhou et al. 2016: 20 %)
DEFAULT_THRESHOLD = 0.2


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) < 1.0:
        raise ConfigError(f"threshold must be a fraction of the map's maximum in [0, 1); got {threshold!r}")
    return float(threshold)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a boolean ``[H, W]`` mask (all False if the mask is empty).

    Ties between components of the same size go to the one labelled first (in raster order).
    """
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]  # size of each component 1..count
    return labels == (int(np.argmax(sizes)) + 1)


def cam_box(cam: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """The box of the largest connected region where ``cam >= threshold · max(cam)``.

    Args:
        cam: one map ``[H, W]``.
        threshold: the fraction of the maximum, in [0, 1).

    Returns:
        ``[4]`` float32 ``(x1, y1, x2, y2)`` in pixels of the map; the whole map when ``max(cam) <= 0``.
    """
    t = _check_threshold(threshold)
    if not isinstance(cam, torch.Tensor) or cam.dim() != 2:
        got = list(cam.shape) if isinstance(cam, torch.Tensor) else type(cam).__name__
        raise ConfigError(f"cam_box needs one map [H, W]; got {got}")
    h, w = cam.shape
    m = cam.detach().double().cpu().numpy()
    peak = float(m.max())
    if not np.isfinite(peak) or peak <= 0:
        return torch.tensor([0.0, 0.0, float(w), float(h)])
    region = largest_component(m >= t * peak)
    rows, cols = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
    return torch.tensor([float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)])


def cam_boxes(cams: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """:func:`cam_box` of every map of a batch.

    Shape:
        ``[N, H, W] -> [N, 4]`` float32 ``(x1, y1, x2, y2)``.
    """
    if not isinstance(cams, torch.Tensor) or cams.dim() != 3:
        got = list(cams.shape) if isinstance(cams, torch.Tensor) else type(cams).__name__
        raise ConfigError(f"cam_boxes needs maps [N, H, W]; got {got}")
    _check_threshold(threshold)
    if len(cams) == 0:
        return torch.zeros(0, 4)
    return torch.stack([cam_box(c, threshold) for c in cams])


def weak_localize(model: nn.Module, images: torch.Tensor, class_index=None, *,
                  threshold: float = DEFAULT_THRESHOLD) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes of a classifier trained with class labels only: threshold its CAM, box the largest region.

    Args:
        model: a GAP (or GMP) + single FC classifier (:func:`~an2dl.explain.cam.class_activation_map`).
        images: ``[N, C, H, W]``.
        class_index: the class to localise (``None``: the predicted class of each image).
        threshold: the fraction of each map's maximum kept (default 0.2, Zhou et al. 2016).

    Returns:
        ``(boxes [N, 4] (x1, y1, x2, y2) in input pixels, classes [N])``: the classes the maps are of.
    """
    from ._hooks import check_images

    x = check_images(images)
    if class_index is None:
        from .cam import cam_parts  # the predicted class, as class_activation_map chooses it

        with torch.no_grad():
            was = model.training
            model.eval()
            try:
                parts = cam_parts(model)
                scores = parts.head(parts.features(x))
            finally:
                model.train(was)
        scores = scores[0] if isinstance(scores, (tuple, list)) else scores
        classes = scores.argmax(dim=1)
    else:
        classes = torch.as_tensor(class_index).reshape(-1).long().expand(len(x)) \
            if torch.as_tensor(class_index).numel() == 1 else torch.as_tensor(class_index).long()
    cams = class_activation_map(model, x, classes, upsample=True)
    return cam_boxes(cams.float().cpu(), threshold), classes.cpu()
