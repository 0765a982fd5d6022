"""Datasets, splits and loaders (DESIGN §3 ``data/``)."""

from .core import ArrayDataset, DatasetInfo, DataSplits, collate, subset
from .registry import DATASETS, get_dataset, list_datasets, register_dataset
from .splits import holdout_split

__all__ = [
    "ArrayDataset",
    "DATASETS",
    "DataSplits",
    "DatasetInfo",
    "collate",
    "get_dataset",
    "holdout_split",
    "list_datasets",
    "register_dataset",
    "subset",
]
