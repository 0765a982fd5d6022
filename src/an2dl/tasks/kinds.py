"""Task kinds: the ``task`` field of ``model.json`` and the task class that predicts for it.

Every task class declares a ``kind``; an exported model records the kind of
the task that trained it (``Task.export_metadata``), and ``an2dl predict``
asks :func:`task_for_kind` for the class whose ``predict_inputs`` handles
it.  ``model.json`` files written before task kinds existed are read with
:func:`kind_of`, which maps their values onto today's kinds.
"""

from __future__ import annotations

from typing import Any

from ..engine.task import Task
from ..errors import ConfigError
from ..registry import close_matches
from .classification import ClassificationTask
from .detection import DetectionTask
from .generative import AutoencoderTask, GANTask, VAETask
from .localization import LocalizationTask
from .metric import MetricLearningTask
from .pose import PoseTask
from .regression import BinaryClassificationTask, RegressionTask
from .segmentation import SegmentationTask
from .seq2seq import Seq2SeqTask
from .sequence import LanguageModelTask, SequenceClassificationTask, SequenceRegressionTask

__all__ = ["TASK_KINDS", "LEGACY_KINDS", "task_for_kind", "kind_of"]


def _table(classes: tuple[type[Task], ...]) -> dict[str, type[Task]]:
    table: dict[str, type[Task]] = {}
    for cls in classes:
        if cls.kind in table:
            raise ConfigError(f"task kind {cls.kind!r} is declared by both {table[cls.kind].__name__} and {cls.__name__}")
        table[cls.kind] = cls
    return table


#: kind -> task class (the base :class:`~an2dl.engine.task.Task` is the ``generic`` kind, which has no predict)
TASK_KINDS: dict[str, type[Task]] = _table((
    Task,
    ClassificationTask,
    BinaryClassificationTask,
    RegressionTask,
    SequenceRegressionTask,
    SequenceClassificationTask,
    LanguageModelTask,
    AutoencoderTask,
    VAETask,
    GANTask,
    SegmentationTask,
    LocalizationTask,
    DetectionTask,
    MetricLearningTask,
    PoseTask,
    Seq2SeqTask,
))

#: ``task`` values of older ``model.json`` files that are not kinds, and the kind each means
LEGACY_KINDS = {"generator": "gan"}


def task_for_kind(kind: str) -> type[Task]:
    """The task class of ``kind`` (e.g. ``"classification"`` -> :class:`ClassificationTask`).

    Raises:
        ConfigError: an unknown kind; the message lists the closest known kinds.
    """
    if not isinstance(kind, str) or kind not in TASK_KINDS:
        near = close_matches(kind, list(TASK_KINDS)) if isinstance(kind, str) else []
        hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        raise ConfigError(f"unknown task kind {kind!r}{hint} (known: {', '.join(sorted(TASK_KINDS))})")
    return TASK_KINDS[kind]


def kind_of(meta: dict[str, Any]) -> str:
    """The task kind of an exported model's ``model.json``, also for files written before task kinds.

    Older files said ``"generator"`` for GANs (now ``"gan"``) and left every
    other model at the default ``"classification"``: such a model is a
    character language model when its preprocessing holds a ``vocab``, a
    sequence classifier when it holds ``symbols``, and a regression model when
    it has no class names (``mlp-sine``).  ``"autoencoder"`` and ``"vae"`` are
    kinds already.

    Args:
        meta: the parsed ``model.json``.

    Returns:
        A key of :data:`TASK_KINDS` (or the recorded value unchanged, which
        :func:`task_for_kind` then reports as unknown).
    """
    value = meta.get("task", "classification")
    value = LEGACY_KINDS.get(value, value)
    if value == "classification" and meta.get("version", 1) < 2:
        pre = meta.get("preprocessing") or {}
        if "vocab" in pre:
            return "language_model"
        if "symbols" in pre:
            return "sequence_classification"
        if not meta.get("class_names"):
            return "regression"
    return value
