"""Parameter-free functions: local linear filters (correlation) and classic kernels."""

from .correlation import (
    box_kernel,
    correlate2d,
    correlate2d_reference,
    filter2d,
    gaussian_kernel,
    sobel_kernels,
    sobel_magnitude,
)

__all__ = ["box_kernel", "correlate2d", "correlate2d_reference", "filter2d", "gaussian_kernel", "sobel_kernels", "sobel_magnitude"]
