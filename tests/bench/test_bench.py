"""Benchmarks run and report ratios against their in-process baseline (no timing assertions)."""

from __future__ import annotations

from an2dl.bench import BENCHMARKS, run_benchmarks


def test_engine_overhead_benchmark_reports_a_ratio(capsys):
    result = run_benchmarks("engine_overhead", quick=True)["engine_overhead"]
    assert result["ratio"] == result["ratios"][0] == result["trainer_s"] / result["plain_s"] > 0
    out = capsys.readouterr().out
    assert "ratio Trainer / plain = " in out and "cpus" in out


def test_every_benchmark_is_registered_with_a_docstring():
    assert "engine_overhead" in BENCHMARKS
    for name, fn in BENCHMARKS.items():
        assert (fn.__doc__ or "").strip(), name
