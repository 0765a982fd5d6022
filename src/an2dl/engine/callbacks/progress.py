"""Progress display: a rich progress bar on a terminal, one line per epoch otherwise."""

from __future__ import annotations

import sys
from typing import Any

from .base import Callback

__all__ = ["ProgressBar"]


def _fmt(metrics: dict[str, float]) -> str:
    parts = []
    for k, v in metrics.items():
        if k.startswith("time/"):
            continue
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return "  ".join(parts)


class ProgressBar(Callback):
    """Show epoch, step, loss, metrics and the time left.

    Args:
        enable: ``True`` always draws the bar, ``False`` prints nothing,
            ``None`` draws it when stderr is a terminal and otherwise prints one
            summary line per epoch (quiet enough for logs and CI).
        refresh_every: batches between updates of the displayed loss.
        label: shown before the epoch (``"judge"`` -> ``judge epoch 1/2``), for a
            training that runs inside another piece of work.
    """

    order = -20

    def __init__(self, enable: bool | None = None, *, refresh_every: int = 10, label: str = "") -> None:
        self.enable = enable
        self.refresh_every = refresh_every
        self.label = label
        self._progress: Any = None
        self._task_id: Any = None

    def _mode(self, trainer) -> str:
        if not trainer.is_global_zero or self.enable is False:
            return "off"
        if self.enable or sys.stderr.isatty():
            return "bar"
        return "lines"

    def on_fit_start(self, trainer, task) -> None:
        self._progress = None
        if self._mode(trainer) == "bar":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.table import Column

            self._progress = Progress(
                TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True, min_width=13)),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()

    def _describe(self, trainer) -> str:
        total = f"/{trainer.max_epochs}" if trainer.max_epochs else ""
        return f"{self.label + ' ' if self.label else ''}epoch {trainer.epoch + 1}{total}"

    def on_epoch_start(self, trainer, task) -> None:
        if self._progress is not None:
            self._task_id = self._progress.add_task(self._describe(trainer), total=trainer.num_batches, info="")

    def on_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        if self._progress is None:
            return
        if self._task_id is None:  # resumed mid-epoch
            self._task_id = self._progress.add_task(self._describe(trainer), total=trainer.num_batches, info="")
            self._progress.update(self._task_id, completed=batch_idx)
        info = None
        if batch_idx % self.refresh_every == 0 and trainer.last_loss is not None:
            info = f"loss={float(trainer.last_loss):.4g}  step={trainer.global_step}"
        self._progress.update(self._task_id, advance=1, **({"info": info} if info else {}))

    def on_epoch_end(self, trainer, task, metrics) -> None:
        mode = self._mode(trainer)
        if mode == "bar" and self._progress is not None and self._task_id is not None:
            self._progress.update(self._task_id, info=f"step={trainer.global_step}")
            self._progress.console.print(f"  {_fmt(metrics)}", highlight=False)
            self._task_id = None
        elif mode == "lines":
            secs = metrics.get("time/epoch_s")
            t = f"  ({secs:.1f}s)" if secs is not None else ""
            print(f"{self._describe(trainer)}  step {trainer.global_step}  {_fmt(metrics)}{t}", file=sys.stderr, flush=True)

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_fit_end(self, trainer, task) -> None:
        self._close()
        if trainer.stop_reason and self._mode(trainer) != "off":
            print(f"stopped: {trainer.stop_reason}", file=sys.stderr, flush=True)

    def on_exception(self, trainer, task, exc) -> None:
        self._close()
