"""Visible long work and one-line messages: every step over a few seconds announces itself, and every
misuse ends in one line naming the file or argument, what was expected and what was received."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from an2dl.errors import CheckpointError, ConfigError

SRC = Path(__file__).resolve().parents[1] / "src"


def _env(cache: Path) -> dict[str, str]:
    env = {**os.environ, "AN2DL_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    env.pop("AN2DL_RUN_DIR", None)
    return env


# ------------------------------------------------------------------ visible long work
def test_activity_prints_one_line_off_a_terminal_and_nothing_when_quiet(capsys):
    from an2dl._utils.progress import activity, display_mode

    with activity("measuring things", total=3) as act:
        for _ in range(3):
            act.advance()
    assert act.completed == 3
    with activity("silent work", enable=False):
        pass
    err = capsys.readouterr().err
    assert err == "measuring things\n"
    assert display_mode(None) == "line" and display_mode(False) == "off" and display_mode(True) == "live"


def test_activity_draws_and_reports_the_time_on_a_terminal(capsys):
    from an2dl._utils.progress import activity

    with activity("training something", enable=True) as act:
        act.advance()
    err = capsys.readouterr().err
    assert "✓ training something (" in err and " s)" in err


def _tiny_mnist(name, **_kw):
    assert name == "mnist"
    from an2dl.data import ArrayDataset
    from an2dl.data.core import DataSplits

    g = torch.Generator().manual_seed(0)
    x = torch.rand(48, 1, 28, 28, generator=g)
    y = torch.arange(48) % 10
    return DataSplits(train=ArrayDataset(x, y), val=None, test=ArrayDataset(x[:20], y[:20]), info=None)


def test_judge_training_is_announced_once_then_loaded_silently(tmp_path, monkeypatch, capsys):
    import an2dl.data
    from an2dl.evaluation.generative import digit_judge

    monkeypatch.setenv("AN2DL_CACHE", str(tmp_path))
    monkeypatch.setattr(an2dl.data, "get_dataset", _tiny_mnist)
    judge = digit_judge(epochs=1, limit_train=48)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # off a terminal: the announcement only, no epoch lines
    assert lines[0].startswith("training the digit judge (once, cached in ") and str(tmp_path) in lines[0]
    again = digit_judge(epochs=1, limit_train=48)
    assert capsys.readouterr().err == ""  # loaded from the cache: nothing to announce
    assert again.judge_info == judge.judge_info


def test_feature_extraction_and_downloads_are_announced(tmp_path, capsys):
    from an2dl.data.download import RemoteFile, _download
    from an2dl.evaluation.generative import extract_features

    class Features(nn.Module):
        def forward_features(self, x):
            return x.flatten(1)[:, :3]

    feats = extract_features(Features(), torch.rand(7, 1, 2, 2), batch_size=3, progress=None, what="test digits")
    assert feats.shape == (7, 3)
    assert capsys.readouterr().err == "extracting judge features of 7 test digits\n"
    extract_features(Features(), torch.rand(7, 1, 2, 2))  # the default stays quiet (callbacks call it every epoch)
    assert capsys.readouterr().err == ""

    source = tmp_path / "remote" / "part.bin"
    source.parent.mkdir()
    source.write_bytes(b"0123456789" * 100)
    target = tmp_path / "cache" / "part.bin"
    _download(RemoteFile("part.bin", (source.as_uri(),)), target)
    assert target.read_bytes() == source.read_bytes()
    line = capsys.readouterr().err.strip()
    assert line == f"downloading {source.as_uri()} (1.0 kB) into {target.parent}"


def test_list_models_is_cached_and_answers_without_torch(tmp_path, monkeypatch):
    from an2dl._utils.cache import cached_rows, read_table
    from an2dl.models import summary

    monkeypatch.setenv("AN2DL_CACHE", str(tmp_path))
    assert cached_rows("models", "lenet5") is None
    rows = summary.registry_table("lenet5", cache=True)
    assert rows[0][:2] == ("lenet5", "61,706 params")
    doc = read_table("models")
    assert "resnet18" in doc["names"] and set(doc["rows"]) >= {"lenet5"} and "resnet18" not in doc["rows"]
    assert cached_rows("models", "lenet5") == rows

    def no_measuring(name):
        raise AssertionError(f"{name} was measured again")

    monkeypatch.setattr(summary, "_measure", no_measuring)
    assert summary.registry_table("lenet5", cache=True) == rows
    code = ("import sys; from an2dl.cli.main import main; code = main(['list', 'models', 'LENET5']); "
            "print('torch imported' if 'torch' in sys.modules else 'no torch', code)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    seconds = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("lenet5") and "61,706 params" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "no torch 0"
    assert seconds < 10  # generous for loaded CI machines; typically a fraction of a second


def test_source_fingerprint_follows_the_files(tmp_path):
    from an2dl._utils.cache import source_fingerprint

    (tmp_path / "a.py").write_text("x = 1\n")
    first = source_fingerprint(tmp_path)
    assert source_fingerprint(tmp_path) == first
    (tmp_path / "a.py").write_text("x = 22\n")
    assert source_fingerprint(tmp_path) != first
    assert source_fingerprint(tmp_path, extra=["torch 2.5"]) != source_fingerprint(tmp_path, extra=["torch 2.6"])


def test_list_matches_substrings_and_globs():
    from an2dl.models import list_models
    from an2dl.registry import match_names

    names = ["resnet18", "resnet50", "vgg11", "wide_resnet50_2"]
    assert match_names(names, "resnet") == ["resnet18", "resnet50", "wide_resnet50_2"]
    assert match_names(names, "ResNet5") == ["resnet50", "wide_resnet50_2"]
    assert match_names(names, "resnet*") == ["resnet18", "resnet50"]
    assert match_names(names, None) == names
    assert "wide_resnet50_2" in list_models("resnet") and "resnet18" in list_models("resnet")


def test_list_benchmarks_is_the_list_the_bench_error_points_to(capsys):
    from an2dl.cli.main import main

    assert main(["list", "benchmarks"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()]
    assert {"augment", "ops", "zoo"} <= set(names)
    assert main(["list", "benchmarks", "ZO"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()] == ["zoo"]
    assert main(["bench", "nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nonexistent'" in err and "`an2dl list benchmarks` shows all" in err
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ command line
def test_a_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "an2dl", "run", "ae-mnist", "--show-config"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path), cwd=tmp_path)
    proc.stdout.close()  # the reader goes away before anything is written (`| head -c 10`, `| true`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_safetensors_errors_name_the_file(tmp_path):
    import an2dl
    from an2dl.export import export
    from an2dl.recipes.run_commands import evaluate_run, export_run

    folder = tmp_path / "exported"
    export(an2dl.get_model("lenet5", num_classes=10), folder, class_names=[str(i) for i in range(10)],
           preprocessing={"input_shape": [1, 32, 32]})
    weights = folder / "model.safetensors"
    torch.save({"w": torch.zeros(3)}, weights)  # a pickle under the safetensors name
    with pytest.raises(CheckpointError) as err:
        an2dl.load(folder)
    message = str(err.value)
    assert str(weights) in message and "not a valid safetensors file" in message and "torch.save" in message
    assert "\n" not in message
    # export finds model.json and blames the weights, not a missing model.json
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as err:
        export_run(folder, fmt="safetensors", out=str(tmp_path / "out"))
    assert "has no exported model" not in str(err.value)
    with pytest.raises(CheckpointError, match="has no exported model"):
        export_run(tmp_path / "empty", fmt="safetensors", out=str(tmp_path / "out"))
    # `an2dl eval` reads a run's weights through the same reader
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": {"recipe": "lenet5-digits"}}))
    shutil.copytree(folder, run / "model")
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as err:
        evaluate_run(run)
    assert str(run / "model" / "model.safetensors") in str(err.value)


def test_onnx_export_is_one_quiet_file_unless_the_model_is_too_large(tmp_path, capfd, monkeypatch):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    import an2dl
    import an2dl.export as ex
    from an2dl.cli.main import main

    folder = tmp_path / "exported"
    model = an2dl.get_model("linear_classifier")
    ex.export(model, folder, class_names=[str(i) for i in range(10)], preprocessing={"input_shape": [1, 8, 8]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", str(folder), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    out, err = capfd.readouterr()
    assert out.strip() == str(tmp_path / "m.onnx")  # the path, and nothing else
    assert "torchvision" not in err and "Warning" not in err and not caught
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported", "m.onnx"]
    x = torch.rand(3, 1, 8, 8)
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), model.eval()(x).detach(), rtol=1e-4, atol=1e-5)
    # weights over the limit go to m2.onnx.data, and the command says so
    monkeypatch.setattr(ex, "ONNX_EMBED_LIMIT", 0)
    assert main(["export", str(folder), "--format", "onnx", "--out", str(tmp_path / "m2.onnx")]) == 0
    out, _ = capfd.readouterr()
    assert (tmp_path / "m2.onnx.data").is_file()
    assert out.strip().splitlines() == [str(tmp_path / "m2.onnx"),
                                        f"weights: {tmp_path / 'm2.onnx.data'} (keep it beside m2.onnx)"]


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_learning_rate_must_be_finite(value):
    from an2dl.engine import OptimizerSpec
    from an2dl.recipes import base, config

    with pytest.raises(ConfigError, match=rf"optimizer lr must be a positive number, finite \(not inf or nan\); got {value}"):
        OptimizerSpec("sgd", lr=float(value))
    with pytest.raises(ConfigError, match="lr must be a positive number, finite"):
        config.resolve(base.get_recipe("lenet5-digits").Config, overrides=[f"optim.lr={value}"])
    with pytest.raises(ConfigError, match="optimizer weight_decay must be >= 0 and finite"):
        OptimizerSpec("sgd", weight_decay=float(value))


def test_fractions_are_named_by_their_setting():
    from an2dl.data.splits import holdout_split
    from an2dl.recipes import RECIPES, base, config

    cls = base.get_recipe("lenet5-digits").Config
    with pytest.raises(ConfigError, match=r"^data\.val_fraction must be a number in \[0, 1\); got 1\.5$"):
        config.resolve(cls, overrides=["data.val_fraction=1.5"])
    with pytest.raises(ConfigError, match=r"^data\.val_fraction \+ data\.test_fraction must be less than 1"):
        config.resolve(cls, overrides=["data.val_fraction=0.5", "data.test_fraction=0.6"])
    with pytest.raises(ConfigError, match=r"^data\.val_fraction must be a number in \[0, 1\); got 1\.5$"):
        config.resolve(base.get_recipe("ae-mnist").Config, overrides=["data.val_fraction=1.5"])
    for name in RECIPES.names():  # every recipe's defaults pass
        config.check_fractions(base.get_recipe(name).Config())
    with pytest.raises(ConfigError, match=r"^test_fraction must be a number in \[0, 1\); got 2"):
        holdout_split(10, [0.1, 2], names=["val_fraction", "test_fraction"])
    import an2dl

    with pytest.raises(ConfigError, match=r"^val_fraction must be a number in \[0, 1\); got 1\.5$"):
        an2dl.get_dataset("digits", val_fraction=1.5)


def test_cli_names_the_fraction_setting(tmp_path, monkeypatch, capsys):
    from an2dl.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["run", "lenet5-digits", "--set", "data.val_fraction=1.5"]) == 2
    assert capsys.readouterr().err == "an2dl: error: data.val_fraction must be a number in [0, 1); got 1.5\n"
    assert not (tmp_path / "runs").exists()  # refused before a run directory is made


# ------------------------------------------------------------------ misuse of the Python API
@pytest.fixture
def digits_like():
    from an2dl.data import ArrayDataset

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 4, generator=g), torch.arange(40) % 3
    return x, y, ArrayDataset(x, y)


def _trainer(**kw):
    from an2dl.engine import Trainer

    return Trainer(max_epochs=1, batch_size=8, progress=False, **kw)


def test_trainer_wants_a_dataset_not_tensors(digits_like):
    from an2dl.tasks import ClassificationTask

    x, y, _ = digits_like
    task = ClassificationTask(nn.Linear(4, 3), num_classes=3)
    with pytest.raises(ConfigError, match=r"^the train data must be a Dataset; got a Tensor of shape \[40, 4\] "
                                          r"\(wrap inputs and targets: an2dl\.data\.ArrayDataset\(x, y\)"):
        _trainer().fit(task, x)
    with pytest.raises(ConfigError, match=r"^the test data must be a Dataset; got a Tensor of shape \[40, 4\]"):
        _trainer().evaluate(task, x)
    with pytest.raises(ConfigError, match=r"^the train data must be a Dataset; got a tuple of 2 tensors "
                                          r"\(\[40, 4\], \[40\]\)"):
        _trainer().fit(task, (x, y))


def test_trainer_callbacks_must_be_a_list():
    from an2dl.engine import Checkpoint, EarlyStopping

    with pytest.raises(ConfigError, match=r"^Trainer callbacks must be a list of Callback instances; got one "
                                          r"Checkpoint, not in a list \(write callbacks=\[Checkpoint\(\.\.\.\)\]\)$"):
        _trainer(callbacks=Checkpoint())
    with pytest.raises(ConfigError, match="got int"):
        _trainer(callbacks=3)
    assert len(_trainer(callbacks=(EarlyStopping("val/loss"),)).callbacks) == 1


def test_classification_targets_must_be_class_ids(digits_like):
    from an2dl.data import ArrayDataset
    from an2dl.tasks import ClassificationTask

    x, y, _ = digits_like
    task = ClassificationTask(nn.Linear(4, 3), num_classes=3)
    with pytest.raises(ConfigError, match=r"^ClassificationTask targets must be integer class ids in \[0, 3\) of shape "
                                          r"\[B\] \(or probabilities of shape \[B, 3\]\); got float32 values of shape \[8\]"):
        _trainer().fit(task, ArrayDataset(x, y.float()))
    with pytest.raises(ConfigError, match=r"soft targets must have shape \[B, num_classes=3\]; got \[8, 5\]"):
        _trainer().fit(task, ArrayDataset(x, torch.rand(40, 5)))
    soft = torch.nn.functional.one_hot(y, 3).float()  # probabilities are fine
    assert "train/loss" in _trainer().fit(task, ArrayDataset(x, soft))


def test_an_input_width_the_model_cannot_take_is_named(digits_like):
    from an2dl.tasks import ClassificationTask, RegressionTask

    x, y, data = digits_like
    task = ClassificationTask(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), num_classes=3)
    with pytest.raises(ConfigError, match=r"^ClassificationTask: the inputs of shape \[8, 4\] do not fit the model "
                                          r"Sequential \(its first Linear layer takes 5 features\); torch says: "
                                          r"mat1 and mat2 shapes cannot be multiplied"):
        _trainer().fit(task, data)
    with pytest.raises(ConfigError, match=r"inputs of shape \[16, 4\] do not fit"):
        _trainer().evaluate(task, data)
    conv = ClassificationTask(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(3)), num_classes=3)
    from an2dl.data import ArrayDataset

    with pytest.raises(ConfigError, match=r"\[8, 1, 6, 6\] do not fit the model Sequential \(its first Conv2d layer "
                                          r"takes 3 channels\)"):
        _trainer().fit(conv, ArrayDataset(torch.rand(16, 1, 6, 6), torch.arange(16) % 3))
    reg = RegressionTask(nn.Linear(6, 1))
    with pytest.raises(ConfigError, match=r"^RegressionTask: the inputs of shape \[8, 4\] do not fit"):
        _trainer().fit(reg, ArrayDataset(x, torch.rand(40, 1)))

    class Broken(nn.Linear):  # other runtime errors pass unchanged
        def forward(self, x):
            raise RuntimeError("something else went wrong")

    with pytest.raises(RuntimeError, match="^something else went wrong$"):
        _trainer().fit(ClassificationTask(Broken(4, 3), num_classes=3), data)


def test_a_bad_setting_in_a_config_file_is_one_line(tmp_path, monkeypatch, capsys):
    from an2dl.cli.main import main

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"optim": {"lr": "inf"}}))
    assert main(["run", "lenet5-digits", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "an2dl: error: optim: optimizer lr must be a positive number, finite (not inf or nan); got inf"]
