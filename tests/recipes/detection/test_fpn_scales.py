"""``fpn-scales`` asserts what the Feature Pyramid Network adds on small objects (notes §3.5.5.2), with margins
measured over seeds.

The same four-block CNN detects shapes of 7 to 72 px in 96-px images, once from its last (stride-8) map and
once through an FPN on its blocks 1-3; the FPN variant's AP on small objects (COCO: box area below 32² px) is
clearly higher.
"""

from __future__ import annotations

import pytest

import an2dl

#: a short run: 96 training images, 3 epochs, 48 test images (the default is 512 images, 8 epochs)
SETTINGS = ["data.n_train=96", "data.n_val=8", "data.n_test=48", "trainer.max_epochs=3", "trainer.accelerator=cpu"]


@pytest.mark.slow
def test_the_fpn_raises_the_ap_of_small_objects(tmp_path):
    """Measured with OMP_NUM_THREADS=1 (trainer.seed = data.seed = 0, 1, 2): test AP_small 0.014, 0.042, 0.014 on
    one map against 0.105, 0.107, 0.092 with the FPN (gain +0.091, +0.065, +0.078); AP_medium 0.085, 0.137, 0.068
    against 0.167, 0.208, 0.124; 25-32 s of CPU each.  At this short budget the FPN is ahead on every size; with
    256 images and 6 epochs (seeds 0, 1; 133-148 s of CPU) the gain concentrates on small objects: AP_small
    0.203 -> 0.314 and 0.233 -> 0.310 (+0.111, +0.077), AP_medium 0.317 -> 0.333 and 0.413 -> 0.395 (+0.016,
    -0.018) — that contrast is reported, not asserted (two seeds, too slow for the suite)."""
    result = an2dl.run("fpn-scales", SETTINGS, runs_root=tmp_path, progress=False)
    m = result.metrics
    assert m["test/map_small_fpn"] >= m["test/map_small_single"] + 0.03
    assert m["fpn_gain/map_small"] == pytest.approx(m["test/map_small_fpn"] - m["test/map_small_single"])
    assert m["test/map_small_fpn"] >= 0.06
    assert (result.run_dir / "plots" / "ap_by_size.png").exists()
