"""The evaluation pipeline that travels with a model: its steps, its JSON form, and predict/evaluation parity.

The parity tests train a recipe briefly, write test images as PNG files in the
dataset's native size, classify them with ``an2dl predict`` and with the
exported ONNX graph (after the pipeline its metadata records), and compare,
image by image, with the classes the evaluation loop (the task's
``predict_step`` over the recipe's test data) gives the same samples.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import an2dl
from an2dl.cli.main import main
from an2dl.data.core import subset
from an2dl.data.images import read_image
from an2dl.data.preprocess import Preprocess
from an2dl.errors import CheckpointError, ConfigError, DataError
from an2dl.export import ONNX_PREPROCESSING_KEY, export, export_onnx, onnx_preprocess
from conftest import require_data

#: test images classified by each parity test
PARITY_N = 200


# ------------------------------------------------------------------------------------------------ the steps
def test_to_channels_converts_like_predict_always_did():
    rgb = torch.tensor([[[1.0]], [[0.5]], [[0.0]]])  # [3, 1, 1]
    grey = Preprocess([{"op": "to_channels", "channels": 1}])(rgb)
    assert grey.shape == (1, 1, 1) and float(grey) == pytest.approx(0.299 + 0.587 * 0.5)
    rgba = torch.cat([rgb, torch.zeros(1, 1, 1)])
    assert torch.equal(Preprocess([{"op": "to_channels", "channels": 1}])(rgba), grey)  # alpha dropped first
    assert torch.equal(Preprocess([{"op": "to_channels", "channels": 3}])(torch.full((1, 2, 2), 0.25)),
                       torch.full((3, 2, 2), 0.25))
    with pytest.raises(DataError, match=r"^a.png: the model reads 3 channel\(s\); got an image with 2$"):
        Preprocess([{"op": "to_channels", "channels": 3}])(torch.zeros(2, 4, 4), source="a.png")


def test_pad_centres_the_image_and_refuses_larger_ones():
    pre = Preprocess([{"op": "pad", "size": [4, 5], "fill": 0.5}], raw_input={"channels": 1, "size": [2, 2]})
    out = pre(torch.ones(1, 2, 2))
    expected = torch.full((1, 4, 5), 0.5)
    expected[0, 1:3, 1:3] = 1.0  # 2 extra rows: 1 above, 1 below; 3 extra columns: 1 left, 2 right
    assert torch.equal(out, expected)
    smaller = pre(torch.ones(1, 1, 1))  # smaller than the raw size: padded up as well
    assert smaller.shape == (1, 4, 5) and float(smaller.sum()) == pytest.approx(1 + 19 * 0.5)
    with pytest.raises(DataError) as e:
        pre(torch.ones(1, 6, 5), source="big.png")
    assert str(e.value) == ("big.png: preprocessing step 0 ('pad') pads images up to 4x5 and cannot shrink them; got a "
                            "6x5 image (the model was trained on 2x2 images); give an image of at most 4x5")


def test_resize_modes_against_hand_computed_values():
    ramp = torch.tensor([[[0.0, 1.0]]])  # [1, 1, 2]
    bilinear = Preprocess([{"op": "resize", "size": [1, 4], "mode": "bilinear"}])(ramp)
    # align_corners=False: output pixel i samples x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped to the edge)
    assert torch.allclose(bilinear, torch.tensor([[[0.0, 0.25, 0.75, 1.0]]]))
    nearest = Preprocess([{"op": "resize", "size": [2, 4], "mode": "nearest"}])(ramp)
    assert torch.equal(nearest, torch.tensor([[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]]))
    blocks = torch.tensor([[[0.0, 0.2, 1.0, 1.0], [0.4, 0.2, 1.0, 0.6], [0.0, 0.0, 0.1, 0.1], [0.0, 0.0, 0.1, 0.1]]])
    area = Preprocess([{"op": "resize", "size": [2, 2], "mode": "area"}])(blocks)
    assert torch.allclose(area, torch.tensor([[[0.2, 0.9], [0.0, 0.1]]]))
    same = torch.rand(1, 3, 3)
    assert torch.equal(Preprocess([{"op": "resize", "size": [3, 3]}])(same), same)  # already the size: unchanged


def test_center_crop_normalize_and_flatten():
    grid = torch.arange(16.0).reshape(1, 4, 4) / 16
    crop = Preprocess([{"op": "center_crop", "size": [2, 3]}])(grid)
    # rows 1-2 (one extra row on each side), columns 0-2 (the odd extra column is dropped at the right)
    assert torch.equal(crop, torch.tensor([[[4.0, 5.0, 6.0], [8.0, 9.0, 10.0]]]) / 16)
    with pytest.raises(DataError, match=r"^x: preprocessing step 0 \('center_crop'\) crops images to 5x5 and cannot "
                                        r"enlarge them; got a 4x4 image; give an image of at least 5x5$"):
        Preprocess([{"op": "center_crop", "size": [5, 5]}])(grid, source="x")
    two = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), 1.0)])  # [2, 2, 2]
    norm = Preprocess([{"op": "normalize", "mean": [0.5, 0.0], "std": [0.25, 2.0]}, {"op": "flatten"}])(two)
    assert torch.equal(norm, torch.tensor([0.0] * 4 + [0.5] * 4))
    batch = Preprocess([{"op": "flatten"}])(torch.zeros(3, 1, 2, 2))
    assert batch.shape == (3, 4)
    with pytest.raises(DataError, match=r"normalises 2 channel\(s\); got an image with 3$"):
        Preprocess([{"op": "normalize", "mean": [0.5, 0.5], "std": [1, 1]}])(torch.zeros(3, 2, 2))


def test_a_batch_is_the_images_one_by_one():
    pre = Preprocess([{"op": "to_channels", "channels": 1}, {"op": "resize", "size": [7, 7], "mode": "bilinear"},
                      {"op": "pad", "size": [9, 10]}, {"op": "normalize", "mean": [0.1], "std": [0.3]}])
    x = torch.rand(4, 3, 5, 5)
    out = pre(x)
    assert out.shape == (4, 1, 9, 10)
    for img, row in zip(x, out):
        assert torch.allclose(pre(img), row)


def test_json_round_trip_rebuilds_the_same_pipeline():
    pre = Preprocess([{"op": "to_channels", "channels": 1}, {"op": "resize", "size": [30, 30], "mode": "area"},
                      {"op": "center_crop", "size": [28, 28]}, {"op": "pad", "size": [32, 32], "fill": 0.0},
                      {"op": "normalize", "mean": [0.13], "std": [0.31]}, {"op": "flatten"}],
                     raw_input={"channels": 3, "size": [40, 40]})
    text = json.dumps(pre.to_dict())
    back = Preprocess.from_dict(json.loads(text))
    assert back == pre and back.to_dict() == pre.to_dict()
    x = torch.rand(2, 3, 40, 40)
    assert torch.equal(back(x), pre(x)) and back(x).shape == (2, 32 * 32)
    assert back.raw_input == {"channels": 3, "size": [40, 40]} and back.channels == 1


@pytest.mark.parametrize(("steps", "message"), [
    ([{"op": "blur"}], "preprocessing.pipeline[0] op must be one of to_channels, pad, resize, center_crop, normalize, "
                       "flatten, tokenize, window; got 'blur'"),
    ([{"op": "pad", "size": [32]}], "preprocessing.pipeline[0] ('pad') size must be [H, W], two positive integers; "
                                    "got [32]"),
    ([{"op": "resize", "size": [8, 8], "mode": "bicubic"}], "preprocessing.pipeline[0] ('resize') mode must be one of "
                                                             "bilinear, nearest, area; got 'bicubic'"),
    ([{"op": "pad", "size": [8, 8], "value": 0}], "preprocessing.pipeline[0] ('pad') takes size, fill; got size, value"),
    ([{"op": "normalize", "mean": [0.5], "std": [0]}], "preprocessing.pipeline[0] ('normalize') std must be a non-empty "
                                                       "list of positive finite numbers; got [0]"),
    ([{"op": "flatten"}, {"op": "flatten"}], "preprocessing.pipeline[1] ('flatten') comes after 'flatten'; flatten "
                                             "must be the last step"),
    ([{"op": "normalize", "mean": [0], "std": [1]}, {"op": "pad", "size": [4, 4]}],
     "preprocessing.pipeline[1] ('pad') comes after 'normalize'; only 'flatten' may follow it"),
    ({"op": "flatten"}, "preprocessing.pipeline must be a list of steps; got {'op': 'flatten'}"),
])
def test_malformed_pipelines_are_refused(steps, message):
    with pytest.raises(ConfigError) as e:
        Preprocess(steps)
    assert str(e.value) == message


# ------------------------------------------------------------------------------------------------ text and series steps
def _symbols() -> dict:
    from an2dl.data.text import Vocabulary

    return Vocabulary(list("abXY"), tokenizer="char").to_dict()


def test_tokenize_encodes_with_the_vocabulary_and_names_unknown_characters():
    pre = Preprocess([{"op": "tokenize", "vocab": _symbols(), "add_sos": True, "add_eos": True}],
                     raw_input={"kind": "text"})
    assert pre.input_kind == "text" and pre.vocabulary.itos[4:] == ["a", "b", "X", "Y"]
    assert pre("abYX").tolist() == [2, 4, 5, 7, 6, 3]  # <sos> a b Y X <eos>
    assert pre("aZ!").tolist() == [2, 4, 1, 1, 3]  # outside the vocabulary: <unk>
    assert pre.unknown_tokens("aZ!Z") == ["Z", "!"]
    plain = Preprocess([{"op": "tokenize", "vocab": _symbols()}])
    assert plain.steps[0]["add_sos"] is False and plain("ba").tolist() == [5, 4]
    with pytest.raises(DataError, match="^f.txt: a text pipeline reads a str; got Tensor$"):
        pre(torch.zeros(3), source="f.txt")
    # the normalisation is the vocabulary's tokenizer's: a lower-casing word vocabulary lower-cases
    from an2dl.data.text import Vocabulary

    words = Vocabulary.build(["the cat sat"], tokenizer="word")
    assert Preprocess([{"op": "tokenize", "vocab": words.to_dict()}])("The CAT").tolist() == \
        words.encode("the cat").tolist()


def test_window_cuts_delay_taps_and_refuses_a_short_series():
    pre = Preprocess([{"op": "window", "size": 4}], raw_input={"kind": "series", "features": ["value"]})
    series = torch.arange(10.0)
    windows = pre(series)
    assert windows.shape == (7, 4, 1) and torch.equal(windows[2, :, 0], torch.tensor([2.0, 3.0, 4.0, 5.0]))
    assert pre.window_bounds(10) == [(i, i + 4) for i in range(7)] and pre.features == ["value"]
    assert pre(series.reshape(2, 5, 1)).shape == (2, 2, 4, 1)  # a batch of series: [B, M, size, D]
    with pytest.raises(DataError) as e:
        pre(torch.arange(3.0), source="short.csv")
    assert str(e.value) == ("short.csv: preprocessing step 0 ('window') cuts the series into windows of 4 steps; got a "
                            "series of 3 step(s) (columns value); give at least 4 steps")
    chunks = Preprocess([{"op": "window", "size": 3, "stride": 3}], raw_input={"kind": "series", "features": ["u", "v"]})
    assert chunks(torch.rand(6, 2)).shape == (2, 3, 2) and chunks.window_bounds(6) == [(0, 3), (3, 6)]
    with pytest.raises(DataError, match=r"a series of 7 steps \(columns u, v\) leaves 1 step\(s\) over; give 3 \+ "
                                        r"k × 3 steps \(e.g. 6\)$"):
        chunks(torch.rand(7, 2), source="f.csv")
    with pytest.raises(DataError, match=r"^f.csv: the model reads series of 2 feature\(s\) \(u, v\); got 3 per step$"):
        chunks(torch.rand(6, 3), source="f.csv")
    whole = Preprocess([], raw_input={"kind": "series", "features": ["u"]})  # no window: the series is one input
    assert whole.input_kind == "series" and whole(torch.rand(5)).shape == (1, 5, 1) and whole.window_bounds(5) == [(0, 5)]


def test_text_and_series_pipelines_round_trip_through_json():
    for pre in (Preprocess([{"op": "tokenize", "vocab": _symbols(), "add_eos": True}], raw_input={"kind": "text"}),
                Preprocess([{"op": "window", "size": 8, "stride": 2}], raw_input={"kind": "series", "features": ["a", "b"]})):
        back = Preprocess.from_dict(json.loads(json.dumps(pre.to_dict())))
        assert back == pre and back.input_kind == pre.input_kind


@pytest.mark.parametrize(("steps", "raw", "message"), [
    ([{"op": "window", "size": 4, "stride": 5}], None, "preprocessing.pipeline[0] ('window') stride must be at most "
                                                       "size (4), so that no step falls between two windows; got 5"),
    ([{"op": "window", "size": 0}], None, "preprocessing.pipeline[0] ('window') size must be a positive integer; got 0"),
    ([{"op": "tokenize", "vocab": {"tokens": []}}], None, "preprocessing.pipeline[0] ('tokenize') vocab is not a "
                                                          "vocabulary: a vocabulary needs the keys"),
    ([{"op": "window", "size": 4}, {"op": "flatten"}], None, "preprocessing.pipeline mixes steps for image and series "
                                                             "inputs; a pipeline reads one kind of input"),
    ([{"op": "window", "size": 4}], {"kind": "text"}, "preprocessing.raw_input describes text inputs but the "
                                                      "pipeline's steps read series inputs"),
    ([], {"kind": "series", "features": ["a", "a"]}, "preprocessing.raw_input of a series is"),
])
def test_malformed_text_and_series_pipelines_are_refused(steps, raw, message):
    with pytest.raises(ConfigError) as e:
        Preprocess(steps, raw_input=raw)
    assert str(e.value).startswith(message)


def test_series_files_are_read_by_column_name(tmp_path):
    from an2dl.data.inputs import read_series_input

    (tmp_path / "h.csv").write_text("# a comment\nstep,carrier,cue\n0,0.5,1\n\n1,-0.25,0\n")
    x = read_series_input(tmp_path / "h.csv", ["cue", "carrier"])  # picked by name, in the model's order
    assert x.tolist() == [[1.0, 0.5], [0.0, -0.25]]
    (tmp_path / "plain.txt").write_text("1 2\n3 4\n")
    assert read_series_input(tmp_path / "plain.txt", ["a", "b"]).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    np.save(tmp_path / "s.npy", np.arange(3))
    assert read_series_input(tmp_path / "s.npy", ["v"]).tolist() == [[0.0], [1.0], [2.0]]  # integers are numbers
    with pytest.raises(DataError, match=r"h.csv: the model reads the column\(s\) cue, gain; the header step, carrier, "
                                        r"cue lacks gain$"):
        read_series_input(tmp_path / "h.csv", ["cue", "gain"])
    with pytest.raises(DataError, match=r"plain.txt: the model reads 1 column\(s\) \(v\); got 2 per step"):
        read_series_input(tmp_path / "plain.txt", ["v"])
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match=r"bad.csv, line 2: 'x' is not a number$"):
        read_series_input(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match=r"ragged.csv, line 2: expected 2 numbers like the first line; got 1$"):
        read_series_input(tmp_path / "ragged.csv")
    (tmp_path / "nan.csv").write_text("1\nnan\n")
    with pytest.raises(DataError, match="NaN"):
        read_series_input(tmp_path / "nan.csv")


def test_language_models_recorded_before_pipelines_get_their_vocabulary_as_a_stand_in():
    legacy = Preprocess.for_metadata({"preprocessing": {"vocab": _symbols(), "input": "character ids [B, T]"}})
    assert not legacy.recorded and legacy.input_kind == "text" and legacy("ab").tolist() == [4, 5]


def test_models_without_a_pipeline_keep_the_old_resize(tmp_path):
    legacy = Preprocess.for_metadata({"preprocessing": {"input_shape": [1, 32, 32], "value_range": [0, 1]}})
    assert not legacy.recorded
    assert legacy.steps == [{"op": "to_channels", "channels": 1}, {"op": "resize", "size": [32, 32], "mode": "bilinear"}]
    x = torch.rand(1, 28, 28)
    assert torch.allclose(legacy(x), F.interpolate(x[None], size=(32, 32), mode="bilinear", align_corners=False)[0])
    assert Preprocess.for_metadata({"preprocessing": {"input_shape": [2]}}) is None

    model = an2dl.get_model("mlp", in_features=2, hidden=[3], num_outputs=1, output="linear")
    export(model, tmp_path / "vec", task="regression", preprocessing={"input_shape": [2]})
    assert an2dl.load(tmp_path / "vec").preprocess is None
    export(model, tmp_path / "bad", task="regression", preprocessing={"input_shape": [2], "pipeline": [{"op": "x"}]})
    with pytest.raises(CheckpointError, match=r"model.json: preprocessing.pipeline\[0\] op must be one of"):
        an2dl.load(tmp_path / "bad")


def test_onnx_metadata_records_the_preprocessing(tmp_path):
    import onnx

    model = an2dl.get_model("mlp", in_features=4, hidden=[3], num_outputs=2)
    pre = {"input_shape": [1, 2, 2], "pipeline": [{"op": "to_channels", "channels": 1},
                                                  {"op": "pad", "size": [2, 2], "fill": 0.0}],
           "raw_input": {"channels": 1, "size": [1, 1]}}
    path = export_onnx(model, tmp_path / "m.onnx", torch.rand(2, 1, 2, 2), preprocessing=pre)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props[ONNX_PREPROCESSING_KEY]) == pre
    assert onnx_preprocess(path) == Preprocess.from_dict(pre)
    bare = export_onnx(model, tmp_path / "bare.onnx", torch.rand(2, 1, 2, 2))
    assert onnx_preprocess(bare) is None
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match=r"junk.onnx is not a readable ONNX file"):
        onnx_preprocess(tmp_path / "junk.onnx")


def test_datasets_record_the_pipeline_that_made_their_inputs():
    raw = an2dl.get_dataset("digits")
    sized = an2dl.get_dataset("digits", size=32)
    pre = Preprocess.from_dict(sized.info.preprocess)
    assert sized.info.preprocess == {"pipeline": [{"op": "to_channels", "channels": 1},
                                                  {"op": "resize", "size": [32, 32], "mode": "bilinear"}],
                                     "raw_input": {"channels": 1, "size": [8, 8]}}
    assert torch.equal(pre(raw.test.tensors[0]), sized.test.tensors[0])
    assert raw.info.preprocess["pipeline"] == [{"op": "to_channels", "channels": 1}]


# --------------------------------------------------------------------------------------------- parity
def _train(name: str, root: Path, *overrides: str):
    result = an2dl.run(name, ["trainer.accelerator=cpu", *overrides], run_dir=root / name, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)  # set by run() for child processes
    return result


def _loop_classes(result, n: int) -> list[int]:
    """The evaluation loop's classes of the first ``n`` test samples: the task's ``predict_step`` over the recipe's data."""
    test = subset(result.data.test, torch.arange(n))
    probs = result.trainer.predict(result.task, test)
    return probs.argmax(dim=1).tolist()


def _predict_classes(capsys, run_dir: Path, files: list[Path]) -> list[int]:
    code = main(["predict", str(run_dir), *map(str, files)])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(f) for f in files]
    return [int(line.split(": ")[1].split(" (")[0]) for line in lines]


def _write_pngs(folder: Path, images: np.ndarray) -> list[Path]:
    """``uint8 [N, H, W]`` as grey PNG files."""
    folder.mkdir()
    paths = []
    for i, img in enumerate(images):
        path = folder / f"{i:04d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def _check_parity(result, capsys, tmp_path, raw: torch.Tensor, raw_size: list[int]) -> int:
    """Predict on PNGs of the raw test images and compare class by class with the evaluation loop; the count."""
    run_dir = result.run_dir
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    pre = meta["preprocessing"]
    assert pre["raw_input"] == {"channels": 1, "size": raw_size} and pre["input_shape"] == [1, 32, 32]
    pixels = (raw[:PARITY_N, 0].numpy() * 255).round().astype(np.uint8)
    files = _write_pngs(tmp_path / "pngs", pixels)
    model = an2dl.load(run_dir)
    assert model.preprocess == Preprocess.from_dict(pre) and model.preprocess.recorded
    predicted = _predict_classes(capsys, run_dir, files)
    expected = _loop_classes(result, PARITY_N)
    mismatches = [i for i, (a, b) in enumerate(zip(predicted, expected)) if a != b]
    assert not mismatches, f"predict and the evaluation loop disagree on test images {mismatches}"

    # the same files through the ONNX graph, prepared by the pipeline its metadata records
    import onnxruntime as ort

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(onnx_path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    onnx_pre = onnx_preprocess(onnx_path)
    assert onnx_pre == model.preprocess
    images = torch.stack([read_image(f, channels=1) for f in files])  # [N, 1, h, w] at the native size
    logits = ort.InferenceSession(str(onnx_path)).run(None, {"input": onnx_pre(images).numpy()})[0]
    onnx_classes = logits.argmax(axis=1).tolist()
    mismatches = [i for i, (a, b) in enumerate(zip(onnx_classes, expected)) if a != b]
    assert not mismatches, f"ONNX and the evaluation loop disagree on test images {mismatches}"
    return len(predicted)


def test_lenet5_digits_predict_matches_the_evaluation_loop(tmp_path, capsys):
    result = _train("lenet5-digits", tmp_path, "trainer.max_epochs=1")
    raw = an2dl.get_dataset("digits", seed=result.config.data.seed).test.tensors[0]  # the same split, 8x8
    pipeline = Preprocess.from_dict(result.data.info.preprocess)
    assert torch.equal(pipeline(raw), result.data.test.tensors[0])  # the test inputs are the pipeline's output
    assert _check_parity(result, capsys, tmp_path, raw, [8, 8]) == PARITY_N


def test_lenet5_mnist_predict_matches_the_evaluation_loop(tmp_path, capsys):
    root = require_data("mnist")
    result = _train("lenet5-mnist", tmp_path, "trainer.max_epochs=1", "data.limit_train=2000", f"data.root={root}")
    assert result.data.info.preprocess["pipeline"][-1] == {"op": "pad", "size": [32, 32], "fill": 0.0}
    raw = an2dl.get_dataset("mnist", root=root).test.tensors[0]  # 28x28, the same order
    assert torch.equal(Preprocess.from_dict(result.data.info.preprocess)(raw[:PARITY_N]),
                       result.data.test.tensors[0][:PARITY_N])
    assert _check_parity(result, capsys, tmp_path, raw, [28, 28]) == PARITY_N
    # an image larger than the pipeline pads to is refused, naming the step
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(big)
    code = main(["predict", str(result.run_dir), str(big)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (f"an2dl: error: {big}: preprocessing step 1 ('pad') pads images up to 32x32 and cannot "
                           "shrink them; got a 40x40 image (the model was trained on 28x28 images); give an image of "
                           "at most 32x32")
