"""The self-contained ``report.html`` of a run: results, curves, plots, config, environment."""

from __future__ import annotations

import base64
import html
import json
import platform
import sys
from pathlib import Path
from typing import Any

from .._utils.files import atomic_write_text
from ..errors import CheckpointError

__all__ = ["write_report", "environment", "comparison_table"]


def environment(device: str = "cpu", **extra: Any) -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    import os

    import torch

    from .._version import __version__

    env = {
        "an2dl": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    try:
        import lightning_fabric

        env["lightning_fabric"] = lightning_fabric.__version__
    except ImportError:  # pragma: no cover - a runtime dependency
        pass
    env.update(extra)
    return env


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def _cell(v: Any) -> str:
    text = html.escape(_fmt(v))
    return f"<pre>{text}</pre>" if isinstance(v, str) and "\n" in v else text


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(d, dict):
        out = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, d)]


def _config_rows(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """The rows of the configuration table, each setting once.

    A run's ``config.json`` holds the trainer's resolved settings (``trainer``)
    beside the recipe's configuration (``config``), which has its own
    ``trainer`` group: the rows are the recipe's settings, named as ``--set``
    names them (``trainer.max_epochs``), with the trainer's resolved value
    where the recipe left the default (``trainer.eval_batch_size``) and the
    trainer's settings the recipe does not have (``trainer.shuffle``).
    """
    run_cfg, trainer = config.get("config"), config.get("trainer")
    if not isinstance(run_cfg, dict):
        return _flatten(config)
    rows = _flatten(run_cfg)
    for k, v in config.items():
        if k not in ("config", "trainer"):
            rows += _flatten(v, k)
    if isinstance(trainer, dict):
        index = {k: i for i, (k, _) in enumerate(rows)}
        for k, v in trainer.items():
            key = f"trainer.{k}"
            if key not in index:
                rows.append((key, v))
            elif rows[index[key]][1] is None and v is not None:
                rows[index[key]] = (key, v)
            elif rows[index[key]][1] != v:
                rows[index[key]] = (key, f"{_fmt(v)} (setting: {_fmt(rows[index[key]][1])})")
    return rows


def _variant_column(key: str, variant: str) -> str | None:
    """``key`` without the token ``variant`` (``test/mse_lstm`` -> ``test/mse``), or ``None`` if it has no such token.

    A token is delimited by ``/`` or ``_`` (or the ends of the key): ``lstm``
    is a token of ``val/mse_lstm`` and ``lstm/seconds``, not of ``val/mse_bilstm``.
    """
    start = 0
    n = len(variant)
    while (i := key.find(variant, start)) >= 0:
        end = i + n
        before_ok = i == 0 or key[i - 1] in "/_"
        after_ok = end == len(key) or key[end] in "/_"
        if before_ok and after_ok:
            if i == 0:
                rest = key[end + 1:]
            else:
                rest = key[: i - 1] + key[end:]
            return rest or None
        start = i + 1
    return None


def comparison_table(metrics: dict[str, Any], variants: list[str]) -> tuple[list[str], dict[str, dict[str, Any]], list[str]]:
    """Group the metrics of compared methods into a table: rows = ``variants``, columns = metrics.

    A key names a variant when the variant is one of its ``/``- or
    ``_``-delimited tokens: ``test/rmse_lstm``, ``val/mse_gru``, ``adam/train_loss``,
    ``test/accuracy_random_50`` (column ``test/accuracy_50``).  Longer variant
    names are matched first.

    Returns:
        ``(columns, {variant: {column: value}}, other keys)``: the columns in
        the order they first appear; the keys that name no variant stay in the
        plain results table.
    """
    order = sorted(variants, key=len, reverse=True)
    columns: list[str] = []
    table: dict[str, dict[str, Any]] = {v: {} for v in variants}
    rest: list[str] = []
    for key, value in metrics.items():
        for v in order:
            column = _variant_column(key, v)
            if column is not None:
                if column not in columns:
                    columns.append(column)
                table[v][column] = value
                break
        else:
            rest.append(key)
    return columns, table, rest


def _comparison_html(columns: list[str], table: dict[str, dict[str, Any]]) -> str:
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    body = "".join(
        f"<tr><th>{html.escape(v)}</th>"
        + "".join(f"<td>{_cell(cells[c]) if c in cells else '–'}</td>" for c in columns)
        + "</tr>"
        for v, cells in table.items()
    )
    return f"<table class='comparison'>{head}{body}</table>"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}
th{background:#f5f5f5;font-weight:600}table.comparison td{text-align:right}figure{display:inline-block;margin:.5em;vertical-align:top;max-width:48%}
figure img{max-width:100%}pre{white-space:pre-wrap;margin:0;font-size:.85em}figcaption{font-size:.85em;color:#555}.metric{font-size:1.2em}
"""


def write_report(run_dir: str | Path, *, title: str | None = None) -> Path:
    """(Re)write ``run_dir/report.html`` from the files of the run.

    Reads ``config.json``, ``results.json``, ``metrics.jsonl``, ``env.json`` and
    the PNGs listed in ``plots/index.json`` (images are embedded as base64, so
    the page is a single portable file).  A run that compares methods lists
    their names in ``results.json`` under ``compared``; their metrics are then
    shown as one table, a row per method and a column per metric
    (:func:`comparison_table`), above the other results.

    Raises:
        CheckpointError: ``run_dir`` is not a run directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not ((run_dir / "config.json").is_file() or (run_dir / "results.json").is_file()):
        raise CheckpointError(f"{run_dir} is not an an2dl run directory (no config.json or results.json)")
    config = _read_json(run_dir / "config.json", {})
    results = _read_json(run_dir / "results.json", {})
    env = _read_json(run_dir / "env.json", {})
    index = _read_json(run_dir / "plots" / "index.json", [])
    recipe = config.get("config", {}).get("recipe") or config.get("recipe") or run_dir.parent.name
    title = title or f"an2dl run: {recipe}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Run directory: <code>{html.escape(str(run_dir))}</code></p>"]
    metrics = results.get("metrics", results)
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    if scalars:
        parts.append("<h2>Results</h2>")
        compared = results.get("compared")
        rest = list(scalars)
        if isinstance(compared, list) and len(compared) > 1 and all(isinstance(v, str) and v for v in compared):
            columns, table, rest = comparison_table(scalars, compared)
            table = {v: cells for v, cells in table.items() if cells}
            if columns and len(table) > 1:
                parts.append(_comparison_html(columns, table))
            else:
                rest = list(scalars)
        if rest:
            parts.append(_table([(k, scalars[k]) for k in rest]))
    notes = results.get("notes")
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(str(n))}</li>" for n in notes) + "</ul>")
    if index:
        parts.append("<h2>Plots</h2>")
        for entry in index:
            png = run_dir / "plots" / entry["file"]
            if not png.is_file():
                continue
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(
                f"<figure><img alt='{html.escape(entry['file'])}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(entry.get('caption', ''))}</figcaption></figure>"
            )
    if config:
        parts.append("<h2>Configuration</h2>")
        parts.append(_table(_config_rows(config)))
    if env:
        parts.append("<h2>Environment</h2>")
        parts.append(_table(list(env.items())))
    parts.append("</body></html>")
    out = run_dir / "report.html"
    atomic_write_text(out, "\n".join(parts))
    return out
