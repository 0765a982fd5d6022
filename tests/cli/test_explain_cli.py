"""``an2dl explain RUN_DIR IMAGE... --method cam|gradcam|saliency``: overlays, printed classes, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import an2dl
from an2dl.cli.main import main
from an2dl.explain import grad_cam, overlay_heatmap, saliency_map
from an2dl.export import export


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """lenet5-digits trained for one epoch (a few seconds) and two test digits written as PNG files."""
    root = tmp_path_factory.mktemp("explain-run")
    run_dir = root / "lenet5-digits"
    an2dl.run("lenet5-digits", ["trainer.accelerator=cpu", "trainer.max_epochs=1"], run_dir=run_dir, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)
    x = an2dl.get_dataset("digits", size=32).test.tensors[0][:2]
    for i in range(2):
        Image.fromarray((x[i, 0].numpy() * 255).round().astype(np.uint8)).save(root / f"digit{i}.png")
    return run_dir


def _explain(capsys, *args) -> tuple[int, list[str], str]:
    code = main(["explain", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def _read_png(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path)).astype(np.float32) / 255)


@pytest.mark.parametrize("method", ["gradcam", "saliency"])
def test_writes_an_overlay_per_image_and_prints_the_classes(digits_run, tmp_path, capsys, method):
    images = [digits_run.parent / "digit0.png", digits_run.parent / "digit1.png"]
    code, lines, err = _explain(capsys, digits_run, *images, "--method", method, "--out", tmp_path)
    assert code == 0, err
    model = an2dl.load(digits_run)
    x = torch.stack([_read_png(p)[None] for p in images])
    with torch.no_grad():
        pred = model(x).softmax(1)
    for line, p, img in zip(lines, pred, images):
        assert line.startswith(f"{img}: predicted {int(p.argmax())} ({float(p.max()):.4f}), "
                               f"explained {int(p.argmax())} ({method}) -> ")
        out = tmp_path / f"{img.stem}.{method}.png"
        assert line.endswith(str(out)) and out.is_file()
        assert Image.open(out).size == (128, 128) and Image.open(out).mode == "RGB"  # 32x32 enlarged 4 times
    # --class explains another class; the overlay follows that class's map
    code, lines, err = _explain(capsys, digits_run, images[0], "--method", method, "--class", "3", "--out", tmp_path)
    assert code == 0, err
    assert "explained 3" in lines[0]
    want = (grad_cam(model, x[:1], 3) if method == "gradcam" else saliency_map(model, x[:1], 3))[0]

    ref = overlay_heatmap(x[0], want)
    got = torch.from_numpy(np.asarray(Image.open(tmp_path / f"{images[0].stem}.{method}.png"))[::4, ::4].copy())
    assert (got.permute(2, 0, 1).float() / 255 - ref).abs().max() < 1 / 255 + 1e-6


def test_cam_of_a_gap_network(tmp_path, capsys):
    """An exported GAP + single-FC network (no training needed) gives the CAM overlay."""
    torch.manual_seed(0)
    net = an2dl.get_model("plain_cnn", num_classes=4, in_channels=1, input_size=16, channels=(4, 8), head="gap-linear")
    export(net, tmp_path / "gapnet", class_names=["a", "b", "c", "d"],
                 preprocessing={"input_shape": [1, 16, 16], "value_range": [0.0, 1.0]})
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((16, 16)).astype(np.float32))
    code, lines, err = _explain(capsys, tmp_path / "gapnet", tmp_path / "x.npy", "--method", "cam", "--class", "2")
    assert code == 0, err
    assert "explained c (cam)" in lines[0] and (tmp_path / "x.cam.png").is_file()


def test_bad_input(digits_run, tmp_path, capsys):
    image = digits_run.parent / "digit0.png"
    code, lines, err = _explain(capsys, digits_run, image, "--class", "10", "--out", tmp_path)
    assert code == 2 and lines == []
    assert err.strip() == "an2dl: error: --class must be a class id in [0, 9] (the model has 10 classes); got 10"
    code, _, err = _explain(capsys, digits_run, image, "--layer", "features.33", "--out", tmp_path)
    assert code == 2 and "close names: features.3" in err and err.count("\n") == 1
    code, _, err = _explain(capsys, digits_run, image, "--method", "cam", "--out", tmp_path)
    assert code == 2 and "CAM needs" in err and err.count("\n") == 1  # LeNet-5 has a dense head, no GAP
    mlp = an2dl.get_model("mlp", in_features=64, hidden=(8,), num_outputs=3)
    export(mlp, tmp_path / "mlp", preprocessing={"input_shape": [1, 8, 8], "value_range": [0.0, 1.0]})
    np.save(tmp_path / "v.npy", np.zeros((8, 8), dtype=np.float32))
    for method, needs in (("gradcam", "Grad-CAM needs a convolutional layer"), ("cam", "CAM needs a convolutional")):
        code, _, err = _explain(capsys, tmp_path / "mlp", tmp_path / "v.npy", "--method", method)
        assert code == 2 and needs in err and err.count("\n") == 1


def test_classification_reports_show_gradcam_overlays(digits_run):
    """The standard classification figures add Grad-CAM overlays of up to 8 test images (LeNet-5: layer C3's ReLU)."""
    import json

    index = json.loads((digits_run / "plots" / "index.json").read_text())
    entry = next(e for e in index if e["file"] == "gradcam_test.png")
    assert "Grad-CAM of the predicted class on 8 test images (layer features.4)" in entry["caption"]
    assert (digits_run / "plots" / "gradcam_test.png").is_file()
    assert "gradcam_test.png" in (digits_run / "report.html").read_text()


def test_usage_errors(digits_run, tmp_path, capsys):
    image = digits_run.parent / "digit0.png"
    code, _, err = _explain(capsys, digits_run, image, image, "--out", tmp_path)
    assert code == 2 and "would both write" in err
    code, _, err = _explain(capsys, digits_run, image, "--model", "lstm")
    assert code == 2 and "--model must name one of the models of" in err
    code, _, err = _explain(capsys, digits_run, image, "--method", "saliency", "--layer", "features.3")
    assert code == 2 and "layer chooses the layer Grad-CAM explains" in err
    vec = an2dl.get_model("perceptron", in_features=2)
    export(vec, tmp_path / "vec", preprocessing={"input_shape": [2]})
    code, _, err = _explain(capsys, tmp_path / "vec", image)
    assert code == 2 and "explain draws heat maps over images" in err
