"""Data augmentation that moves every target with the image (notes §3.4.1).

Call any transform as ``transform(image, target=None, *, generator=None)``:
one image ``[C, H, W]`` (the per-sample path, e.g. inside
:class:`AugmentedDataset`) or a batch ``[B, C, H, W]`` on its device (the
batched path, e.g. a task's ``augment`` or the first layer of a model).
Targets — class labels, semantic and instance masks, boxes
``(x1, y1, x2, y2)``, keypoints ``(x, y, visibility)`` with a left/right flip
map — are described in :mod:`an2dl.data.transforms.targets`.  Random
transforms are the identity in ``eval()`` mode; their draws are pure
functions of ``(seed, epoch, step)`` (batched) or ``(seed, epoch, index)``
(per sample).
"""

from .base import ClassSpecific, RandomApply, Transform
from .compose import Compose
from .dataset import AugmentedDataset
from .elastic import RandomElastic
from .geometric import (
    COCO_KEYPOINT_NAMES,
    Affine,
    CenterCrop,
    HorizontalFlip,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomScale,
    RandomTranslation,
    RandomVerticalFlip,
    Resize,
    affine_matrix,
    flip_map_from_names,
)
from .mixing import CutMix, Mixup
from .photometric import (
    ColorJitter,
    GaussianNoise,
    RandomBrightness,
    RandomContrast,
    RandomHue,
    RandomSaturation,
)
from .targets import TargetBatch, collate_samples

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "Affine",
    "AugmentedDataset",
    "CenterCrop",
    "ClassSpecific",
    "ColorJitter",
    "Compose",
    "CutMix",
    "GaussianNoise",
    "HorizontalFlip",
    "Mixup",
    "RandomAffine",
    "RandomApply",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomElastic",
    "RandomHorizontalFlip",
    "RandomHue",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomSaturation",
    "RandomScale",
    "RandomTranslation",
    "RandomVerticalFlip",
    "Resize",
    "TargetBatch",
    "Transform",
    "affine_matrix",
    "collate_samples",
    "flip_map_from_names",
]
