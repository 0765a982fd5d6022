import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.errors import ConfigError
from an2dl.ops.correlation import (
    box_kernel,
    correlate2d,
    correlate2d_reference,
    filter2d,
    gaussian_kernel,
    sobel_kernels,
    sobel_magnitude,
)


def _pixel_sum(image, w, r, c):
    """(I ⊗ w)(r, c) for one pixel, straight from the notes' double sum (zero outside the image)."""
    C, H, W = image.shape
    L_r, L_c = w.shape[-2] // 2, w.shape[-1] // 2
    total = 0.0
    for k in range(C):
        for u in range(-L_r, L_r + 1):
            for v in range(-L_c, L_c + 1):
                if 0 <= r + u < H and 0 <= c + v < W:
                    total += float(w[k, L_r + u, L_c + v]) * float(image[k, r + u, c + v])
    return total


def test_reference_matches_the_notes_sum_pixel_by_pixel():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 5, 6, generator=g, dtype=torch.float64)
    w = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    out = correlate2d_reference(image, w)
    assert out.shape == (1, 5, 6)
    for r in range(5):
        for c in range(6):
            assert out[0, r, c].item() == pytest.approx(_pixel_sum(image, w, r, c), abs=1e-12)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("border", ["zeros", "reflect", "replicate"])
def test_fast_path_equals_reference_in_float64(padding, border):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(3, 3, 11, 9, generator=g, dtype=torch.float64)
    bank = torch.randn(4, 3, 3, 5, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    fast = correlate2d(image, bank, bias, padding=padding, border=border)
    ref = correlate2d_reference(image, bank, bias, padding=padding, border=border)
    assert fast.shape == ref.shape == ((3, 4, 11, 9) if padding == "same" else (3, 4, 9, 5))
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-12)


def test_conv_layer_formula_equals_nn_conv2d():
    # notes §3.3.1: a(r, c, l) = sum_{u,v,k} w^l(u, v, k) x(r + u, c + v, k) + b^l
    conv = nn.Conv2d(3, 6, 3, padding=1).double()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    ref = correlate2d_reference(x, conv.weight.detach(), conv.bias.detach())
    torch.testing.assert_close(ref, conv(x).detach(), rtol=0, atol=1e-12)


def test_correlation_does_not_flip_the_kernel():
    image = torch.zeros(1, 5, 5)
    image[0, 2, 2] = 1.0  # an impulse
    w = torch.arange(9.0).view(1, 3, 3)
    out = correlate2d(image, w)[0]
    # correlating an impulse gives the kernel rotated by 180 degrees
    torch.testing.assert_close(out[1:4, 1:4], torch.flip(w[0], dims=(0, 1)))


def test_filter2d_is_per_channel():
    g = torch.Generator().manual_seed(2)
    image = torch.rand(3, 7, 7, generator=g, dtype=torch.float64)
    k = torch.randn(3, 3, generator=g, dtype=torch.float64)
    out = filter2d(image, k, border="zeros")
    for ch in range(3):
        torch.testing.assert_close(out[ch], correlate2d_reference(image[ch : ch + 1], k[None])[0])


def test_kernels():
    assert torch.allclose(box_kernel(3), torch.full((3, 3), 1 / 9))
    g = gaussian_kernel(sigma=1.0)
    assert g.shape == (7, 7) and g.sum().item() == pytest.approx(1.0)
    assert torch.equal(g, g.T) and torch.equal(g, torch.flip(g, (0,)))
    assert g[3, 3] == g.max()
    gx, gy = sobel_kernels()
    assert torch.equal(gx, torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    assert torch.equal(gy, gx.T)


def test_filters_do_what_their_names_say():
    # constant image: blur keeps it, derivatives vanish (with a border that repeats the image)
    flat = torch.full((1, 9, 9), 0.3)
    torch.testing.assert_close(filter2d(flat, box_kernel(3)), flat)
    torch.testing.assert_close(filter2d(flat, gaussian_kernel(5, 1.0)), flat)
    assert sobel_magnitude(flat).abs().max() < 1e-6
    # a vertical step edge: strong g_x, zero g_y
    step = torch.zeros(1, 8, 8)
    step[:, :, 4:] = 1.0
    gx, gy = sobel_kernels()
    dx, dy = filter2d(step, gx, border="replicate"), filter2d(step, gy, border="replicate")
    assert dx[0, :, 3:5].min() == 4.0 and dy.abs().max() == 0
    # blur lowers the variance of noise
    noise = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(3))
    assert filter2d(noise, box_kernel(5)).var() < noise.var() / 5


def test_batched_and_unbatched_agree():
    x = torch.rand(2, 3, 6, 6)
    w = torch.randn(3, 3, 3)
    torch.testing.assert_close(correlate2d(x, w)[1], correlate2d(x[1], w))
    assert correlate2d(x, w).shape == (2, 1, 6, 6)
    assert torch.allclose(correlate2d(x, w), F.conv2d(x, w[None], padding=1), atol=1e-6)


def test_bad_input():
    x = torch.rand(3, 8, 8)
    with pytest.raises(TypeError, match="floating-point"):
        correlate2d(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.rand(3, 3, 3))
    with pytest.raises(ValueError, match=r"\[C, H, W\] or \[B, C, H, W\]"):
        correlate2d(torch.rand(8, 8), torch.rand(1, 3, 3))
    with pytest.raises(ValueError, match="spans 1 channels but the image has 3"):
        correlate2d(x, torch.rand(1, 3, 3))
    with pytest.raises(ValueError, match="odd height and width"):
        correlate2d(x, torch.rand(3, 2, 2))
    with pytest.raises(ValueError, match="does not fit"):
        correlate2d(torch.rand(1, 2, 2), torch.rand(1, 3, 3), padding="valid")
    with pytest.raises(ConfigError, match="padding must be one of"):
        correlate2d(x, torch.rand(3, 3, 3), padding="full")
    with pytest.raises(ConfigError, match="border must be one of"):
        correlate2d(x, torch.rand(3, 3, 3), border="wrap")
    with pytest.raises(ValueError, match="kernel must be a 2-D tensor"):
        filter2d(x, torch.rand(1, 3, 3))
    with pytest.raises(ConfigError, match="odd positive integer"):
        box_kernel(4)
    with pytest.raises(ConfigError, match="sigma must be a positive number"):
        gaussian_kernel(3, sigma=0)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        correlate2d([[1.0]], torch.rand(1, 1, 1))
