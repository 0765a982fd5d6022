"""The recurrent benchmark: written-out path, fast path and PyTorch's modules at the same sizes."""

from an2dl.bench import BENCHMARKS, run_benchmarks


def test_recurrent_benchmark_reports_tokens_per_second_and_ratios(capsys):
    assert "recurrent" in BENCHMARKS
    result = run_benchmarks("recurrent", quick=True)["recurrent"]
    out = capsys.readouterr().out
    assert "ratio fast path / torch" in out and "torch.nn.LSTM" in out and "torch.nn.GRU" in out
    for cell in ("lstm", "gru"):
        r = result[cell]
        assert r["fused_tokens_per_s"] > 0 and r["torch_tokens_per_s"] > 0 and r["cells_tokens_per_s"] > 0
        assert r["ratio_fused_vs_torch"] == r["fused_s"] / r["torch_s"]
    # speed itself is the benchmark's to report (full-size figure: ~1.0), not a test's: a loaded machine
    # can slow either side of a ratio measured in milliseconds
