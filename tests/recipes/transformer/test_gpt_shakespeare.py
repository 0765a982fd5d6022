"""``gpt-shakespeare`` (notes §4.4): a character GPT learns Tiny Shakespeare; predict samples like char-lstm's run."""

from __future__ import annotations

import json
import os

import pytest

import an2dl
from an2dl.cli.main import main
from an2dl.data.text import Vocabulary
from an2dl.errors import ConfigError
from an2dl.recipes.base import get_recipe
from conftest import require_data, run_cli

#: 120 optimiser steps of a 1-layer, 32-wide GPT on batches of 16 windows of 64 characters, in float32 on every machine
SETTINGS = ["trainer.precision=32-true", "data.seq_len=64", "model.d_model=32", "model.num_heads=2", "model.num_layers=1", "trainer.batch_size=16",
            "trainer.max_steps=120", "trainer.time_budget_s=null", "optim.lr=0.005", "optim.schedule.warmup_steps=10",
            "optim.schedule.gamma=0.999",
            "sample.length=40", "attention.prompt=ROMEO:"]


@pytest.mark.slow
def test_gpt_learns_shakespeare_in_a_few_steps_and_predict_generates_like_char_lstm(tmp_path, capsys):
    """§4.4: the decoder-only Transformer, trained on all positions of a window at once, learns the text.

    Validation loss after 120 steps at these settings (trainer.seed 0, 1, 2): 2.839, 2.892, 2.849 nats per
    character, against 3.347 for the training text's character frequencies (ratios 0.848, 0.864, 0.851).
    """
    root = require_data("tinyshakespeare")
    res = an2dl.run("gpt-shakespeare", [f"data.root={root}", *SETTINGS], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["val/unigram_nats_per_char"] == pytest.approx(3.347, abs=0.01)
    assert m["val/loss"] <= 0.9 * m["val/unigram_nats_per_char"]
    assert m["val/bits_per_char"] == pytest.approx(m["val/loss"] / 0.6931471805599453, rel=1e-6)
    results = json.loads((res.run_dir / "results.json").read_text())
    assert len(results["sample"]) == 1 + 40
    plots = {e["file"] for e in json.loads((res.run_dir / "plots" / "index.json").read_text())}
    assert "attention_maps.png" in plots

    # predict continues a prompt with the saved vocabulary, as for char-lstm-shakespeare's run
    os.environ.pop("AN2DL_RUN_DIR", None)
    model = an2dl.load(res.run_dir / "model").eval()
    vocab = Vocabulary.from_dict(model.an2dl_meta["preprocessing"]["vocab"])
    ids = vocab.encode("ROMEO:")[None]
    expected = "ROMEO:" + vocab.decode(model.generate(ids, 12, temperature=0.0)[0, ids.shape[1]:])
    capsys.readouterr()
    assert main(["predict", str(res.run_dir), "--prompt", "ROMEO:", "--length", "12", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == expected

    # prompts of the recipe outside the vocabulary are refused, naming the setting and the characters
    with pytest.raises(ConfigError, match=r"attention.prompt must use characters of the vocabulary.*'☃'"):
        an2dl.run("gpt-shakespeare", [f"data.root={root}", *SETTINGS, "attention.prompt=RO☃"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="model.max_len must be at least data.seq_len = 64"):
        an2dl.run("gpt-shakespeare", [f"data.root={root}", *SETTINGS, "model.max_len=32"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="model.attention must be one of fused, written; got 'flash'"):
        an2dl.run("gpt-shakespeare", [f"data.root={root}", *SETTINGS, "model.attention=flash"], runs_root=tmp_path)


@pytest.mark.slow
def test_gpt_shakespeare_trains_with_two_process_ddp(tmp_path):
    """``--set trainer.devices=2 --set trainer.strategy=ddp``: two CPU processes (gloo) train the GPT."""
    root = require_data("tinyshakespeare")
    run_dir = tmp_path / "ddp"
    settings = [*get_recipe("gpt-shakespeare").smoke_settings, f"data.root={root}", "data.val_fraction=0.01",
                "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    out = run_cli("run", "gpt-shakespeare", "--quiet", *(a for s in settings for a in ("--set", s)),
                  "--run-dir", str(run_dir), env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert "GLOBAL_RANK: 1" in out.stderr + out.stdout  # two processes really ran
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
    assert metrics["val/loss"] < metrics["val/unigram_nats_per_char"] + 1.5  # finite, and no worse than untrained
