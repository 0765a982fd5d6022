"""The run browser: ``an2dl serve`` (a local web page over the run directories) and ``an2dl report --site``.

Beyond the notes: a tool for the runs every recipe writes (DESIGN §7).

* :mod:`an2dl.serve.runs`: finding run directories, their status and numbers, and the paths that may be served;
* :mod:`an2dl.serve.pages`: the pages (run list, one run, comparison) as HTML;
* :mod:`an2dl.serve.site`: the same pages written as a static site;
* :mod:`an2dl.serve.app`: the web application (needs the ``serve`` extra: ``pip install 'an2dl[serve]'``).

Importing this package does not import the web stack; :func:`serve_runs` does, when called.
"""

from __future__ import annotations

from pathlib import Path

from .runs import STATUSES, RunIndex, RunSummary, resolve_inside
from .site import export_site

__all__ = ["STATUSES", "RunIndex", "RunSummary", "resolve_inside", "export_site", "serve_runs"]


def serve_runs(runs_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8050, poll_s: float = 0.5) -> None:
    """Serve the run browser over ``runs_dir`` until interrupted (see :func:`an2dl.serve.app.serve_runs`).

    Raises:
        ConfigError: the ``serve`` extra is missing, RUNS_DIR is not a folder, the port is in use.
    """
    from .app import serve_runs as _serve

    _serve(runs_dir, host=host, port=port, poll_s=poll_s)
