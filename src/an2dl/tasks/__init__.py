"""Tasks: how each kind of model is trained and evaluated (DESIGN §5)."""

from .classification import ClassificationTask
from .regression import BinaryClassificationTask, RegressionTask
from .sequence import LanguageModelTask, SequenceClassificationTask, SequenceRegressionTask

__all__ = [
    "BinaryClassificationTask",
    "ClassificationTask",
    "LanguageModelTask",
    "RegressionTask",
    "SequenceClassificationTask",
    "SequenceRegressionTask",
]
