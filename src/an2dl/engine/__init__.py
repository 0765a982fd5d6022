"""The training engine: Trainer, Task, optimiser specs, callbacks, checkpoints (DESIGN §5–§7)."""

from .callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    GradientClipping,
    LRSchedule,
    MetricsLogger,
    ProgressBar,
    TerminateOnNaN,
    Timer,
)
from .checkpoint import load_checkpoint
from .optim import OptimizerSpec, ScheduleSpec
from .rng import derive_seed, seed_everything
from .task import StepContext, Task
from .trainer import Trainer

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "GradientClipping",
    "LRSchedule",
    "MetricsLogger",
    "OptimizerSpec",
    "ProgressBar",
    "ScheduleSpec",
    "StepContext",
    "Task",
    "TerminateOnNaN",
    "Timer",
    "Trainer",
    "derive_seed",
    "load_checkpoint",
    "seed_everything",
]
