"""Parameter-free functions: local linear and non-linear filters, convolution as a matrix, k-means,
boxes, NMS and RoI pooling."""

from .box_coder import BBOX_XFORM_CLIP, BoxCoder
from .boxes import (
    BOX_FORMATS,
    box_area,
    box_convert,
    box_iou,
    check_boxes,
    clip_boxes_to_image,
    generalized_box_iou,
    remove_small_boxes,
)
from .cluster import KMeans, KMeansResult, cluster_purity, kmeans, kmeans_plusplus
from .conv_matrix import (
    ConvDenseParameters,
    MatrixSharing,
    conv2d_as_matrix,
    conv_vs_dense_parameters,
    matrix_sharing,
    translation_equivariance_error,
)
from .correlation import (
    box_kernel,
    correlate2d,
    correlate2d_reference,
    filter2d,
    gaussian_kernel,
    sobel_kernels,
    sobel_magnitude,
)
from .filters import max_filter, median_filter, min_filter, salt_and_pepper
from .multiscale_roi import LevelMapper, MultiScaleRoIAlign, assign_levels
from .nms import batched_nms, nms
from .roi import roi_align, roi_pool

__all__ = [
    "box_kernel",
    "correlate2d",
    "correlate2d_reference",
    "filter2d",
    "gaussian_kernel",
    "sobel_kernels",
    "sobel_magnitude",
    "median_filter",
    "min_filter",
    "max_filter",
    "salt_and_pepper",
    "conv2d_as_matrix",
    "conv_vs_dense_parameters",
    "matrix_sharing",
    "translation_equivariance_error",
    "ConvDenseParameters",
    "MatrixSharing",
    "kmeans",
    "kmeans_plusplus",
    "KMeans",
    "KMeansResult",
    "cluster_purity",
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "clip_boxes_to_image",
    "remove_small_boxes",
    "check_boxes",
    "BoxCoder",
    "BBOX_XFORM_CLIP",
    "nms",
    "batched_nms",
    "roi_pool",
    "roi_align",
    "assign_levels",
    "LevelMapper",
    "MultiScaleRoIAlign",
]
