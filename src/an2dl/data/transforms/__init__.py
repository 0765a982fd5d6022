"""Data augmentation (notes §3.4.1)."""

from .batch import RandomAffine, affine_matrices

__all__ = ["RandomAffine", "affine_matrices"]
