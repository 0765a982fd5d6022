"""The run browser's reading of run directories (no server): statuses, broken files, safe paths, the static site."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _serve_support import hold_lock, make_run, metric_row, write_log

from an2dl.errors import ConfigError
from an2dl.serve import RunIndex, export_site, resolve_inside
from an2dl.serve.runs import key_metrics, read_metric_rows
from an2dl.serve.site import SITE_MARKER


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "mlp-digits", "20260101-000001")
    make_run(root, "mlp-digits", "20260101-000002", finished=False, running=True)
    dead = make_run(root, "mlp-digits", "20260101-000003", finished=False)
    hold_lock(dead, pid=2**22 + 12345)  # no such process: a run killed outright
    make_run(root, "mlp-digits", "20260101-000004", finished=False, checkpoint=True)
    make_run(root, "mlp-digits", "20260101-000005", finished=False)
    bad = make_run(root, "lenet5-digits", "20260101-000006")
    (bad / "results.json").write_text('{"metrics": {"test/acc')  # cut off
    return root


def test_every_status_is_read_from_the_files(runs):
    got = {s.id: s.status for s in RunIndex(runs).runs()}
    assert got == {
        "mlp-digits/20260101-000001": "finished",
        "mlp-digits/20260101-000002": "running",
        "mlp-digits/20260101-000003": "interrupted",  # stale lock
        "mlp-digits/20260101-000004": "interrupted",  # a checkpoint to resume from
        "mlp-digits/20260101-000005": "failed",
        "lenet5-digits/20260101-000006": "corrupt",
    }


def test_summary_has_recipe_section_start_wall_time_and_metrics(runs):
    s = {s.id: s for s in RunIndex(runs).runs()}
    done = s["mlp-digits/20260101-000001"]
    assert done.recipe == "mlp-digits" and done.section  # from the recipe registry
    assert done.started == "2026-01-01 00:00:01" and done.wall_s == pytest.approx(0.5)
    assert set(done.metrics) == {"test/accuracy", "test/loss"}
    running = s["mlp-digits/20260101-000002"]
    assert running.metrics["val/loss"] == pytest.approx(2.2 / 6)  # the last log row while it runs
    assert running.resume_command.startswith("an2dl resume ") and str(running.path) in running.resume_command
    assert any("results.json is not valid JSON" in p for p in s["lenet5-digits/20260101-000006"].problems)
    # newest first
    assert [x.id for x in RunIndex(runs).runs()][0] == "lenet5-digits/20260101-000006"


def test_a_half_written_metric_log_is_read_up_to_the_cut(tmp_path):
    run = make_run(tmp_path / "runs", "mlp-digits", "20260101-000001", finished=False)
    text = (run / "metrics.jsonl").read_text()
    (run / "metrics.jsonl").write_text(text + '{"epoch": 6, "step": 60, "val/lo')
    rows, problems = read_metric_rows(run)
    assert len(rows) == 5 and problems == ["metrics.jsonl line 6 is not valid JSON (cut off?); skipped"]
    write_log(run, [{**metric_row(10), "val/loss": float("nan")}])
    rows, _ = read_metric_rows(run)
    assert rows[0]["val/loss"] is None  # JSON has no NaN
    (run / "metrics.jsonl").unlink()
    (run / "metrics.csv").write_text("epoch,step,val/loss,note\n1,10,0.5,x\n2,20,,\n")
    rows, problems = read_metric_rows(run)
    assert rows == [{"epoch": 1, "step": 10, "val/loss": 0.5}, {"epoch": 2, "step": 20}]
    assert problems == ["metrics.csv line 2: note='x' is not a number"]


def test_odd_files_are_listed_as_problems_never_raised(tmp_path):
    run = tmp_path / "runs" / "mlp-digits" / "20260101-000001"
    (run / "config.json").mkdir(parents=True)  # a folder where a file belongs
    (run / "results.json").write_text("[1, 2]")
    (run / "metrics.jsonl").write_text('[1]\n{"epoch": 1, "step": 3, "val/loss": "x", "ok": 0.5}\n')
    (run / "plots").mkdir()
    (run / "plots" / "index.json").write_text("{oops")
    (run / "checkpoints").write_text("not a folder")
    index = RunIndex(tmp_path / "runs")
    [s] = index.runs()
    assert s.status == "corrupt" and s.recipe == "mlp-digits"
    details = index.details(run)
    assert details["rows"] == [{"epoch": 1, "step": 3, "ok": 0.5}] and details["checkpoints"] == []
    problems = " | ".join(details["summary"].problems)
    for expected in ("config.json unreadable", "results.json is not a JSON object",
                     "metrics.jsonl line 1 is not a JSON object", "plots/index.json is not valid JSON"):
        assert expected in problems


def test_key_metrics_put_test_then_validation_first():
    m = {"train/loss": 1.0, "val/loss": 0.5, "test/accuracy": 0.9, "converged": True, "epochs": 3}
    assert key_metrics(m) == [("test/accuracy", 0.9), ("val/loss", 0.5), ("train/loss", 1.0)]


def test_runs_dir_must_be_a_folder_of_runs(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        RunIndex(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        RunIndex(tmp_path / "file")
    run = make_run(tmp_path / "runs", "mlp-digits", "20260101-000001")
    with pytest.raises(ConfigError, match="is a run directory itself"):
        RunIndex(run)


def test_only_files_inside_the_root_resolve(tmp_path):
    root = tmp_path / "root"
    (root / "plots").mkdir(parents=True)
    (root / "plots" / "a.png").write_bytes(b"png")
    (root / ".an2dl.lock").write_text("{}")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "out.txt")
    os.symlink(tmp_path, root / "up")
    os.symlink(root / "plots" / "a.png", root / "in.png")
    assert resolve_inside(root, "plots/a.png") == (root / "plots" / "a.png").resolve()
    assert resolve_inside(root, "in.png") is not None  # a link that stays inside is fine
    for bad in ("../secret.txt", "plots/../../secret.txt", str(tmp_path / "secret.txt"), "/etc/passwd",
                "out.txt", "up/secret.txt", ".an2dl.lock", "plots", "", "plots/a.png\x00", "plots\\a.png",
                "C:/x", "./plots/a.png", "%2e%2e/secret.txt"):
        assert resolve_inside(root, bad) is None, bad


def test_the_index_never_lists_or_finds_runs_through_links_or_hidden_folders(runs, tmp_path):
    outside = make_run(tmp_path / "elsewhere", "mlp-digits", "20260101-000009")
    os.symlink(outside, runs / "mlp-digits" / "linked")
    make_run(runs / "mlp-digits" / ".replaced-20260101-000000", "x", "20260101-000001")
    index = RunIndex(runs)
    ids = [s.id for s in index.runs()]
    assert "mlp-digits/linked" not in ids and not any(".replaced" in i for i in ids)
    assert index.find("mlp-digits/linked") is None
    assert index.find("../elsewhere/mlp-digits/20260101-000009") is None
    assert index.find("mlp-digits") is None  # a folder of runs, not a run
    assert index.file("mlp-digits/20260101-000001", "results.json") is not None


def test_static_site_holds_every_page_and_the_numbers(runs, tmp_path):
    out = tmp_path / "site"
    assert export_site(runs, out) == out / "index.html"
    index = (out / "index.html").read_text()
    assert "mlp-digits/20260101-000002" in index and "corrupt" in index
    run_page = out / "runs" / "mlp-digits" / "20260101-000001" / "index.html"
    assert "an2dl resume" in run_page.read_text() and "../../../static/app.js" in run_page.read_text()
    data = json.loads((out / "data" / "mlp-digits" / "20260101-000001.json").read_text())
    assert len(data["rows"]) == 5 and data["summary"]["status"] == "finished"
    assert (out / "data" / "mlp-digits" / "20260101-000001.js").read_text().startswith("(window.AN2DL_RUNS")
    assert (out / "files" / "mlp-digits" / "20260101-000001" / "report.html").is_file()
    assert (out / "static" / "app.js").is_file() and (out / "compare.html").is_file()
    assert not list(out.rglob(".an2dl.lock"))
    export_site(runs, out)  # a site written before is replaced
    with pytest.raises(ConfigError, match="inside RUNS_DIR"):
        export_site(runs, runs / "site")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="other files"):
        export_site(runs, other)
    assert (out / SITE_MARKER).is_file()


def test_report_site_command_and_serve_errors(runs, tmp_path, capsys):
    from an2dl.cli.main import main

    assert main(["report", str(runs), "--site", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "s" / "index.html")
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report"]) == 2
    assert "needs RUN_DIR" in capsys.readouterr().err


def test_the_web_stack_is_imported_only_by_the_server():
    """``import an2dl`` and the other commands do not import starlette; without it the server names the extra."""
    code = (
        "import sys, an2dl, an2dl.serve, an2dl.cli.main\n"
        "assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules\n"
        "sys.modules['starlette'] = None\n"
        "try:\n"
        "    import an2dl.serve.app\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ConfigError" in out.stdout and "pip install 'an2dl[serve]'" in out.stdout
