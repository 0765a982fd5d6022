"""Tasks: how each kind of model is trained and evaluated (DESIGN §5)."""

from .classification import ClassificationTask
from .generative import AutoencoderTask, GANTask, VAETask
from .regression import BinaryClassificationTask, RegressionTask
from .sequence import LanguageModelTask, SequenceClassificationTask, SequenceRegressionTask

__all__ = [
    "AutoencoderTask",
    "BinaryClassificationTask",
    "ClassificationTask",
    "GANTask",
    "LanguageModelTask",
    "RegressionTask",
    "SequenceClassificationTask",
    "SequenceRegressionTask",
    "VAETask",
]
