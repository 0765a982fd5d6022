"""Built-in callbacks (DESIGN §5)."""

from .base import Callback
from .checkpoint import Checkpoint
from .clipping import GradientClipping
from .early_stopping import EarlyStopping
from .logger import MetricsLogger
from .lr_schedule import LRSchedule
from .nan import TerminateOnNaN
from .progress import ProgressBar
from .timer import Timer

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "GradientClipping",
    "LRSchedule",
    "MetricsLogger",
    "ProgressBar",
    "TerminateOnNaN",
    "Timer",
]
