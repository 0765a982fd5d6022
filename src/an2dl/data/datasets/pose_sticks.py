"""Synthetic articulated stick figures for human pose estimation (notes §3.5.3).

A seeded, embedded data set (no download) on which the pose recipe and its
tests train in seconds.  Every image (RGB, ``size × size``) shows one stick
figure with the 14 joints of the Leeds Sports Pose data set (LSP, Johnson &
Everingham 2010), in LSP's order::

    0 right_ankle   1 right_knee    2 right_hip     3 left_hip      4 left_knee
    5 left_ankle    6 right_wrist   7 right_elbow   8 right_shoulder 9 left_shoulder
    10 left_elbow   11 left_wrist   12 neck         13 head_top

**The kinematic tree.**  The pelvis is the root; the torso leans by up to
±15°, the head tilts by up to ±25°; shoulders and hips sit on the line across
the torso; each arm is an upper arm (−25° … 170° from hanging down, outwards)
and a forearm (elbow bend −140° … 140°), each leg a thigh (−20° … 80°) and a
shin (knee bend −120° … 15°).  Limb lengths vary by ±10 % around human
proportions.  The figure faces the viewer: its right side is on the image's
left, so a horizontal mirror turns a figure into another valid one once the
left and right joints swap names (:data:`POSE_STICKS_FLIP_MAP`).

**Drawing.**  The background is a smooth random colour field (random plane
waves) with pixel noise; limbs are thick anti-aliased lines of one random
colour, the head a disc; the figure's scale (its box spans 45–95 % of the
image) and position are random, the box always inside the image.

**Occlusion.**  Up to ``max_occluders`` textured rectangles are drawn over
the figure; a joint under one is **invisible** (visibility 0), as a joint
hidden by an object in a photograph (the notes: "not all joints may be
visible ... due to occlusion").  Its true coordinates are kept in the data
(the task replaces them by its fixed default value).

**Samples.**  ``(image [3, S, S] float32 in [0, 1], keypoints [K, 3] float32
(x, y, visibility) in pixels, box [4] float32 (x1, y1, x2, y2))``: keypoints
follow the package's ``(x, y, visibility)`` convention (DESIGN §4), pixel
``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)``; the **person box** is the
square around the joints' bounding box, enlarged by ``margin`` (20 %) on every
side.  Sample ``i`` of part ``p`` is a pure function of ``(seed, p, i)``
(its own generator), so a longer training part extends a shorter one and every
machine draws the same images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError
from ...ops.boxes import check_boxes
from ..core import ArrayDataset, DatasetInfo, DataSplits
from ..preprocess import Preprocess
from ..registry import register_dataset

__all__ = [
    "LSP_JOINT_NAMES",
    "POSE_SKELETON",
    "POSE_STICKS_FLIP_MAP",
    "PoseInfo",
    "PoseDataset",
    "draw_pose_sticks",
    "pose_sticks",
    "person_boxes",
    "draw_skeleton",
]

#: the 14 joints of the Leeds Sports Pose data set, in its order
LSP_JOINT_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)

#: the limbs (pairs of joint indices) drawn as sticks and in skeleton overlays
POSE_SKELETON = (
    (0, 1), (1, 2), (5, 4), (4, 3),  # legs
    (6, 7), (7, 8), (11, 10), (10, 9),  # arms
    (8, 9), (2, 3), (12, 13),  # shoulders, hips, head
    (8, 2), (9, 3),  # torso sides
)

#: the joint that becomes joint ``k`` when the image is mirrored (left <-> right)
POSE_STICKS_FLIP_MAP = (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13)

_K = len(LSP_JOINT_NAMES)


@dataclass
class PoseInfo(DatasetInfo):
    """Images of one person with K named joints.

    Attributes:
        keypoint_names: the K joint names, in keypoint order.
        skeleton: the limbs as pairs of joint indices (for drawing).
        flip_map: ``flip_map[k]`` is the joint that becomes joint ``k`` in a mirrored image.
        torso: the two joints whose distance is the torso diameter of PCK (left shoulder, right hip).
    """

    keypoint_names: list[str] = field(default_factory=list)
    skeleton: list[tuple[int, int]] = field(default_factory=list)
    flip_map: list[int] = field(default_factory=list)
    torso: tuple[int, int] = (9, 2)
    kind: ClassVar[str] = "pose"

    @property
    def num_joints(self) -> int:
        return len(self.keypoint_names)


class PoseDataset(ArrayDataset):
    """One person per image: ``(image, keypoints [K, 3], box [4])``, validated at construction.

    Args:
        images: ``[N, C, H, W]`` float in [0, 1].
        keypoints: ``[N, K, 2]`` joint positions in pixels ``(x, y)``.
        visibility: ``[N, K]`` (1 visible, 0 invisible).
        boxes: ``[N, 4]`` person boxes ``(x1, y1, x2, y2)`` inside the images, with positive width and height.
        num_joints: the expected K (``None``: read from ``keypoints``).

    Raises:
        ConfigError: a keypoint array of another length than ``num_joints``, a visibility of another
            shape than the keypoints', a box outside the image or an empty box; each names the argument,
            the expectation and what was received.
    """

    def __init__(self, images: torch.Tensor, keypoints: torch.Tensor, visibility: torch.Tensor, boxes: torch.Tensor,
                 *, num_joints: int | None = None) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            got = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ConfigError(f"PoseDataset images must be a tensor [N, C, H, W]; got {got}")
        n, _, h, w = images.shape
        keypoints = torch.as_tensor(keypoints, dtype=torch.float32)
        k = num_joints if num_joints is not None else (keypoints.shape[1] if keypoints.dim() == 3 else -1)
        if keypoints.dim() != 3 or keypoints.shape[0] != n or keypoints.shape[1] != k or keypoints.shape[2] != 2:
            raise ConfigError(f"PoseDataset keypoints must be [N, K, 2] = [{n}, {k}, 2] (x, y of {k} joints per "
                              f"image); got {list(keypoints.shape)}")
        visibility = torch.as_tensor(visibility, dtype=torch.float32)
        if tuple(visibility.shape) != (n, k):
            raise ConfigError(f"PoseDataset visibility must be [N, K] = [{n}, {k}] (one flag per joint); "
                              f"got {list(visibility.shape)}")
        boxes = torch.as_tensor(boxes, dtype=torch.float32)
        try:
            check_boxes(boxes, (h, w), name="PoseDataset boxes")
        except (TypeError, ValueError) as e:
            raise ConfigError(str(e)) from None
        if bool(((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any()):
            i = int(((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).nonzero()[0, 0])
            raise ConfigError(f"PoseDataset boxes must have a positive width and height; row {i} is {boxes[i].tolist()}")
        super().__init__(images, torch.cat([keypoints, visibility[..., None]], dim=-1), boxes)


def person_boxes(keypoints: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """The square person box around each figure's joints, enlarged by ``margin`` of its side on every side.

    Args:
        keypoints: ``[N, K, 2]`` (or ``[N, K, 3]``; the visibility is ignored) in pixels.
        margin: fraction of the joints' larger extent added on each side.

    Returns:
        ``[N, 4]`` boxes ``(x1, y1, x2, y2)``.
    """
    xy = keypoints[..., :2]
    lo, hi = xy.amin(dim=1), xy.amax(dim=1)
    centre = (lo + hi) / 2
    half = (hi - lo).amax(dim=1, keepdim=True) * (0.5 + margin)
    return torch.cat([centre - half, centre + half], dim=1)


# ------------------------------------------------------------------------------------------------ pose sampling
def _deg(g: torch.Generator, lo: float, hi: float) -> float:
    return math.radians(lo + (hi - lo) * float(torch.rand((), generator=g)))


def _unit_pose(g: torch.Generator) -> torch.Tensor:
    """Joint positions ``[K, 2]`` of one random figure in torso-length units (pelvis at the origin, y down)."""
    jitter = 1 + 0.2 * (torch.rand(8, generator=g) - 0.5)  # ±10 % on each proportion
    torso, head, shoulder, hip, upper_arm, forearm, thigh, shin = (
        float(v) * base for v, base in zip(jitter, (1.0, 0.45, 0.38, 0.24, 0.55, 0.5, 0.72, 0.66)))
    lean = _deg(g, -15, 15)
    up = torch.tensor([math.sin(lean), -math.cos(lean)])
    left = torch.tensor([math.cos(lean), math.sin(lean)])  # the person's left: the image's right

    def turn(v: torch.Tensor, angle: float, side: float) -> torch.Tensor:
        """``v`` turned by ``angle`` towards the figure's ``side`` (+1 left, −1 right), mirror-symmetric."""
        a = angle * side
        c, s = math.cos(a), math.sin(a)
        return torch.stack([c * v[0] - s * v[1], s * v[0] + c * v[1]])

    pelvis = torch.zeros(2)
    neck = pelvis + torso * up
    out = torch.zeros(_K, 2)
    out[12] = neck
    out[13] = neck + head * turn(up, _deg(g, -25, 25), 1.0)
    down = -up
    for side, (sh, el, wr, hp, kn, an) in ((1.0, (9, 10, 11, 3, 4, 5)), (-1.0, (8, 7, 6, 2, 1, 0))):
        out[sh] = neck + side * shoulder * left
        out[hp] = pelvis + side * hip * left
        # `turn(down, a, -side)` swings a hanging limb outwards by a > 0 (towards the figure's own side)
        arm = turn(down, _deg(g, -25, 170), -side)
        out[el] = out[sh] + upper_arm * arm
        out[wr] = out[el] + forearm * turn(arm, _deg(g, -140, 140), 1.0)
        leg = turn(down, _deg(g, -20, 80), -side)
        out[kn] = out[hp] + thigh * leg
        out[an] = out[kn] + shin * turn(leg, _deg(g, -120, 15), side)
    return out


def _draw_parameters(g: torch.Generator, size: int, margin: float, max_occluders: int) -> dict[str, Any]:
    """Every random choice of one image, from its own generator."""
    pose = _unit_pose(g)
    lo, hi = pose.amin(0), pose.amax(0)
    extent = float((hi - lo).max()) * (1 + 2 * margin)  # box side in torso units
    side = size * (0.45 + 0.5 * float(torch.rand((), generator=g)))  # box side in pixels
    scale = side / extent
    centre_free = size - side  # room left for the box's position
    box_x1, box_y1 = (centre_free * torch.rand(2, generator=g)).tolist()
    xy = (pose - (lo + hi) / 2) * scale + torch.tensor([box_x1 + side / 2, box_y1 + side / 2])
    n_occ = int(torch.randint(0, max_occluders + 1, (), generator=g)) if max_occluders > 0 else 0
    occluders = []
    for _ in range(n_occ):
        w, h = (side * (0.15 + 0.25 * torch.rand(2, generator=g))).tolist()
        cx, cy = (torch.tensor([box_x1, box_y1]) + side * torch.rand(2, generator=g)).tolist()
        occluders.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, torch.rand(3, generator=g) * 0.8 + 0.1))
    return {
        "keypoints": xy,
        "thickness": scale * (0.09 + 0.05 * float(torch.rand((), generator=g))),
        "head_radius": scale * 0.17,
        "colour": torch.rand(3, generator=g) * 0.5 + 0.5,
        "background": (torch.rand(3, generator=g) * 0.4 + 0.05, torch.rand(3, 3, generator=g) * 12 - 6,
                       torch.rand(3, generator=g) * 2 * math.pi),
        "occluders": occluders,
        "noise_seed": int(torch.randint(0, 2**31 - 1, (), generator=g)),
    }


def _segment_distance(px: torch.Tensor, py: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance of every pixel centre ``(px, py)`` ``[H, W]`` to the segments ``a``–``b`` ``[L, 2]`` -> ``[L, H, W]``."""
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = (b - a)[:, 0, None, None], (b - a)[:, 1, None, None]
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).clamp_min(1e-9)
    t = t.clamp(0, 1)
    return torch.hypot(px - ax - t * dx, py - ay - t * dy)


def draw_skeleton(image: torch.Tensor, keypoints: torch.Tensor, skeleton: Sequence[tuple[int, int]], *,
                  colour: Sequence[float] = (1.0, 0.9, 0.0), width: float = 1.5,
                  visible: torch.Tensor | None = None) -> torch.Tensor:
    """``image`` with the limbs ``skeleton`` drawn as anti-aliased lines between the ``keypoints``.

    Args:
        image: ``[C, H, W]`` in [0, 1] (a grey image is drawn in colour: ``[3, H, W]`` out).
        keypoints: ``[K, 2]`` (or ``[K, 3]``) pixel positions.
        skeleton: pairs of joint indices.
        colour: RGB of the lines.
        width: line width in pixels.
        visible: ``[K]``; a limb is drawn only when both of its joints are visible (``None``: all).

    Returns:
        ``[3, H, W]`` in [0, 1].
    """
    if image.dim() != 3:
        raise ConfigError(f"draw_skeleton image must be [C, H, W]; got {list(image.shape)}")
    rgb = image.expand(3, -1, -1).clone() if image.shape[0] == 1 else image[:3].clone()
    limbs = [(a, b) for a, b in skeleton if visible is None or (visible[a] > 0 and visible[b] > 0)]
    if not limbs:
        return rgb
    h, w = rgb.shape[-2:]
    py = (torch.arange(h, dtype=torch.float32) + 0.5)[:, None].expand(h, w)
    px = (torch.arange(w, dtype=torch.float32) + 0.5)[None, :].expand(h, w)
    kp = keypoints[:, :2].float().cpu()
    idx = torch.tensor(limbs)
    dist = _segment_distance(px, py, kp[idx[:, 0]], kp[idx[:, 1]]).amin(dim=0)
    cover = (width / 2 - dist + 0.5).clamp(0, 1)
    return rgb * (1 - cover) + torch.tensor(colour, dtype=rgb.dtype)[:, None, None] * cover


def _render(p: dict[str, Any], size: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The image ``[3, S, S]`` and the joints' visibility ``[K]`` of one parameter set."""
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    py, px = coords[:, None].expand(size, size), coords[None, :].expand(size, size)
    base, freq, phase = p["background"]
    u = px / size
    v = py / size
    field_ = torch.stack([torch.sin(freq[c, 0] * u + freq[c, 1] * v + phase[c]) for c in range(3)])
    image = base[:, None, None] + 0.2 * field_ + 0.15 * torch.sin(freq[:, 2, None, None] * (u + v) * 3)
    kp = p["keypoints"]
    limbs = torch.tensor(POSE_SKELETON)
    dist = _segment_distance(px, py, kp[limbs[:, 0]], kp[limbs[:, 1]]).amin(dim=0)
    head_centre = (kp[12] + kp[13]) / 2 + 0.15 * (kp[13] - kp[12])
    head = torch.hypot(px - head_centre[0], py - head_centre[1]) - p["head_radius"]
    # coverage of each pixel by the figure, anti-aliased over one pixel
    cover = (torch.maximum(p["thickness"] / 2 - dist, -head) + 0.5).clamp(0, 1)
    image = image * (1 - cover) + p["colour"][:, None, None] * cover
    visible = torch.ones(_K)
    g = torch.Generator().manual_seed(p["noise_seed"])
    for x1, y1, x2, y2, colour in p["occluders"]:
        inside = (px >= x1) & (px < x2) & (py >= y1) & (py < y2)
        texture = colour[:, None, None] + 0.12 * torch.randn(3, size, size, generator=g)
        image = torch.where(inside, texture, image)
        hidden = (kp[:, 0] >= x1) & (kp[:, 0] < x2) & (kp[:, 1] >= y1) & (kp[:, 1] < y2)
        visible[hidden] = 0
    image = image + noise * torch.randn(3, size, size, generator=g)
    return image.clamp(0, 1), visible


def draw_pose_sticks(indices: Sequence[int], *, seed: int = 0, part: str = "train", size: int = 64,
                     max_occluders: int = 2, noise: float = 0.05, margin: float = 0.2
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw the figures ``indices`` of part ``part`` (see the module docstring).

    Each image depends only on ``(seed, part, index)``.

    Returns:
        images ``[N, 3, S, S]`` float32 in [0, 1], keypoints ``[N, K, 2]`` in pixels,
        visibility ``[N, K]`` float32 (1 visible, 0 hidden by an occluder) and boxes ``[N, 4]`` xyxy.
    """
    images, kps, vis = [], [], []
    for i in indices:
        g = seeded_generator(seed, "pose-sticks", part, int(i))
        p = _draw_parameters(g, size, margin, max_occluders)
        image, visible = _render(p, size, noise)
        images.append(image)
        kps.append(p["keypoints"])
        vis.append(visible)
    if not images:
        return (torch.zeros(0, 3, size, size), torch.zeros(0, _K, 2), torch.zeros(0, _K), torch.zeros(0, 4))
    keypoints = torch.stack(kps).float()
    boxes = person_boxes(keypoints, margin).clamp(0, size)
    return torch.stack(images).float(), keypoints, torch.stack(vis), boxes


def pose_info(name: str, size: int, extra: dict[str, Any], mean: tuple[float, ...], std: tuple[float, ...]) -> PoseInfo:
    pipeline = Preprocess([{"op": "to_channels", "channels": 3}], raw_input={"channels": 3, "size": [size, size]})
    return PoseInfo(name=name, input_shape=(3, size, size), mean=mean, std=std, extra=extra,
                    preprocess=pipeline.to_dict(), keypoint_names=list(LSP_JOINT_NAMES),
                    skeleton=[tuple(limb) for limb in POSE_SKELETON], flip_map=list(POSE_STICKS_FLIP_MAP), torso=(9, 2))


@register_dataset("pose-sticks")
def pose_sticks(*, n_train: int = 2048, n_val: int = 256, n_test: int = 256, size: int = 64, max_occluders: int = 2,
                noise: float = 0.05, margin: float = 0.2, seed: int = 0) -> DataSplits:
    """Seeded synthetic stick figures with 14 LSP joints, occlusions and textured backgrounds.

    Args:
        n_train, n_val, n_test: images per part (``n_val = 0`` / ``n_test = 0``: no such part).
        size: image side S in pixels (at least 32).
        max_occluders: at most this many occluding rectangles per image (0: every joint visible).
        noise: standard deviation of the Gaussian pixel noise.
        margin: the person box's margin around the joints, as a fraction of their extent.
        seed: seed of every draw.

    Returns:
        :class:`~an2dl.data.DataSplits` of :class:`PoseDataset` s and a :class:`PoseInfo`.
    """
    for key, v, lo in (("n_train", n_train, 1), ("n_val", n_val, 0), ("n_test", n_test, 0), ("size", size, 32),
                       ("max_occluders", max_occluders, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"pose-sticks {key} must be an integer >= {lo}; got {v!r}")
    if not 0 <= margin <= 1:
        raise ConfigError(f"pose-sticks margin must lie in [0, 1]; got {margin!r}")
    parts = {}
    for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if n:
            x, kp, vis, boxes = draw_pose_sticks(range(n), seed=seed, part=part, size=size,
                                                 max_occluders=max_occluders, noise=noise, margin=margin)
            parts[part] = PoseDataset(x, kp, vis, boxes, num_joints=_K)
    train_x = parts["train"].tensors[0]
    mean = tuple(float(m) for m in train_x.mean(dim=(0, 2, 3)))
    std = tuple(float(s) for s in train_x.std(dim=(0, 2, 3)))
    info = pose_info("pose-sticks", size, {"source": "an2dl synthetic stick figures (seeded)", "seed": seed,
                                           "max_occluders": max_occluders}, mean, std)
    return DataSplits(parts["train"], parts.get("val"), parts.get("test"), info)
