"""an2dl — the models and techniques of *Artificial Neural Networks and Deep Learning*, as tested PyTorch software.

The top-level names are imported lazily so that ``import an2dl`` and
``an2dl --help`` stay fast::

    import an2dl
    data = an2dl.get_dataset("digits", size=32)
    model = an2dl.get_model("lenet5", num_classes=10)
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_LAZY = {
    "get_model": "an2dl.models",
    "list_models": "an2dl.models",
    "get_dataset": "an2dl.data",
    "list_datasets": "an2dl.data",
    "Trainer": "an2dl.engine",
    "Task": "an2dl.engine",
    "OptimizerSpec": "an2dl.engine",
    "ScheduleSpec": "an2dl.engine",
    "ClassificationTask": "an2dl.tasks",
    "run": "an2dl.recipes",
    "resume": "an2dl.recipes",
    "list_recipes": "an2dl.recipes",
    "load": "an2dl.export",
    "export": "an2dl.export",
    "tta_predict": "an2dl.tta",
    "cross_validate": "an2dl.engine",
    "restarts": "an2dl.engine",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'an2dl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
