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
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset, Subset, default_collate

from ..errors import ConfigError

__all__ = ["ArrayDataset", "PreCollated", "collate", "DatasetInfo", "ClassificationInfo", "SegmentationInfo",
           "DetectionInfo", "TextInfo", "SequenceInfo", "DataSplits", "subset"]


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


def subset(dataset: Dataset, indices: Sequence[int] | torch.Tensor) -> Dataset:
    """The samples ``indices`` of ``dataset``, as a dataset.

    An :class:`ArrayDataset` gives an :class:`ArrayDataset` holding copies of
    those rows (so batches stay fast); any other dataset a
    ``torch.utils.data.Subset`` view that keeps the dataset's ``collate_fn``.

    Raises:
        ConfigError: an index outside ``[0, len(dataset))``.
    """
    idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
    n = len(dataset)  # type: ignore[arg-type]
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        raise ConfigError(f"subset indices must lie in [0, {n}) for a dataset of {n} samples; got {bad}")
    if isinstance(dataset, ArrayDataset):
        return ArrayDataset(*(t[idx] for t in dataset.tensors), transform=dataset.transform)
    return _Subset(dataset, idx.tolist())


class _Subset(Subset):
    """A ``Subset`` that forwards the dataset's ``collate_fn`` (variable-size images, padded sequences)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        super().__init__(dataset, indices)
        collate_fn = getattr(dataset, "collate_fn", None)
        if collate_fn is not None:
            self.collate_fn = collate_fn


@dataclass
class DatasetInfo:
    """What a model needs to know about a dataset; one subclass per kind of data.

    Attributes:
        name: registry name.
        input_shape: shape of one input, e.g. ``(1, 32, 32)`` (``()`` when inputs vary in size).
        mean, std: per-channel statistics of the training inputs (after scaling to [0, 1]).
        extra: provenance and sizes (source, licence, ...), for reports only; what a
            model or task needs is a typed field of the kind's subclass.
        preprocess: how the dataset's raw images became its inputs, as
            :meth:`an2dl.data.preprocess.Preprocess.to_dict` (``{"pipeline": [...],
            "raw_input": {...}}``; empty for data that is not images); exported
            models record it so that ``an2dl predict`` prepares files the same way.

    The subclasses: :class:`ClassificationInfo` (class names),
    :class:`SegmentationInfo` (class names + ignore index),
    :class:`DetectionInfo` (class names, background excluded),
    :class:`TextInfo` (the vocabulary), :class:`SequenceInfo` (feature size).
    Every kind answers ``num_classes`` and ``class_names`` (0 and ``[]`` where
    there are no classes), so generic code needs no type switch.
    """

    name: str
    input_shape: tuple[int, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)

    #: the kind of data, recorded with runs and exported models
    kind: ClassVar[str] = "generic"

    @property
    def num_classes(self) -> int:
        return len(getattr(self, "class_names", ()))


@dataclass
class ClassificationInfo(DatasetInfo):
    """Images, vectors or sequences with one class per sample.

    Attributes:
        class_names: one name per class, in class-id order.
    """

    class_names: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "classification"


@dataclass
class SegmentationInfo(ClassificationInfo):
    """Images with a class per pixel.

    Attributes:
        class_names: one name per class id of the mask.
        ignore_index: mask value left out of losses and metrics (e.g. 255 for borders), or ``None``.
    """

    ignore_index: int | None = None
    kind: ClassVar[str] = "segmentation"


@dataclass
class DetectionInfo(ClassificationInfo):
    """Images with per-image boxes (and masks or keypoints).

    Attributes:
        class_names: the object classes; label ``i + 1`` is ``class_names[i]``,
            label 0 is the background (torchvision's convention).
        keypoint_names: names of the K keypoints, for pose data.
    """

    keypoint_names: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "detection"


@dataclass
class TextInfo(DatasetInfo):
    """Token sequences.

    Attributes:
        vocab: the :class:`~an2dl.data.text.Vocabulary` mapping tokens to ids.
    """

    vocab: Any = None
    kind: ClassVar[str] = "text"

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) if self.vocab is not None else 0

    @property
    def num_classes(self) -> int:
        """The vocabulary size: a language model classifies the next token."""
        return self.vocab_size


@dataclass
class SequenceInfo(DatasetInfo):
    """Numeric sequences (series, synthetic sequence tasks), possibly with classes.

    Attributes:
        feature_size: D, numbers per step (inputs ``[T, D]``); 0 when the steps are token ids.
        class_names: class names when each sequence has a class (else empty).
        vocab_size: token ids lie in ``[0, vocab_size)`` when the steps are tokens (else 0).
    """

    feature_size: int = 0
    class_names: list[str] = field(default_factory=list)
    vocab_size: int = 0
    kind: ClassVar[str] = "sequence"


@dataclass
class DataSplits:
    """Train / validation / test datasets plus their :class:`DatasetInfo`."""

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    info: DatasetInfo

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in (("train", self.train), ("val", self.val), ("test", self.test)) if v is not None}
