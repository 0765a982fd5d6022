"""The detection benchmark: every detector timed on the same images, ratios to Faster R-CNN."""

from an2dl.bench import BENCHMARKS, run_benchmarks


def test_detection_benchmark_times_every_detector(capsys):
    assert "detection" in BENCHMARKS
    result = run_benchmarks("detection", quick=True)["detection"]
    out = capsys.readouterr().out
    for name in ("sliding_window", "rcnn", "fast_rcnn_selective_search", "faster_rcnn", "yolo"):
        assert result[name]["images_per_s"] > 0 and f"{name}:" in out
        assert result[f"ratio_{name}"] == result[name]["images_per_s"] / result["faster_rcnn"]["images_per_s"]
    assert result["ratio_faster_rcnn"] == 1.0 and result["ratio"] == result["ratio_yolo"]
