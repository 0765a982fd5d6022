"""The scaling benchmark on its quick setting (the full run is `an2dl bench scaling`)."""

from __future__ import annotations

import pytest

from an2dl.bench import BENCHMARKS, run_benchmarks
from an2dl.errors import ConfigError


@pytest.mark.slow  # starts a 1-process and a 2-process (torchrun) training: about 20 s on 2 cores
def test_scaling_benchmark_reports_the_two_process_over_one_process_ratio(capsys):
    result = run_benchmarks("scaling", quick=True)["scaling"]
    assert result["one_process_samples_per_s"][0] > 0 and result["two_process_samples_per_s"][0] > 0
    assert result["ratio"] == result["ratios"][0] == (
        result["two_process_samples_per_s"][0] / result["one_process_samples_per_s"][0])
    out = capsys.readouterr().out
    assert "ratio 2 processes / 1 process = " in out and "samples/s" in out and "cpus" in out


def test_scaling_worker_entry_names_what_it_expects():
    from an2dl.bench.scaling import _main

    assert "scaling" in BENCHMARKS
    with pytest.raises(ConfigError, match="--worker STEPS WARMUP BATCH THREADS; got"):
        _main(["--steps", "3"])
