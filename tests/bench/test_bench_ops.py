"""The box-operations benchmark: vectorised IoU, NMS and RoIAlign against per-box loops, same results."""

from an2dl.bench import BENCHMARKS, run_benchmarks


def test_ops_benchmark_reports_ratios_and_agreeing_results(capsys):
    assert "ops" in BENCHMARKS
    result = run_benchmarks("ops", quick=True)["ops"]
    out = capsys.readouterr().out
    for label in ("box_iou  N=", "nms      N=", "roi_align K="):
        assert label in out
    assert "same result: False" not in out
    cases = {k: v for k, v in result.items() if isinstance(v, dict)}
    assert set(cases) == {"iou_300", "nms_300", "roi_align_50"}
    for case in cases.values():
        assert case["same"] and case["loop_s"] > 0 and case["ours_s"] > 0
        assert case["ratio"] == case["loop_s"] / case["ours_s"]
    assert result["ratio"] == min(case["ratio"] for case in cases.values())
