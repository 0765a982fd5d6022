"""The dataset registry: ``get_dataset(name, **kwargs) -> DataSplits`` (DESIGN §8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..registry import Registry
from .core import DataSplits

__all__ = ["DATASETS", "register_dataset", "get_dataset", "list_datasets"]

DATASETS: Registry[Callable[..., DataSplits]] = Registry("dataset", "an2dl.data.datasets")


def register_dataset(name: str | None = None) -> Callable[[Callable[..., DataSplits]], Callable[..., DataSplits]]:
    """Decorator registering a dataset builder returning :class:`DataSplits`."""
    return DATASETS.register(name)


def get_dataset(name: str, **kwargs: Any) -> DataSplits:
    """Build the registered dataset ``name`` (e.g. ``"digits"``, ``"mnist"``)."""
    return DATASETS.get(name)(**kwargs)


def list_datasets(pattern: str | None = None) -> list[str]:
    """Names of the registered datasets, optionally filtered by a glob or substring ``pattern`` (:func:`an2dl.registry.match_names`)."""
    return DATASETS.names(pattern)
