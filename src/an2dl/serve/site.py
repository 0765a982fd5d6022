"""``an2dl report --site OUT/``: the run browser's pages written as a static site (no server, no live stream).

Layout of ``OUT/`` (the server's URLs, as files): ``index.html``,
``compare.html``, ``runs.json``, ``runs.csv``, ``runs/<run id>/index.html``,
``data/<run id>.js`` and ``.json`` (the numbers behind the curves),
``files/<run id>/...`` (each run's report, results, configuration, metric
logs and the figures its ``plots/index.json`` lists; checkpoints and models
are not copied), ``static/``.  Open ``OUT/index.html`` in a browser: pages
load each other and their data by relative links, so the folder can be
moved, zipped or put on any static web host.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .._utils.files import atomic_write_text
from ..errors import ConfigError
from .pages import compare_page, index_page, run_data, run_data_script, run_page, runs_csv
from .runs import RunIndex, resolve_inside

__all__ = ["export_site", "SITE_MARKER"]

#: the file that marks a folder as a site written here (so that writing it again may replace it)
SITE_MARKER = ".an2dl-site"
_STATIC = Path(__file__).resolve().parent / "static"


def _check_out(out: Path, root: Path) -> None:
    real = out.resolve()
    if real == root or real.is_relative_to(root):
        raise ConfigError(f"--site {out} lies inside RUNS_DIR {root}; write the site elsewhere (its copies of "
                          "the runs' files would be listed as runs)")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--site {out} is a file; expected a folder (new, empty, or a site written before)")
    if out.is_dir() and any(out.iterdir()) and not (out / SITE_MARKER).is_file():
        raise ConfigError(f"--site {out} is a folder with other files in it; choose a new or empty folder")


def export_site(runs_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the static site of every run under ``runs_dir`` into ``out``; returns ``out/index.html``.

    A folder written by an earlier export is replaced; any other non-empty
    folder is refused.

    Raises:
        ConfigError: ``runs_dir`` is not a folder of runs; ``out`` is a file, a foreign non-empty
            folder, or lies inside ``runs_dir``.
    """
    index = RunIndex(runs_dir)
    out = Path(out)
    _check_out(out, index.root)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("runs", "data", "files", "static"):  # a previous export of ours: start clean
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)
    (out / SITE_MARKER).write_text("written by an2dl report --site\n", encoding="utf-8")
    runs = index.runs()
    atomic_write_text(out / "index.html", index_page(runs, root=str(index.root), live=False), durable=False)
    atomic_write_text(out / "compare.html", compare_page(live=False), durable=False)
    atomic_write_text(out / "runs.json", json.dumps([s.to_json() for s in runs], indent=1), durable=False)
    atomic_write_text(out / "runs.csv", runs_csv(runs), durable=False)
    shutil.copytree(_STATIC, out / "static")
    for s in runs:
        try:
            details = index.details(s.path)
        except OSError:  # deleted while the site was written
            continue
        page = out / "runs" / s.id / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(page, run_page(details, live=False), durable=False)
        data = run_data(details)
        stem = out / "data" / s.id
        stem.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stem.with_name(stem.name + ".js"), run_data_script(data), durable=False)
        atomic_write_text(stem.with_name(stem.name + ".json"), json.dumps(data), durable=False)
        wanted = [*details["files"], *(p["file"] for p in details["plots"])]
        for rel in wanted:
            src = resolve_inside(s.path, rel)
            if src is None:
                continue
            dst = out / "files" / s.id / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    return out / "index.html"
