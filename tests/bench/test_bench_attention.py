"""The attention benchmark at tiny sizes: written-out vs fused attention, our Transformer vs nn.Transformer."""

import torch

from an2dl.bench import BENCHMARKS, run_benchmarks
from an2dl.bench.attention import peak_tensor_bytes


def test_attention_benchmark_reports_time_and_memory_ratios(capsys):
    assert "attention" in BENCHMARKS
    result = run_benchmarks("attention", quick=True)["attention"]
    out = capsys.readouterr().out
    assert "time ratio" in out and "ratio an2dl / torch" in out and "torch.nn.Transformer" in out
    for T in (32, 64):
        r = result["attention"][T]
        assert r["written_s"] > 0 and r["fused_s"] > 0
        assert r["time_ratio_written_vs_fused"] == r["written_s"] / r["fused_s"]
        # the written-out path holds the [B, h, T, T] scores; the fused kernel returns only [B, h, T, d]
        assert r["written_bytes"] >= 2 * 1 * 2 * T * T * 4 > r["fused_bytes"] >= 1 * 2 * T * 16 * 4
    t = result["transformer"]
    assert t["ours_tokens_per_s"] > 0 and t["torch_tokens_per_s"] > 0
    assert t["ratio_ours_vs_torch"] == t["ours_s"] / t["torch_s"]
    # the ratio itself is the benchmark's to report (full size: docs/decisions.md), not a test's


def test_peak_tensor_bytes_counts_what_is_alive_at_once():
    x = torch.ones(1000)  # 4000 bytes, an input: not counted

    def two_live() -> torch.Tensor:
        a = x * 2  # 4000
        b = a + 1  # 8000 alive
        return b.sum()

    def one_at_a_time() -> torch.Tensor:
        return (x * 2).sum() + (x * 3).sum()  # each product is freed before the next

    assert peak_tensor_bytes(two_live) >= 8000
    assert 4000 <= peak_tensor_bytes(one_at_a_time) < 8000
