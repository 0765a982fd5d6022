"""What ``an2dl predict`` does with doubtful inputs: out-of-range values, NaN/Inf, inverted images,
decompression bombs, channels-last arrays, 16-bit and RGBA images.

One LeNet-5 trained for a few epochs on the embedded digits (module fixture) serves the image
checks; vector and sequence checks use small untrained models exported on the spot.  Each test
reproduces a doubtful input and checks the one-line message and exit code, or that the accepted
form predicts exactly what the plain form predicts.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import an2dl
from an2dl.cli.main import main
from an2dl.data.images import DEFAULT_MAX_PIXELS, read_image
from an2dl.data.inputs import POLARITY_MIN_GAP, POLARITY_RATIO, polarity_warning, read_image_input
from an2dl.engine.prediction import PredictOptions
from an2dl.errors import ConfigError, DataError
from an2dl.export import export
from an2dl.tasks import RegressionTask, SequenceRegressionTask


def _predict(capsys, *args) -> tuple[int, list[str], list[str]]:
    """``an2dl predict ARGS`` through the command line's entry point: (exit code, stdout lines, stderr lines)."""
    code = main(["predict", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err.splitlines()


def _probs(line: str) -> tuple[str, list[tuple[str, float]]]:
    """``"a.npy: 7 (0.91), 1 (0.05)"`` -> ``("7", [("7", 0.91), ("1", 0.05)])``."""
    shown = line.split(": ", 1)[1]
    pairs = [item.rsplit(" (", 1) for item in shown.split(", ")]
    ranked = [(name, float(p.rstrip(")"))) for name, p in pairs]
    return ranked[0][0], ranked


def _png(path: Path, image: torch.Tensor) -> Path:
    """Write a ``[H, W]`` image in [0, 1] as an 8-bit grey PNG."""
    Image.fromarray((image.numpy() * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A LeNet-5 run on the 32x32 digits (3 epochs) and the first test digits with their labels."""
    root = tmp_path_factory.mktemp("predict-inputs")
    run_dir = root / "lenet5-digits"
    an2dl.run("lenet5-digits", ["trainer.accelerator=cpu", "trainer.max_epochs=3"], run_dir=run_dir, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)
    x, y = an2dl.get_dataset("digits", size=32).test.tensors
    return run_dir, x[:40], y[:40]


def _vector_model(folder: Path, **preprocessing) -> Path:
    """An untrained regression MLP of 2 inputs exported with ``preprocessing``."""
    torch.manual_seed(0)
    model = an2dl.get_model("mlp", in_features=2, hidden=[4], num_outputs=1, output="linear")
    export(model, folder, **RegressionTask.export_metadata(preprocessing={"input_shape": [2], **preprocessing}))
    return folder


# ----------------------------------------------------------------------------------------------- 1. ranges
def test_values_outside_the_models_range_are_refused_or_clipped(digits, tmp_path, capsys):
    run_dir, x, _ = digits
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["preprocessing"]["value_range"] == [0.0, 1.0]
    scaled = x[0].numpy() * 16  # a digit saved in the 0-16 scale of sklearn's digits
    np.save(tmp_path / "d16.npy", scaled)
    np.save(tmp_path / "clipped.npy", np.clip(scaled, 0, 1))

    code, lines, err = _predict(capsys, run_dir, tmp_path / "d16.npy")
    assert code == 1 and lines == []  # it used to be clamped silently and classified
    assert err == [f"an2dl: error: {tmp_path / 'd16.npy'} holds values in [0, 16]; the model reads values in [0, 1]; "
                   "rescale the input or pass --clip to clip it"]

    code, lines, err = _predict(capsys, run_dir, tmp_path / "d16.npy", "--top", "3", "--clip")
    assert code == 0 and err == []
    code2, expected, _ = _predict(capsys, run_dir, tmp_path / "clipped.npy", "--top", "3")
    assert code2 == 0
    assert _probs(lines[0]) == _probs(expected[0])  # --clip predicts what the clipped array predicts

    np.save(tmp_path / "u16.npy", (x[0, 0].numpy() * 1000).astype(np.uint16))  # integers are 0-255 pixel values
    code, _, err = _predict(capsys, run_dir, tmp_path / "u16.npy")
    assert code == 1
    assert err == [f"an2dl: error: {tmp_path / 'u16.npy'} holds values in [0, 3.92157] (integer arrays are 0-255 "
                   "pixel values, scaled by 1/255); the model reads values in [0, 1]; rescale the input or pass --clip "
                   "to clip it"]


def test_numbers_outside_a_declared_range_are_a_usage_error(tmp_path, capsys):
    folder = _vector_model(tmp_path / "m", value_range=[-1.0, 1.0])
    model = an2dl.load(folder)
    with torch.no_grad():
        expected = float(model(torch.tensor([[1.0, -0.5]])))

    code, lines, err = _predict(capsys, folder, "3,-0.5")
    assert code == 2 and lines == []
    assert err == ["an2dl: error: input '3,-0.5' holds values in [-0.5, 3]; the model reads values in [-1, 1]; "
                   "rescale the input or pass --clip to clip it"]
    code, lines, err = _predict(capsys, folder, "3,-0.5", "--clip")
    assert code == 0 and err == []
    assert float(lines[0].split(": ")[1]) == pytest.approx(expected, rel=1e-5, abs=1e-6)

    np.save(tmp_path / "v.npy", np.array([[0.5, 0.5], [2.0, 0.0]], dtype=np.float32))
    code, _, err = _predict(capsys, folder, tmp_path / "v.npy")
    assert code == 1  # a file's contents: a data error, as for any malformed file
    assert err == [f"an2dl: error: {tmp_path / 'v.npy'} holds values in [0, 2]; the model reads values in [-1, 1]; "
                   "rescale the input or pass --clip to clip it"]

    free = _vector_model(tmp_path / "free")  # no declared range: any finite number, and --clip has nothing to do
    code, lines, _ = _predict(capsys, free, "30,-40")
    assert code == 0 and len(lines) == 1
    code, _, err = _predict(capsys, free, "30,-40", "--clip")
    assert code == 2
    assert err == [f"an2dl: error: --clip does not apply to the regression model of {free} (it takes no options)"]
    code, _, err = _predict(capsys, folder, "0,0", "--invert")
    assert code == 2
    assert err == [f"an2dl: error: --invert does not apply to the regression model of {folder} (it takes --clip)"]


# ------------------------------------------------------------------------------------------------ 2. NaN/Inf
def test_nan_and_inf_are_refused_naming_the_file_and_their_count(digits, tmp_path, capsys):
    run_dir, x, _ = digits
    bad = x[0].clone()
    bad[0, 0, :3] = float("nan")
    bad[0, 5, 5] = float("inf")
    np.save(tmp_path / "nan.npy", bad.numpy())
    for extra in ([], ["--clip"]):  # clipping does not make NaN a number
        code, lines, err = _predict(capsys, run_dir, tmp_path / "nan.npy", *extra)
        assert code == 1 and lines == []  # it used to print "8 (nan)" and exit 0
        assert err == [f"an2dl: error: {tmp_path / 'nan.npy'} holds 4 NaN or infinite value(s) out of 1024; the model "
                       "needs finite numbers"]

    folder = _vector_model(tmp_path / "m")
    code, _, err = _predict(capsys, folder, "nan,1")
    assert code == 2 and err == ["an2dl: error: input 'nan,1' holds 1 NaN or infinite value(s) out of 2; the model "
                                 "needs finite numbers"]
    np.save(tmp_path / "v.npy", np.array([[np.inf, 0.0], [1.0, -np.inf]], dtype=np.float32))
    code, _, err = _predict(capsys, folder, tmp_path / "v.npy")
    assert code == 1 and err == [f"an2dl: error: {tmp_path / 'v.npy'} holds 2 NaN or infinite value(s) out of 4; the "
                                 "model needs finite numbers"]

    seq = tmp_path / "seq"
    export(an2dl.get_model("recurrent_regressor", hidden_size=4), seq, **SequenceRegressionTask.export_metadata())
    np.save(tmp_path / "w.npy", np.array([0.1, np.nan, 0.3], dtype=np.float32))
    code, _, err = _predict(capsys, seq, tmp_path / "w.npy")
    assert code == 1 and err == [f"an2dl: error: {tmp_path / 'w.npy'} holds 1 NaN or infinite value(s) out of 3; the "
                                 "model needs finite numbers"]
    code, _, err = _predict(capsys, seq, tmp_path / "w.npy", "--clip")
    assert code == 2 and err[0].startswith("an2dl: error: --clip does not apply to the sequence_regression model")


# ------------------------------------------------------------------------------------------------ 3. polarity
def test_an_inverted_digit_is_predicted_with_a_hint_and_invert_restores_the_class(digits, tmp_path, capsys):
    run_dir, x, y = digits
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    train_mean = an2dl.get_dataset("digits", size=32).info.mean
    assert meta["preprocessing"]["mean"] == pytest.approx(list(train_mean))  # recorded by the recipe's export
    for i in range(len(x)):  # the first digit that the model classifies correctly
        code, lines, err = _predict(capsys, run_dir, _png(tmp_path / "digit.png", x[i, 0]))
        assert code == 0 and err == []  # a digit like the training ones: no hint
        if _probs(lines[0])[0] == str(int(y[i])):
            break
    else:
        pytest.fail("the model classifies none of the first 40 test digits correctly")
    original = _probs(lines[0])

    inverted = _png(tmp_path / "inverted.png", 1 - x[i, 0])  # black on white, as on paper
    code, lines, err = _predict(capsys, run_dir, inverted)
    assert code == 0 and len(lines) == 1  # still predicted: a warning, not an error
    m = float(torch.from_numpy(np.asarray(Image.open(inverted), dtype=np.float32) / 255).mean())
    assert err == [f"an2dl: warning: {inverted} looks inverted (mean {m:.2f}, training images {train_mean[0]:.2f}): "
                   "the model was trained on light-on-dark images; invert it with --invert"]

    code, lines, err = _predict(capsys, run_dir, inverted, "--invert")
    assert code == 0 and err == []
    label, ranked = _probs(lines[0])
    assert label == original[0] == str(int(y[i]))
    assert [v for _, v in ranked] == pytest.approx([v for _, v in original[1]], abs=2e-4)

    code, _, err = _predict(capsys, run_dir, tmp_path / "digit.png", "--invert")  # inverting a right-way-up digit
    assert code == 0 and len(err) == 1 and err[0].endswith("drop --invert")


def test_the_polarity_threshold():
    assert (POLARITY_MIN_GAP, POLARITY_RATIO) == (0.25, 1 / 3)
    mnist = [0.13]
    assert polarity_warning(torch.full((1, 4, 4), 0.87), mnist, "a") is not None  # the exact negative
    assert polarity_warning(torch.full((1, 4, 4), 0.70), mnist, "a") is not None  # |0.30-0.13| <= |0.70-0.13| / 3
    assert polarity_warning(torch.full((1, 4, 4), 0.60), mnist, "a") is None  # |0.40-0.13| > |0.60-0.13| / 3
    assert polarity_warning(torch.full((1, 4, 4), 0.30), mnist, "a") is None  # a bold digit, right way up
    for m in (0.0, 0.2, 0.53, 0.8, 1.0):  # a mid-grey training set (CIFAR-10): never flagged
        assert polarity_warning(torch.full((3, 4, 4), m), [0.49, 0.48, 0.45], "a") is None
    hint = polarity_warning(torch.full((1, 4, 4), 0.1), [0.9], "scan.png")
    assert hint == ("scan.png looks inverted (mean 0.10, training images 0.90): the model was trained on dark-on-light "
                    "images; invert it with --invert")


# ------------------------------------------------------------------------------------------- 4. pixel limit
def _claims_size(path: Path, width: int, height: int) -> Path:
    """A 1x1 grey PNG whose header claims ``width x height`` (a 67-byte decompression bomb)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # the IHDR chunk's CRC over type + data
    path.write_bytes(bytes(data))
    return path


def test_image_files_above_the_pixel_limit_are_refused_before_decoding(digits, tmp_path, capsys):
    run_dir, _, _ = digits
    bomb = _claims_size(tmp_path / "bomb.png", 10_000, 10_000)
    assert bomb.stat().st_size < 100
    code, lines, err = _predict(capsys, run_dir, bomb)
    assert code == 1 and lines == []  # it used to warn with Pillow's DecompressionBombWarning and decode 100 MP
    assert err == [f"an2dl: error: {bomb} is a 10000 x 10000 image (100,000,000 pixels), above the limit of 50,000,000 "
                   "pixels that guards against decompression bombs; if the file is trusted, raise the limit "
                   "(--max-pixels N, or max_pixels=N)"]
    assert DEFAULT_MAX_PIXELS == 50_000_000
    # above the limit the header is all that was read: decoding this file would fail on its missing pixels
    code, _, err = _predict(capsys, run_dir, bomb, "--max-pixels", "100000000")
    assert code == 1 and err[0].startswith(f"an2dl: error: {bomb} is not a readable image: ")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own warning never escapes, and its own limit does not apply
        with pytest.raises(DataError, match=r"is a 10000 x 10000 image \(100,000,000 pixels\)"):
            read_image(bomb)
        huge = _claims_size(tmp_path / "huge.png", 15_000, 15_000)  # above twice Pillow's limit
        with pytest.raises(DataError, match="is not a readable image"):
            read_image(huge, max_pixels=300_000_000)
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's global is restored

    big = tmp_path / "big.png"
    Image.new("1", (3000, 3000), 0).save(big)  # a real 9-megapixel image in a 1-kB file
    code, _, err = _predict(capsys, run_dir, big, "--max-pixels", "1000000")
    assert code == 1 and err == [f"an2dl: error: {big} is a 3000 x 3000 image (9,000,000 pixels), above the limit of "
                                 "1,000,000 pixels that guards against decompression bombs; if the file is trusted, "
                                 "raise the limit (--max-pixels N, or max_pixels=N)"]
    code, lines, err = _predict(capsys, run_dir, big, "--max-pixels", "9000000")
    assert code == 0 and len(lines) == 1
    code, _, err = _predict(capsys, run_dir, big, "--max-pixels", "0")
    assert code == 2 and err == ["an2dl: error: --max-pixels must be an integer >= 1; got 0"]


# ------------------------------------------------------------------------------------- 5. layouts and formats
def test_channels_last_arrays_predict_as_channels_first(digits, tmp_path, capsys):
    run_dir, x, _ = digits
    grey = x[3]  # [1, 32, 32]
    rgb = torch.stack([grey[0], grey[0].flip(0), grey[0].flip(1)])  # [3, 32, 32]: a colour image
    alpha = torch.cat([rgb, torch.rand(1, 32, 32)])  # [4, 32, 32]
    files = {"chw.npy": grey, "hwc.npy": grey.permute(1, 2, 0), "rgb_chw.npy": rgb, "rgb_hwc.npy": rgb.permute(1, 2, 0),
             "rgba_hwc.npy": alpha.permute(1, 2, 0), "rgba_chw.npy": alpha}
    for name, arr in files.items():
        np.save(tmp_path / name, arr.numpy())
    code, lines, err = _predict(capsys, run_dir, *(tmp_path / n for n in files), "--top", "3")
    assert code == 0 and err == []
    got = dict(zip(files, (_probs(line)[1] for line in lines)))
    assert got["hwc.npy"] == got["chw.npy"]
    assert got["rgb_hwc.npy"] == got["rgb_chw.npy"]
    assert got["rgba_hwc.npy"] == got["rgba_chw.npy"] == got["rgb_chw.npy"]  # alpha dropped

    np.save(tmp_path / "ambiguous.npy", np.zeros((5, 8, 5), dtype=np.float32))
    with pytest.raises(DataError) as e:
        read_image_input(tmp_path / "ambiguous.npy", [5, 8, 8])  # a model of 5 channels: both readings fit
    assert str(e.value) == (f"{tmp_path / 'ambiguous.npy'}: an array of shape [5, 8, 5] could be [C, H, W] or "
                            "[H, W, C]; the model reads [C, H, W] = [5, 8, 8]; save the image as [C, H, W]")
    np.save(tmp_path / "batch.npy", x[:2].numpy())
    code, _, err = _predict(capsys, run_dir, tmp_path / "batch.npy")
    assert code == 1 and err == [f"an2dl: error: {tmp_path / 'batch.npy'}: holds a batch [2, 1, 32, 32]; give one image "
                                 "per file"]


def test_sixteen_bit_and_rgba_pngs(digits, tmp_path, capsys):
    run_dir, x, _ = digits
    levels = (x[5, 0].numpy() * 65535).round().astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    read = read_image(tmp_path / "deep.png")  # Pillow's convert("L") would clip every level above 255 to white
    torch.testing.assert_close(read, torch.from_numpy(levels.astype(np.float32) / 65535)[None])
    assert read_image(tmp_path / "deep.png", channels=3).shape == (3, 32, 32)
    np.save(tmp_path / "deep.npy", levels.astype(np.float32) / 65535)
    code, lines, err = _predict(capsys, run_dir, tmp_path / "deep.png", tmp_path / "deep.npy", "--top", "3")
    assert code == 0 and err == []
    assert _probs(lines[0]) == _probs(lines[1])

    rgb = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((32, 32, 1), 40, np.uint8)], axis=2)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    la = np.stack([rgb[..., 0], rgb[..., 1]], axis=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert torch.equal(read_image(tmp_path / "rgba.png"), read_image(tmp_path / "rgb.png"))  # alpha dropped
    assert torch.equal(read_image(tmp_path / "rgba.png", channels=1), read_image(tmp_path / "rgb.png", channels=1))
    torch.testing.assert_close(read_image(tmp_path / "la.png"), torch.from_numpy(rgb[..., 0] / 255.0).float()[None])


def test_predict_options_validate_the_input_flags():
    assert PredictOptions(clip=True, invert=True, max_pixels=10).given() == ["clip", "invert", "max_pixels"]
    assert PredictOptions().given() == []  # flags left False are not "given"
    with pytest.raises(ConfigError, match=r"^--clip must be True or False; got 'yes'$"):
        PredictOptions(clip="yes")
    with pytest.raises(ConfigError, match=r"^--max-pixels must be an integer >= 1; got -5$"):
        PredictOptions(max_pixels=-5)
    with pytest.raises(ValueError, match="max_pixels must be a positive integer or None; got 0"):
        read_image("any.png", max_pixels=0)


def test_derived_paths_put_outputs_beside_their_inputs_or_in_one_folder_and_refuse_collisions(tmp_path):
    from an2dl.data.inputs import derived_paths

    assert derived_paths(["a/seven.png", "b/one.npy", "c/noext"], ".mask.png") == [
        Path("a/seven.mask.png"), Path("b/one.mask.png"), Path("c/noext.mask.png")]
    assert derived_paths(["a/seven.png"], ".box.png", tmp_path) == [tmp_path / "seven.box.png"]
    assert derived_paths(["a/x.png", "b/x.png"], ".pose.png") == [Path("a/x.pose.png"), Path("b/x.pose.png")]
    with pytest.raises(ConfigError, match=r"inputs a/x.png and b/x.png would both write .*x.pose.png; rename one or "
                                          r"use --out"):
        derived_paths(["a/x.png", "b/x.png"], ".pose.png", tmp_path)
