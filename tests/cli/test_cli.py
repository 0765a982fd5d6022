"""The command line: every command on a short LeNet-5 run, and every usage error."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    from conftest import run_cli

    root = tmp_path_factory.mktemp("cli")
    proc = run_cli("run", "lenet5-digits", "--set", "trainer.max_epochs=4", "--set", "trainer.accelerator=cpu",
                   cwd=root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    run_dir = root / lines[-1]
    assert run_dir.parent == root / "runs" / "lenet5-digits"
    return run_dir, proc.stdout


def test_run_prints_metrics_report_and_run_dir_last(short_run):
    run_dir, out = short_run
    printed_dir = out.strip().splitlines()[-1]
    assert "test/accuracy = " in out and f"report: {printed_dir}/report.html" in out
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.5 < results["metrics"]["test/accuracy"] <= 1 and "test/accuracy" not in results  # each metric once
    assert results["epochs"] == 4 and results["steps"] == 160
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "env.json", "report.html", "model/model.json",
                 "model/model.safetensors", "checkpoints/LATEST"):
        assert (run_dir / name).is_file(), name
    report = (run_dir / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 4  # curves, confusion matrix, prediction grid
    # self-contained: nothing fetched (the embedded images' base64 may spell "http" by chance)
    assert "http" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report.split("<body>")[1])
    for png in ("curve_loss.png", "curve_accuracy.png", "confusion_matrix_test.png", "test_predictions.png"):
        assert (run_dir / "plots" / png).is_file(), png
    env = json.loads((run_dir / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"


def test_eval_reproduces_the_run_metrics(short_run, cli):
    run_dir, _ = short_run
    proc = cli("eval", str(run_dir), "--split", "test")
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split(" = ") for line in proc.stdout.strip().splitlines())
    results = json.loads((run_dir / "results.json").read_text())
    assert float(got["test/accuracy"]) == pytest.approx(results["metrics"]["test/accuracy"], abs=1e-6)


def test_predict_png_and_npy(short_run, cli, tmp_path):
    from PIL import Image

    import an2dl

    run_dir, _ = short_run
    data = an2dl.get_dataset("digits", size=32)
    x, y = data.test.tensors
    model = an2dl.load(run_dir)
    with torch.no_grad():
        probs = model(x[:2]).softmax(-1)
    png = tmp_path / "digit.png"
    Image.fromarray((x[0, 0].numpy() * 255).round().astype(np.uint8)).save(png)
    npy = tmp_path / "digit.npy"
    np.save(npy, x[1].numpy())
    proc = cli("predict", str(run_dir), str(png), str(npy), "--top", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    name, p = lines[1].split(": ")[1].split(", ")[0].split(" (")
    assert int(name) == int(probs[1].argmax()) and float(p.rstrip(")")) == pytest.approx(float(probs[1].max()), abs=1e-4)
    assert lines[0].split(": ")[1].split(" (")[0] == str(int(probs[0].argmax()))


def test_export_safetensors_and_onnx_match_pytorch(short_run, cli, tmp_path):
    import onnxruntime as ort

    import an2dl

    run_dir, _ = short_run
    out = tmp_path / "exported"
    proc = cli("export", str(run_dir), "--format", "safetensors", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "model.json").read_text())
    assert meta["name"] == "lenet5" and meta["class_names"] == [str(i) for i in range(10)]
    assert meta["preprocessing"]["input_shape"] == [1, 32, 32]
    model = an2dl.load(out)
    onnx_path = tmp_path / "m.onnx"
    proc = cli("export", str(run_dir), "--format", "onnx", "--out", str(onnx_path))
    assert proc.returncode == 0, proc.stderr
    x = torch.rand(5, 1, 32, 32)
    with torch.no_grad():
        ref = model(x).numpy()
    got = ort.InferenceSession(str(onnx_path)).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_report_is_rewritten(short_run, cli):
    run_dir, _ = short_run
    (run_dir / "report.html").unlink()
    proc = cli("report", str(run_dir))
    assert proc.returncode == 0 and (run_dir / "report.html").is_file()


def test_list_commands(cli):
    proc = cli("list", "recipes")
    assert proc.returncode == 0 and "lenet5-digits" in proc.stdout and "lenet5-mnist" in proc.stdout
    proc = cli("list", "models", "lenet*")
    assert proc.returncode == 0 and "lenet5" in proc.stdout and "61,706 params" in proc.stdout
    proc = cli("list", "datasets")
    assert proc.returncode == 0 and "mnist" in proc.stdout and "digits" in proc.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["run", "lenet5-digit"], 2, "unknown recipe 'lenet5-digit'; did you mean 'lenet5-digits'"),
        (["run", "lenet5-digits", "--set", "trainer.max_epoch=3"], 2, "unknown setting 'trainer.max_epoch'; did you mean max_epochs"),
        (["run", "lenet5-digits", "--set", "trainer.max_epochs=three"], 2, "trainer.max_epochs must be an integer; got 'three'"),
        (["run", "lenet5-digits", "--set", "optim.lr=-1"], 2, "lr must be a positive number"),
        (["run", "lenet5-digits", "--set", "trainer.max_epochs"], 2, "--set expects KEY=VALUE"),
        (["run", "lenet5-mnist", "--set", "data.root=/nonexistent/mnist"], 2, "not found in /nonexistent/mnist"),
        (["run", "lenet5-digits", "--config", "missing.toml"], 2, "config file missing.toml does not exist"),
        (["list", "models", "zzz*"], 2, "no models match"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(cli, args, code, message):
    proc = cli(*args)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    # one line, besides the run directory that a run announces once its directory is ready
    assert len([line for line in proc.stderr.strip().splitlines() if not line.startswith("an2dl: run directory: ")]) == 1


def test_nan_loss_is_a_failure_with_exit_code_1(cli, tmp_path):
    proc = cli("run", "lenet5-digits", "--set", "optim.name=sgd", "--set", "optim.lr=1e30", "--set", "optim.schedule=null",
               "--set", "trainer.max_epochs=2", "--quiet")
    assert proc.returncode == 1
    assert "the loss became nan" in proc.stderr or "the loss became inf" in proc.stderr


def test_config_files_and_show_config(cli, tmp_path):
    (tmp_path / "c.toml").write_text("[trainer]\nmax_epochs = 7\n[optim]\nlr = 0.123\n")
    (tmp_path / "c.yaml").write_text("trainer:\n  batch_size: 9\n")
    (tmp_path / "c.json").write_text('{"model": {"activation": "tanh"}}')
    for name, key, value in (("c.toml", ("optim", "lr"), 0.123), ("c.yaml", ("trainer", "batch_size"), 9),
                             ("c.json", ("model", "activation"), "tanh")):
        proc = cli("run", "lenet5-digits", "--config", name, "--set", "trainer.seed=3", "--show-config")
        assert proc.returncode == 0, proc.stderr
        cfg = json.loads(proc.stdout)
        assert cfg[key[0]][key[1]] == value and cfg["trainer"]["seed"] == 3


def test_help_does_not_import_torch():
    code = "import sys, an2dl.cli.main as m; m.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_predict_refuses_models_that_are_not_classifiers(tmp_path):
    import an2dl
    from an2dl.errors import ConfigError
    from an2dl.export import export
    from an2dl.recipes.run_commands import predict_files

    export(an2dl.get_model("dense_autoencoder"), tmp_path / "ae", task="autoencoder",
           preprocessing={"input_shape": [1, 28, 28]})
    with pytest.raises(ConfigError, match="predict classifies inputs, but .* for the task .autoencoder."):
        predict_files(tmp_path / "ae", [str(tmp_path / "x.npy")])
