"""Geometric augmentation: flips, rotation, translation, scale and crops that move every target (notes §3.4.1).

Each geometric transform is an affine map of the image plane, a 3×3 matrix
``M`` per sample acting on continuous pixel coordinates (``x`` to the right,
``y`` down, the image covering ``[0, W] × [0, H]``)::

    (x', y', 1)ᵀ = M · (x, y, 1)ᵀ

* the **image** is resampled once for the whole batch: the output pixel at
  ``p'`` reads the input at ``M⁻¹ p'`` (``F.affine_grid`` + ``F.grid_sample``,
  bilinear by default; areas uncovered by the input get ``fill``);
* **masks** (``mask``, ``masks``) are resampled the same way with nearest
  neighbour sampling, so class ids stay class ids (uncovered: ``mask_fill``);
* **boxes** are clipped to the input image, their four corners mapped by
  ``M``, replaced by the axis-aligned box around the mapped corners (after a
  rotation this box is larger than the object — the usual, documented
  approximation), clipped to the output image and **dropped when empty**;
* **keypoints** are mapped by ``M``; a point that leaves the image gets
  visibility 0; a mirror reorders the points through ``flip_map``.

Matrices are built in float64 on the CPU from parameters drawn there (see
:mod:`~an2dl.data.transforms.base` on randomness), then moved to the device.
:class:`~an2dl.data.transforms.Compose` multiplies the matrices of
consecutive geometric transforms and resamples once.

Departures from torchvision: the random affine has no shear; a random
resized crop whose drawn size exceeds the image is shrunk to fit instead of
re-drawn up to ten times (keeps the batch vectorised); downscaling does not
antialias.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from .base import Transform, bernoulli, check_probability, uniform
from .targets import TargetBatch

__all__ = [
    "WarpPlan",
    "GeometricTransform",
    "warp_batch",
    "affine_matrix",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "HorizontalFlip",
    "RandomAffine",
    "RandomRotation",
    "RandomTranslation",
    "RandomScale",
    "Affine",
    "RandomCrop",
    "RandomResizedCrop",
    "Resize",
    "CenterCrop",
    "COCO_KEYPOINT_NAMES",
    "flip_map_from_names",
]

_INTERPOLATIONS = ("bilinear", "nearest")


@dataclass
class WarpPlan:
    """One geometric step for a batch.

    Attributes:
        matrix: ``[B, 3, 3]`` float64 (CPU), input pixel coordinates -> output pixel coordinates.
        out_size: ``(h, w)`` of the output.
        mirror: ``[B]`` bool, samples this step mirrors (``None``: none).
        flip_map: keypoint permutation applied to mirrored samples (``None``: identity).
        fill, mask_fill, interpolation: how the image and masks are resampled.
    """

    matrix: torch.Tensor
    out_size: tuple[int, int]
    mirror: torch.Tensor | None = None
    flip_map: torch.Tensor | None = None
    fill: float = 0.0
    mask_fill: int = 0
    interpolation: str = "bilinear"


def affine_matrix(
    angle: torch.Tensor,
    scale: torch.Tensor,
    translate: torch.Tensor,
    center: tuple[float, float],
) -> torch.Tensor:
    """``[B, 3, 3]`` matrices rotating by ``angle`` and scaling by ``scale`` about ``center``, then translating.

    ``M = T(center + translate) · R(angle) · S(scale) · T(−center)``.

    Args:
        angle: ``[B]`` radians, counter-clockwise as seen on screen (``y`` points down).
        scale: ``[B]`` zoom factors (> 1 enlarges).
        translate: ``[B, 2]`` shifts ``(dx, dy)`` in pixels.
        center: ``(cx, cy)`` in pixels (the image centre is ``(W / 2, H / 2)``).
    """
    b = angle.shape[0]
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    cx, cy = center
    m = torch.zeros(b, 3, 3, dtype=angle.dtype, device=angle.device)
    # counter-clockwise on screen with y down: (x, y) -> (x cos + y sin, −x sin + y cos)
    m[:, 0, 0], m[:, 0, 1] = cos, sin
    m[:, 1, 0], m[:, 1, 1] = -sin, cos
    m[:, 0, 2] = cx + translate[:, 0] - (cos * cx + sin * cy)
    m[:, 1, 2] = cy + translate[:, 1] - (-sin * cx + cos * cy)
    m[:, 2, 2] = 1.0
    return m


def _eye(b: int) -> torch.Tensor:
    return torch.eye(3, dtype=torch.float64).expand(b, 3, 3).clone()


def _theta(matrix: torch.Tensor, in_size: tuple[int, int], out_size: tuple[int, int]) -> torch.Tensor:
    """``F.affine_grid`` matrices ``[B, 2, 3]``: normalised output coords -> normalised input coords.

    With ``align_corners=False`` normalised coordinates are ``2x / W − 1``,
    matching the continuous pixel coordinates of the module docstring.
    """
    (H, W), (h, w) = in_size, out_size
    to_pixels_out = torch.tensor([[w / 2, 0, w / 2], [0, h / 2, h / 2], [0, 0, 1]], dtype=torch.float64)
    to_normal_in = torch.tensor([[2 / W, 0, -1], [0, 2 / H, -1], [0, 0, 1]], dtype=torch.float64)
    return (to_normal_in @ torch.linalg.inv(matrix) @ to_pixels_out)[:, :2]


def _resample(x: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int], mode: str, fill: float) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.device, x.dtype), [x.shape[0], x.shape[1], *out_size], align_corners=False)
    if fill != 0:
        return F.grid_sample(x - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _resample_labels(m: torch.Tensor, theta: torch.Tensor, out_size: tuple[int, int], fill: int) -> torch.Tensor:
    """Nearest-neighbour warp of integer/bool maps ``[N, H, W]`` (class ids survive exactly)."""
    if m.shape[0] == 0:
        return m.new_zeros(0, *out_size)
    dtype = m.dtype
    work = torch.float64 if m.device.type == "cpu" else torch.float32
    out = _resample(m.to(work).unsqueeze(1), theta, out_size, "nearest", float(fill))
    out = out.squeeze(1).round()
    return out.bool() if dtype == torch.bool else out.to(dtype)


def _map_points(points: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply per-row matrices ``[N, 3, 3]`` to points ``[N, P, 2]``."""
    lin, shift = matrix[:, :2, :2], matrix[:, :2, 2]
    return points @ lin.transpose(1, 2) + shift[:, None, :]


def _boxes(boxes: torch.Tensor, matrix: torch.Tensor, in_size: tuple[int, int], out_size: tuple[int, int]):
    (H, W), (h, w) = in_size, out_size
    b = boxes.clone()
    b[:, 0::2] = b[:, 0::2].clamp(0, W)
    b[:, 1::2] = b[:, 1::2].clamp(0, H)
    x1, y1, x2, y2 = b.unbind(1)
    corners = torch.stack([torch.stack([x1, y1], 1), torch.stack([x2, y1], 1), torch.stack([x1, y2], 1), torch.stack([x2, y2], 1)], 1)
    p = _map_points(corners, matrix)  # (N, 4, 2)
    out = torch.cat([p.amin(dim=1), p.amax(dim=1)], dim=1)
    out[:, 0::2] = out[:, 0::2].clamp(0, w)
    out[:, 1::2] = out[:, 1::2].clamp(0, h)
    keep = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out, keep


def _keypoints(kp: torch.Tensor, matrix: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    h, w = out_size
    xy = _map_points(kp[..., :2], matrix)
    inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h)
    vis = torch.where(inside, kp[..., 2], torch.zeros_like(kp[..., 2]))
    return torch.cat([xy, vis[..., None]], dim=-1)


def _same_resampling(a: WarpPlan, b: WarpPlan) -> bool:
    return a.fill == b.fill and a.mask_fill == b.mask_fill and a.interpolation == b.interpolation


def warp_batch(batch: TargetBatch, plans: Sequence[WarpPlan]) -> TargetBatch:
    """Apply consecutive geometric steps: one resampling per run of steps with equal fill/interpolation."""
    i = 0
    while i < len(plans):
        j = i + 1
        while j < len(plans) and _same_resampling(plans[i], plans[j]):
            j += 1
        batch = _warp_group(batch, plans[i:j])
        i = j
    return batch


def _warp_group(batch: TargetBatch, plans: Sequence[WarpPlan]) -> TargetBatch:
    in_size = batch.size
    matrix = plans[0].matrix
    for p in plans[1:]:
        matrix = p.matrix @ matrix  # later steps act on the output of earlier ones
    out_size = plans[-1].out_size
    head = plans[0]
    theta = _theta(matrix, in_size, out_size)
    out = batch.replace(image=_resample(batch.image, theta, out_size, head.interpolation, head.fill))
    if batch.mask is not None:
        out.mask = _resample_labels(batch.mask, theta, out_size, head.mask_fill)
    if not batch.instances:
        return out
    bidx = batch.batch_index
    assert bidx is not None
    inst = dict(batch.instances)
    m_inst = matrix.to(bidx.device)[bidx]  # (N, 3, 3), float64
    if "masks" in inst:
        inst["masks"] = _resample_labels(inst["masks"], theta[bidx.cpu()], out_size, 0)
    if "keypoints" in inst:
        kp = inst["keypoints"]
        kp = _keypoints(kp.double(), m_inst, out_size).to(kp.dtype)
        kp = _apply_flip_maps(kp, bidx, plans)
        inst["keypoints"] = kp
    out.instances = inst
    out.batch_index = bidx
    if "boxes" in inst:
        boxes = inst["boxes"]
        new, keep = _boxes(boxes.double(), m_inst, in_size, out_size)
        inst["boxes"] = new.to(boxes.dtype)
        out = out.keep_instances(keep)
    return out


def _apply_flip_maps(kp: torch.Tensor, bidx: torch.Tensor, plans: Sequence[WarpPlan]) -> torch.Tensor:
    """Reorder the keypoints of mirrored instances, step by step (a double mirror restores the order)."""
    n, k, _ = kp.shape
    perm = None
    for p in plans:
        if p.mirror is None or p.flip_map is None:
            continue
        if len(p.flip_map) != k:
            raise ValueError(f"keypoint flip map has length {len(p.flip_map)} but the keypoints have K={k} points")
        if perm is None:
            perm = torch.arange(k, device=kp.device).expand(n, k).clone()
        mirrored = p.mirror.to(kp.device)[bidx]
        flipped = perm[:, p.flip_map.to(kp.device)]
        perm = torch.where(mirrored[:, None], flipped, perm)
    if perm is None:
        return kp
    return kp.gather(1, perm[..., None].expand(n, k, 3))


def _check_flip_map(flip_map: Sequence[int] | None, owner: str) -> torch.Tensor | None:
    if flip_map is None:
        return None
    fm = list(flip_map)
    k = len(fm)
    if sorted(fm) != list(range(k)) or any(fm[fm[i]] != i for i in range(k)):
        raise ConfigError(
            f"{owner} flip_map must be a permutation of 0..K-1 that is its own inverse "
            f"(left <-> right pairs, symmetric points mapped to themselves); got {fm}"
        )
    return torch.tensor(fm, dtype=torch.long)


def _check_size(size: int | Sequence[int], owner: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in pair):
        raise ConfigError(f"{owner} size must be a positive integer or (h, w); got {size!r}")
    return int(pair[0]), int(pair[1])


class GeometricTransform(Transform):
    """A transform given by one affine matrix per sample (see the module docstring).

    Args:
        fill: image value of areas the input does not cover (0 = black).
        mask_fill: mask value there (e.g. 255 for an "ignore" class).
        interpolation: ``"bilinear"`` or ``"nearest"`` for the image.
    """

    def __init__(self, *, fill: float = 0.0, mask_fill: int = 0, interpolation: str = "bilinear") -> None:
        super().__init__()
        if interpolation not in _INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {_INTERPOLATIONS}; got {interpolation!r}")
        if not isinstance(fill, (int, float)) or not 0 <= fill <= 1:
            raise ConfigError(f"fill must be an image value in [0, 1]; got {fill!r}")
        if not isinstance(mask_fill, int) or isinstance(mask_fill, bool):
            raise ConfigError(f"mask_fill must be an integer class id; got {mask_fill!r}")
        self.fill, self.mask_fill, self.interpolation = float(fill), mask_fill, interpolation

    def _plan(self, matrix: torch.Tensor, out_size: tuple[int, int], mirror: torch.Tensor | None = None,
              flip_map: torch.Tensor | None = None) -> WarpPlan:
        return WarpPlan(matrix, out_size, mirror, flip_map, self.fill, self.mask_fill, self.interpolation)

    @abstractmethod
    def plan(self, batch_size: int, size: tuple[int, int], generator: torch.Generator | None,
             *, device: torch.device | str = "cpu") -> WarpPlan:
        """Draw this step's matrices for ``batch_size`` images of ``size = (H, W)``."""

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        return warp_batch(batch, [self.plan(batch.batch_size, batch.size, generator, device=batch.image.device)])


# ---------------------------------------------------------------------- flips
def _flip_matrix(flipped: torch.Tensor, extent: float, axis: int) -> torch.Tensor:
    """Mirror ``axis`` (0: x, 1: y) of the samples where ``flipped``: ``x -> extent − x``."""
    m = _eye(len(flipped))
    f = flipped.cpu()
    m[f, axis, axis] = -1.0
    m[f, axis, 2] = extent
    return m


class RandomHorizontalFlip(GeometricTransform):
    """Mirror left–right with probability ``p`` per sample: ``x -> W − x``.

    Args:
        p: flip probability.
        flip_map: keypoint permutation applied when a sample is flipped
            (``flip_map[k]`` = index of the point that becomes point ``k``,
            e.g. from :func:`flip_map_from_names`); ``None`` keeps the order.
        fill, mask_fill, interpolation: see :class:`GeometricTransform`.
    """

    #: the mirrored coordinate: 0 for x (left-right), 1 for y (top-bottom)
    axis = 0

    def __init__(self, *, p: float = 0.5, flip_map: Sequence[int] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.p = check_probability(p, type(self).__name__)
        self.flip_map = _check_flip_map(flip_map, type(self).__name__)

    def plan(self, batch_size, size, generator, *, device="cpu"):
        flipped = bernoulli(batch_size, self.p, generator)
        extent = float(size[1 - self.axis])  # W for x, H for y
        return self._plan(_flip_matrix(flipped, extent, self.axis), size, flipped, self.flip_map)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top–bottom with probability ``p`` per sample: ``y -> H − y``.

    A vertical flip is a mirror too (a horizontal flip followed by a half
    turn), so keypoints are reordered through ``flip_map`` as well.
    """

    axis = 1


class HorizontalFlip(GeometricTransform):
    """Always mirror left–right (deterministic; e.g. a test-time augmentation view)."""

    random = False

    def __init__(self, *, flip_map: Sequence[int] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.flip_map = _check_flip_map(flip_map, "HorizontalFlip")

    def plan(self, batch_size, size, generator, *, device="cpu"):
        flipped = torch.ones(batch_size, dtype=torch.bool)
        return self._plan(_flip_matrix(flipped, float(size[1]), 0), size, flipped, self.flip_map)


# ---------------------------------------------------------------------- affine
def _range(value: float | Sequence[float], owner: str, name: str, *, centre: float, low: float, high: float):
    """``v`` -> ``(centre − v, centre + v)``; a pair is taken as given; both checked against [low, high]."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"{owner} {name} must be >= 0; got {value!r}")
        lo, hi = centre - value, centre + value
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ConfigError(f"{owner} {name} must be a number or a (low, high) pair; got {value!r}")
    if not low <= lo <= hi <= high:
        raise ConfigError(f"{owner} {name} range must lie within [{low}, {high}] with low <= high; got ({lo}, {hi})")
    return lo, hi


class RandomAffine(GeometricTransform):
    """Random rotation, translation and scaling about the image centre, one matrix per sample.

    Args:
        degrees: rotation angle drawn uniformly from ``[-degrees, degrees]``
            (or a ``(low, high)`` pair), counter-clockwise on screen.
        translate: shift drawn uniformly from ``[-translate, translate]``
            times the width (x) and the height (y), in ``[0, 1)``.
        scale: zoom factor drawn uniformly from ``[1 - scale, 1 + scale]``
            (or a ``(low, high)`` pair of positive factors).
        p: probability that a sample is transformed at all.
        fill, mask_fill, interpolation: see :class:`GeometricTransform`.

    Shape:
        ``[B, C, H, W]`` or ``[C, H, W]`` in and out (same size); areas moved in from outside get ``fill``.
    """

    def __init__(
        self,
        *,
        degrees: float | Sequence[float] = 0.0,
        translate: float = 0.0,
        scale: float | Sequence[float] = 0.0,
        p: float = 1.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.degrees = _range(degrees, name, "degrees", centre=0.0, low=-360.0, high=360.0)
        if isinstance(translate, bool) or not isinstance(translate, (int, float)) or not 0 <= translate < 1:
            raise ConfigError(f"{name} translate must be a fraction of the image size in [0, 1); got {translate!r}")
        self.translate = float(translate)
        if isinstance(scale, (int, float)) and not isinstance(scale, bool) and not 0 <= scale < 1:
            raise ConfigError(f"{name} scale must be in [0, 1) (zoom in [1 - scale, 1 + scale]); got {scale!r}")
        self.scale = _range(scale, name, "scale", centre=1.0, low=1e-3, high=1e3)
        self.p = check_probability(p, name)

    def plan(self, batch_size, size, generator, *, device="cpu"):
        h, w = size
        angle = uniform(batch_size, *self.degrees, generator).double() * (math.pi / 180)
        tx = uniform(batch_size, -self.translate, self.translate, generator).double() * w
        ty = uniform(batch_size, -self.translate, self.translate, generator).double() * h
        scale = uniform(batch_size, *self.scale, generator).double()
        m = affine_matrix(angle, scale, torch.stack([tx, ty], 1), (w / 2, h / 2))
        if self.p < 1:
            skip = ~bernoulli(batch_size, self.p, generator)
            m[skip] = _eye(int(skip.sum()))
        return self._plan(m, size)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, p={self.p}"


class RandomRotation(RandomAffine):
    """Random rotation by an angle in ``[-degrees, degrees]`` about the centre (:class:`RandomAffine` preset)."""

    def __init__(self, *, degrees: float | Sequence[float], p: float = 1.0, **kwargs) -> None:
        super().__init__(degrees=degrees, p=p, **kwargs)


class RandomTranslation(RandomAffine):
    """Random shift by up to ``translate`` times the image size (:class:`RandomAffine` preset)."""

    def __init__(self, *, translate: float, p: float = 1.0, **kwargs) -> None:
        super().__init__(translate=translate, p=p, **kwargs)


class RandomScale(RandomAffine):
    """Random zoom by a factor in ``[1 - scale, 1 + scale]`` about the centre (:class:`RandomAffine` preset)."""

    def __init__(self, *, scale: float | Sequence[float], p: float = 1.0, **kwargs) -> None:
        super().__init__(scale=scale, p=p, **kwargs)


class Affine(GeometricTransform):
    """A fixed rotation / shift / zoom (deterministic; e.g. test-time augmentation views).

    Args:
        angle: degrees, counter-clockwise on screen, about the image centre.
        translate: ``(dx, dy)`` in pixels.
        scale: zoom factor (> 0).
    """

    random = False

    def __init__(self, *, angle: float = 0.0, translate: Sequence[float] = (0.0, 0.0), scale: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if len(translate) != 2:
            raise ConfigError(f"Affine translate must be (dx, dy) in pixels; got {translate!r}")
        if not scale > 0:
            raise ConfigError(f"Affine scale must be positive; got {scale!r}")
        self.angle, self.translate, self.scale = float(angle), (float(translate[0]), float(translate[1])), float(scale)

    def plan(self, batch_size, size, generator, *, device="cpu"):
        h, w = size
        b = batch_size
        m = affine_matrix(
            torch.full((b,), math.radians(self.angle), dtype=torch.float64),
            torch.full((b,), self.scale, dtype=torch.float64),
            torch.tensor([self.translate], dtype=torch.float64).expand(b, 2),
            (w / 2, h / 2),
        )
        return self._plan(m, size)

    def extra_repr(self) -> str:
        return f"angle={self.angle}, translate={self.translate}, scale={self.scale}"


# ---------------------------------------------------------------------- crops and resizing
def _crop_matrix(x0: torch.Tensor, y0: torch.Tensor, cw: torch.Tensor, ch: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Map the window ``[x0, x0 + cw] × [y0, y0 + ch]`` onto ``[0, w] × [0, h]``."""
    h, w = out_size
    m = _eye(len(x0))
    sx, sy = w / cw, h / ch
    m[:, 0, 0], m[:, 0, 2] = sx, -x0 * sx
    m[:, 1, 1], m[:, 1, 2] = sy, -y0 * sy
    return m


class RandomCrop(GeometricTransform):
    """Cut a random ``size`` window (after optional zero padding) from each image.

    Args:
        size: ``h`` or ``(h, w)`` of the output.
        padding: pixels added on every side before cropping (the window may then reach into the padding).
        fill, mask_fill, interpolation: see :class:`GeometricTransform`.
    """

    def __init__(self, *, size: int | Sequence[int], padding: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = _check_size(size, "RandomCrop")
        if not isinstance(padding, int) or padding < 0:
            raise ConfigError(f"RandomCrop padding must be an integer >= 0; got {padding!r}")
        self.padding = padding

    def plan(self, batch_size, size, generator, *, device="cpu"):
        H, W = size
        h, w = self.size
        p = self.padding
        if h > H + 2 * p or w > W + 2 * p:
            raise ValueError(f"RandomCrop size {self.size} exceeds the padded image {H + 2 * p}×{W + 2 * p}")
        # integer offsets: pixels stay on the grid (no interpolation)
        y0 = torch.randint(0, H + 2 * p - h + 1, (batch_size,), generator=generator).double() - p
        x0 = torch.randint(0, W + 2 * p - w + 1, (batch_size,), generator=generator).double() - p
        m = _crop_matrix(x0, y0, torch.full_like(x0, float(w)), torch.full_like(y0, float(h)), self.size)
        return self._plan(m, self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}, padding={self.padding}"


class RandomResizedCrop(GeometricTransform):
    """Crop a random window of random area and aspect ratio and resize it to ``size`` (Szegedy et al. 2015).

    Args:
        size: ``h`` or ``(h, w)`` of the output.
        scale: range of the window's area as a fraction of the image.
        ratio: range of the window's width / height (drawn log-uniformly).
        fill, mask_fill, interpolation: see :class:`GeometricTransform`.
    """

    def __init__(
        self,
        *,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.size = _check_size(size, "RandomResizedCrop")
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ConfigError(f"RandomResizedCrop scale must be (low, high) with 0 < low <= high <= 1; got {scale!r}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ConfigError(f"RandomResizedCrop ratio must be (low, high) with 0 < low <= high; got {ratio!r}")
        self.scale, self.ratio = (float(scale[0]), float(scale[1])), (float(ratio[0]), float(ratio[1]))

    def plan(self, batch_size, size, generator, *, device="cpu"):
        H, W = size
        area = uniform(batch_size, *self.scale, generator).double() * (H * W)
        log_r = uniform(batch_size, math.log(self.ratio[0]), math.log(self.ratio[1]), generator).double()
        r = torch.exp(log_r)
        cw = torch.sqrt(area * r).clamp(max=W)
        ch = torch.sqrt(area / r).clamp(max=H)
        x0 = uniform(batch_size, 0.0, 1.0, generator).double() * (W - cw)
        y0 = uniform(batch_size, 0.0, 1.0, generator).double() * (H - ch)
        return self._plan(_crop_matrix(x0, y0, cw, ch, self.size), self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, ratio={self.ratio}"


class Resize(GeometricTransform):
    """Resize every image (and its targets) to ``size`` (deterministic; no antialiasing)."""

    random = False

    def __init__(self, *, size: int | Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = _check_size(size, "Resize")

    def plan(self, batch_size, size, generator, *, device="cpu"):
        H, W = size
        zeros = torch.zeros(batch_size, dtype=torch.float64)
        return self._plan(_crop_matrix(zeros, zeros, zeros + W, zeros + H, self.size), self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class CenterCrop(GeometricTransform):
    """Cut the central ``size`` window (deterministic; larger than the image pads with ``fill``)."""

    random = False

    def __init__(self, *, size: int | Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = _check_size(size, "CenterCrop")

    def plan(self, batch_size, size, generator, *, device="cpu"):
        H, W = size
        h, w = self.size
        x0 = torch.full((batch_size,), float((W - w) // 2), dtype=torch.float64)
        y0 = torch.full((batch_size,), float((H - h) // 2), dtype=torch.float64)
        return self._plan(_crop_matrix(x0, y0, torch.full_like(x0, float(w)), torch.full_like(y0, float(h)), self.size), self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


# ---------------------------------------------------------------------- keypoint flip maps
#: the 17 COCO person keypoints, in COCO's order
COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def _partner(name: str) -> str | None:
    """``"left_eye" -> "right_eye"`` (also with a space or a hyphen); ``None`` for unpaired names."""
    for side, other in (("left", "right"), ("right", "left")):
        for sep in ("_", " ", "-"):
            if name.startswith(side + sep):
                return other + sep + name[len(side) + 1 :]
    return None


def flip_map_from_names(names: Sequence[str]) -> list[int]:
    """The mirror permutation of named keypoints: ``left_*`` <-> ``right_*``, others fixed.

    Example: ``flip_map_from_names(COCO_KEYPOINT_NAMES)[1] == 2`` (left eye <-> right eye).

    Raises:
        ConfigError: a ``left_``/``right_`` name without its partner, or duplicate names.
    """
    index = {n: i for i, n in enumerate(names)}
    if len(index) != len(names):
        raise ConfigError(f"keypoint names must be unique; got {list(names)}")
    out = []
    for n in names:
        partner = _partner(n)
        if partner is None:
            out.append(index[n])
        elif partner in index:
            out.append(index[partner])
        else:
            raise ConfigError(f"keypoint {n!r} has no partner {partner!r}")
    return out
