"""Datasets, splits, images, augmentation and sequence utilities (DESIGN §3 ``data/``)."""

from .balance import balance_classes, inverse_frequency_weights
from .batch import Batch, BatchError, as_batch, check_dense_mask, check_image_targets, collate_images
from .core import (
    ArrayDataset,
    ClassificationInfo,
    DatasetInfo,
    DataSplits,
    DetectionInfo,
    SegmentationInfo,
    SequenceInfo,
    TextInfo,
    collate,
    subset,
)
from .images import check_image, read_image, save_image, to_float_image
from .registry import DATASETS, get_dataset, list_datasets, register_dataset
from .sequences import chronological_splits, sliding_windows
from .splits import holdout_split, kfold_indices, leave_one_out_indices

__all__ = [
    "ArrayDataset", "Batch", "BatchError", "ClassificationInfo", "DetectionInfo", "SegmentationInfo", "SequenceInfo",
    "TextInfo", "as_batch", "check_dense_mask", "check_image_targets", "collate_images", "DATASETS", "DataSplits", "DatasetInfo", "balance_classes", "check_image", "chronological_splits",
    "collate", "get_dataset", "holdout_split", "inverse_frequency_weights", "kfold_indices", "leave_one_out_indices",
    "list_datasets", "read_image", "register_dataset", "save_image", "sliding_windows", "subset", "to_float_image",
]
