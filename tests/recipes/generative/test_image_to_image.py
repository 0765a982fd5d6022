"""§3.7's inverse problems: a U-Net beats the classical answer on PSNR and SSIM (``superres-mnist``,
``inpaint-mnist``, ``colorize-shapes``).

Each recipe runs once at a toy size (seed 0); the margins were chosen from seeds 0, 1 and 2 at these
settings, listed in each test.
"""

import json

import pytest
import torch

import an2dl
from an2dl.errors import ConfigError
from an2dl.recipes import get_recipe
from an2dl.recipes.generative.image_to_image import image_quality, mean_colour_table, square_holes
from conftest import require_data

SMALL_MNIST = ("data.limit_train=1500", "data.limit_eval=200", "trainer.max_epochs=1", "figure_images=4")
SMALL_SHAPES = ("data.n_train=3000", "data.n_val=100", "data.n_test=200", "data.size=16", "figure_images=4")


def _run(name, settings, tmp_path):
    result = an2dl.run(name, list(settings), runs_root=tmp_path, progress=False)
    doc = json.loads((result.run_dir / "results.json").read_text())
    plots = {e["file"] for e in json.loads((result.run_dir / "plots" / "index.json").read_text())}
    assert {"input_output_target.png", "quality.png"} <= plots
    assert (result.run_dir / "variants" / "unet" / "model" / "model.json").is_file()
    assert (result.run_dir / "report.html").is_file()
    return result, doc["metrics"]


def test_superres_unet_beats_bicubic_interpolation(tmp_path):
    """x4 super-resolution (7x7 -> 28x28). Seeds 0/1/2: PSNR 17.26, 17.42, 17.41 dB vs bicubic 14.85;
    SSIM 0.773, 0.801, 0.768 vs 0.559."""
    require_data("mnist")
    result, m = _run("superres-mnist", SMALL_MNIST, tmp_path)
    assert m["test/psnr_unet"] > m["test/psnr_bicubic"] + 1.5
    assert m["test/ssim_unet"] > m["test/ssim_bicubic"] + 0.1
    assert m["test/psnr_gain_unet"] == pytest.approx(m["test/psnr_unet"] - m["test/psnr_bicubic"])
    # the exported network restores a digit from its bicubic upsampling on its own
    model = an2dl.load(result.run_dir / "variants" / "unet" / "model").eval()
    inputs, targets = result.data.test.tensors
    with torch.no_grad():
        again = image_quality(model(inputs).clamp(0, 1), targets)
    assert again["psnr"] == pytest.approx(m["test/psnr_unet"], abs=1e-3)


def test_inpainting_unet_beats_mean_fill(tmp_path):
    """12x12 holes. Seeds 0/1/2: PSNR 16.47, 16.45, 16.46 dB vs mean fill 15.49; SSIM 0.823, 0.815, 0.812
    vs 0.761."""
    require_data("mnist")
    result, m = _run("inpaint-mnist", (*SMALL_MNIST, "trainer.batch_size=8"), tmp_path)
    assert m["test/psnr_unet"] > m["test/psnr_mean-fill"] + 0.5
    assert m["test/ssim_unet"] > m["test/ssim_mean-fill"] + 0.02
    assert m["test/psnr_mean-fill"] > m["test/psnr_visible-mean"]  # the per-pixel mean is the stronger baseline
    inputs, targets = result.data.test.tensors
    outputs = get_recipe("inpaint-mnist").restore(result.extra["variants"]["unet"].task, inputs)
    visible = inputs[:, 1:] == 0
    assert torch.equal(outputs[visible], targets[visible])  # only the hole comes from the network


def test_colorize_unet_beats_the_mean_colour_of_each_grey_level(tmp_path):
    """Grey -> RGB on 16x16 coloured shapes. Seeds 0/1/2: PSNR 28.35, 26.80, 30.15 dB vs mean colour 20.35;
    SSIM 0.879, 0.862, 0.904 vs 0.798."""
    _, m = _run("colorize-shapes", SMALL_SHAPES, tmp_path)
    assert m["test/psnr_unet"] > m["test/psnr_mean-colour"] + 4.0
    assert m["test/ssim_unet"] > m["test/ssim_mean-colour"] + 0.04
    assert m["test/psnr_mean-colour"] > m["test/psnr_grey"]


def test_square_holes_lie_inside_the_margin_and_are_seeded():
    masks = square_holes(50, 28, 12, 4, seed=1)
    assert masks.shape == (50, 1, 28, 28) and torch.equal(masks, square_holes(50, 28, 12, 4, seed=1))
    assert (masks.sum((1, 2, 3)) == 144).all()
    assert masks[..., :4, :].sum() == 0 and masks[..., -4:, :].sum() == 0 and masks[..., :4].sum() == 0


def test_mean_colour_table_is_the_mean_colour_of_each_grey_level():
    grey = torch.tensor([0.1, 0.1, 0.9]).view(3, 1, 1, 1)
    rgb = torch.tensor([[0.0, 0.2, 0.1], [0.2, 0.0, 0.1], [1.0, 0.9, 0.8]]).view(3, 3, 1, 1)
    table = mean_colour_table(grey, rgb, 4)
    torch.testing.assert_close(table[0], torch.tensor([0.1, 0.1, 0.1]))
    torch.testing.assert_close(table[3], torch.tensor([1.0, 0.9, 0.8]))
    torch.testing.assert_close(table[1], torch.full((3,), 0.375))  # an empty level: its own grey


def test_image_quality_matches_the_definitions():
    target = torch.rand(4, 1, 16, 16)
    out = (target + 0.1).clamp(0, 1)
    q = image_quality(target, target)
    assert q["ssim"] == pytest.approx(1.0) and q["psnr"] > 100
    mse = ((out - target) ** 2).flatten(1).mean(1)
    assert image_quality(out, target)["psnr"] == pytest.approx(float((10 * torch.log10(1 / mse)).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="two \\[N, C, H, W\\] tensors of one shape"):
        image_quality(out, target[:2])


@pytest.mark.parametrize("name,setting,match", [
    ("superres-mnist", "scale=3", "scale must be 2 or 4"),
    ("inpaint-mnist", "hole=24", "hole \\+ 2·margin must be at most 28"),
    ("inpaint-mnist", "hole=0", "hole must be an integer >= 1"),
    ("colorize-shapes", "variants=[\"gan\"]", "variants must be drawn from"),
    ("colorize-shapes", "grey_levels=1", "grey_levels must be an integer >= 2"),
])
def test_settings_are_validated(tmp_path, name, setting, match):
    with pytest.raises(ConfigError, match=match):
        an2dl.run(name, [setting], runs_root=tmp_path)
