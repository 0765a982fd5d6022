"""Batched, on-device geometric augmentation (kept for imports from earlier versions).

:class:`RandomAffine` now lives in :mod:`an2dl.data.transforms.geometric`,
with the other geometric transforms; every transform of
:mod:`an2dl.data.transforms` runs batched on the device (one affine matrix
per sample through ``F.affine_grid``/``F.grid_sample``) as well as per sample.
"""

from __future__ import annotations

from .geometric import RandomAffine, affine_matrix

__all__ = ["RandomAffine", "affine_matrix"]
