"""``transformer-eng-fra`` (notes §4.4): the encoder–decoder Transformer against the GRU with Bahdanau attention on
the same translation data and budget; the paper's learning-rate schedule."""

from __future__ import annotations

import math

import pytest

import an2dl
from an2dl.data.text.specials import SPECIALS
from an2dl.engine.bleu import corpus_bleu
from an2dl.errors import ConfigError
from an2dl.recipes.run_commands import predict_run
from an2dl.recipes.seq2seq.translation import decoded_words
from conftest import require_data


def test_the_transformer_trains_with_the_papers_schedule_and_label_smoothing():
    """Vaswani et al. (2017) §5.3–5.4: Adam (0.9, 0.98), ε = 1e-9, the ``inverse_sqrt`` schedule, ε_ls = 0.1."""
    from an2dl.recipes.transformer.translation import TransformerEngFraConfig, TransformerMulti30kConfig

    for cfg, lr, w in ((TransformerEngFraConfig(), 2e-3, 400), (TransformerMulti30kConfig(), 1e-3, 150)):
        t = cfg.transformer
        assert t.label_smoothing == 0.1 and (t.optim.name, t.optim.lr, t.optim.betas, t.optim.eps) == (
            "adam", lr, (0.9, 0.98), 1e-9)
        assert (t.optim.schedule.name, t.optim.schedule.interval, t.optim.schedule.warmup_steps) == (
            "inverse_sqrt", "step", w)
        assert cfg.optim.schedule is None  # the GRU keeps seq2seq's optimiser, and its plain cross-entropy


def test_a_run_stored_with_transformer_warmup_steps_still_loads(tmp_path):
    """Runs written when the warm-up was ``transformer.warmup_steps`` (a callback setting the rate
    ``lr · min(s / w, √(w / s))`` before each step) and there was no label smoothing read back as the same run."""
    import json

    from an2dl.recipes.base import load_run_config
    from an2dl.recipes.config import to_dict
    from an2dl.recipes.transformer.translation import TransformerEngFraConfig

    stored = to_dict(TransformerEngFraConfig())
    del stored["transformer"]["label_smoothing"]
    stored["transformer"]["optim"]["schedule"] = None
    stored["transformer"]["warmup_steps"] = 250
    (tmp_path / "config.json").write_text(json.dumps({"config": {"recipe": "transformer-eng-fra", **stored}}))
    recipe, cfg = load_run_config(tmp_path)
    assert recipe.name == "transformer-eng-fra" and cfg.transformer.label_smoothing == 0.0
    schedule = cfg.transformer.optim.schedule
    assert (schedule.name, schedule.interval, schedule.warmup_steps) == ("inverse_sqrt", "step", 250)


def test_transformer_settings_bad_input(tmp_path):
    with pytest.raises(ConfigError, match=r"transformer.label_smoothing must be a number in \[0, 1\); got 1.0"):
        an2dl.run("transformer-eng-fra", ["transformer.label_smoothing=1"], runs_root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="inverse_sqrt schedule needs warmup_steps.* got 0"):
        an2dl.run("transformer-eng-fra", ["transformer.optim.schedule.warmup_steps=0"], runs_root=tmp_path,
                  progress=False)
    with pytest.raises(ConfigError, match="transformer.d_model must be divisible by transformer.num_heads"):
        an2dl.run("transformer-eng-fra", ["transformer.d_model=10", "transformer.num_heads=4"], runs_root=tmp_path,
                  progress=False)
    with pytest.raises(ConfigError, match="model.variants items .* got 'lstm'"):
        an2dl.run("transformer-eng-fra", ['model.variants=["lstm"]'], runs_root=tmp_path, progress=False)


#: the reduced run of the test: the Transformer alone, 1 + 1 layers of width 64, 4 epochs, no per-epoch validation
REDUCED = ["model.variants=[]", "transformer.d_model=64", "transformer.dim_feedforward=128",
           "transformer.num_encoder_layers=1", "transformer.num_decoder_layers=1",
           "transformer.optim.schedule.warmup_steps=200",
           "trainer.max_epochs=4", "trainer.val_every_n_epochs=null"]


@pytest.mark.slow
def test_transformer_translates_well_above_copying_the_source(tmp_path):
    """§4.4 on Tatoeba English→French (4,011 training pairs, the split and vocabularies of seq2seq-eng-fra).

    At this reduced budget the Transformer does NOT beat the recurrent encoder–decoder with Bahdanau attention;
    what it shows is that it learns to translate: held-out BLEU well above the source copied as its translation
    (1.71 BLEU against all references).  Measured, own reference / all references (trainer seeds 0 / 1 / 2),
    with the recipe's label smoothing 0.1: the Transformer 7.13 / 10.64, 4.60 / 5.64, 4.79 / 7.03 (without
    smoothing it was 6.03 / 9.18, 6.10 / 8.07, 6.32 / 9.81: in ~500 steps smoothing costs BLEU in two seeds of
    three, hence the thresholds, copy + 2.5 and copy + 3.5, below the smallest of these by 0.39 and 0.43); the
    same run with the GRU (``mlp``, 32 units, embeddings 32) beside it: 6.81 / 9.86, 8.56 / 10.52, 8.78 / 12.28.
    At the recipe's default budget (2 + 2 layers of width 128 against the 128-unit GRU, 15 epochs) see the
    recipe's docstring.
    """
    require_data("eng-fra")
    r = an2dl.run("transformer-eng-fra", REDUCED, runs_root=tmp_path, progress=False)
    m = r.metrics
    assert m["test/bleu_all_references_copy_source"] < 2.5
    assert m["test/bleu_transformer"] > m["test/bleu_all_references_copy_source"] + 2.5
    assert m["test/bleu_all_references_transformer"] > m["test/bleu_all_references_copy_source"] + 3.5
    assert m["parameters_transformer"] == r.extra["variants"]["transformer"].parameters > 0
    assert m["train_seconds_transformer"] > 0 and m["best_model"] == "transformer"
    assert (r.run_dir / "plots" / "transformer_attention.png").is_file()

    info, tr = r.data.info, r.extra["variants"]["transformer"]
    # the paper's rate, as the former per-step callback set it: each epoch's last row holds the next step's rate
    rows = [row for row in tr.history if "lr" in row]
    assert len(rows) == 4 and [row["lr"] for row in rows] == [
        2e-3 * min((row["step"] + 1) / 200, math.sqrt(200 / (row["step"] + 1))) for row in rows]
    # trained on the smoothed targets (ε_ls = 0.1), reported as the plain cross-entropy, which lies below it
    assert all(row["train/smoothed_loss"] > row["train/loss"] for row in rows)

    # the multi-reference score is corpus BLEU of the Transformer's greedy decodings against all references
    src, lengths, _ = r.data.test.tensors
    decoded = decoded_words(tr.task.model.eval().generate(src, lengths, max_length=16).tokens, info.tgt_vocab)
    assert m["test/bleu_all_references_transformer"] == pytest.approx(
        100 * corpus_bleu(decoded, info.test_references), abs=1e-9)
    # predict translates sentences with the Transformer's recorded vocabularies, as the model decodes their ids
    sentence = " ".join(info.test_sources[0])
    out = predict_run(r.run_dir, model="transformer", prompt=sentence)
    assert out.lines == [f"{sentence} -> {' '.join(w for w in decoded[0] if w not in SPECIALS)}"]
