import numpy as np
import pytest
import torch

from an2dl.data.images import check_image, read_image, save_image, to_float_image, to_uint8


def test_uint8_round_trip_through_png(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    x = to_float_image(rgb)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    assert float(x.max()) <= 1.0 and torch.equal(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, x)
    assert np.array_equal(to_uint8(x), rgb)
    path = save_image(tmp_path / "a.png", x)
    torch.testing.assert_close(read_image(path), x)
    grey = to_float_image(rgb[..., 0])
    assert grey.shape == (1, 5, 7)
    assert save_image(tmp_path / "g.png", grey).is_file()
    assert read_image(tmp_path / "g.png").shape == (1, 5, 7)


def test_channels_first_arrays_and_batches():
    chw = np.zeros((3, 10, 12), dtype=np.uint8)
    assert to_float_image(chw).shape == (3, 10, 12)
    assert to_float_image(np.zeros((2, 10, 12, 3), dtype=np.float32)).shape == (2, 3, 10, 12)


def test_check_image_errors():
    assert check_image(torch.rand(2, 3, 4, 4)).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        check_image(torch.rand(3, 4, 4), batched=True)
    with pytest.raises(TypeError, match="floating-point"):
        check_image(torch.zeros(1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        check_image(torch.full((1, 2, 2), -0.5))
    with pytest.raises(ValueError, match="empty side"):
        check_image(torch.rand(1, 0, 4))
    with pytest.raises(TypeError, match="uint8 .0-255. or float"):
        to_float_image(np.zeros((4, 4), dtype=np.int32))
    with pytest.raises(ValueError, match="2, 3 or 4 dimensions"):
        to_float_image(np.zeros(4, dtype=np.uint8))
