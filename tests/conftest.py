"""Shared fixtures: real data location, CLI runner, thread settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"

# Under pytest-xdist every worker shares the 2 cores: one intra-op thread each
# avoids oversubscription (which slows PyTorch on CPU by an order of magnitude).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

os.environ.setdefault("MPLBACKEND", "Agg")

# A relative AN2DL_DATA_DIR (CI sets ../shared/data) must keep meaning the same folder in the
# subprocesses that tests start in other working directories.
if os.environ.get("AN2DL_DATA_DIR"):
    os.environ["AN2DL_DATA_DIR"] = os.path.abspath(os.environ["AN2DL_DATA_DIR"])


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_data(name: str) -> Path:
    """``$AN2DL_DATA_DIR/<name>``; skips locally and fails in CI when it is missing."""
    root = os.environ.get("AN2DL_DATA_DIR")
    path = Path(root) / name if root else None
    if path is None or not path.is_dir():
        msg = f"real dataset {name!r} not found (AN2DL_DATA_DIR={root!r})"
        if _in_ci():
            pytest.fail(msg + "; CI must provide it")
        pytest.skip(msg)
    return path


def require_reference(name: str) -> Path:
    """A file of ``../shared/reference``; skips locally and fails in CI when it is missing."""
    path = REFERENCE / name
    if not path.is_file():
        if _in_ci():
            pytest.fail(f"reference file {path} is missing")
        pytest.skip(f"reference file {path} is missing")
    return path


@pytest.fixture
def mnist_dir() -> Path:
    return require_data("mnist")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m an2dl ARGS`` and capture its output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("AN2DL_RUN_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "an2dl", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli(tmp_path):
    """A CLI runner working in a temporary directory."""

    def _run(*args: str, **kw):
        kw.setdefault("cwd", tmp_path)
        return run_cli(*args, **kw)

    return _run


@pytest.fixture(autouse=True)
def _no_inherited_run_dir(monkeypatch):
    monkeypatch.delenv("AN2DL_RUN_DIR", raising=False)
