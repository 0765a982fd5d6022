"""``image_unet``: shapes, skip connections, what ``keep`` keeps, argument checks (notes §3.7)."""

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.generative import ImageUNet
from an2dl.ops.color import rgb_to_grey


@pytest.mark.parametrize("size", [28, 32, 13])
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_output_has_the_input_size_for_any_side(size, depth):
    if size < 2**depth:
        pytest.skip("too small for this depth")
    model = get_model("image_unet", in_channels=2, out_channels=3, width=4, depth=depth).eval()
    out = model(torch.rand(2, 2, size, size))
    assert out.shape == (2, 3, size, size)
    assert ((out > 0) & (out < 1)).all()  # the default sigmoid output


def test_width_doubles_per_level_and_skips_add_inputs_to_the_decoder():
    unet = get_model("image_unet", width=4, depth=2, norm="none")
    plain = get_model("image_unet", width=4, depth=2, norm="none", skip=False)
    assert [m[0].out_channels for m in unet.encoder.levels] == [4, 8, 16]
    # the first convolution of each decoder level sees the skip concatenated to the up-sampled map
    assert [m[0].in_channels for m in unet.merge] == [8, 16]
    assert [m[0].in_channels for m in plain.merge] == [4, 8]


def test_without_skips_the_output_depends_on_the_input_only_through_the_bottleneck():
    """Cut the bottleneck (detach its output): a gradient still reaches the input through the skip, and
    none does without it."""
    torch.manual_seed(0)
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    for skip in (True, False):
        model = get_model("image_unet", width=2, depth=1, skip=skip, norm="none", out_activation="none")
        model.encoder.levels[1].register_forward_hook(lambda m, i, o: o.detach())  # cut the path through the bottleneck
        x.grad = None
        model(x).sum().backward()
        reaches = x.grad is not None and bool(x.grad.abs().sum() > 0)
        assert reaches == skip


def test_keep_visible_takes_only_the_hole_from_the_network():
    model = get_model("image_unet", in_channels=2, out_channels=1, width=4, keep="visible")
    clean = torch.rand(3, 1, 28, 28)
    mask = torch.zeros(3, 1, 28, 28)
    mask[:, :, 8:20, 8:20] = 1
    out = model(torch.cat([clean * (1 - mask), mask], 1))
    torch.testing.assert_close(out * (1 - mask), clean * (1 - mask))
    assert not torch.allclose(out * mask, clean * mask)


def test_keep_luma_outputs_colours_of_the_input_grey_level():
    model = get_model("image_unet", in_channels=1, out_channels=3, width=4, keep="luma", out_activation="none")
    grey = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(rgb_to_grey(model(grey)), grey, atol=1e-5, rtol=0)


def test_rejects_bad_arguments_and_inputs():
    with pytest.raises(ConfigError, match="depth must be an integer >= 0; got -1"):
        ImageUNet(depth=-1)
    with pytest.raises(ConfigError, match="width must be a positive integer"):
        get_model("image_unet", width=0)
    with pytest.raises(ConfigError, match="norm must be one of"):
        get_model("image_unet", norm="group")
    with pytest.raises(ConfigError, match="out_activation must be one of"):
        get_model("image_unet", out_activation="tanh")
    with pytest.raises(ConfigError, match="keep must be one of"):
        get_model("image_unet", keep="edges")
    with pytest.raises(ConfigError, match="keep='visible' needs in_channels = out_channels \\+ 1"):
        get_model("image_unet", keep="visible")
    with pytest.raises(ConfigError, match="keep='luma' maps grey to RGB"):
        get_model("image_unet", keep="luma")
    model = get_model("image_unet", depth=2)
    with pytest.raises(ValueError, match=r"expects images of shape \[B, 1, H, W\]; got \[2, 3, 28, 28\]"):
        model(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="needs images of at least 4x4; got 3x8"):
        model(torch.rand(2, 1, 3, 8))
