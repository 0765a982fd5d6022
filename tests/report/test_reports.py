"""Run reports: compared methods as one table, each setting once, integer epoch ticks, legends off the data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from an2dl.report.html import comparison_table, write_report
from an2dl.report.layout import legend_covers_data, tidy_figure
from an2dl.report.plots import figure


def _rows(html: str, table_start: int) -> list[list[str]]:
    end = html.index("</table>", table_start)
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", html[table_start:end])]


def test_comparison_table_groups_variant_metrics():
    metrics = {
        "test/baseline_mse": 0.17,
        "test/mse_rnn": 0.16, "val/mse_rnn": 0.15, "solved_rnn": False, "grad_ratio_initial_rnn": 1e-9,
        "test/mse_lstm": 0.001, "val/mse_lstm": 0.002, "solved_lstm": True, "grad_ratio_initial_lstm": 1e-3,
        "test/mse_bilstm": 0.003,  # a longer name is not split into "bi" + lstm
        "adam/train_loss": 0.4, "test/accuracy_adam_50": 0.9, "test/accuracy_adam_50_std": 0.01,
    }
    columns, table, rest = comparison_table(metrics, ["rnn", "lstm", "bilstm", "adam"])
    assert columns == ["test/mse", "val/mse", "solved", "grad_ratio_initial", "train_loss", "test/accuracy_50",
                       "test/accuracy_50_std"]
    assert table["rnn"] == {"test/mse": 0.16, "val/mse": 0.15, "solved": False, "grad_ratio_initial": 1e-9}
    assert table["lstm"]["test/mse"] == 0.001 and table["bilstm"] == {"test/mse": 0.003}
    assert table["adam"] == {"train_loss": 0.4, "test/accuracy_50": 0.9, "test/accuracy_50_std": 0.01}
    assert rest == ["test/baseline_mse"]


def _run_dir(tmp_path, results, config):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_report_shows_compared_methods_as_a_method_by_metric_table(tmp_path):
    metrics = {"test/rmse_persistence": 0.33}
    for name, rmse in (("rnn", 0.21), ("lstm", 0.2), ("gru", 0.19)):
        metrics.update({f"test/rmse_{name}": rmse, f"val/rmse_{name}": rmse + 0.01, f"fit_seconds_{name}": 3.0})
    run = _run_dir(tmp_path, {"metrics": metrics, "compared": ["rnn", "lstm", "gru"]},
                   {"config": {"recipe": "forecast-sine"}})
    page = write_report(run).read_text()
    start = page.index("<table class='comparison'>")
    assert _rows(page, start) == [
        ["method", "test/rmse", "val/rmse", "fit_seconds"],
        ["rnn", "0.21", "0.22", "3"],
        ["lstm", "0.2", "0.21", "3"],
        ["gru", "0.19", "0.2", "3"],
    ]
    rest = _rows(page, page.index("<table>", start))
    assert rest == [["test/rmse_persistence", "0.33"]]  # what names no method stays a plain row
    # without the list of compared methods, the results stay one row per key
    (run / "results.json").write_text(json.dumps({"metrics": metrics}))
    page = write_report(run).read_text()
    assert "class='comparison'" not in page and len(_rows(page, page.index("<h2>Results</h2>"))) == len(metrics)


def test_configuration_lists_every_setting_once(tmp_path):
    config = {
        "trainer": {"max_epochs": 3, "batch_size": 32, "eval_batch_size": 64, "shuffle": True, "seed": 0},
        "config": {"recipe": "lenet5-digits", "data": {"val_fraction": 0.1},
                   "trainer": {"max_epochs": 3, "batch_size": 32, "eval_batch_size": None, "seed": 0}},
    }
    run = _run_dir(tmp_path, {"metrics": {"test/accuracy": 0.9}}, config)
    page = write_report(run).read_text()
    start = page.index("<h2>Configuration</h2>")
    rows = dict(_rows(page, start))
    names = [r[0] for r in _rows(page, start)]
    assert len(names) == len(set(names))
    assert rows == {"recipe": "lenet5-digits", "data.val_fraction": "0.1", "trainer.max_epochs": "3",
                    "trainer.batch_size": "32", "trainer.eval_batch_size": "64", "trainer.seed": "0",
                    "trainer.shuffle": "True"}


def _epoch_ticks(ax):
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def test_epoch_axes_get_integer_ticks():
    fig = figure(figsize=(4, 3))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([1, 2], [0.9, 0.5], "-o")
    ax.set_xlabel("epoch")
    fig.canvas.draw()
    assert any(t != int(t) for t in _epoch_ticks(ax))  # matplotlib's own choice: 1.0, 1.2, ...
    tidy_figure(fig)
    fig.canvas.draw()
    assert _epoch_ticks(ax) and all(t == int(t) for t in _epoch_ticks(ax))


def _crowded(ax, n=4):
    x = np.linspace(0, 1, 50)
    for i in range(n):
        ax.plot(x, np.full_like(x, 0.2 + 0.2 * i), label=f"series {i}")  # flat lines across the whole axes
    ax.set_ylim(0, 1)


def test_a_legend_that_covers_data_moves_off_it():
    fig = figure(figsize=(5, 3))
    ax = fig.add_subplot(1, 1, 1)
    _crowded(ax)
    ax.legend(loc="center")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert legend_covers_data(ax, renderer)
    placed = tidy_figure(fig)
    fig.canvas.draw()
    assert placed == {"0": "outside right"} and not legend_covers_data(ax, fig.canvas.get_renderer())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"series {i}" for i in range(4)]
    assert ax.get_legend().get_window_extent(renderer).x0 > ax.get_window_extent(renderer).x1


def test_a_legend_moves_inside_when_a_corner_is_free_and_stays_when_it_covers_nothing():
    fig = figure(figsize=(5, 3))
    ax = fig.add_subplot(1, 1, 1)
    x = np.linspace(0, 1, 50)
    ax.plot(x, 0.95 - 0.9 * x, label="falling")  # through the lower right corner; the upper right is empty
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.canvas.draw()
    assert legend_covers_data(ax, fig.canvas.get_renderer())
    placed = tidy_figure(fig)
    fig.canvas.draw()
    assert placed == {"0": "upper right"}
    assert not legend_covers_data(ax, fig.canvas.get_renderer())
    assert tidy_figure(fig) == {"0": "kept"}


def test_left_plot_of_a_pair_puts_its_legend_below(tmp_path):
    fig = figure(figsize=(8, 3))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for ax in (left, right):
        _crowded(ax)
        ax.legend(loc="center")
    assert tidy_figure(fig) == {"0": "below", "1": "outside right"}


def test_save_figure_applies_the_house_style(tmp_path, monkeypatch):
    import an2dl.report.layout as layout
    from an2dl.report.plots import save_figure

    seen = []
    monkeypatch.setattr(layout, "tidy_figure", lambda fig: seen.append(fig) or {})
    fig = figure()
    fig.add_subplot(1, 1, 1).plot([1, 2], [3, 4])
    path = save_figure(fig, tmp_path, "plot", "a caption")
    assert seen == [fig] and path.is_file()


@pytest.mark.parametrize("n_epochs", [2, 3])
def test_training_curves_have_integer_epoch_ticks(tmp_path, monkeypatch, n_epochs):
    import an2dl.report.layout as layout
    from an2dl.report.plots import plot_curves

    ticks = []
    real = layout.tidy_figure

    def record(fig):
        out = real(fig)
        fig.canvas.draw()
        ticks.extend(_epoch_ticks(fig.get_axes()[0]))
        return out

    monkeypatch.setattr(layout, "tidy_figure", record)
    history = [{"epoch": e, "step": 10 * e, "train/loss": 1.0 / e, "val/loss": 1.2 / e} for e in range(1, n_epochs + 1)]
    plot_curves(history, tmp_path)
    assert ticks and all(t == int(t) for t in ticks)
