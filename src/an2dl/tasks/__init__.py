"""Tasks: how each kind of model is trained and evaluated (DESIGN §5)."""

from .classification import ClassificationTask
from .generative import AutoencoderTask, GANTask, VAETask
from .kinds import TASK_KINDS, kind_of, task_for_kind
from .regression import BinaryClassificationTask, RegressionTask
from .segmentation import BorderWeights, SegmentationTask
from .sequence import LanguageModelTask, SequenceClassificationTask, SequenceRegressionTask

__all__ = [
    "AutoencoderTask",
    "BinaryClassificationTask",
    "ClassificationTask",
    "GANTask",
    "LanguageModelTask",
    "RegressionTask",
    "BorderWeights",
    "SegmentationTask",
    "SequenceClassificationTask",
    "SequenceRegressionTask",
    "TASK_KINDS",
    "VAETask",
    "kind_of",
    "task_for_kind",
]
