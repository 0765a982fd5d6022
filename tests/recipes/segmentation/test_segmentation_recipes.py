"""The §3.5.1 recipes assert the notes' claims (margins measured over seeds, see each test), and a segmentation
run predicts masks and overlays from files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import an2dl
from an2dl.data.masks import read_mask
from an2dl.recipes.run_commands import evaluate_run, load_run_task, predict_run
from an2dl.recipes.segmentation._common import model_outputs


@pytest.mark.slow
def test_unet_beats_the_encoder_decoder_and_the_fcn_on_the_same_images_and_budget(tmp_path):
    """Skips carry the detail the bottleneck loses (notes §3.5.1.2): thin synthetic membranes (48x48), one
    encoder (8 base channels, 3 poolings, no batch norm), 150 Adam steps each.

    Measured on seeds 0, 1, 2: test mean IoU U-Net 0.915 / 0.913 / 0.890, FCN 0.789 / 0.763 / 0.801,
    encoder-decoder 0.521 / 0.258 / 0.409; margins over the FCN 0.125 / 0.150 / 0.089 and over the
    encoder-decoder 0.39 / 0.65 / 0.48.  The thresholds sit at half the smallest.
    """
    res = an2dl.run("encoder-decoder-vs-unet", ["data.name=cells", "data.n_train=96", "data.n_val=16", "data.n_test=32",
                                                "data.size=48", "model.base_channels=8", "model.depth=3", "model.batch_norm=false",
                                                "augment.crop=0", "trainer.max_steps=150", "trainer.batch_size=8",
                                                "trainer.val_every_n_steps=150", "checkpoint.every_n_steps=150",
                                                "optim.lr=3e-3"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["margin/fcn"] > 0.045
    assert m["margin/encoder_decoder"] > 0.19
    assert m["best_model"] == "unet"
    doc = json.loads((res.run_dir / "results.json").read_text())
    assert doc["compared"] == ["unet", "encoder_decoder", "fcn"]
    plots = {p.name for p in (res.run_dir / "plots").iterdir()}
    assert {"test_overlays.png", "iou_per_class.png", "validation_mean_iou.png"} <= plots


@pytest.mark.slow
def test_fcn_skip_fusion_beats_the_coarsest_scores(tmp_path):
    """FCN-8s places borders that FCN-32s can only place to within 32 pixels (Long et al. 2015; notes §3.5.1.1).

    Measured on seeds 0, 1, 2 (32x32 shapes, 15 epochs): test mean IoU FCN-8s 0.299 / 0.347 / 0.291,
    FCN-32s 0.168 / 0.164 / 0.168; margins 0.131 / 0.183 / 0.123.
    """
    res = an2dl.run("fcn-shapes", ["data.n_train=128", "data.n_val=32", "data.n_test=32", "data.size=32",
                                   "trainer.max_epochs=15"], runs_root=tmp_path, progress=False)
    assert res.metrics["margin/fcn32s"] > 0.06


def test_shift_and_stitch_equals_the_dense_sliding_evaluation_at_a_fraction_of_its_cost(tmp_path):
    res = an2dl.run("shift-and-stitch-demo", ["trainer.max_epochs=1", "trainer.max_steps=10", "scene.rows=1",
                                              "scene.cols=2"],
                    runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["scene/max_abs_difference"] < 1e-4  # float32: the same sums in another order
    assert m["scene/shift_and_stitch_passes"] == 16 and m["scene/sliding_windows"] == 32 * 64
    assert (m["scene/heatmap_rows"], m["scene/heatmap_cols"]) == (1, 9)  # one value every 4 pixels
    assert m["scene/speedup_shift_and_stitch_over_sliding"] > 1
    assert {"shift_and_stitch.png", "heat_maps.png"} <= {p.name for p in (res.run_dir / "plots").iterdir()}


@pytest.mark.slow
def test_full_image_training_processes_far_more_pixels_per_second_than_patches(tmp_path):
    """Overlapping patches recompute the same convolutions (notes §3.5.1.3).

    Measured on seeds 0 and 1 (32x32 shapes, 200 steps each, a loaded 2-core machine): full / patch labelled
    pixels per second 11.9 and 17.5; test mean IoU patch 0.52 / 0.42, full 0.35 / 0.33 (the background-only
    prediction scores 0.21).
    """
    res = an2dl.run("patch-vs-full", ["data.name=shapes", "data.n_train=64", "data.n_val=16", "data.n_test=32",
                                      "data.size=32", "full_crop=0", "trainer.max_steps=200",
                                      "trainer.val_every_n_steps=200", "checkpoint.every_n_steps=200",
                                      "trainer.batch_size=8", "optim.lr=3e-3"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["pixels_per_s_ratio_full_over_patch"] > 5
    for mode in ("patch", "full"):
        assert m[f"test/mean_iou_{mode}"] > 0.27


def test_unet_membrane_run_predicts_masks_and_overlays_from_files(tmp_path):
    from conftest import require_data

    root = require_data("membrane")
    res = an2dl.run("unet-membrane", ["data.limit=1", "model.base_channels=4", "model.depth=2", "augment.crop=64",
                                      "trainer.max_steps=2", "trainer.batch_size=1", "trainer.val_every_n_steps=2",
                                      "checkpoint.every_n_steps=2", "overlays=1"], runs_root=tmp_path, progress=False)
    for key in ("test/pixel_accuracy", "test/mean_iou", "test/dice", "test/iou_cell", "test/iou_membrane"):
        assert key in res.metrics
    assert {"test_overlays.png", "iou_per_class.png"} <= {p.name for p in (res.run_dir / "plots").iterdir()}
    meta = json.loads((res.run_dir / "model" / "model.json").read_text())
    assert meta["task"] == "segmentation" and meta["class_names"] == ["cell", "membrane"]
    image = np.asarray(Image.open(root / "train" / "image" / "29.png"))[:300, :200]  # any size
    Image.fromarray(image).save(tmp_path / "section.png")
    out = predict_run(res.run_dir, [str(tmp_path / "section.png")], out=tmp_path / "pred")
    assert [p.name for p in out.files] == ["section.mask.png", "section.overlay.png"]
    assert read_mask(out.files[0]).shape == (300, 200)
    # the mask predict writes for a test section is the evaluation loop's prediction for it
    _, _, task, data = load_run_task(res.run_dir)
    first_test = root / "train" / "image" / "24.png"  # sections 24-29 are the test part
    out = predict_run(res.run_dir, [str(first_test)], out=tmp_path / "pred")
    assert torch.equal(read_mask(out.files[0]), model_outputs(task.model, data.test.tensors[0][:1])[0])
    again = evaluate_run(res.run_dir)
    assert again["test/pixel_accuracy"] == pytest.approx(res.metrics["test/pixel_accuracy"], abs=1e-6)
