"""What the run browser knows about run directories: discovery, status, metrics, safe paths.

Everything here reads files and never writes: the browser is read-only by
construction.  A run directory (DESIGN §7) is any folder under ``RUNS_DIR``
that holds ``config.json``, ``results.json``, ``metrics.jsonl``,
``metrics.csv`` or the lock ``.an2dl.lock``; it is not searched further (a
comparison recipe's ``variants/`` are part of its run).  Its id is its path
relative to ``RUNS_DIR`` with ``/`` separators (``mlp-digits/20261207-171230``).

Status, from the files alone:

* ``running``: the lock is held by a live process on this host (or by a
  process on another host, whose liveness cannot be checked from here);
* ``finished``: ``results.json`` is readable;
* ``corrupt``: ``results.json`` exists but is not a JSON object;
* ``interrupted``: no results, no live writer, and something to resume from
  (``checkpoints/LATEST``, or a lock left by a killed process);
* ``failed``: no results, no live writer and nothing to resume from.

Broken files never raise: what could not be read is listed in
:attr:`RunSummary.problems` and shown on the page.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.rundir import LOCK_NAME, REPLACED_PREFIX, _pid_alive, _read_lock
from ..errors import ConfigError

__all__ = [
    "STATUSES",
    "RunSummary",
    "RunIndex",
    "resolve_inside",
    "read_metric_rows",
    "key_metrics",
    "check_runs_dir",
    "files_signature",
    "recipe_facts",
]

#: every status a run can have, in the order the page's filter lists them
STATUSES = ("running", "finished", "interrupted", "failed", "corrupt")

#: files whose presence makes a folder a run directory
_MARKERS = ("config.json", "results.json", "metrics.jsonl", "metrics.csv", LOCK_NAME)
#: how deep under RUNS_DIR run directories are looked for (``runs/<recipe>/<time>`` is depth 2)
_MAX_DEPTH = 4
_STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})")


def check_runs_dir(runs_dir: str | os.PathLike) -> Path:
    """``runs_dir`` resolved, after checking that it is an existing folder.

    Raises:
        ConfigError: it does not exist or is not a folder.
    """
    path = Path(runs_dir).expanduser()
    if not path.exists():
        raise ConfigError(f"RUNS_DIR {str(runs_dir)!r} does not exist; give the folder that holds the run "
                          "directories (the default of `an2dl run` is runs/)")
    if not path.is_dir():
        raise ConfigError(f"RUNS_DIR {str(runs_dir)!r} is a file; expected the folder that holds the run "
                          "directories (e.g. runs/)")
    return path.resolve()


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` when it is a file inside ``root`` once every symbolic link is followed, else ``None``.

    ``relative`` is a ``/``-separated path as a URL carries it (already
    percent-decoded).  Refused: absolute paths, ``..`` and ``.`` components,
    hidden names (``.an2dl.lock``, ``.replaced-*``), NUL and backslashes, and
    any path whose real location lies outside ``root`` (a symbolic link
    pointing out of it).
    """
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts) or ":" in parts[0]:
        return None
    root = root.resolve()
    try:
        target = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symbolic-link loop
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def files_signature(run_dir: Path, names: tuple[str, ...]) -> tuple:
    """``(modification time, size)`` of each of ``names`` in ``run_dir`` (``None`` when missing): changes
    whenever one of the files is written, which is all a cache or a stream needs to know."""
    sig = []
    for name in names:
        try:
            st = (run_dir / name).stat()
            sig.append((st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


def _finite(v: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become ``None``."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def read_metric_rows(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of a run's metric log and the problems met reading it.

    ``metrics.jsonl`` is preferred, ``metrics.csv`` is the fallback.  A line
    that is not a JSON object (a log cut off by a killed process) is skipped
    and reported; non-numeric values are dropped, NaN and infinities become
    ``None``.

    Returns:
        ``(rows, problems)``: rows as ``{"epoch": 1, "step": 40, "val/loss": 0.67, ...}``.
    """
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    jsonl, csv_path = run_dir / "metrics.jsonl", run_dir / "metrics.csv"
    try:
        if jsonl.is_file():
            text = jsonl.read_text(encoding="utf-8", errors="replace")
            for i, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    problems.append(f"metrics.jsonl line {i} is not valid JSON (cut off?); skipped")
                    continue
                if not isinstance(doc, dict):
                    problems.append(f"metrics.jsonl line {i} is not a JSON object; skipped")
                    continue
                rows.append({k: _finite(v) for k, v in doc.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool) or v is None})
        elif csv_path.is_file():
            with csv_path.open(encoding="utf-8", errors="replace", newline="") as f:
                for i, rec in enumerate(csv.DictReader(f), 2):
                    row: dict[str, Any] = {}
                    for k, v in rec.items():
                        if k is None or v in (None, ""):
                            continue
                        try:
                            row[k] = _finite(float(v))
                        except ValueError:
                            problems.append(f"metrics.csv line {i}: {k}={v!r} is not a number")
                    if row:
                        rows.append(row)
    except OSError as e:
        problems.append(f"metric log unreadable: {e.strerror or e}")
    for row in rows:  # counters as integers, as the trainer writes them
        for k in ("epoch", "step"):
            if isinstance(row.get(k), float) and row[k].is_integer():
                row[k] = int(row[k])
    return rows, problems


def key_metrics(metrics: dict[str, Any], n: int = 3) -> list[tuple[str, Any]]:
    """Up to ``n`` headline metrics: test ones first, then validation, then the rest, each in file order."""
    scalars = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]

    def rank(item: tuple[str, Any]) -> int:
        k = item[0]
        return 0 if k.startswith("test/") else 1 if k.startswith("val/") else 2 if "/" in k else 3

    return sorted(scalars, key=rank)[:n]


def _read_object(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """A JSON object file; ``None`` when missing; problems noted when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        problems.append(f"{path.name} unreadable: {e.strerror or e}")
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        problems.append(f"{path.name} is not valid JSON (empty or cut off)")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{path.name} is not a JSON object")
        return None
    return doc


@dataclass
class RunSummary:
    """One run as the list and the run page show it."""

    #: path relative to RUNS_DIR, ``/``-separated
    id: str
    #: absolute path of the run directory
    path: Path
    recipe: str
    #: the notes' section the recipe illustrates ("" when unknown)
    section: str
    status: str
    #: start time, ``YYYY-mm-dd HH:MM:SS`` local time ("" when unknown)
    started: str
    #: seconds of training (``fit_seconds``, else the log's ``time/total_s``); ``None`` when unknown
    wall_s: float | None
    #: final metrics (``results.json``), or the last row of the log while running
    metrics: dict[str, Any] = field(default_factory=dict)
    #: what could not be read, one line each
    problems: list[str] = field(default_factory=list)
    #: why ``an2dl resume`` cannot continue this recipe's runs, or ``None``
    cannot_resume: str | None = None

    @property
    def resume_command(self) -> str:
        return f"an2dl resume {shlex.quote(str(self.path))}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "path": str(self.path), "recipe": self.recipe, "section": self.section,
            "status": self.status, "started": self.started, "wall_s": self.wall_s,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "key_metrics": [[k, _finite(v)] for k, v in key_metrics(self.metrics)],
            "problems": list(self.problems), "resume_command": self.resume_command,
            "cannot_resume": self.cannot_resume,
        }


_RECIPE_FACTS: dict[str, tuple[str, str | None]] | None = None
# the server reads the registry from a background thread and from requests: one import at a time
_RECIPE_FACTS_LOCK = threading.Lock()


def recipe_facts(name: str) -> tuple[str, str | None]:
    """``(section, cannot_resume)`` of recipe ``name`` from the registry (``("", None)`` when unknown)."""
    global _RECIPE_FACTS
    with _RECIPE_FACTS_LOCK:
        if _RECIPE_FACTS is None:
            facts: dict[str, tuple[str, str | None]] = {}
            try:
                from ..recipes import RECIPES

                for n, cls in RECIPES.items():
                    facts[n] = (str(getattr(cls, "section", "") or ""), getattr(cls, "cannot_resume", None))
            except Exception:  # a broken recipe module must not take the browser down  # noqa: BLE001
                pass
            _RECIPE_FACTS = facts
    return _RECIPE_FACTS.get(name, ("", None))


def _started(run_dir: Path, lock: dict[str, Any] | None) -> str:
    m = _STAMP.match(run_dir.name)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d} {h}:{mi}:{s}"
    if lock and isinstance(lock.get("started"), str):
        return lock["started"]
    for name in ("config.json", "metrics.jsonl", "results.json"):
        try:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((run_dir / name).stat().st_mtime))
        except OSError:
            continue
    return ""


def _status(run_dir: Path, results: dict[str, Any] | None, has_results: bool, lock: dict[str, Any] | None,
            has_lock: bool) -> str:
    if has_lock and lock is not None:
        if lock.get("host") != socket.gethostname() or _pid_alive(int(lock["pid"])):
            return "running"
    elif has_lock:  # being created this instant, or unreadable: treat its writer as alive
        return "running"
    if results is not None:
        return "finished"
    if has_results:
        return "corrupt"
    if has_lock or (run_dir / "checkpoints" / "LATEST").is_file():
        return "interrupted"
    return "failed"


def summarize(root: Path, run_dir: Path, *, with_log: bool = True) -> RunSummary:
    """The :class:`RunSummary` of ``run_dir`` (never raises for broken files)."""
    problems: list[str] = []
    config = _read_object(run_dir / "config.json", problems) or {}
    results_path = run_dir / "results.json"
    results = _read_object(results_path, problems)
    lock_path = run_dir / LOCK_NAME
    has_lock = lock_path.exists()
    lock = _read_lock(lock_path) if has_lock else None
    status = _status(run_dir, results, results_path.exists(), lock, has_lock)
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    recipe = inner.get("recipe") or config.get("recipe")
    if not isinstance(recipe, str) or not recipe:
        rel = run_dir.relative_to(root)
        recipe = rel.parts[0] if len(rel.parts) > 1 else "?"
    section, cannot_resume = recipe_facts(recipe)
    metrics: dict[str, Any] = {}
    wall: float | None = None
    if results is not None:
        found = results.get("metrics", results)
        metrics = {k: v for k, v in found.items() if not isinstance(v, (dict, list))} if isinstance(found, dict) else {}
        if isinstance(results.get("fit_seconds"), (int, float)):
            wall = float(results["fit_seconds"])
    if with_log and (wall is None or not metrics):
        rows, log_problems = read_metric_rows(run_dir)
        problems += log_problems
        if rows:
            last = rows[-1]
            if wall is None and isinstance(last.get("time/total_s"), (int, float)):
                wall = float(last["time/total_s"])
            if not metrics:
                metrics = {k: v for k, v in last.items() if k not in ("epoch", "step") and not k.startswith("time/")}
    return RunSummary(
        id=run_dir.relative_to(root).as_posix(), path=run_dir, recipe=recipe, section=section, status=status,
        started=_started(run_dir, lock), wall_s=wall, metrics=metrics, problems=problems,
        cannot_resume=cannot_resume,
    )


class RunIndex:
    """The run directories under ``root``, re-read when their files change.

    Args:
        root: RUNS_DIR; must exist and be a folder.

    Raises:
        ConfigError: ``root`` does not exist, is a file, or is itself a run directory.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = check_runs_dir(root)
        if any((self.root / m).exists() for m in _MARKERS):
            raise ConfigError(f"RUNS_DIR {str(root)!r} is a run directory itself; give the folder above it "
                              f"({self.root.parent}) to browse its runs")
        # run directory -> (signature of its files, summary)
        self._cache: dict[Path, tuple[tuple, RunSummary]] = {}

    def run_dirs(self) -> list[Path]:
        """Every run directory under the root, sorted by id (symbolic links are not followed)."""
        found: list[Path] = []
        root_depth = len(self.root.parts)
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            here = Path(dirpath)
            if here != self.root and any(m in filenames for m in _MARKERS):
                found.append(here)
                dirnames[:] = []
                continue
            if len(here.parts) - root_depth >= _MAX_DEPTH:
                dirnames[:] = []
                continue
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.startswith(REPLACED_PREFIX))
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())

    def summary(self, run_dir: Path) -> RunSummary:
        sig = files_signature(run_dir, (*_MARKERS, "checkpoints/LATEST"))
        cached = self._cache.get(run_dir)
        if cached is not None and cached[0] == sig and cached[1].status != "running":
            return cached[1]
        try:
            s = summarize(self.root, run_dir)
        except Exception as e:  # whatever a run directory holds, the list must not fail  # noqa: BLE001
            rel = run_dir.relative_to(self.root)
            s = RunSummary(id=rel.as_posix(), path=run_dir, recipe=rel.parts[0], section="", status="corrupt",
                           started="", wall_s=None, problems=[f"could not be read: {type(e).__name__}: {e}"])
        self._cache[run_dir] = (sig, s)
        return s

    def runs(self) -> list[RunSummary]:
        """Summaries of every run, newest start first."""
        dirs = self.run_dirs()
        for gone in set(self._cache) - set(dirs):
            del self._cache[gone]
        out = [self.summary(d) for d in dirs]
        out.sort(key=lambda s: (s.started, s.id), reverse=True)
        return out

    def find(self, run_id: str) -> Path | None:
        """The run directory of ``run_id``, or ``None`` when no run has that id (or it lies outside the root)."""
        if not run_id or "\x00" in run_id or "\\" in run_id or run_id.startswith("/"):
            return None
        parts = run_id.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        path = self.root.joinpath(*parts)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if real != path or not path.is_dir():  # a symbolic link somewhere on the way: not a listed run
            return None
        if not any((path / m).exists() for m in _MARKERS):
            return None
        return path

    def file(self, run_id: str, relative: str) -> Path | None:
        """A file of run ``run_id`` (see :func:`resolve_inside`), or ``None``."""
        run_dir = self.find(run_id)
        return None if run_dir is None else resolve_inside(run_dir, relative)

    def details(self, run_dir: Path) -> dict[str, Any]:
        """Everything the run page shows: summary, curves, config, environment, checkpoints, plots."""
        s = summarize(self.root, run_dir)
        rows, problems = read_metric_rows(run_dir)
        for p in problems:
            if p not in s.problems:
                s.problems.append(p)
        extra: list[str] = []
        config = _read_object(run_dir / "config.json", extra) or {}
        env = _read_object(run_dir / "env.json", extra) or {}
        results = _read_object(run_dir / "results.json", []) or {}
        plots: list[dict[str, str]] = []
        index_doc: Any = None
        try:
            index_doc = json.loads((run_dir / "plots" / "index.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValueError):
            extra.append("plots/index.json is not valid JSON")
        if isinstance(index_doc, list):
            for entry in index_doc:
                if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                    if resolve_inside(run_dir, f"plots/{entry['file']}") is not None:
                        plots.append({"file": f"plots/{entry['file']}", "caption": str(entry.get("caption", ""))})
        checkpoints = []
        latest = ""
        try:
            latest = (run_dir / "checkpoints" / "LATEST").read_text(encoding="utf-8").strip()
        except OSError:
            pass
        ck = run_dir / "checkpoints"
        try:
            if ck.is_dir() and not ck.is_symlink():
                for p in sorted(ck.iterdir()):
                    if p.is_dir() and not p.is_symlink() and not p.name.startswith("."):
                        size = sum(f.stat().st_size for f in p.iterdir() if f.is_file() and not f.is_symlink())
                        checkpoints.append({"name": p.name, "bytes": size, "latest": p.name == latest})
        except OSError as e:
            extra.append(f"checkpoints/ unreadable: {e.strerror or e}")
        models = [p.relative_to(run_dir).as_posix() for p in
                  ([run_dir / "model"] + sorted((run_dir / "variants").glob("*/model")))
                  if (p / "model.json").is_file()]
        files = [name for name in ("report.html", "results.json", "config.json", "env.json", "metrics.csv",
                                   "metrics.jsonl") if resolve_inside(run_dir, name) is not None]
        for p in extra:
            if p not in s.problems:
                s.problems.append(p)
        notes = results.get("notes") if isinstance(results.get("notes"), list) else []
        return {"summary": s, "rows": rows, "config": config, "env": env, "plots": plots,
                "checkpoints": checkpoints, "models": models, "files": files, "notes": [str(n) for n in notes]}
