"""The zoo benchmark's measuring code, on a tiny configuration (the full run is `an2dl bench zoo`)."""

from __future__ import annotations

from an2dl.bench import BENCHMARKS
from an2dl.bench.zoo import zoo_throughput


def test_zoo_benchmark_reports_throughput_and_ratios(capsys):
    assert "zoo" in BENCHMARKS
    result = zoo_throughput(("resnet20",), size=16, batch_size=2, steps=1, repeats=1, compile=False)
    row = result["resnet20"]
    assert row["default"] > 0 and row["channels_last"] > 0
    assert row["channels_last_ratio"] == row["channels_last"] / row["default"]
    assert row["compile"] is None and row["compile_ratio"] is None
    out = capsys.readouterr().out
    assert "resnet20" in out and "channels_last" in out and "img/s" in out
