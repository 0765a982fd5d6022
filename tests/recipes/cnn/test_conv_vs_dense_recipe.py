"""``conv-vs-dense``: a convolution is a sparse, weight-shared matrix and is translation equivariant (notes §3.3.5)."""

from __future__ import annotations

import json

import pytest

import an2dl
from an2dl.errors import ConfigError


def test_conv_vs_dense_shows_the_notes_claims(tmp_path):
    r = an2dl.run("conv-vs-dense", [], runs_root=tmp_path, progress=False)
    m = r.metrics
    k, c_in, c_out, side = 3, 1, 4, 8  # the defaults: 4 filters 3x3 on the 1-channel 8x8 digits, padding 1
    # parameters: (h·w·C_in)·C_out + C_out against d_in·d_out + d_out, independent of the image for the conv
    assert m["params/conv"] == k * k * c_in * c_out + c_out == 40
    d_in, d_out = c_in * side * side, c_out * side * side
    assert m["params/dense"] == d_in * d_out + d_out == 16640
    for s in (8, 32, 64, 224):
        assert m[f"params/conv_{s}px"] == 40
        assert m[f"params/dense_{s}px"] == (s * s) * (c_out * s * s) + c_out * s * s
    # the matrix: most entries are zero, and the few non-zero ones reuse the same 36 weights
    assert (m["matrix/rows"], m["matrix/columns"]) == (d_out, d_in)
    assert m["matrix/distinct_weights"] == k * k * c_in * c_out
    assert m["matrix/nonzero"] == c_out * c_in * (3 * 8 - 2) ** 2  # per axis the windows cover 2+3·6+2 in-image taps
    assert m["matrix/density"] < 0.15 and m["matrix/uses_per_weight"] > 50
    # the same function as F.conv2d on real digits (float64)
    assert m["equality/max_abs_diff_matrix_vs_conv2d"] < 1e-12
    # translation equivariance: measured 0.0 for the circular convolution, 1.37 for the random dense layer
    # (seeds 0-2: dense 1.28-1.42); zero padding breaks it at the border of these small 8x8 images (0.43-0.60)
    assert m["equivariance/conv_circular"] < 1e-12
    assert m["equivariance/dense"] > 0.5
    assert m["equivariance/conv_circular"] < m["equivariance/conv_zero_padding"] < m["equivariance/dense"]
    plots = r.run_dir / "plots"
    for name in ("conv_matrix", "parameters", "equivariance"):
        assert (plots / f"{name}.png").is_file()
    doc = json.loads((r.run_dir / "results.json").read_text())
    assert doc["metrics"] == json.loads(json.dumps(m)) and (r.run_dir / "report.html").is_file()


@pytest.mark.parametrize("seed", [1, 2])
def test_conv_vs_dense_other_layers_and_seeds(tmp_path, seed):
    r = an2dl.run("conv-vs-dense", [f"trainer.seed={seed}", "out_channels=2", "kernel_size=5", "stride=2",
                                    "padding=2", "images=16", "param_sides=[8]"], runs_root=tmp_path, progress=False)
    m = r.metrics
    assert m["params/conv"] == 5 * 5 * 2 + 2
    assert m["layer/out_features"] == 2 * 4 * 4  # stride 2 halves each side
    assert m["equality/max_abs_diff_matrix_vs_conv2d"] < 1e-12
    assert m["equivariance/conv_circular"] < 1e-12 and m["equivariance/dense"] > 0.5


@pytest.mark.parametrize(
    "setting, match",
    [
        ("kernel_size=0", "kernel_size must be an integer >= 1"),
        ("shift=[1]", "shift must be two integers"),
        ("param_sides=[]", "param_sides must be a non-empty list"),
        ("kernel_size=4", "odd window span"),
    ],
)
def test_conv_vs_dense_bad_settings(tmp_path, setting, match):
    with pytest.raises(ConfigError, match=match):
        an2dl.run("conv-vs-dense", [setting], runs_root=tmp_path, progress=False)
