"""The run browser in a real browser (headless Chromium through Selenium and the system chromedriver).

Locally the tests skip when Chromium, chromedriver or selenium is missing; under ``CI`` they fail
(``scripts/ensure-browser.sh``, run by ``make test``, installs Debian's chromium and chromium-driver).
"""

from __future__ import annotations

import io
import json
import time

import pytest
from _serve_support import chromium_paths, make_run, metric_row, require_serve_extra, write_log

require_serve_extra()

from an2dl.serve import export_site  # noqa: E402
from an2dl.serve.app import ServerThread  # noqa: E402
from an2dl.serve.browser import headless_chromium  # noqa: E402

A, B, LIVE = "mlp-digits/20260101-000001", "mlp-digits/20260101-000002", "mlp-digits/20260101-000003"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium_paths()  # skip or fail before anything is started
    root = tmp_path_factory.mktemp("browse") / "runs"
    make_run(root, "mlp-digits", "20260101-000001", lr=0.001, epochs=8)
    make_run(root, "mlp-digits", "20260101-000002", lr=0.01, epochs=6)
    make_run(root, "mlp-digits", "20260101-000003", finished=False, running=True, epochs=2)
    make_run(root, "mlp-digits", "20260101-000005", finished=False, running=True, epochs=2)
    bad = make_run(root, "lenet5-digits", "20260101-000004")
    (bad / "results.json").write_text("{cut")
    driver = headless_chromium()
    try:
        with ServerThread(root, poll_s=0.1) as server:
            yield driver, server, root
            driver.get("about:blank")  # closes a live page's event stream before the server stops
    finally:
        driver.quit()


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _non_blank(png: bytes) -> int:
    """Distinct colours of a screenshot (a blank area has one or two)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


def test_run_list_loads_without_console_errors_sorts_filters_and_opens_a_report(browser):
    driver, server, _ = browser
    driver.get(server.url)
    assert driver.title == "an2dl runs"

    def listed() -> set[str]:
        rows = driver.find_elements("css selector", "#runs tbody tr")
        return {r.find_elements("css selector", "td")[1].text.split(" ")[0].split("\n")[0] for r in rows}

    _wait(lambda: {A, B, LIVE, "lenet5-digits/20260101-000004"} <= listed(), what="the run list")
    assert _severe(driver) == []
    driver.find_element("id", "filter").send_keys("lenet5")
    assert driver.find_element("id", "runs").get_attribute("data-shown") == "1"
    driver.find_element("id", "filter").clear()
    driver.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    header = driver.find_elements("css selector", "#runs th.sortable")[0]
    header.click()
    first = driver.find_element("css selector", "#runs tbody tr td:nth-child(2) a").text
    assert first == "lenet5-digits/20260101-000004" and header.get_attribute("aria-sort") == "ascending"
    # a run's page, then its report
    driver.find_element("link text", A).click()
    _wait(lambda: driver.find_elements("css selector", "#curve-chart svg"), what="the run's curves")
    assert "an2dl resume" in driver.find_element("id", "resume-command").text
    driver.find_element("id", "report-link").click()
    _wait(lambda: driver.title == "an2dl run: mlp-digits", what="the report")
    assert _severe(driver) == []


def test_comparison_of_two_runs_draws_labelled_curves_and_tables(browser):
    driver, server, _ = browser
    driver.get(f"{server.url}compare.html?run={A}&run={B}")
    svg = _wait(lambda: driver.find_elements("css selector", "#compare-chart svg"), what="the comparison chart")[0]
    assert svg.get_attribute("data-series") == "2" and int(svg.get_attribute("data-points")) == 8 + 6
    assert svg.find_element("css selector", ".x-label").text == "step"
    assert svg.find_element("css selector", ".y-label").text == "val/loss"
    assert svg.get_attribute("aria-label").startswith("Line chart comparing val/loss against step for 2 runs")
    assert _non_blank(svg.screenshot_as_png) > 20
    diff = driver.find_element("id", "config-diff").text
    assert "optim.lr" in diff and "0.001" in diff and "0.01" in diff and "max_epochs" in diff
    assert "test/accuracy" in driver.find_element("id", "final-metrics").text
    links = driver.find_elements("css selector", "#curve-downloads a, #final-downloads a, #config-downloads a")
    assert len(links) == 4 and all(a.get_attribute("href").startswith("blob:") for a in links)
    assert _severe(driver) == []


def test_a_running_runs_curve_grows_while_its_log_is_written(browser):
    driver, server, root = browser
    run = root / LIVE
    driver.get(f"{server.url}runs/{LIVE}/index.html")
    svg = _wait(lambda: driver.find_elements("css selector", "#curve-chart svg"), what="the live chart")[0]
    assert svg.get_attribute("data-points") == "4"  # train/loss and val/loss, two epochs
    rows = [metric_row(10 * e) for e in (1, 2)]
    for e in range(3, 7):  # an epoch every 0.3 s, written as the trainer writes its log
        time.sleep(0.3)
        rows.append(metric_row(10 * e))
        write_log(run, rows)
    # read in the page in one step: the chart is replaced whole at every redraw
    points = "const s = document.querySelector('#curve-chart svg'); return s && s.getAttribute('data-points');"
    _wait(lambda: driver.execute_script(points) == "12", what="the curve to reach 6 epochs")
    (run / "results.json").write_text(json.dumps({"metrics": {"test/accuracy": 0.9}, "fit_seconds": 1.0}))
    (run / ".an2dl.lock").unlink()
    _wait(lambda: driver.execute_script("return document.querySelector('h1 .status').textContent") == "finished",
          what="the finished status")
    assert _severe(driver) == []


def test_the_run_list_follows_statuses_in_place(browser):
    driver, server, root = browser
    run = root / "mlp-digits" / "20260101-000005"
    driver.get(server.url)
    # the list is filled by the page's script after the load: null until the row is there
    status = ("const box = document.querySelector(\"#runs tr input[value='mlp-digits/20260101-000005']\");"
              "return box ? box.closest('tr').querySelector('.status').textContent : null")
    _wait(lambda: driver.execute_script(status) is not None, what="the run list to show the run")
    assert driver.execute_script(status) == "running"
    driver.find_element("id", "filter").send_keys("000005")  # a filter set by the user stays
    (run / "results.json").write_text(json.dumps({"metrics": {"test/accuracy": 0.875}, "fit_seconds": 2.0}))
    (run / ".an2dl.lock").unlink()
    _wait(lambda: driver.execute_script(status) == "finished", what="the list to show the run finished")
    assert driver.find_element("id", "runs").get_attribute("data-shown") == "1"
    assert "0.875" in driver.execute_script("return document.querySelector('#runs tr:not([hidden]) td:last-child').textContent")
    assert _severe(driver) == []


def test_static_site_pages_work_from_files(browser, tmp_path):
    driver, _, root = browser
    out = tmp_path / "site"
    export_site(root, out)
    driver.get(f"{(out / 'compare.html').as_uri()}?run={A}&run={B}")
    svg = _wait(lambda: driver.find_elements("css selector", "#compare-chart svg"), what="the static comparison")[0]
    assert svg.get_attribute("data-series") == "2"
    driver.get((out / "runs" / "mlp-digits" / "20260101-000001" / "index.html").as_uri())
    _wait(lambda: driver.find_elements("css selector", "#curve-chart svg"), what="the static run page")
    assert _severe(driver) == []
