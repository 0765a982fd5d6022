"""Pixel-wise losses of segmentation (notes §3.5.1.2–3): cross-entropy over a region of interest, class weights
from label frequencies, the U-Net border weight map, Dice — against PyTorch and hand computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.losses import (
    class_frequencies,
    class_weights_from_frequencies,
    dice_loss,
    pixel_cross_entropy,
    unet_weight_map,
)

g = torch.Generator().manual_seed(0)
LOGITS = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
MASK = torch.randint(0, 3, (2, 5, 6), generator=g)


def test_pixel_cross_entropy_is_the_mean_of_pixel_losses_over_the_region_of_interest():
    assert torch.allclose(pixel_cross_entropy(LOGITS, MASK), F.cross_entropy(LOGITS, MASK), atol=1e-12)
    roi = MASK.clone()
    roi[:, :2] = 255  # the first two rows are outside the region of interest
    assert torch.allclose(pixel_cross_entropy(LOGITS, roi, ignore_index=255),
                          F.cross_entropy(LOGITS, roi, ignore_index=255), atol=1e-12)
    # summed over the pixels: −Σ log p_{ℓ(x)}(x), written out for one pixel
    one = pixel_cross_entropy(LOGITS[:1, :, :1, :1], MASK[:1, :1, :1], reduction="sum")
    z = LOGITS[0, :, 0, 0]
    assert float(one) == pytest.approx(float(-(z[MASK[0, 0, 0]] - torch.logsumexp(z, 0))))


def test_class_weights_scale_each_pixel_and_the_mean_counts_pixels_not_weights():
    w = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    total = pixel_cross_entropy(LOGITS, MASK, weight=w, reduction="sum")
    assert torch.allclose(total, F.cross_entropy(LOGITS, MASK, weight=w, reduction="sum"), atol=1e-12)
    assert torch.allclose(pixel_cross_entropy(LOGITS, MASK, weight=w), total / MASK.numel(), atol=1e-12)
    # per-pixel weights multiply in
    pw = torch.rand(2, 5, 6, generator=g, dtype=torch.float64)
    per_pixel = F.cross_entropy(LOGITS, MASK, reduction="none") * pw * w[MASK]
    assert torch.allclose(pixel_cross_entropy(LOGITS, MASK, weight=w, pixel_weights=pw, reduction="none"), per_pixel)


def test_class_weights_from_label_frequencies():
    masks = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 2, 255]])
    f = class_frequencies(masks, 3, ignore_index=255)
    assert f.tolist() == pytest.approx([6 / 9, 2 / 9, 1 / 9])
    inv = class_weights_from_frequencies(f)
    assert inv.tolist() == pytest.approx([1 / (3 * 6 / 9), 1 / (3 * 2 / 9), 1 / (3 * 1 / 9)])
    assert float((f * inv.double()).sum()) == pytest.approx(1.0)  # the mean weight of a labelled pixel is 1
    med = class_weights_from_frequencies(f, scheme="median")
    assert med.tolist() == pytest.approx([(2 / 9) / (6 / 9), 1.0, 2.0])
    assert class_weights_from_frequencies(torch.tensor([0.5, 0.0, 0.5])).tolist() == pytest.approx([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\); got values from 0 to 2"):
        class_frequencies(torch.tensor([0, 1, 2]), 2)
    with pytest.raises(ConfigError, match="scheme must be one of"):
        class_weights_from_frequencies(f, scheme="log")


def test_unet_weight_map_by_hand():
    """Two cells 4 pixels apart: a border pixel between them has d1 = d2 = 2 -> w = w_c + w0·exp(−16/2σ²)."""
    mask = torch.zeros(7, 11, dtype=torch.long)  # 0: border/background, 1: cell
    mask[2:5, 1:4] = 1
    mask[2:5, 7:10] = 1
    w = unet_weight_map(mask, object_classes=(1,), w0=10.0, sigma=2.0)
    assert float(w[3, 5]) == pytest.approx(1 + 10 * math.exp(-((2 + 2) ** 2) / (2 * 2.0**2)), rel=1e-6)
    assert float(w[3, 4]) == pytest.approx(1 + 10 * math.exp(-((1 + 3) ** 2) / 8), rel=1e-6)
    assert torch.all(w[mask == 1] == 1)  # inside the cells only the class weight
    far = float(w[0, 5])  # d1 = d2 = sqrt(4 + 4)... the border term decays away from the gap
    assert 1 < far < float(w[3, 5])
    cw = unet_weight_map(mask, class_weights=torch.tensor([0.5, 3.0]), w0=0.0)
    assert torch.equal(cw, torch.tensor([0.5, 3.0])[mask])
    one_cell = torch.zeros(6, 6, dtype=torch.long)
    one_cell[1:3, 1:3] = 1
    assert torch.all(unet_weight_map(one_cell) == 1)  # a single object has no "second nearest"
    batch = unet_weight_map(torch.stack([mask, mask]))
    assert batch.shape == (2, 7, 11) and torch.equal(batch[0], batch[1])


def test_unet_weight_map_equals_the_full_distance_transform():
    """The capped, windowed distances give the formula computed with whole-image distance transforms."""
    from scipy import ndimage

    gen = torch.Generator().manual_seed(1)
    mask = torch.zeros(44, 44, dtype=torch.long)
    for i in range(4):  # 16 cells on a grid, separated by gaps of 2 to 6 pixels
        for j in range(4):
            a, b, c, e = (int(v) for v in torch.randint(1, 4, (4,), generator=gen))
            mask[11 * i + a:11 * (i + 1) - b, 11 * j + c:11 * (j + 1) - e] = 1
    labels, n = ndimage.label(mask.numpy())
    assert n == 16
    d = torch.stack([torch.from_numpy(ndimage.distance_transform_edt(labels != i)) for i in range(1, n + 1)])
    sorted_d = d.sort(dim=0).values
    sigma = 3.0
    want = 1 + 10 * torch.exp(-((sorted_d[0] + sorted_d[1]) ** 2) / (2 * sigma**2)) * (mask == 0)
    got = unet_weight_map(mask, sigma=sigma).double()
    assert (got - want).abs().max() < 10 * math.exp(-8)


def test_dice_loss():
    perfect = F.one_hot(MASK, 3).permute(0, 3, 1, 2).double() * 50
    assert float(dice_loss(perfect, MASK)) == pytest.approx(0.0, abs=1e-6)
    p = LOGITS.softmax(1)
    g1 = F.one_hot(MASK, 3).permute(0, 3, 1, 2).double()
    want = 1 - ((2 * (p * g1).sum((0, 2, 3)) + 1) / (p.sum((0, 2, 3)) + g1.sum((0, 2, 3)) + 1)).mean()
    assert torch.allclose(dice_loss(LOGITS, MASK), want, atol=1e-12)
    roi = MASK.clone()
    roi[0] = 255
    assert torch.allclose(dice_loss(LOGITS, roi, ignore_index=255), dice_loss(LOGITS[1:], MASK[1:]), atol=1e-12)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"mask must be \[B, H, W\] = \[2, 5, 6\]"):
        pixel_cross_entropy(LOGITS, MASK[:, :4])
    with pytest.raises(TypeError, match="integer class ids"):
        dice_loss(LOGITS, MASK.float())
    with pytest.raises(ConfigError, match="reduction must be"):
        pixel_cross_entropy(LOGITS, MASK, reduction="avg")
