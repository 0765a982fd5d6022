"""The run browser's page load time over many runs (``an2dl bench serve``)."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from . import register_benchmark

__all__ = ["serve", "synthetic_runs", "page_times"]


def synthetic_runs(root: Path, n: int, *, epochs: int = 30) -> list[Path]:
    """``n`` finished run directories under ``root``, with the files a trainer run writes (config, results,
    metric logs, environment, a small report), spread over 8 recipe names."""
    recipes = ["mlp-digits", "lenet5-digits", "cnn-digits", "linear-digits", "optimizer-comparison",
               "init-comparison", "vanishing-gradients", "overfitting-digits"]
    dirs = []
    for i in range(n):
        recipe = recipes[i % len(recipes)]
        run_dir = root / recipe / f"20260101-{i:06d}"
        run_dir.mkdir(parents=True)
        lr = 10 ** (-1 - (i % 4))
        cfg = {"trainer": {"max_epochs": epochs, "batch_size": 32, "seed": i},
               "config": {"recipe": recipe, "optim": {"name": "adamw", "lr": lr, "weight_decay": 0.01},
                          "model": {"hidden": [256, 256], "dropout": 0.3}, "trainer": {"max_epochs": epochs}}}
        rows = [{"epoch": e, "step": 40 * e, "train/loss": 2.3 / e, "val/loss": 2.4 / e + 0.01 * (i % 7),
                 "val/accuracy": 1 - 0.9 / e, "time/epoch_s": 0.05, "time/total_s": 0.05 * e}
                for e in range(1, epochs + 1)]
        (run_dir / "config.json").write_text(json.dumps(cfg, indent=2))
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (run_dir / "results.json").write_text(json.dumps(
            {"metrics": {"test/accuracy": 0.9 + 0.0004 * (i % 200), "test/loss": 0.3, "val/loss": rows[-1]["val/loss"]},
             "epochs": epochs, "steps": 40 * epochs, "fit_seconds": 0.05 * epochs}, indent=2))
        (run_dir / "env.json").write_text(json.dumps({"an2dl": "0", "python": "3", "device": "cpu"}))
        (run_dir / "report.html").write_text(f"<!doctype html><title>an2dl run: {recipe}</title>")
        dirs.append(run_dir)
    return dirs


def _read_all(dirs: list[Path]) -> None:
    """The least any run list does: read and parse every run's config.json and results.json."""
    for d in dirs:
        json.loads((d / "config.json").read_text())
        json.loads((d / "results.json").read_text())


def page_times(url: str, repeats: int) -> list[float]:
    """Seconds to fetch ``url`` (the whole body), ``repeats`` times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with urlopen(url, timeout=60) as resp:
            resp.read()
        times.append(time.perf_counter() - t0)
    return times


def _browser_load_s(urls: list[str], repeats: int) -> dict[str, float] | None:
    """Median seconds from navigation start to the load event in headless Chromium, per URL (``None``
    without a browser)."""
    from ..serve.browser import find_chromium, headless_chromium

    if find_chromium() is None:
        return None
    driver = headless_chromium()
    try:
        out = {}
        for url in urls:
            loads = []
            for _ in range(repeats):
                driver.get(url)
                ms = driver.execute_script(
                    "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;")
                loads.append(float(ms) / 1000)
            out[url] = statistics.median(loads)
        return out
    finally:
        driver.quit()


@register_benchmark("serve")
def serve(quick: bool = False) -> dict:
    """Run list page load time of ``an2dl serve`` for 200 synthetic runs, against reading their files directly.

    The baseline reads and parses every run's ``config.json`` and
    ``results.json`` in this process (the least a run list must do); the
    candidate is the server's run list page fetched over HTTP on 127.0.0.1,
    cold (first request: every run read) and warm (summaries cached until a
    run's files change).  With headless Chromium present, the browser's load
    time (navigation start to the load event, scripts and styles included)
    of the run list and of a comparison of 5 runs is measured too.
    """
    from ..serve.app import ServerThread

    n = 50 if quick else 200
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="an2dl-bench-serve-") as tmp:
        root = Path(tmp) / "runs"
        dirs = synthetic_runs(root, n)
        base = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            _read_all(dirs)
            base.append(time.perf_counter() - t0)
        with ServerThread(root) as server:
            cold = page_times(server.url, 1)[0]
            warm = statistics.median(page_times(server.url, repeats))
            with urlopen(server.url, timeout=60) as resp:
                page_bytes = len(resp.read())
            ids = [d.relative_to(root).as_posix() for d in dirs[:5]]
            compare_url = server.url + "compare.html?" + "&".join(f"run={i}" for i in ids)
            browser = _browser_load_s([server.url, compare_url], repeats=3)
    baseline = statistics.median(base)
    ratio = warm / baseline
    print(f"runs: {n}; run list page {page_bytes / 1024:.0f} KiB")
    print(f"direct read of config.json + results.json: {baseline * 1e3:8.1f} ms (median of {repeats})")
    print(f"run list over HTTP, cold (first request):  {cold * 1e3:8.1f} ms (every run read; the recipe registry "
          "imported for the notes' sections)")
    print(f"run list over HTTP, warm:                  {warm * 1e3:8.1f} ms (median of {repeats})")
    print(f"ratio warm page / direct read = {ratio:.2f}")
    result = {"runs": n, "direct_read_s": baseline, "page_cold_s": cold, "page_warm_s": warm, "ratio": ratio,
              "page_bytes": page_bytes}
    if browser is None:
        print("headless Chromium not found: browser load times not measured (scripts/ensure-browser.sh)")
    else:
        list_s, compare_s = browser[server.url], browser[compare_url]
        print(f"browser load (navigation start to load event): run list {list_s * 1e3:.0f} ms, "
              f"comparison of 5 runs {compare_s * 1e3:.0f} ms (median of 3)")
        result.update(browser_list_s=list_s, browser_compare_s=compare_s)
    return result
