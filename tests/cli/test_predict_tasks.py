"""``an2dl predict RUN_DIR INPUT...`` on a run of every task kind: classes, numbers, reconstructions, samples, text.

Each test trains the cheapest recipe of its kind for a few steps (or, for the
sequence regression that no recipe exports, a tiny Trainer run), calls the
command line's entry point, and checks what it printed and wrote against the
exported model called directly on the same inputs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import an2dl
from _generative_support import JUDGE, use_session_cache
from an2dl.cli.main import main
from an2dl.data.text import Vocabulary
from an2dl.engine.task import Task
from an2dl.errors import ConfigError
from an2dl.export import export
from an2dl.tasks import TASK_KINDS, SequenceRegressionTask, kind_of, task_for_kind
from conftest import require_data, run_cli

#: the kinds this file runs ``an2dl predict`` on (a new kind must add its test here)
COVERED = {"classification", "binary_classification", "regression", "sequence_classification", "sequence_regression",
           "language_model", "autoencoder", "vae", "gan", "generic",
           "segmentation",  # segmentation: tests/recipes/segmentation/test_segmentation_recipes.py (mask and overlay PNGs)
           "localization",  # localization: tests/recipes/localization/test_localization_recipes.py (class, box, drawing)
           "pose",  # pose: tests/recipes/pose/test_pose_recipes.py (joints printed, skeleton drawn)
           "detection",  # detection: tests/tasks/test_detection_task.py (boxes printed in file pixels, overlay drawn)
           "metric_learning", "seq2seq"}

#: MNIST recipes at toy sizes, with the small judge the generative tests share
MNIST_TINY = ["data.limit_train=600", "data.limit_eval=200", f"judge.limit_train={JUDGE['limit_train']}",
              f"judge.epochs={JUDGE['epochs']}", "judge.n_samples=100", "trainer.max_epochs=1"]


def _train(name: str, root: Path, *overrides: str) -> Path:
    """Run recipe ``name`` in ``root/name`` and return its run directory (which holds ``model/``)."""
    run_dir = root / name
    an2dl.run(name, ["trainer.accelerator=cpu", *overrides], run_dir=run_dir, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)  # set by run() for child processes; the next run picks its own
    assert (run_dir / "model" / "model.json").is_file()
    return run_dir


def _predict(capsys, *args) -> tuple[int, list[str], str]:
    """``an2dl predict ARGS`` through the command line's entry point: (exit code, stdout lines, stderr)."""
    code = main(["predict", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def _kind(run_dir: Path) -> str:
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["version"] == 2
    return meta["task"]


def _png(path: Path, image: torch.Tensor) -> torch.Tensor:
    """Write a ``[H, W]`` image in [0, 1] as an 8-bit PNG; return what the file holds, in [0, 1]."""
    arr = (image.numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(path)
    return torch.from_numpy(arr.astype(np.float32) / 255)


def _ranked(line: str) -> tuple[str, list[tuple[str, float]]]:
    """``"a.png: 7 (0.91), 1 (0.05)"`` -> ``("a.png", [("7", 0.91), ("1", 0.05)])``."""
    source, shown = line.split(": ", 1)
    pairs = [item.rsplit(" (", 1) for item in shown.split(", ")]
    return source, [(name, float(p.rstrip(")"))) for name, p in pairs]


@pytest.fixture
def judge_cache(tmp_path_factory, monkeypatch):
    require_data("mnist")
    return use_session_cache(tmp_path_factory, monkeypatch)


def test_every_task_kind_has_a_predict_test():
    assert set(TASK_KINDS) == COVERED
    for kind, cls in TASK_KINDS.items():
        assert task_for_kind(kind) is cls and cls.kind == kind
        assert cls.export_metadata(class_names=["a"], preprocessing={"k": 1}) == {
            "task": kind, "class_names": ["a"], "preprocessing": {"k": 1}}


# ----------------------------------------------------------------------------------------- classes and numbers
def test_classification_prints_the_models_top_k(tmp_path, capsys):
    run_dir = _train("lenet5-digits", tmp_path, "trainer.max_epochs=1")
    assert _kind(run_dir) == "classification"
    x = an2dl.get_dataset("digits", size=32).test.tensors[0][:2]  # [2, 1, 32, 32]
    first = _png(tmp_path / "digit.png", x[0, 0])
    np.save(tmp_path / "digit.npy", x[1].numpy())
    model = an2dl.load(run_dir)
    with torch.no_grad():
        probs = model(torch.stack([first[None], x[1]])).softmax(-1)

    code, lines, err = _predict(capsys, run_dir, tmp_path / "digit.png", tmp_path / "digit.npy", "--top", "3")
    assert code == 0, err
    assert len(lines) == 2
    for line, p, name in zip(lines, probs, ("digit.png", "digit.npy")):
        source, ranked = _ranked(line)
        assert source.endswith(name)
        values, idx = p.topk(3)
        assert [c for c, _ in ranked] == [str(i) for i in idx.tolist()]  # top-1 is the model's argmax
        assert [v for _, v in ranked] == pytest.approx(values.tolist(), abs=1e-4)

    code, lines, err = _predict(capsys, run_dir, tmp_path / "digit.png", "--samples", "4")
    assert code == 2 and lines == []
    assert err.strip() == (f"an2dl: error: --samples does not apply to the classification model of {run_dir} "
                           "(it takes --top, --clip, --invert, --max-pixels)")


def test_binary_classification_prints_p_positive(tmp_path, capsys):
    run_dir = _train("mlp-xor", tmp_path, "trainer.max_epochs=60")
    assert _kind(run_dir) == "binary_classification"
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    np.save(tmp_path / "xor.npy", points.numpy().astype(np.int64))  # integers are numbers here, not 0-255 pixels
    with torch.no_grad():
        z = an2dl.load(run_dir)(points).reshape(-1)

    code, lines, err = _predict(capsys, run_dir, "0,0", "0,1", "1,0", "1,1", tmp_path / "xor.npy")
    assert code == 0, err
    assert len(lines) == 8
    for line, score in zip(lines, torch.cat([z, z]).tolist()):
        head, decided = line.split(" -> ")
        assert head.split(": ")[1].startswith("P(1) = ")
        assert float(head.rsplit("= ", 1)[1]) == pytest.approx(1 / (1 + math.exp(-score)), abs=1e-4)
        assert decided == ("1" if score > 0 else "0")
    assert [line.split(": ")[0] for line in lines[4:]] == [f"{tmp_path / 'xor.npy'}[{i}]" for i in range(4)]


def test_regression_prints_the_models_values(tmp_path, capsys):
    run_dir = _train("mlp-sine", tmp_path, "trainer.max_epochs=30")
    assert _kind(run_dir) == "regression"
    xs = torch.tensor([[0.5], [-2.0], [1.0], [2.5], [3.0]])
    np.save(tmp_path / "xs.npy", xs[2:, 0].numpy())  # a one-number model reads [N] as N samples
    with torch.no_grad():
        y = an2dl.load(run_dir)(xs).reshape(-1).tolist()

    code, lines, err = _predict(capsys, run_dir, "0.5", "-2", tmp_path / "xs.npy")
    assert code == 0, err
    assert [line.split(": ")[0] for line in lines] == ["0.5", "-2"] + [f"{tmp_path / 'xs.npy'}[{i}]" for i in range(3)]
    assert [float(line.split(": ")[1]) for line in lines] == pytest.approx(y, rel=1e-5, abs=1e-6)

    code, _, err = _predict(capsys, run_dir, "1,2")
    assert code == 2 and err.strip() == "an2dl: error: input '1,2' holds 2 number(s); the model reads 1 (shape [1])"


# ---------------------------------------------------------------------------------------------------- sequences
def test_sequence_classification_reads_token_id_arrays(tmp_path, capsys):
    sizes = {"n_train": 256, "n_val": 64, "n_test": 64}
    run_dir = _train("seq-classify", tmp_path, "trainer.max_epochs=1", "model.hidden_size=8",
                     *(f"data.{k}={v}" for k, v in sizes.items()))
    assert _kind(run_dir) == "sequence_classification"
    tokens, lengths, _ = an2dl.get_dataset("temporal-order", **sizes).test.tensors
    files = []
    for i in range(2):
        files.append(tmp_path / f"seq{i}.npy")
        np.save(files[-1], tokens[i, : lengths[i]].numpy())
    model = an2dl.load(run_dir)
    names = model.an2dl_meta["class_names"]
    assert names == ["XX", "XY", "YX", "YY"]

    code, lines, err = _predict(capsys, run_dir, *files, "--top", "2")
    assert code == 0, err
    for i, line in enumerate(lines):
        with torch.no_grad():
            p = model(tokens[i : i + 1, : lengths[i]]).softmax(-1)[0]
        values, idx = p.topk(2)
        assert _ranked(line)[1] == [(names[j], pytest.approx(v, abs=1e-4)) for j, v in zip(idx.tolist(), values.tolist())]

    np.save(tmp_path / "bad.npy", np.array([2, 4, 42]))
    code, _, err = _predict(capsys, run_dir, tmp_path / "bad.npy")
    assert code == 1
    assert err.strip() == f"an2dl: error: {tmp_path / 'bad.npy'}: token ids must lie in [0, 10); got values from 2 to 42"


def test_sequence_regression_forecasts_from_a_window(tmp_path, capsys):
    # forecast-sine compares several models and exports none: a tiny run of one forecaster, exported as a recipe does
    data = an2dl.get_dataset("noisy-sine", length=400, window=16)
    task = SequenceRegressionTask(an2dl.get_model("recurrent_regressor", hidden_size=8),
                                  optimizer=an2dl.OptimizerSpec("adam", lr=1e-2))
    an2dl.Trainer(max_epochs=1, batch_size=32, run_dir=tmp_path / "run", progress=False).fit(task, data.train, data.val)
    export(task.model, tmp_path / "run" / "model", **SequenceRegressionTask.export_metadata(
        preprocessing={"input": "the last 16 observations, [16] or [16, 1]"}))
    assert _kind(tmp_path / "run") == "sequence_regression"
    window = data.test.tensors[0][:1]  # [1, 16, 1]
    np.save(tmp_path / "w1.npy", window[0, :, 0].numpy())  # [T]
    np.save(tmp_path / "w2.npy", window[0].numpy())  # [T, 1]
    with torch.no_grad():
        expected = float(an2dl.load(tmp_path / "run")(window))

    code, lines, err = _predict(capsys, tmp_path / "run", tmp_path / "w1.npy", tmp_path / "w2.npy")
    assert code == 0, err
    assert [float(line.split(": ")[1]) for line in lines] == pytest.approx([expected] * 2, rel=1e-5, abs=1e-6)


def test_seq2seq_decodes_source_ids_freely(tmp_path, capsys):
    from an2dl.data import ArrayDataset
    from an2dl.tasks import Seq2SeqTask

    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 8, (64, 3), generator=g)
    tgt = torch.cat([src.flip(1), torch.full((64, 1), 3)], dim=1)
    torch.manual_seed(0)
    task = Seq2SeqTask(an2dl.get_model("seq2seq_rnn", src_vocab_size=8, tgt_vocab_size=8, hidden_size=8,
                                       embedding_dim=4, attention="dot"), max_length=4)
    an2dl.Trainer(max_epochs=1, batch_size=32, run_dir=tmp_path / "run", progress=False).fit(
        task, ArrayDataset(src, torch.full((64,), 3), tgt))
    export(task.model, tmp_path / "run" / "model", **Seq2SeqTask.export_metadata(
        preprocessing={"max_length": 4, "beam_width": 2, "input": "source token ids [S]"}))
    assert _kind(tmp_path / "run") == "seq2seq"
    np.save(tmp_path / "s.npy", src[0].numpy())
    expected = an2dl.load(tmp_path / "run").generate(src[:1], torch.tensor([3]), max_length=4, beam_width=2)
    code, lines, err = _predict(capsys, tmp_path / "run", tmp_path / "s.npy")
    assert code == 0, err
    assert lines == [f"{tmp_path / 's.npy'}: " + " ".join(str(i) for i in expected.tokens[0, :int(expected.lengths[0])].tolist())]
    np.save(tmp_path / "bad.npy", np.array([4, 42]))
    code, _, err = _predict(capsys, tmp_path / "run", tmp_path / "bad.npy")
    assert code == 1 and err.strip() == f"an2dl: error: {tmp_path / 'bad.npy'}: token ids must lie in [0, 8); got values from 4 to 42"


def test_language_model_continues_a_prompt(tmp_path, capsys):
    require_data("tinyshakespeare")
    run_dir = _train("char-lstm-shakespeare", tmp_path, "trainer.max_steps=2", "trainer.max_epochs=1",
                     "data.seq_len=32", "model.hidden_size=16", "model.embedding_dim=8", "stream_eval=false",
                     "sample.length=5", "trainer.eval_batch_size=1024", "trainer.time_budget_s=null")
    assert _kind(run_dir) == "language_model"
    model = an2dl.load(run_dir)
    vocab = Vocabulary.from_dict(model.an2dl_meta["preprocessing"]["vocab"])
    prompt = vocab.encode("ROMEO:")[None]
    ids = model.generate(prompt, 40, temperature=0.8, generator=torch.Generator().manual_seed(5))
    expected = "ROMEO:" + vocab.decode(ids[0, prompt.shape[1]:])

    code, lines, err = _predict(capsys, run_dir, "--prompt", "ROMEO:", "--length", "40", "--seed", "5")
    assert code == 0, err
    assert ids.shape == (1, 6 + 40)
    assert "\n".join(lines) == expected  # the prompt as written, then the 40 sampled characters (specials left out)

    (tmp_path / "start.txt").write_text("ROMEO:")
    code, lines, err = _predict(capsys, run_dir, tmp_path / "start.txt", "--length", "40", "--seed", "5",
                                "--out", tmp_path / "texts")
    assert code == 0, err
    assert lines == [f"{tmp_path / 'start.txt'}: {tmp_path / 'texts' / 'start.sample.txt'}"]
    assert (tmp_path / "texts" / "start.sample.txt").read_text() == expected


# ------------------------------------------------------------------------------------------------------- images
def _stroke() -> torch.Tensor:
    """A 28x28 "1": a bright vertical bar on black, like an MNIST digit."""
    img = torch.zeros(28, 28)
    img[5:23, 12:16] = 1.0
    return img


def _read_png(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255)


def test_autoencoder_writes_reconstructions_beside_the_input(tmp_path, capsys, judge_cache):
    run_dir = _train("ae-mnist", tmp_path, *MNIST_TINY, "model.hidden=[32]")
    assert _kind(run_dir) == "autoencoder"
    x = _png(tmp_path / "one.png", _stroke())[None, None]  # [1, 1, 28, 28]
    with torch.no_grad():
        x_hat = an2dl.load(run_dir)(x)

    code, lines, err = _predict(capsys, run_dir, tmp_path / "one.png")
    assert code == 0, err
    recon = tmp_path / "one.recon.png"
    source, rest = lines[0].split(": ")
    assert source == str(tmp_path / "one.png") and rest.startswith(f"{recon} (l2 error ")
    assert float(rest.rsplit(" ", 1)[1].rstrip(")")) == pytest.approx(float((x - x_hat).norm()), rel=1e-3)
    got = _read_png(recon)
    assert got.shape == (28, 28)  # the input's size
    assert (got - x_hat[0, 0]).abs().max() <= 0.5 / 255 + 1e-6  # the model's output up to 8-bit rounding

    code, lines, err = _predict(capsys, run_dir, tmp_path / "one.png", "--out", tmp_path / "out")
    assert code == 0, err
    assert torch.equal(_read_png(tmp_path / "out" / "one.recon.png"), got)


def _tiles(grid: torch.Tensor, n: int, size: int, padding: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a grid of ``ceil(√n)`` tiles per row into its ``n`` tiles and the blank slots after them."""
    nrow = math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    assert grid.shape == (rows * (size + padding) + padding, nrow * (size + padding) + padding)
    cells = [grid[padding + r * (size + padding):][:size, padding + c * (size + padding):][:, :size]
             for r in range(rows) for c in range(nrow)]
    return torch.stack(cells[:n]), torch.stack(cells[n:]) if len(cells) > n else torch.ones(0, size, size)


def test_vae_reconstructs_inputs_and_draws_seeded_samples(tmp_path, capsys, judge_cache):
    run_dir = _train("vae-mnist", tmp_path, *MNIST_TINY, "model.hidden=[32]", "figures.map_size=3",
                     "figures.interpolations=1")
    assert _kind(run_dir) == "vae"
    model = an2dl.load(run_dir)
    expected = model.sample(10, generator=torch.Generator().manual_seed(3))[:, 0]
    x = _png(tmp_path / "one.png", _stroke())[None, None]
    with torch.no_grad():
        x_hat = model(x)  # eval mode: decoded from the posterior mean

    code, lines, err = _predict(capsys, run_dir, tmp_path / "one.png", "--samples", "10", "--seed", "3")
    assert code == 0, err
    grid_path = run_dir / "samples" / "samples-n10-seed3.png"
    assert lines[1] == f"10 samples (seed 3): {grid_path}"
    assert (_read_png(tmp_path / "one.recon.png") - x_hat[0, 0]).abs().max() <= 0.5 / 255 + 1e-6
    drawn, blank = _tiles(_read_png(grid_path), 10, 28)
    assert len(drawn) == 10 and (drawn - expected).abs().max() <= 0.5 / 255 + 1e-6
    assert len(blank) == 2 and bool((blank == 1).all())  # a 4 x 3 grid: the last two slots stay white


def test_gan_draws_the_requested_number_of_samples(tmp_path, capsys, judge_cache):
    run_dir = _train("gan-mnist", tmp_path, *MNIST_TINY, "monitor.frechet_samples=50", "monitor.grid=4",
                     "models.g_hidden=[32]", "models.d_hidden=[32]")
    assert _kind(run_dir) == "gan"
    generator = an2dl.load(run_dir)
    expected = generator.sample(4, generator=torch.Generator().manual_seed(0))[:, 0]

    code, lines, err = _predict(capsys, run_dir, "--samples", "4", "--out", tmp_path / "grids")
    assert code == 0, err
    path = tmp_path / "grids" / "samples-n4-seed0.png"
    assert lines == [f"4 samples (seed 0): {path}"]
    drawn, blank = _tiles(_read_png(path), 4, 28)
    assert len(drawn) == 4 and len(blank) == 0
    assert (drawn - expected).abs().max() <= 0.5 / 255 + 1e-6

    # a model.json written before task kinds said "generator"; it still predicts the same grid
    meta_path = run_dir / "model" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "task": "generator", "version": 1}))
    code, lines, err = _predict(capsys, run_dir, "--samples", "4", "--out", tmp_path / "old")
    assert code == 0, err
    assert torch.equal(_read_png(tmp_path / "old" / "samples-n4-seed0.png"), _read_png(path))

    code, lines, err = _predict(capsys, run_dir, "noise.png")
    assert code == 2 and lines == []
    assert err.strip() == (f"an2dl: error: the gan model of {run_dir} generates from noise and takes no inputs; "
                           "got 'noise.png' (use --samples N)")


def test_metric_learning_prints_the_embedding_norm_and_the_nearest_gallery_entry(tmp_path, capsys):
    # a tiny embedding net on the embedded digits, exported with a gallery of two enrolled digits as a recipe does
    from an2dl.models.metric import Gallery
    from an2dl.tasks import MetricLearningTask

    data = an2dl.get_dataset("digits", size=28)
    x, y = data.train.tensors[0][:64], data.train.tensors[1][:64]
    net = an2dl.get_model("embedding_cnn", embedding_dim=8, channels=(4,), hidden=(16,))
    an2dl.Trainer(max_epochs=1, batch_size=32, progress=False).fit(MetricLearningTask(net), an2dl.data.ArrayDataset(x, y))
    export(net, tmp_path / "run" / "model", **MetricLearningTask.export_metadata(
        preprocessing={"input_shape": [1, 28, 28], "value_range": [0, 1]}))
    assert _kind(tmp_path / "run") == "metric_learning"
    one = _png(tmp_path / "one.png", x[0, 0])[None, None]
    code, lines, err = _predict(capsys, tmp_path / "run", tmp_path / "one.png")
    assert code == 0, err
    with torch.no_grad():
        z = an2dl.load(tmp_path / "run")(one)
    assert lines == [f"{tmp_path / 'one.png'}: embedding norm {float(z.norm()):.4g}"]

    gallery = Gallery(net, input_shape=(1, 28, 28))
    gallery.enroll(f"digit{int(y[0])}", one[0])
    other = int((y != y[0]).nonzero()[0])
    gallery.enroll(f"digit{int(y[other])}", x[other])
    gallery.save(tmp_path / "run" / "model" / "gallery.safetensors")
    code, lines, err = _predict(capsys, tmp_path / "run", tmp_path / "one.png")
    assert code == 0, err
    assert lines == [f"{tmp_path / 'one.png'}: embedding norm {float(z.norm()):.4g}; nearest digit{int(y[0])} (distance 0)"]


# --------------------------------------------------------------------------------------------- refusals, old files
def test_a_kind_without_predict_is_refused_in_one_line(tmp_path):
    model = an2dl.get_model("mlp", in_features=2, hidden=[3], num_outputs=2)
    export(model, tmp_path / "run" / "model", **Task.export_metadata(preprocessing={"input_shape": [2]}))
    proc = run_cli("predict", str(tmp_path / "run"), "0,1", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"an2dl: error: the model of {tmp_path / 'run'} was trained by a task of kind 'generic', which has no "
        "predict; load it with an2dl.load(...) and call it in Python"]


def test_an_unknown_kind_is_a_usage_error(tmp_path, capsys):
    model = an2dl.get_model("mlp", in_features=2, hidden=[3], num_outputs=2)
    export(model, tmp_path / "m", task="segmentaton")
    code, lines, err = _predict(capsys, tmp_path / "m", "0,1")
    assert code == 2 and lines == []
    assert err.startswith(f"an2dl: error: the model.json of {tmp_path / 'm'}: unknown task kind 'segmentaton'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "meta, kind",
    [
        ({"task": "generator", "version": 1}, "gan"),
        ({"task": "autoencoder", "version": 1}, "autoencoder"),
        ({"task": "vae", "version": 1}, "vae"),
        ({"task": "classification", "version": 1, "class_names": ["0", "1"], "preprocessing": {"input_shape": [1, 8, 8]}},
         "classification"),
        ({"version": 1, "class_names": ["a"], "preprocessing": {"vocab": {"type": "char", "chars": ["a"]}}},
         "language_model"),
        ({"task": "classification", "version": 1, "class_names": ["XX"], "preprocessing": {"symbols": {"X": 8}}},
         "sequence_classification"),
        ({"task": "classification", "version": 1, "class_names": [], "preprocessing": {"input_shape": [1]}},
         "regression"),
        ({"task": "classification", "version": 2, "class_names": [], "preprocessing": {"input_shape": [1]}},
         "classification"),
        ({"task": "binary_classification", "version": 2}, "binary_classification"),
    ],
)
def test_kind_of_reads_model_json_written_before_task_kinds(meta, kind):
    assert kind_of(meta) == kind


def test_task_for_kind_suggests_close_kinds():
    with pytest.raises(ConfigError, match=r"unknown task kind 'regresion'; did you mean 'regression'"):
        task_for_kind("regresion")


# ---------------------------------------------------------------- word vectors (notes §4.2.5)
def _toy_vectors(tmp_path):
    from an2dl.models.language import WordVectors

    # queen = king - man + woman exactly; "apple" far from all of them
    man, woman, royal = np.array([1.0, 0, 0, 0]), np.array([0, 1.0, 0, 0]), np.array([0, 0, 1.0, 0])
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = np.stack([man, woman, man + royal, woman + royal, np.array([0, 0, 0, 1.0])]).astype(np.float32)
    run = tmp_path / "w2v-run"
    run.mkdir()
    WordVectors(words, vectors).save(run / "vectors.bin", binary=True)
    return run


def test_predict_answers_similar_words_and_analogies_from_a_word2vec_run(tmp_path, capsys):
    run = _toy_vectors(tmp_path)
    assert main(["predict", str(run), "--analogy", "man", "king", "woman"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("man : king :: woman : ?") and out[1].split()[0] == "queen" and len(out) == 2
    assert main(["predict", str(run), "--similar", "king", "--top", "2"]) == 0
    ranked = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    # cos(king, man) = 1/sqrt(2), cos(king, queen) = 1/2 (they share the royal axis only), apple 0
    assert ranked == ["man", "queen"]
    # a vectors file works as well as the run directory
    assert main(["predict", str(run / "vectors.bin"), "--similar", "apple", "--top", "1"]) == 0


@pytest.mark.parametrize("args, match", [
    (["--similar", "kingdom"], "'kingdom' is not in the vocabulary"),
    (["--similar", "king", "--analogy", "a", "b", "c"], "exactly one of --similar"),
    (["--similar", "king", "--top", "0"], "--top must be a positive integer"),
    (["--similar", "king", "--prompt", "x"], "take only --top; got also prompt"),
])
def test_bad_word_queries_are_named(tmp_path, capsys, args, match):
    run = _toy_vectors(tmp_path)
    assert main(["predict", str(run), *args]) != 0
    assert match in capsys.readouterr().err


def test_word_queries_need_a_run_with_vectors(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--similar", "king"]) != 0
    assert "RUN_DIR/vectors.bin" in capsys.readouterr().err
