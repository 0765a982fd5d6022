"""Predict/evaluation parity for every recipe that exports an image model, for ONNX, and for text prompts.

Each image recipe is run for one epoch at the cheap settings of
``test_recipe_commands.CASES``; ``PARITY_N`` of its raw test images are
written as PNG files at the dataset's native size and given to ``an2dl
predict``.  A classifier's printed class must equal, file by file, the class
the evaluation loop (``an2dl eval``'s task and data, :func:`load_run_task`,
through ``Trainer.predict``) gives the same test sample; an autoencoder's
reconstruction PNG must equal its model's output on the evaluation input up to
8-bit rounding.  The recipes that export no image model are listed with the
reason they are left out, and every registered recipe is in one of the two lists.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_recipe_commands import CASES

import an2dl
from _generative_support import small_judge, use_session_cache
from an2dl.cli.main import main
from an2dl.data.core import subset
from an2dl.data.images import read_image
from an2dl.data.preprocess import Preprocess
from an2dl.data.registry import DATASETS
from an2dl.engine.trainer import Trainer
from an2dl.export import onnx_preprocess
from an2dl.recipes.run_commands import load_run_task
from conftest import require_data

#: test images compared per recipe
PARITY_N = 50

#: recipes that export no image model, and why each is left out
NOT_IMAGE: dict[str, str] = {
    "adding-problem": "sequence regression (out of scope: sequences)",
    "char-lstm-shakespeare": "character language model (out of scope: sequences; prompts are tested below)",
    "forecast-sine": "sequence forecasting (out of scope: sequences)",
    "learned-initial-state": "sequence regression (out of scope: sequences)",
    "seq-classify": "sequence classification (out of scope: sequences)",
    "mlp-sine": "regression on scalar inputs, no image",
    "mlp-xor": "binary classification of 2-D points, no image",
    "perceptron-logic": "binary classification of 2-D points, no image",
    "restarts-demo": "binary classification of 2-D points, no image",
    "knn-digits": "exports no model (a k-NN classifier stores its training set)",
    "filters-demo": "exports no model (it draws filter responses)",
    "gan-mnist": "the exported generator maps noise to images: it reads no image",
    "dcgan-mnist": "the exported generator maps noise to images: it reads no image",
    "wgan-gp-mnist": "the exported generator maps noise to images: it reads no image",
}

#: recipes that export an image model: the model compared (None: the run's only model)
IMAGE: dict[str, str | None] = {
    "lenet5-digits": None, "cnn-digits": None, "linear-digits": None, "mlp-digits": None, "digits-kfold": None,
    "tta-comparison": None, "augmentation-comparison": "none", "init-comparison": "xavier",
    "overfitting-digits": "early_stopping", "optimizer-comparison": "adam", "vanishing-gradients": "relu",
    "lenet5-mnist": None, "mlp-mnist": None, "cnn-mnist": None, "transfer-mnist": None,
    "ae-mnist": None, "conv-ae-mnist": None, "vae-mnist": None, "ae-latent-sweep-mnist": "d2",
    "ae-generative-mnist": "vae-d2", "ae-pretrain-mnist": "pretrained-finetuned-n5-r0",
}


def test_every_recipe_is_compared_or_left_out_with_a_reason():
    assert set(IMAGE) | set(NOT_IMAGE) == set(an2dl.list_recipes())
    assert not set(IMAGE) & set(NOT_IMAGE)


def _settings(name: str) -> list[str]:
    overrides, data = CASES[name]
    if data is not None:
        require_data(data)  # found by the recipe in $AN2DL_DATA_DIR
    return ["trainer.accelerator=cpu", "trainer.max_epochs=1", *overrides]


def _raw_test_images(data, cfg) -> torch.Tensor:
    """The dataset's test images before the recipe's pipeline, in the recipe's split and order."""
    name = data.info.name
    builder = DATASETS.get(name)
    accepted = inspect.signature(builder).parameters
    given = {k: v for k, v in vars(getattr(cfg, "data", None) or object()).items()
             if k in accepted and k not in ("size", "pad_to")} if hasattr(cfg, "data") else {}
    if "root" in accepted and name != "digits":
        given["root"] = require_data(name)
    test = builder(**given).test
    if type(cfg).__module__.endswith("transfer_mnist"):  # the target digits of MNIST's test part, in order
        from an2dl.recipes.cnn.transfer_mnist import split_digits

        test = split_digits(test, cfg.data.target_digits, limit=cfg.data.test_limit)
    return test.tensors[0]


def _write_pngs(folder: Path, images: torch.Tensor) -> list[Path]:
    """``[N, 1, H, W]`` in [0, 1] as 8-bit grey PNG files at their own size."""
    folder.mkdir()
    pixels = (images[:, 0].numpy() * 255).round().astype(np.uint8)
    paths = []
    for i, img in enumerate(pixels):
        path = folder / f"{i:04d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def _predict(capsys, run_dir: Path, files: list[Path], *extra: str) -> list[str]:
    capsys.readouterr()
    code = main(["predict", str(run_dir), *map(str, files), *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out.splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IMAGE) + [pytest.param(n, marks=pytest.mark.skip(reason=f"{n}: {why}"))
                                                  for n, why in sorted(NOT_IMAGE.items())])
def test_predict_matches_the_evaluation_loop(name, tmp_path, tmp_path_factory, monkeypatch, capsys):
    settings = _settings(name)
    if any(s.startswith("judge.") for s in settings):
        use_session_cache(tmp_path_factory, monkeypatch)
        small_judge()
    run_dir = tmp_path / name
    an2dl.run(name, settings, run_dir=run_dir, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)  # set by run() for child processes
    model_name = IMAGE[name]
    select = [] if model_name is None else ["--model", model_name]
    home = run_dir if model_name is None else run_dir / "variants" / model_name
    meta = json.loads((home / "model" / "model.json").read_text())
    pipeline = Preprocess.from_dict(meta["preprocessing"])
    assert pipeline.recorded

    _, cfg, task, data = load_run_task(run_dir, model=model_name)
    raw = _raw_test_images(data, cfg)[:PARITY_N]
    assert list(raw.shape[2:]) == meta["preprocessing"]["raw_input"]["size"]
    inputs = data.test.tensors[0][:PARITY_N]
    assert torch.equal(pipeline(raw), inputs), "the recorded pipeline does not make the recipe's test inputs"
    files = _write_pngs(tmp_path / "pngs", raw)

    if meta["task"] in ("autoencoder", "vae"):
        out = tmp_path / "recon"
        lines = _predict(capsys, run_dir, files, "--out", str(out), *select)
        assert len(lines) == len(files)
        task.model.eval()
        with torch.no_grad():
            expected = task.model(inputs)
        expected = (expected[0] if isinstance(expected, tuple) else expected).float().clamp(0, 1)
        # the printed error is measured on the input predict prepared: equal to the evaluation input's
        errors = [float(line.rsplit("(l2 error ", 1)[1].rstrip(")")) for line in lines]
        assert errors == pytest.approx((inputs - expected).flatten(1).norm(dim=1).tolist(), rel=1e-3)
        expected = (expected * 255).round()
        worst = []
        for i, f in enumerate(files):
            got = torch.from_numpy(np.asarray(Image.open(out / f"{f.stem}.recon.png"), dtype=np.float32))
            worst.append(float((got - expected[i, 0]).abs().max()))
        bad = [i for i, w in enumerate(worst) if w > 1]
        assert not bad, f"{name}: reconstructions differ from the model's on test images {bad} (max {max(worst)})"
        count = len(worst)
    else:
        lines = _predict(capsys, run_dir, files, *select)
        assert [line.split(": ")[0] for line in lines] == [str(f) for f in files]
        names = meta["class_names"]
        predicted = [line.split(": ")[1].split(" (")[0] for line in lines]
        trainer = Trainer(max_epochs=1, eval_batch_size=256, progress=False, accelerator="cpu")
        probs = trainer.predict(task, subset(data.test, torch.arange(PARITY_N)))
        expected = [str(names[c]) if names else str(c) for c in probs.argmax(dim=1).tolist()]
        bad = [i for i, (a, b) in enumerate(zip(predicted, expected)) if a != b]
        assert not bad, f"{name}: predict and the evaluation loop disagree on test images {bad}"
        count = len(predicted)
    assert count == PARITY_N
    print(f"{name}: {count}/{PARITY_N} equal")


# ------------------------------------------------------------------------------------------------ ONNX
def test_onnx_logits_match_predict_on_lenet5_digits(tmp_path, capsys):
    import onnxruntime as ort

    run_dir = tmp_path / "lenet5-digits"
    an2dl.run("lenet5-digits", _settings("lenet5-digits"), run_dir=run_dir, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)
    _, cfg, task, data = load_run_task(run_dir)
    files = _write_pngs(tmp_path / "pngs", _raw_test_images(data, cfg)[:PARITY_N])
    lines = _predict(capsys, run_dir, files)
    names = json.loads((run_dir / "model" / "model.json").read_text())["class_names"]
    predicted = [names.index(line.split(": ")[1].split(" (")[0]) for line in lines]

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(onnx_path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    pre = onnx_preprocess(onnx_path)
    assert pre is not None and pre == an2dl.load(run_dir).preprocess
    images = torch.stack([read_image(f, channels=1) for f in files])  # [N, 1, 8, 8], the native size
    logits = ort.InferenceSession(str(onnx_path)).run(None, {"input": pre(images).numpy()})[0]
    bad = [i for i, (a, b) in enumerate(zip(logits.argmax(axis=1).tolist(), predicted)) if a != b]
    assert not bad, f"ONNX and predict disagree on files {bad}"
    model = an2dl.load(run_dir).eval()
    with torch.no_grad():
        reference = torch.stack([model(model.preprocess(read_image(f, channels=1))[None])[0] for f in files])
    assert np.abs(logits - reference.numpy()).max() < 1e-4


# ------------------------------------------------------------------------------------------------ text
def test_prompt_characters_outside_the_vocabulary_are_read_as_unk_with_a_warning(tmp_path, capsys):
    from an2dl.data.text import UNK, Vocabulary

    settings = _settings("char-lstm-shakespeare")
    run_dir = tmp_path / "lm"
    an2dl.run("char-lstm-shakespeare", [*settings, "trainer.max_steps=2"], run_dir=run_dir, progress=False)
    os.environ.pop("AN2DL_RUN_DIR", None)
    model = an2dl.load(run_dir)
    vocab = Vocabulary.from_dict(model.an2dl_meta["preprocessing"]["vocab"])
    assert "☃" not in vocab.stoi and "€" not in vocab.stoi and "R" in vocab.stoi
    prompt = "R☃O€☃"
    ids = vocab.encode(prompt)
    assert ids.tolist()[1] == UNK and ids.tolist()[3] == UNK
    sampled = model.generate(ids[None], 20, temperature=0.8, generator=torch.Generator().manual_seed(3))
    expected = prompt + vocab.decode(sampled[0, ids.shape[0]:])

    capsys.readouterr()
    code = main(["predict", str(run_dir), "--prompt", prompt, "--length", "20", "--seed", "3"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.rstrip("\n") == expected
    assert out.err.strip() == (f"an2dl: warning: --prompt: characters '☃', '€' are not in the model's vocabulary "
                               f"({len(vocab)} tokens); the model reads them as <unk>")
    # a prompt inside the vocabulary gives no warning
    code = main(["predict", str(run_dir), "--prompt", "RO", "--length", "5"])
    assert code == 0 and capsys.readouterr().err == ""
