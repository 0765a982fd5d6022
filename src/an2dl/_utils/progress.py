"""Visible long work (DESIGN §9): a rich status on a terminal, one line in logs.

Any step that may take more than a couple of seconds outside the training loop
(training and caching the digit judge, measuring the model zoo, downloading a
dataset, extracting features of thousands of images) runs inside
:func:`activity`:

* on a terminal (stderr is a TTY, or ``enable=True``) it shows a rich spinner
  with the message, a bar when the amount of work is known, the elapsed time,
  and ends with one line ``✓ message (12.3 s)``;
* off a terminal (logs, CI, pipes) it prints the message once, as one line on
  stderr, when the work starts;
* with ``enable=False`` (``--quiet``) it prints nothing.

Only the first process of a multi-process run prints.  The module imports
nothing heavy: ``rich`` is loaded on a terminal only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Activity", "activity", "display_mode"]


def _is_first_process() -> bool:
    for var in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value not in (None, ""):
            try:
                return int(value) == 0
            except ValueError:
                return True
    return True


def display_mode(enable: bool | None) -> str:
    """``"live"`` (rich display), ``"line"`` (one plain line) or ``"off"`` for a progress setting.

    ``enable``: ``True`` always draws, ``False`` never prints, ``None`` draws
    when stderr is a terminal and prints one line otherwise (the convention of
    the trainer's ``progress`` argument).
    """
    if enable is False or not _is_first_process():
        return "off"
    if enable is True:
        return "live"
    isatty = getattr(sys.stderr, "isatty", None)
    return "live" if callable(isatty) and isatty() else "line"


class Activity:
    """The handle :func:`activity` yields: report the work done so far."""

    def __init__(self, progress: Any = None, task_id: Any = None) -> None:
        self._progress = progress
        self._task_id = task_id
        self.completed = 0.0

    def advance(self, amount: float = 1) -> None:
        """Count ``amount`` more units of work as done."""
        self.completed += amount
        if self._progress is not None:
            self._progress.update(self._task_id, advance=amount)

    def update(self, *, description: str | None = None, total: float | None = None) -> None:
        """Change the displayed message or the total amount of work."""
        if self._progress is None:
            return
        kw: dict[str, Any] = {}
        if description is not None:
            kw["description"] = description
        if total is not None:
            kw["total"] = total
        self._progress.update(self._task_id, **kw)


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


@contextmanager
def activity(message: str, *, total: float | None = None, enable: bool | None = None,
             spinner: bool = True) -> Iterator[Activity]:
    """Show ``message`` while the body runs (see the module docstring).

    Args:
        message: what is being done, e.g. ``"training the digit judge (once, cached in ~/.cache/an2dl)"``.
        total: amount of work, counted with :meth:`Activity.advance` (a bar
            is drawn on a terminal); ``None``: a spinner only.
        enable: ``True``/``False``/``None`` as in :func:`display_mode`.
        spinner: ``False`` prints the message as a line on a terminal too,
            without a live display: for work that shows its own progress bar
            (a training run inside).

    Yields:
        :class:`Activity`.
    """
    mode = display_mode(enable)
    if mode == "off":
        yield Activity()
        return
    if mode == "line":
        print(message, file=sys.stderr, flush=True)
        yield Activity()
        return
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    start = time.perf_counter()
    if not spinner:
        console.print(f"[bold]{message}[/bold]")
        yield Activity()
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(bar_width=24), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task_id = progress.add_task(message, total=total)
            yield Activity(progress, task_id)
    console.print(f"[green]✓[/green] {message} ({_elapsed(time.perf_counter() - start)})")
