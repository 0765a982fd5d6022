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
from an2dl.models.segmentation import overlap_tile_predict
from an2dl.recipes.run_commands import evaluate_run, load_run_task, predict_run
from an2dl.recipes.segmentation._common import model_outputs


@pytest.mark.slow
def test_unet_beats_the_encoder_decoder_and_the_fcn_on_the_same_images_and_budget(tmp_path):
    """Skips carry the detail the bottleneck loses (notes §3.5.1.2): thin synthetic membranes (48x48), one
    encoder (8 base channels, 3 poolings, no batch norm), 130 Adam steps each.

    Measured on seeds 0, 1, 2 (trainer.seed): test mean IoU U-Net 0.909 / 0.882 / 0.880, FCN 0.803 / 0.768 /
    0.803, encoder-decoder 0.436 / 0.303 / 0.136; margins over the FCN 0.106 / 0.114 / 0.076 and over the
    encoder-decoder 0.47 / 0.58 / 0.74.  The thresholds sit at half the smallest.
    """
    res = an2dl.run("encoder-decoder-vs-unet", ["data.name=cells", "data.n_train=96", "data.n_val=8", "data.n_test=32",
                                                "data.size=48", "model.base_channels=8", "model.depth=3", "model.batch_norm=false",
                                                "augment.crop=0", "trainer.max_steps=130", "trainer.batch_size=8",
                                                "trainer.val_every_n_steps=130", "checkpoint.every_n_steps=130",
                                                "optim.lr=3e-3"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["margin/fcn"] > 0.038
    assert m["margin/encoder_decoder"] > 0.23
    assert m["best_model"] == "unet"
    doc = json.loads((res.run_dir / "results.json").read_text())
    assert doc["compared"] == ["unet", "encoder_decoder", "fcn"]
    plots = {p.name for p in (res.run_dir / "plots").iterdir()}
    assert {"test_overlays.png", "iou_per_class.png", "validation_mean_iou.png"} <= plots


@pytest.mark.slow
def test_fcn_skip_fusion_beats_the_coarsest_scores(tmp_path):
    """FCN-8s places borders that FCN-32s can only place to within 32 pixels (Long et al. 2015; notes §3.5.1.1).

    Measured on seeds 0, 1, 2 (trainer.seed; 32x32 shapes, 128 training images, 8 epochs): test mean IoU FCN-8s
    0.274 / 0.271 / 0.289, FCN-32s 0.164 / 0.115 / 0.160; margins 0.110 / 0.156 / 0.129.  The threshold sits at
    half the smallest.  FCN-16s, the recipe's middle variant, is left out to halve the cost.
    """
    res = an2dl.run("fcn-shapes", ["data.n_train=128", "data.n_val=16", "data.n_test=32", "data.size=32",
                                   'variants=["fcn32s", "fcn8s"]', "trainer.max_epochs=8"],
                    runs_root=tmp_path, progress=False)
    assert res.metrics["best_model"] == "fcn8s"
    assert res.metrics["margin/fcn32s"] > 0.055


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

    Measured on seeds 0, 1, 2 (trainer.seed; 32x32 shapes, 120 steps each, a loaded 2-core machine): full /
    patch labelled pixels per second 19.5 / 23.4 / 22.6; test mean IoU patch 0.419 / 0.391 / 0.402, full
    0.342 / 0.346 / 0.365 (the background-only prediction scores 0.21).  The thresholds: a ratio of 5, a
    quarter of the smallest (timings vary with the load), and a mean IoU of 0.27, 0.07 under the smallest.
    """
    res = an2dl.run("patch-vs-full", ["data.name=shapes", "data.n_train=64", "data.n_val=8", "data.n_test=16",
                                      "data.size=32", "full_crop=0", "trainer.max_steps=120",
                                      "trainer.val_every_n_steps=120", "checkpoint.every_n_steps=120",
                                      "trainer.batch_size=8", "optim.lr=3e-3"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["pixels_per_s_ratio_full_over_patch"] > 5
    for mode in ("patch", "full"):
        assert m[f"test/mean_iou_{mode}"] > 0.27


@pytest.mark.slow
def test_unpadded_unet_segments_whole_images_tile_by_tile(tmp_path):
    """The paper's network (``model.padding=valid``): trained on valid crops (60 -> 20x20 scores), evaluated by
    overlap-tile prediction on whole 64x64 images (one pass over an image would score only its 24x24 centre).

    Measured on seeds 0, 1, 2 (trainer.seed; synthetic membranes, depth 2, 8 base channels, 40 Adam steps):
    test mean IoU 0.930 / 0.857 / 0.933 against 0.428 for the all-cell prediction (margins 0.50 / 0.43 / 0.51),
    pixel accuracy 0.981 / 0.963 / 0.982 against 0.855 (margins 0.126 / 0.108 / 0.127).  The thresholds sit
    at half the smallest margins.
    """
    res = an2dl.run("unet-membrane", ["data.name=cells", "data.size=64", "data.n_train=64", "data.n_val=4",
                                      "data.n_test=16", "model.padding=valid", "model.base_channels=8", "model.depth=2",
                                      "augment.crop=60", "trainer.max_steps=40", "trainer.batch_size=8",
                                      "trainer.val_every_n_steps=40", "checkpoint.every_n_steps=40", "optim.lr=3e-3",
                                      "overlays=1"], runs_root=tmp_path, progress=False)
    net = res.task.model
    assert net.padding == "valid" and net.output_size(64) == 24  # one pass over an image scores its centre only
    x, m = res.data.test.tensors
    logits = overlap_tile_predict(net.eval(), x)
    assert logits.shape == (16, 2, 64, 64)  # every pixel of every image scored
    pred = logits.argmax(1)
    assert torch.equal(pred, model_outputs(net, x))  # what the evaluation and the report use
    all_cell = float((m == 0).double().mean())  # its accuracy; its mean IoU is half of it (membrane IoU 0)
    accuracy = float((pred == m).double().mean())
    assert accuracy == pytest.approx(res.metrics["test/pixel_accuracy"], abs=1e-6)
    assert accuracy - all_cell > 0.054
    assert res.metrics["test/mean_iou"] - all_cell / 2 > 0.21


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
