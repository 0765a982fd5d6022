"""Tasks: how each kind of model is trained and evaluated (DESIGN §5)."""

from .classification import ClassificationTask
from .detection import DetectionTask
from .generative import AutoencoderTask, GANTask, VAETask
from .kinds import TASK_KINDS, kind_of, task_for_kind
from .localization import LocalizationTask
from .metric import MetricLearningTask, retrieval_metrics
from .pose import PoseTask
from .regression import BinaryClassificationTask, RegressionTask
from .segmentation import BorderWeights, SegmentationTask
from .seq2seq import Seq2SeqTask
from .sequence import LanguageModelTask, SequenceClassificationTask, SequenceRegressionTask

__all__ = [
    "AutoencoderTask",
    "BinaryClassificationTask",
    "ClassificationTask",
    "DetectionTask",
    "GANTask",
    "LanguageModelTask",
    "LocalizationTask",
    "MetricLearningTask",
    "PoseTask",
    "RegressionTask",
    "BorderWeights",
    "SegmentationTask",
    "Seq2SeqTask",
    "SequenceClassificationTask",
    "SequenceRegressionTask",
    "TASK_KINDS",
    "VAETask",
    "kind_of",
    "retrieval_metrics",
    "task_for_kind",
]
