"""``transformer-eng-fra`` (notes §4.4): the encoder–decoder Transformer against the GRU with Bahdanau attention on
the same translation data and budget; the paper's learning-rate schedule."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

import an2dl
from an2dl.data.text.specials import SPECIALS
from an2dl.engine.bleu import corpus_bleu
from an2dl.errors import ConfigError
from an2dl.recipes.run_commands import predict_run
from an2dl.recipes.seq2seq.translation import decoded_words
from an2dl.recipes.transformer.translation import InverseSqrtWarmup, inverse_sqrt_factor
from conftest import require_data


def test_inverse_sqrt_factor_is_the_papers_schedule():
    """Vaswani et al. (2017) §5.3: lrate = d^-0.5 · min(s^-0.5, s · w^-1.5); divided by its peak d^-0.5 · w^-0.5."""
    d, w = 512, 4000
    for s in (1, 10, 3999, 4000, 4001, 10_000, 100_000):
        paper = d ** -0.5 * min(s ** -0.5, s * w ** -1.5)
        assert inverse_sqrt_factor(s, w) == pytest.approx(paper / (d ** -0.5 * w ** -0.5), rel=1e-12)
    assert inverse_sqrt_factor(w, w) == 1.0 and inverse_sqrt_factor(4 * w, w) == pytest.approx(0.5)
    assert math.isclose(inverse_sqrt_factor(1, 1), 1.0)


def test_inverse_sqrt_warmup_sets_the_rate_before_each_optimiser_step():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    cb = InverseSqrtWarmup(lr=2e-3, warmup_steps=100)
    for done, factor in ((0, 0.01), (49, 0.5), (99, 1.0), (399, 0.5)):  # the step about to be taken is done + 1
        cb.on_before_optimizer_step(SimpleNamespace(global_step=done), None, opt)
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-3 * factor, rel=1e-12)


def test_inverse_sqrt_schedule_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="warmup_steps must be a positive integer; got 0"):
        inverse_sqrt_factor(1, 0)
    with pytest.raises(ConfigError, match="step must be a positive integer .* got 0"):
        inverse_sqrt_factor(0, 10)
    with pytest.raises(ConfigError, match="lr must be a positive number; got -1"):
        InverseSqrtWarmup(lr=-1, warmup_steps=10)
    with pytest.raises(ConfigError, match="transformer.d_model must be divisible by transformer.num_heads"):
        an2dl.run("transformer-eng-fra", ["transformer.d_model=10", "transformer.num_heads=4"], runs_root=tmp_path,
                  progress=False)
    with pytest.raises(ConfigError, match="model.variants items .* got 'lstm'"):
        an2dl.run("transformer-eng-fra", ['model.variants=["lstm"]'], runs_root=tmp_path, progress=False)


#: the reduced run of the test: the Transformer alone, 1 + 1 layers of width 64, 4 epochs, no per-epoch validation
REDUCED = ["model.variants=[]", "transformer.d_model=64", "transformer.dim_feedforward=128",
           "transformer.num_encoder_layers=1", "transformer.num_decoder_layers=1", "transformer.warmup_steps=200",
           "trainer.max_epochs=4", "trainer.val_every_n_epochs=null"]


@pytest.mark.slow
def test_transformer_translates_well_above_copying_the_source(tmp_path):
    """§4.4 on Tatoeba English→French (4,011 training pairs, the split and vocabularies of seq2seq-eng-fra).

    At this reduced budget the Transformer does NOT beat the recurrent encoder–decoder with Bahdanau attention;
    what it shows is that it learns to translate: held-out BLEU far above the source copied as its translation
    (1.71 BLEU against all references).  Measured, own reference / all references (trainer seeds 0 / 1 / 2):
    the Transformer 6.03 / 9.18, 6.10 / 8.07, 6.32 / 9.81; the same run with the GRU (``mlp``, 32 units,
    embeddings 32) beside it: 6.81 / 9.86, 8.56 / 10.52, 8.78 / 12.28 — the GRU ahead by 0.8–2.5 BLEU.
    At the recipe's default budget (2 + 2 layers of width 128 against the 128-unit GRU, 15 epochs) the
    Transformer is ahead: see the recipe's docstring.
    """
    require_data("eng-fra")
    r = an2dl.run("transformer-eng-fra", REDUCED, runs_root=tmp_path, progress=False)
    m = r.metrics
    assert m["test/bleu_all_references_copy_source"] < 2.5
    assert m["test/bleu_transformer"] > m["test/bleu_all_references_copy_source"] + 3.0
    assert m["test/bleu_all_references_transformer"] > m["test/bleu_all_references_copy_source"] + 5.0
    assert m["parameters_transformer"] == r.extra["variants"]["transformer"].parameters > 0
    assert m["train_seconds_transformer"] > 0 and m["best_model"] == "transformer"
    assert (r.run_dir / "plots" / "transformer_attention.png").is_file()

    # the multi-reference score is corpus BLEU of the Transformer's greedy decodings against all references
    info, tr = r.data.info, r.extra["variants"]["transformer"]
    src, lengths, _ = r.data.test.tensors
    decoded = decoded_words(tr.task.model.eval().generate(src, lengths, max_length=16).tokens, info.tgt_vocab)
    assert m["test/bleu_all_references_transformer"] == pytest.approx(
        100 * corpus_bleu(decoded, info.test_references), abs=1e-9)
    # predict translates sentences with the Transformer's recorded vocabularies, as the model decodes their ids
    sentence = " ".join(info.test_sources[0])
    out = predict_run(r.run_dir, model="transformer", prompt=sentence)
    assert out.lines == [f"{sentence} -> {' '.join(w for w in decoded[0] if w not in SPECIALS)}"]
