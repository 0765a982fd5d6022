"""Tasks: how each kind of model is trained and evaluated (DESIGN §5)."""

from .classification import ClassificationTask

__all__ = ["ClassificationTask"]
