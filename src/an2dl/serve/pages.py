"""The run browser's pages as HTML text: the run list, one run, a comparison, and each run's data script.

The same pages are served by :mod:`an2dl.serve.app` and written by
:func:`an2dl.serve.site.export_site`: every link is relative (``prefix`` is
the way back to the site's root), so a page works under
``http://127.0.0.1:8050/`` and as a file.  Tables are written here, on the
server; the curves are drawn in the browser by ``static/app.js`` from each
run's numbers (``data/<run id>.js``, also downloadable as ``.json``), so
what a figure shows can always be downloaded as numbers.  No page has an
inline script (the server's Content-Security-Policy allows only its own files).
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

from ..report.html import _config_rows, _fmt
from .runs import STATUSES, RunSummary, key_metrics

__all__ = ["run_href", "index_page", "run_page", "compare_page", "not_found_page", "run_data", "run_data_script",
           "runs_csv"]


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def run_href(run_id: str) -> str:
    """The URL path of run ``run_id`` relative to the site's root (each segment percent-encoded)."""
    return quote(run_id, safe="/") + "/"


def _prefix_of(run_id: str) -> str:
    """From ``runs/<id>/index.html`` back to the site's root."""
    return "../" * (run_id.count("/") + 2)


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _layout(title: str, body: str, *, prefix: str, page: str, attrs: dict[str, str] | None = None,
            scripts: tuple[str, ...] = ()) -> str:
    data = " ".join(f"data-{k}='{_e(v)}'" for k, v in {"page": page, "prefix": prefix, **(attrs or {})}.items())
    tags = "".join(f"<script defer src='{_e(s)}'></script>" for s in (*scripts, prefix + "static/app.js"))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><link rel='icon' href='data:,'><link rel='stylesheet' href='{prefix}static/style.css'>{tags}</head>"
        f"<body {data}><nav><a href='{prefix}index.html'>Runs</a> · <a href='{prefix}compare.html'>Compare</a>"
        "<span class='brand'>an2dl run browser</span></nav><main>"
        f"{body}</main></body></html>"
    )


def _badge(status: str) -> str:
    return f"<span class='status status-{_e(status)}'>{_e(status)}</span>"


def _metrics_cell(s: RunSummary) -> str:
    parts = [f"<span class='km'>{_e(k)} <b>{_e(_fmt(v))}</b></span>" for k, v in key_metrics(s.metrics)]
    return " ".join(parts) or "–"


def index_page(runs: list[RunSummary], *, root: str, live: bool) -> str:
    """The run list: one row per run, sortable and filterable in the browser, with checkboxes to compare."""
    options = "".join(f"<option value='{s}'>{s}</option>" for s in STATUSES)
    rows = []
    for s in runs:
        first_metric = key_metrics(s.metrics, 1)
        sort_metric = first_metric[0][1] if first_metric else ""
        warn = (f" <span class='warn' title='{_e('; '.join(s.problems))}'>⚠ {len(s.problems)} problem"
                f"{'s' if len(s.problems) > 1 else ''}</span>") if s.problems else ""
        rows.append(
            f"<tr data-status='{_e(s.status)}'>"
            f"<td><input type='checkbox' name='run' value='{_e(s.id)}' aria-label='compare {_e(s.id)}'></td>"
            f"<td data-value='{_e(s.id)}'><a href='runs/{_e(run_href(s.id))}index.html'>{_e(s.id)}</a>{warn}</td>"
            f"<td data-value='{_e(s.recipe)}'>{_e(s.recipe)}</td>"
            f"<td data-value='{_e(s.section)}'>{_e(s.section or '–')}</td>"
            f"<td data-value='{_e(s.started)}'>{_e(s.started or '–')}</td>"
            f"<td data-value='{_e(s.status)}'>{_badge(s.status)}</td>"
            f"<td data-value='{'' if s.wall_s is None else s.wall_s}'>{_wall(s.wall_s)}</td>"
            f"<td data-value='{_e(sort_metric)}'>{_metrics_cell(s)}</td></tr>"
        )
    counts = {st: sum(1 for s in runs if s.status == st) for st in STATUSES}
    summary = ", ".join(f"{n} {st}" for st, n in counts.items() if n) or "no runs yet"
    empty = "" if runs else (
        "<p class='empty'>No run directories here yet. Start one with <code>an2dl run lenet5-digits</code>; "
        "it appears on this page while it trains.</p>")
    headers = ["run", "recipe", "notes §", "started", "status", "wall time", "key metrics"]
    head = "<th scope='col'>compare</th>" + "".join(
        f"<th scope='col' class='sortable' tabindex='0' aria-sort='none'>{h}</th>" for h in headers)
    body = (
        f"<h1>Runs <small>in <code>{_e(root)}</code></small></h1>"
        f"<p id='run-count'>{len(runs)} runs: {summary}. Downloads: <a href='runs.json' download>runs.json</a>, "
        "<a href='runs.csv' download>runs.csv</a>.</p>"
        "<div class='controls'><label>Filter <input id='filter' type='search' "
        "placeholder='recipe, section, metric, id…'></label> "
        f"<label>Status <select id='status-filter'><option value=''>all</option>{options}</select></label> "
        "<button type='submit' form='compare-form' id='compare-button'>Compare selected runs</button></div>"
        f"{empty}<form id='compare-form' action='compare.html' method='get'>"
        f"<table id='runs'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></form>"
    )
    return _layout("an2dl runs", body, prefix="", page="index", attrs={"live": "1" if live else ""})


def _table(rows: list[tuple[Any, Any]], *, cls: str = "kv") -> str:
    body = "".join(f"<tr><th scope='row'>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table class='{cls}'>{body}</table>"


def run_page(details: dict[str, Any], *, live: bool) -> str:
    """One run: facts, resume command, curves (drawn from ``data/<id>.js``), results, figures, report,
    configuration, environment, checkpoints and models."""
    s: RunSummary = details["summary"]
    prefix = _prefix_of(s.id)
    files = f"{prefix}files/{run_href(s.id)}"
    facts = [("recipe", s.recipe), ("notes section", s.section or "–"), ("status", s.status),
             ("started", s.started or "–"), ("wall time", _wall(s.wall_s)), ("run directory", str(s.path))]
    parts = [f"<h1>{_e(s.recipe)} <small>{_e(s.id)}</small> {_badge(s.status)}</h1>",
             "<div id='live-banner' class='banner' role='status' aria-live='polite' hidden></div>",
             _table(facts)]
    if s.problems:
        parts.append("<div class='problems'><h2>Problems reading this run</h2><ul>"
                     + "".join(f"<li>{_e(p)}</li>" for p in s.problems) + "</ul></div>")
    parts.append("<h2>Resume</h2>")
    if s.cannot_resume:
        parts.append(f"<p>Runs of {_e(s.recipe)} cannot be resumed: {_e(s.cannot_resume)}.</p>")
    else:
        note = ("continues from the latest checkpoint" if s.status in ("interrupted", "failed")
                else "continues from the latest checkpoint once this run has stopped" if s.status == "running"
                else "the run is finished; resuming continues it only with a larger budget")
        parts.append(f"<div class='resume'><code id='resume-command'>{_e(s.resume_command)}</code> "
                     f"<button type='button' id='copy-resume'>Copy</button></div><p class='hint'>{note}</p>")
    parts.append(
        "<h2>Curves</h2><div class='controls'><label>Metric <select id='curve-metric'></select></label></div>"
        "<div id='curve-chart' class='chart'></div>"
        f"<p class='downloads'>Numbers: <a href='{prefix}data/{run_href(s.id)[:-1]}.json' download>curves (JSON)</a>"
        + (f", <a href='{files}metrics.csv' download>metrics.csv</a>" if "metrics.csv" in details["files"] else "")
        + "</p>")
    if s.metrics:
        parts.append("<h2>Results</h2>" + _table(sorted(s.metrics.items())))
        if "results.json" in details["files"]:
            parts.append(f"<p class='downloads'>Numbers: <a href='{files}results.json' download>results.json</a></p>")
    if details["notes"]:
        parts.append("<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in details["notes"]) + "</ul>")
    if "report.html" in details["files"]:
        parts.append(f"<h2>Report</h2><p><a id='report-link' href='{files}report.html'>Open the full report</a> "
                     "(one self-contained page: results, figures, configuration, environment).</p>")
    if details["plots"]:
        figs = "".join(
            f"<figure><a href='{files}{quote(p['file'])}'><img loading='lazy' src='{files}{quote(p['file'])}' "
            f"alt='{_e(p['caption'] or p['file'])}'></a><figcaption>{_e(p['caption'])}</figcaption></figure>"
            for p in details["plots"])
        parts.append(f"<h2>Figures</h2><div class='figures'>{figs}</div>")
    if details["config"]:
        parts.append("<h2>Configuration</h2>" + _table(_config_rows(details["config"])))
    if details["env"]:
        parts.append("<h2>Environment</h2>" + _table(list(details["env"].items())))
    if details["checkpoints"]:
        rows = "".join(f"<tr><td>{_e(c['name'])}{' (latest)' if c['latest'] else ''}</td>"
                       f"<td>{c['bytes'] / 1e6:.2f} MB</td></tr>" for c in details["checkpoints"])
        parts.append("<h2>Checkpoints</h2><table class='kv'><tr><th>step</th><th>size</th></tr>" + rows + "</table>")
    if details["models"]:
        parts.append("<h2>Exported models</h2><ul>" + "".join(
            f"<li><code>{_e(m)}</code>: <code>an2dl predict {_e(str(s.path / m))} INPUT…</code></li>"
            for m in details["models"]) + "</ul>")
    if details["files"]:
        parts.append("<h2>Files</h2><ul class='files'>" + "".join(
            f"<li><a href='{files}{quote(f)}'>{_e(f)}</a></li>" for f in details["files"]) + "</ul>")
    attrs = {"run": s.id, "status": s.status, "live": "1" if live and s.status == "running" else ""}
    return _layout(f"{s.recipe} {s.id}", "".join(parts), prefix=prefix, page="run", attrs=attrs,
                   scripts=(f"{prefix}data/{run_href(s.id)[:-1]}.js",))


def compare_page(*, live: bool) -> str:
    """The comparison: the runs named in the query (``?run=A&run=B``) are loaded and drawn by the browser."""
    body = (
        "<h1>Comparison</h1><p id='compare-status' role='status'>Choose runs on the "
        "<a href='index.html'>run list</a> and press “Compare selected runs”.</p>"
        "<div class='controls'><label>Metric <select id='compare-metric'></select></label> "
        "<label>x axis <select id='compare-x'><option value='step'>step</option>"
        "<option value='epoch'>epoch</option></select></label></div>"
        "<div id='compare-chart' class='chart'></div><p class='downloads' id='curve-downloads'></p>"
        "<h2>Final metrics</h2><div id='final-metrics'></div><p class='downloads' id='final-downloads'></p>"
        "<h2>Configuration differences</h2><div id='config-diff'></div><p class='downloads' id='config-downloads'></p>"
    )
    return _layout("an2dl comparison", body, prefix="", page="compare", attrs={"live": "1" if live else ""})


def not_found_page(what: str) -> str:
    """The page of a run or file that does not exist (or was deleted)."""
    body = f"<h1>Not found</h1><p>{_e(what)}</p><p><a href='/index.html'>Back to the run list</a></p>"
    return _layout("an2dl: not found", body, prefix="/", page="missing")


def run_data(details: dict[str, Any]) -> dict[str, Any]:
    """The numbers behind a run's page: summary, every metric-log row, flattened configuration."""
    s: RunSummary = details["summary"]
    config_rows = [[k, _fmt(v)] for k, v in _config_rows(details["config"])] if details["config"] else []
    return {"summary": s.to_json(), "rows": details["rows"], "config": config_rows}


def run_data_script(data: dict[str, Any]) -> str:
    """``data/<id>.js``: registers the run's numbers with the page (a script loads from files too, fetch does not)."""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f"(window.AN2DL_RUNS=window.AN2DL_RUNS||{{}})[{json.dumps(data['summary']['id'])}]={payload};\n"


def runs_csv(runs: list[RunSummary]) -> str:
    """The run list as CSV: the facts and every final metric (a column per metric name)."""
    import csv
    import io

    metric_names: list[str] = []
    for s in runs:
        metric_names += [k for k in s.metrics if k not in metric_names]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "recipe", "section", "status", "started", "wall_s", *metric_names])
    for s in runs:
        w.writerow([s.id, s.recipe, s.section, s.status, s.started, "" if s.wall_s is None else s.wall_s,
                    *("" if s.metrics.get(m) is None else s.metrics[m] for m in metric_names)])
    return buf.getvalue()
