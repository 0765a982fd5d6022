"""The training engine: Trainer, Task, optimiser specs, callbacks, checkpoints (DESIGN §5–§7)."""

from .._utils.rng import derive_seed, seed_everything
from .allocator import tune_cpu_allocator
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
from .conformance import check_task
from .gd import GradientDescent, Nesterov, batch_size_for
from .metrics import MetricSpec, metric, metric_names, register_metric
from .optim import OptimizerSpec, ScheduleSpec
from .task import StepContext, Task
from .trainer import Trainer
from .transfer import fine_tune
from .validation import ValidationResult, cross_validate, holdout_validate, leave_one_out, restarts

__all__ = [
    "Callback",
    "Checkpoint",
    "GradientDescent",
    "Nesterov",
    "ValidationResult",
    "batch_size_for",
    "check_task",
    "fine_tune",
    "metric",
    "metric_names",
    "MetricSpec",
    "register_metric",
    "cross_validate",
    "holdout_validate",
    "leave_one_out",
    "restarts",
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
    "tune_cpu_allocator",
]
