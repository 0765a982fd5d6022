"""Metric files: CSV and JSON lines, plus TensorBoard when it is installed."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..._utils.files import atomic_write_text
from .base import Callback

__all__ = ["MetricsLogger"]


class MetricsLogger(Callback):
    """Write ``metrics.csv`` and ``metrics.jsonl`` in the run directory.

    One row per epoch (and per step-level validation), with ``epoch`` (counted
    from 1, as the progress display counts; a step-level row names the epoch in
    progress), ``step`` and every metric named ``split/name``.  The files are rewritten atomically
    from the trainer's history, so a resumed run continues them without
    duplicates.  With ``tensorboard`` (``None``: when the package is
    installed) scalars also go to ``run_dir/tensorboard``.
    """

    order = 90

    def __init__(self, *, tensorboard: bool | None = None) -> None:
        self.tensorboard = tensorboard
        self._writer: Any = None
        self._written = 0

    def on_fit_start(self, trainer, task) -> None:
        self._written = 0
        self._writer = None
        if trainer.run_dir is None or not trainer.is_global_zero:
            return
        use_tb = self.tensorboard
        if use_tb is None:
            import importlib.util

            use_tb = importlib.util.find_spec("tensorboard") is not None
        if use_tb:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(trainer.run_dir / "tensorboard"), purge_step=trainer.global_step or None)

    def _flush(self, trainer) -> None:
        if trainer.run_dir is None or not trainer.is_global_zero:
            return
        rows = trainer.history
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        head = ["epoch", "step"] + sorted(k for k in keys if k not in ("epoch", "step"))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=head, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        # rewritten whole (a resumed run continues them exactly) but not fsynced: logs, not state
        atomic_write_text(trainer.run_dir / "metrics.csv", buf.getvalue(), durable=False)
        atomic_write_text(trainer.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows), durable=False)
        if self._writer is not None:
            for row in rows[self._written :]:
                for k, v in row.items():
                    if k not in ("epoch", "step") and isinstance(v, (int, float)):
                        self._writer.add_scalar(k, v, row["step"])
            self._writer.flush()
        self._written = len(rows)

    def on_validation_end(self, trainer, task, metrics) -> None:
        if not trainer._epoch_ending:
            self._flush(trainer)

    def on_epoch_end(self, trainer, task, metrics) -> None:
        self._flush(trainer)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def on_fit_end(self, trainer, task) -> None:
        self._flush(trainer)
        self._close()

    def on_exception(self, trainer, task, exc) -> None:
        self._close()

    def state_dict(self) -> dict[str, Any]:
        return {"written": self._written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._written = int(state["written"])
