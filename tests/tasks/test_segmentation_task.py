"""SegmentationTask (notes §3.5.1): pixel losses and metrics through the engine, valid-padding crops, random
masking, class and border weights, bad masks, mask-aware augmentation and ``an2dl predict``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import an2dl
from an2dl.data import ArrayDataset, BatchError
from an2dl.data.masks import read_mask
from an2dl.data.transforms import RandomHorizontalFlip
from an2dl.engine import OptimizerSpec, Trainer
from an2dl.errors import ConfigError
from an2dl.export import export
from an2dl.losses import pixel_cross_entropy
from an2dl.models.segmentation import UNet, center_crop
from an2dl.recipes.run_commands import predict_run
from an2dl.tasks import BorderWeights, SegmentationTask

g = torch.Generator().manual_seed(0)


def _data(n=8, size=16, k=3):
    x = torch.rand(n, 1, size, size, generator=g)
    m = torch.randint(0, k, (n, size, size), generator=g)
    return x, m


def _task(**kw):
    net = an2dl.get_model("unet", base_channels=2, depth=2, padding="same", num_classes=3)
    return SegmentationTask(net, num_classes=3, class_names=["bg", "a", "b"], optimizer=OptimizerSpec("adam", lr=1e-2),
                            **kw)


def test_metrics_are_pixel_accuracy_iou_and_dice_per_split_with_per_class_iou():
    x, m = _data()
    task = _task()
    trainer = Trainer(max_epochs=1, batch_size=4, progress=False, checkpoint=False)
    trainer.fit(task, ArrayDataset(x, m))
    out = trainer.evaluate(task, ArrayDataset(x, m), split="test")
    for key in ("loss", "pixel_accuracy", "mean_iou", "dice", "iou_bg", "iou_a", "iou_b"):
        assert f"test/{key}" in out
    with torch.no_grad():
        pred = task.model(x).argmax(1)
    assert out["test/pixel_accuracy"] == pytest.approx(float((pred == m).double().mean()), abs=1e-6)
    ious = trainer.eval_artifacts["test/iou_per_class"]
    assert out["test/mean_iou"] == pytest.approx(float(ious.mean()), abs=1e-6)
    assert out["test/iou_a"] == pytest.approx(float(ious[1]), abs=1e-6)


def test_a_valid_unet_is_scored_against_the_centre_of_the_mask():
    net = UNet(base_channels=2, depth=1, num_classes=3)
    task = SegmentationTask(net, num_classes=3)
    size = net.valid_input_size(20)
    x, m = _data(2, size)
    logits = net(x)
    assert logits.shape[-1] < size
    target = task._targets(logits, m)
    assert torch.equal(target, center_crop(m, logits.shape[-2:]))
    loss = task.loss(logits, target, training=False)
    assert torch.allclose(loss, F.cross_entropy(logits, target))
    with pytest.raises(ConfigError, match="cannot be aligned"):
        task._targets(logits, m[..., :-1, :-1])


def test_random_masking_leaves_regions_out_of_the_training_loss_only():
    task = _task(random_mask=0.5, mask_block=4)
    x, m = _data(4, 16)
    torch.manual_seed(3)
    sampled = task._sampled(m)
    dropped = sampled == -1
    assert 0.25 < float(dropped.double().mean()) < 0.75
    blocks = dropped.reshape(4, 4, 4, 4, 4).permute(0, 1, 3, 2, 4).reshape(4, 16, 16)  # each 4x4 block whole
    assert torch.all(blocks.all(-1) | (~blocks).all(-1))
    logits = torch.randn(4, 3, 16, 16)
    torch.manual_seed(3)
    train = task.loss(logits, m, training=True)
    keep = ~dropped
    want = F.cross_entropy(logits.permute(0, 2, 3, 1)[keep], m[keep])
    assert torch.allclose(train, want, atol=1e-6)
    assert torch.allclose(task.loss(logits, m, training=False), F.cross_entropy(logits, m), atol=1e-6)


def test_class_and_border_weights_enter_the_loss():
    w = torch.tensor([0.2, 1.0, 3.0])
    task = _task(class_weights=w, border_weights=BorderWeights(w0=5.0, sigma=2.0, object_classes=(1,)))
    logits, (_, m) = torch.randn(2, 3, 16, 16), _data(2, 16)
    from an2dl.losses import unet_weight_map

    pw = unet_weight_map(m, object_classes=(1,), w0=5.0, sigma=2.0)
    assert torch.allclose(task.loss(logits, m, training=True),
                          pixel_cross_entropy(logits, m, weight=w, pixel_weights=pw), atol=1e-6)
    assert torch.allclose(task.loss(logits, m, training=False), pixel_cross_entropy(logits, m, weight=w), atol=1e-6)
    with pytest.raises(ConfigError, match="class_weights must be 3 non-negative numbers"):
        _task(class_weights=[1.0, 2.0])


def test_bad_masks_are_refused_naming_the_field_the_expectation_and_the_values():
    x, m = _data(4, 16)
    task = _task()
    trainer = Trainer(max_epochs=1, batch_size=4, progress=False, checkpoint=False)
    bad = m.clone()
    bad[0, 0, 0] = 7
    with pytest.raises(BatchError, match=r"batch.mask must hold class ids in \[0, 3\); got \[7\]"):
        trainer.fit(task, ArrayDataset(x, bad))
    with pytest.raises(BatchError, match=r"mask must be \[B, H, W\] = \[4, 16, 16\] like the images .* got \[4, 15, 16\]"):
        trainer.fit(task, ArrayDataset(x, m[:, :15]))
    with pytest.raises(BatchError, match="integer tensor"):
        trainer.fit(task, ArrayDataset(x, m.float()))
    ignoring = SegmentationTask(task.model, num_classes=3, ignore_index=255)
    ok = m.clone()
    ok[:, 0] = 255
    Trainer(max_epochs=1, batch_size=4, progress=False, checkpoint=False).fit(ignoring, ArrayDataset(x, ok))
    with pytest.raises(ConfigError, match="ignore_index must not be a class id"):
        SegmentationTask(task.model, num_classes=3, ignore_index=2)


def test_augmentation_moves_the_mask_with_the_pixels():
    x, m = _data(2, 16)
    task = _task(augment=RandomHorizontalFlip(p=1.0))

    class Ctx:
        split, training = "train", True

    batch = task.prepare_batch((x, m), Ctx())
    assert torch.allclose(batch.inputs, x.flip(-1), atol=1e-5) and torch.equal(batch.mask, m.flip(-1))


def test_predict_writes_the_mask_png_and_an_overlay(tmp_path):
    torch.manual_seed(0)
    net = an2dl.get_model("unet", base_channels=2, depth=2, padding="same", num_classes=3)
    pre = {"pipeline": [{"op": "to_channels", "channels": 1}], "raw_input": {"channels": 1, "size": [16, 16]}}
    export(net, tmp_path / "model", **SegmentationTask.export_metadata(class_names=["bg", "a", "b"],
                                                                       preprocessing=pre))
    image = (np.random.default_rng(0).random((21, 30)) * 255).astype(np.uint8)  # not a multiple of 4: padded
    Image.fromarray(image).save(tmp_path / "cells.png")
    out = predict_run(tmp_path / "model", [str(tmp_path / "cells.png")])
    mask_file, overlay_file = tmp_path / "cells.mask.png", tmp_path / "cells.overlay.png"
    assert out.files == [mask_file, overlay_file]
    assert out.lines[0].startswith(f"{tmp_path / 'cells.png'}: {mask_file}, {overlay_file} (bg ")
    mask = read_mask(mask_file)
    assert mask.shape == (21, 30) and torch.equal(mask, out.values[0][1])
    with Image.open(mask_file) as im:
        assert im.mode == "P"
    with Image.open(overlay_file) as im:
        assert im.size == (30, 21) and im.mode == "RGB"
    x = torch.from_numpy(image).float().div(255).view(1, 1, 21, 30)
    with torch.no_grad():
        want = net.eval()(F.pad(x, (0, 2, 0, 3), mode="reflect"))[..., :21, :30].argmax(1)[0]
    assert torch.equal(mask, want)
    with pytest.raises(ConfigError, match="--top does not apply to the segmentation model"):
        predict_run(tmp_path / "model", [str(tmp_path / "cells.png")], top=2)
