"""Dataset containers shared by every loader (DESIGN §4–§5).

* :class:`ArrayDataset` — tensors indexed together, with a fast batched fetch
  (``__getitems__``) that returns a whole batch as one tensor per field.
* :class:`DatasetInfo` and :class:`DataSplits` — what ``get_dataset`` returns.
* :func:`collate` — the trainer's collate function: passes pre-batched data
  through and falls back to PyTorch's ``default_collate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from ..errors import ConfigError

__all__ = ["ArrayDataset", "PreCollated", "collate", "DatasetInfo", "DataSplits", "subset"]


class PreCollated:
    """A batch that a dataset's ``__getitems__`` already assembled."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def collate(items: Any) -> Any:
    """Collate a list of samples, or unwrap a :class:`PreCollated` batch."""
    if isinstance(items, PreCollated):
        return items.value
    return default_collate(items)


class ArrayDataset(Dataset):
    """Samples ``(t[i] for t in tensors)``; batches are gathered with one index per tensor.

    Args:
        *tensors: tensors sharing their first dimension ``N``.
        transform: optional per-sample function applied to the sample tuple
            (disables the batched fetch).

    Shape:
        each sample is a tuple of ``t[i]``; a batch from the trainer is a tuple
        of ``t[idx]`` with leading dimension ``B``.
    """

    def __init__(self, *tensors: torch.Tensor, transform: Callable[..., Any] | None = None) -> None:
        if not tensors:
            raise ConfigError("ArrayDataset needs at least one tensor")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise ConfigError(f"ArrayDataset tensor {i} must be a torch.Tensor; got {type(t).__name__}")
            if t.shape[0] != n:
                raise ConfigError(
                    f"ArrayDataset tensors must share their first dimension; tensor 0 has {n}, tensor {i} has {t.shape[0]}"
                )
        self.tensors = tuple(tensors)
        self.transform = transform

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        sample = tuple(t[i] for t in self.tensors)
        return self.transform(*sample) if self.transform is not None else sample

    def __getitems__(self, indices: Sequence[int]) -> Any:
        if self.transform is not None:
            return [self[i] for i in indices]
        idx = torch.as_tensor(indices, dtype=torch.long)
        return PreCollated(tuple(t[idx] for t in self.tensors))


def subset(dataset: ArrayDataset, indices: Sequence[int] | torch.Tensor) -> ArrayDataset:
    """An :class:`ArrayDataset` holding the rows ``indices`` of ``dataset`` (copies the rows)."""
    idx = torch.as_tensor(indices, dtype=torch.long)
    return ArrayDataset(*(t[idx] for t in dataset.tensors), transform=dataset.transform)


@dataclass
class DatasetInfo:
    """What a model needs to know about a dataset.

    Attributes:
        name: registry name.
        num_classes: number of classes (0 for non-classification data).
        class_names: one name per class.
        input_shape: shape of one input, e.g. ``(1, 32, 32)``.
        mean, std: per-channel statistics of the training inputs (after scaling to [0, 1]).
        extra: anything dataset-specific (source, licence, sizes).
    """

    name: str
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    input_shape: tuple[int, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSplits:
    """Train / validation / test datasets plus their :class:`DatasetInfo`."""

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    info: DatasetInfo

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in (("train", self.train), ("val", self.val), ("test", self.test)) if v is not None}
