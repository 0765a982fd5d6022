"""Segmentation networks (notes §3.5.1): U-Net arithmetic and tiling, the encoder–decoder, FCNs,
classifiers made fully convolutional, heat maps and shift and stitch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.models.segmentation import (
    DenseFCN,
    FullyConvolutional,
    UNet,
    convolutionalize,
    dense_to_conv,
    overlap_tile_predict,
    segment,
    shift_and_stitch,
    sliding_window_scores,
    upsample_heatmap,
)
from an2dl.models.segmentation._blocks import center_crop


def _conv_params(c_in: int, c_out: int, k: int) -> int:
    return k * k * c_in * c_out + c_out


def test_unet_has_the_papers_sizes_and_parameters():
    """572x572 -> 388x388 with four poolings (Ronneberger et al. 2015, Fig. 1); 3x3 convs, 2x2 up-convs, 1x1 output."""
    net = an2dl.get_model("unet", in_channels=1, num_classes=2)
    assert net.output_size(572) == 388
    assert net.context() == 92
    ch = [64, 128, 256, 512, 1024]
    want = sum(_conv_params(a, c, 3) + _conv_params(c, c, 3) for a, c in zip([1, *ch[:-1]], ch))  # contracting
    want += sum(_conv_params(ch[i + 1], ch[i], 2) for i in range(4))  # up-convolutions
    want += sum(_conv_params(2 * c, c, 3) + _conv_params(c, c, 3) for c in ch[:-1])  # expanding
    want += _conv_params(64, 2, 1)
    assert sum(p.numel() for p in net.parameters()) == want == 31_030_658


def test_an_input_size_unet_cannot_take_names_the_nearest_valid_sizes():
    net = UNet(base_channels=2, depth=4)
    with pytest.raises(ConfigError, match=r"padding='valid'\) takes input sides .*got 570; the nearest valid sides are 556 or 572"):
        net(torch.zeros(1, 1, 570, 572))
    same = UNet(base_channels=2, depth=3, padding="same")
    with pytest.raises(ConfigError, match=r"multiples of 2\*\*depth = 8; got 60; the nearest valid sides are 56 or 64"):
        same(torch.zeros(1, 1, 64, 60))
    with pytest.raises(ValueError, match=r"expects images of shape \[B, 1, H, W\]"):
        same(torch.zeros(1, 3, 64, 64))


def test_valid_unet_crops_skips_and_outputs_the_centre():
    net = UNet(base_channels=4, depth=2, num_classes=3)
    size = net.valid_input_size(50)
    out = net(torch.rand(2, 1, size, size))
    assert out.shape == (2, 3, net.output_size(size), net.output_size(size))
    assert size - net.output_size(size) == 2 * net.context()
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(center_crop(x, (2, 2))[0, 0], torch.tensor([[14.0, 15.0], [20.0, 21.0]]))


def test_same_padding_unet_and_encoder_decoder_keep_the_size():
    unet = an2dl.get_model("unet", padding="same", base_channels=4, depth=3, num_classes=3)
    plain = an2dl.get_model("encoder_decoder", padding="same", base_channels=4, depth=3, num_classes=3)
    x = torch.rand(2, 1, 32, 24)
    assert unet(x).shape == plain(x).shape == (2, 3, 32, 24)
    # the skips are the only difference: the decoder blocks read 2c channels in the U-Net, c without skips
    fewer = sum(p.numel() for p in unet.parameters()) - sum(p.numel() for p in plain.parameters())
    assert fewer == sum(9 * c * c for c in (4, 8, 16))


def test_the_encoder_decoder_sees_fine_detail_only_through_its_bottleneck():
    """Moving one pixel inside a 2^depth block changes the U-Net's output there; without skips, much less."""
    torch.manual_seed(0)
    unet = UNet(base_channels=4, depth=2, padding="same").double().eval()
    plain = an2dl.models.segmentation.EncoderDecoder(base_channels=4, depth=2, padding="same").double().eval()
    plain.encoder.load_state_dict(unet.encoder.state_dict())
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    y = x.clone()
    y[..., 5, 5], y[..., 5, 6] = x[..., 5, 6], x[..., 5, 5]  # swap two neighbours in the same 4x4 block
    with torch.no_grad():
        assert (unet(x) - unet(y)).abs().max() > 0
        # the encoder-decoder's bottleneck is max-pooled over the block; a swap inside it can only reach
        # the output through the level-0 and level-1 maps, which it never sees
        deep = plain.encoder.forward_intermediates(x)[-1] - plain.encoder.forward_intermediates(y)[-1]
    assert deep.abs().max() < (unet.encoder.forward_intermediates(x)[0] - unet.encoder.forward_intermediates(y)[0]).abs().max()


def test_overlap_tile_prediction_equals_one_pass_over_the_mirrored_image():
    torch.manual_seed(0)
    net = UNet(base_channels=2, depth=2, num_classes=2).double().eval()
    image = torch.rand(1, 1, 45, 38, dtype=torch.float64)
    tiled = overlap_tile_predict(net, image, tile=net.valid_input_size(60), batch_size=3)
    assert tiled.shape == (1, 2, 45, 38)
    m = net.context()
    for pad_h in range(0, 32):
        if net.is_valid_size(45 + 2 * m + pad_h):
            break
    for pad_w in range(0, 32):
        if net.is_valid_size(38 + 2 * m + pad_w):
            break
    mirrored = torch.nn.functional.pad(image, (m, m + pad_w, m, m + pad_h), mode="reflect")
    whole = net(mirrored)[..., :45, :38]
    assert torch.allclose(tiled.double(), whole, atol=1e-6)
    same = UNet(base_channels=2, depth=2, padding="same").eval()
    assert segment(same, torch.rand(2, 1, 13, 10)).shape == (2, 2, 13, 10)


def test_fcn_variants_fuse_finer_stages_and_take_any_size():
    for skips in (0, 1, 2):
        net = an2dl.get_model("fcn", base_channels=4, depth=3, skips=skips, num_classes=3)
        assert net(torch.rand(2, 1, 21, 30)).shape == (2, 3, 21, 30)
        assert net.final_factor == 8 // 2 ** skips
    with pytest.raises(ConfigError, match="skips must be 0"):
        an2dl.get_model("fcn", skips=3)
    vgg = an2dl.get_model("fcn8s", num_classes=5, backbone_kwargs={"small_input": True})
    assert vgg.reduction == 32 and vgg(torch.rand(1, 3, 40, 40)).shape == (1, 5, 40, 40)
    assert not hasattr(vgg.encoder, "classifier")  # the classifier's top layers are gone


def test_a_dense_layer_is_a_convolution_over_the_map_it_reads():
    lin = nn.Linear(3 * 4 * 5, 7).double()
    conv = dense_to_conv(lin, (3, 4, 5))
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    assert torch.allclose(conv(x).flatten(1), lin(x.flatten(1)), atol=1e-12)
    with pytest.raises(ConfigError, match="cannot read a \\[3, 4, 4\\] map"):
        dense_to_conv(lin, (3, 4, 4))


CLASSIFIERS = [
    ("lenet5", {}),
    ("plain_cnn", {"input_size": 16, "channels": [8, 16], "dropout": 0.3}),  # cnn-mnist's network, dense head
    ("plain_cnn", {"input_size": 16, "channels": [8, 16], "head": "gap"}),
    ("plain_cnn", {"input_size": 16, "channels": [8, 16], "head": "gap-linear"}),
    ("patch_cnn", {}),
    ("resnet20", {}),
]


@pytest.mark.parametrize("name,kwargs", CLASSIFIERS, ids=[f"{n}-{k.get('head', 'dense')}" for n, k in CLASSIFIERS])
def test_convolutionalized_classifier_equals_the_classifier_at_its_size_and_slides_elsewhere(name, kwargs):
    torch.manual_seed(0)
    clf = an2dl.get_model(name, **kwargs).double().eval()
    fcn = convolutionalize(clf)
    h0, w0 = fcn.window
    x = torch.rand(3, clf.in_channels, h0, w0, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(fcn(x)[..., 0, 0], clf(x), atol=1e-10)
        big = torch.rand(1, clf.in_channels, h0 + 4 * fcn.stride - 1, w0 + 2 * fcn.stride, dtype=torch.float64)
        heat = fcn(big)
        unpadded = name in ("lenet5", "patch_cnn")
        if unpadded:  # padded layers may round the sizes up (ResNet's strided convolutions)
            assert heat.shape[-2:] == fcn.heatmap_size(*big.shape[-2:]) == (4, 3)
        i, j = 2, 1  # the heat map at (i, j) is the classifier on the window at (f·i, f·j) ...
        window = big[..., fcn.stride * i:fcn.stride * i + h0, fcn.stride * j:fcn.stride * j + w0]
        # ... exactly for unpadded convolutions; "same" padding sees real pixels where the classifier saw zeros
        exact = torch.allclose(heat[..., i, j], clf(window), atol=1e-10)
    assert exact == unpadded


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_shift_and_stitch_equals_the_dense_sliding_evaluation(pad_mode):
    torch.manual_seed(0)
    clf = an2dl.get_model("lenet5").double().eval()
    fcn = convolutionalize(clf)
    assert fcn.stride == 4
    x = torch.rand(1, 1, 23, 30, dtype=torch.float64)
    with torch.no_grad():
        stitched = shift_and_stitch(fcn, x, pad_mode=pad_mode)
    dense = sliding_window_scores(clf, x, fcn.window, pad_mode=pad_mode)
    assert stitched.shape == (1, 10, 23, 30)
    assert torch.allclose(stitched, dense, atol=1e-10)


def test_direct_upsampling_puts_each_heat_value_at_its_window_centre():
    torch.manual_seed(0)
    fcn = convolutionalize(an2dl.get_model("plain_cnn", input_size=16, channels=[8, 16]).eval())
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        heat = fcn(x)
    up = upsample_heatmap(heat, stride=fcn.stride, window=fcn.window, size=(40, 40), mode="bilinear")
    nearest = upsample_heatmap(heat, stride=fcn.stride, window=fcn.window, size=(40, 40), mode="nearest")
    o = (16 - 1) // 2
    assert torch.allclose(up[..., o::4, o::4][..., : heat.shape[-2], : heat.shape[-1]], heat, atol=1e-6)
    assert torch.equal(nearest[..., o::4, o::4][..., : heat.shape[-2], : heat.shape[-1]], heat)


def test_dense_fcn_segments_any_size_and_reloads_through_the_registry():
    net = an2dl.get_model("fcn_from_classifier", classifier="plain_cnn",
                          classifier_kwargs={"input_size": 16, "channels": [4, 8], "num_classes": 3})
    assert isinstance(net, DenseFCN) and isinstance(net.fcn, FullyConvolutional)
    assert net(torch.rand(2, 1, 19, 23)).shape == (2, 3, 19, 23)
    again = an2dl.get_model("fcn_from_classifier", classifier="plain_cnn",
                            classifier_kwargs={"input_size": 16, "channels": [4, 8], "num_classes": 3}, method="upsample")
    again.load_state_dict(net.state_dict())
    assert again(torch.rand(1, 1, 19, 23)).shape == (1, 3, 19, 23)


def test_unsupported_classifiers_are_refused():
    with pytest.raises(ConfigError, match="convolutionalize supports"):
        convolutionalize(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_an_unpadded_dense_fcn_scores_the_inside_and_segment_mirrors_the_border():
    torch.manual_seed(0)
    net = an2dl.get_model("fcn_from_classifier", classifier="patch_cnn",
                          classifier_kwargs={"patch_size": 9, "channels": [4], "kernel_size": 3, "hidden": 8},
                          pad_mode="none").double().eval()
    x = torch.rand(1, 1, 20, 15, dtype=torch.float64)
    with torch.no_grad():
        inside = net(x)
        assert inside.shape == (1, 2, 12, 7) and net.context() == 4
        full = segment(net, x)
        mirrored = net.fcn(torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect"))
    assert full.shape == (1, 2, 20, 15) and torch.allclose(full, mirrored)
    assert torch.allclose(full[..., 4:-4, 4:-4], inside)
    with pytest.raises(ConfigError, match="pad_mode='none'"):
        an2dl.get_model("fcn_from_classifier", method="upsample", pad_mode="none")
