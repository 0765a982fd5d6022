"""Shared by the generative-model tests: a small held-out MNIST judge, trained once per test session."""

from __future__ import annotations

import os
from pathlib import Path

#: the judge settings of the tests: 3,000 training images, 2 epochs (about 87% test accuracy)
JUDGE = {"limit_train": 3000, "epochs": 2}


def use_session_cache(tmp_path_factory, monkeypatch) -> Path:
    """Point ``AN2DL_CACHE`` at one folder per test session (shared by xdist workers), so the judge trains once."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / "an2dl-generative-cache"
    monkeypatch.setenv("AN2DL_CACHE", str(path))
    return path


def small_judge():
    """The test judge (trained on first use, then loaded from the session cache)."""
    from an2dl.evaluation.generative import digit_judge

    return digit_judge(**JUDGE)
