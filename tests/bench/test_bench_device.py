"""The device-path benchmark on its quick setting (the full run is `an2dl bench device`)."""

from __future__ import annotations

import pytest

from an2dl.bench import run_benchmarks
from an2dl.bench.device_path import VARIANTS


@pytest.mark.slow  # trains a small ResNet and GPT once per variant: about 5 s on 2 cores
def test_device_benchmark_reports_each_variant_against_float32(capsys):
    result = run_benchmarks("device", quick=True)["device"]
    rows = result["variants"]
    assert set(rows) == set(VARIANTS) - {"compiled"}  # quick leaves compilation out
    for variant, row in rows.items():
        assert row["images_per_s"] > 0
        assert row["images_per_s_ratio"] == pytest.approx(row["images_per_s"] / rows["fp32"]["images_per_s"])
        # the layout applies to images only: the GPT is not timed again for it
        assert ("tokens_per_s" in row) == (not VARIANTS[variant].get("channels_last"))
    assert rows["fp32"]["images_per_s_ratio"] == rows["fp32"]["tokens_per_s_ratio"] == 1.0
    out = capsys.readouterr().out
    assert "images/s (x1.00)" in out and "tokens/s" in out and result["device"] in ("cpu", "cuda")
