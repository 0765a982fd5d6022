"""Run directories written the way the trainer writes them, a raw HTTP client, and headless Chromium for tests."""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from an2dl._utils.files import atomic_write_text
from an2dl.engine.rundir import LOCK_NAME
from an2dl.serve.browser import find_chromium


def metric_row(step: int, *, steps_per_epoch: int = 10) -> dict:
    """One row of ``metrics.jsonl`` as :class:`~an2dl.engine.callbacks.MetricsLogger` writes it."""
    epoch = step // steps_per_epoch
    return {"epoch": epoch, "step": step, "train/loss": 2.0 / (1 + epoch), "val/loss": 2.2 / (1 + epoch),
            "val/accuracy": 1 - 0.5 / (1 + epoch), "time/epoch_s": 0.1, "time/total_s": 0.1 * epoch}


def write_log(run_dir: Path, rows: list[dict]) -> None:
    """Rewrite the metric logs whole and atomically, as the trainer does after every epoch."""
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows), durable=False)


def make_run(root: Path, recipe: str, stamp: str, *, epochs: int = 5, lr: float = 0.001, finished: bool = True,
             running: bool = False, checkpoint: bool = False) -> Path:
    """A run directory ``root/recipe/stamp`` with config, metric log and (when ``finished``) results."""
    run_dir = root / recipe / stamp
    run_dir.mkdir(parents=True)
    config = {"trainer": {"max_epochs": epochs, "seed": 0},
              "config": {"recipe": recipe, "optim": {"name": "adamw", "lr": lr},
                         "trainer": {"max_epochs": epochs, "seed": 0}}}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    rows = [metric_row(10 * e) for e in range(1, epochs + 1)]
    write_log(run_dir, rows)
    if finished:
        metrics = {"test/accuracy": rows[-1]["val/accuracy"] - lr, "test/loss": rows[-1]["val/loss"] + lr}
        (run_dir / "results.json").write_text(json.dumps({"metrics": metrics, "epochs": epochs,
                                                          "fit_seconds": 0.1 * epochs}))
        (run_dir / "report.html").write_text(f"<!doctype html><html><head><title>an2dl run: {recipe}</title>"
                                             f"</head><body><h1>an2dl run: {recipe}</h1></body></html>")
    if checkpoint:
        (run_dir / "checkpoints" / "000000010").mkdir(parents=True)
        (run_dir / "checkpoints" / "LATEST").write_text("000000010\n")
    if running:
        hold_lock(run_dir)
    return run_dir


def hold_lock(run_dir: Path, pid: int | None = None) -> None:
    """Write the run directory's lock as a run does (this process, or ``pid``, as the holder)."""
    (run_dir / LOCK_NAME).write_text(json.dumps({"pid": os.getpid() if pid is None else pid,
                                                 "host": socket.gethostname(), "started": "2026-01-01 00:00:00",
                                                 "command": "an2dl run test"}) + "\n")


def raw_get(url: str, path: str, *, method: str = "GET", headers: dict | None = None) -> tuple[int, bytes, dict]:
    """Send ``path`` exactly as given (no normalisation of ``..`` or percent escapes); returns status, body, headers."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_serve_extra() -> None:
    """Skip locally, fail under CI, when the ``serve`` extra (starlette, uvicorn) is not installed."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        msg = "the run browser needs the serve extra: pip install 'an2dl[serve]'"
        if _in_ci():
            pytest.fail(msg + "; CI must install it (make test installs the dev extra)")
        pytest.skip(msg, allow_module_level=True)


def chromium_paths() -> tuple[str, str]:
    """``(browser, chromedriver)``; skips locally and fails under CI when either (or selenium) is missing."""
    found = find_chromium()
    if found is None:
        msg = ("headless Chromium, chromedriver and selenium are needed for the browser tests "
               "(scripts/ensure-browser.sh installs Debian's chromium and chromium-driver; pip install 'an2dl[dev]')")
        if _in_ci():
            pytest.fail(msg + "; CI must provide them")
        pytest.skip(msg)
    return found
