"""``seq2seq-eng-fra`` (notes §4.2–4.3): attention beats the plain encoder–decoder in held-out BLEU; a translator
run translates sentences through ``an2dl predict``."""

from __future__ import annotations

import pytest

import an2dl
from an2dl.data.text.specials import SPECIALS
from an2dl.engine.bleu import corpus_bleu
from an2dl.recipes.run_commands import predict_run
from an2dl.recipes.seq2seq.translation import decoded_words
from conftest import require_data


@pytest.mark.slow
def test_attention_beats_the_plain_encoder_decoder_in_bleu(tmp_path):
    """§4.3: the fixed source representation is a bottleneck that attention removes.

    Reduced setting: plain vs Bahdanau (mlp) attention, GRU 64 units, embeddings 32, 8 epochs of Adam 3e-3 on
    the 4,011 training pairs. Measured held-out BLEU, own reference / all references (trainer seeds 0 / 1 / 2):
    plain 9.25 / 13.07, 10.45 / 14.47, 8.36 / 11.18; mlp 14.98 / 20.64, 14.89 / 21.68, 15.05 / 21.32 — margins
    of 4.4–6.7 BLEU (own reference) and 6.2–10.1 (all references).  The default run (128 units, 15 epochs):
    plain 11.95, dot 13.13, general 14.13, mlp 16.51 (all references 17.50 / 18.24 / 20.77 / 26.08).
    """
    require_data("eng-fra")
    r = an2dl.run("seq2seq-eng-fra", ['model.variants=["plain","mlp"]', "model.hidden_size=64",
                                      "model.embedding_dim=32", "trainer.max_epochs=8"],
                  runs_root=tmp_path, progress=False)
    m = r.metrics
    assert m["test/bleu_mlp"] > m["test/bleu_plain"] + 2.0
    assert m["test/bleu_all_references_mlp"] > m["test/bleu_all_references_plain"] + 3.0
    assert m["test/attention_bleu_margin"] == pytest.approx(m["test/bleu_mlp"] - m["test/bleu_plain"])
    assert m["best_model"] == "mlp"

    # the multi-reference score is corpus BLEU of the decoded test sources against all their translations
    info, mlp = r.data.info, r.extra["variants"]["mlp"]
    src, lengths, _ = r.data.test.tensors
    model = mlp.task.model.eval()
    decoded = decoded_words(model.generate(src, lengths, max_length=16).tokens, info.tgt_vocab)
    assert m["test/bleu_all_references_mlp"] == pytest.approx(100 * corpus_bleu(decoded, info.test_references),
                                                              abs=1e-9)

    # predict translates sentences with the recorded vocabularies, as the model decodes their ids
    sentence = " ".join(info.test_sources[0])
    out = predict_run(r.run_dir, model="mlp", prompt=sentence)
    words = [w for w in decoded[0] if w not in SPECIALS]  # predict leaves <unk> out of the printed text
    assert out.lines == [f"{sentence} -> {' '.join(words)}"] and not out.warnings
    out = predict_run(r.run_dir, model="mlp", prompt="I am a zorgblat.")
    assert "'zorgblat' are not in the model's source vocabulary" in out.warnings[0]


def test_the_settings_reach_the_task_the_model_and_the_batches(tmp_path):
    """``model.teacher_forcing_schedule``, ``model.input_feeding`` and ``batching`` (notes §4.2.1–4.2.2, §4.3)."""
    import torch

    from an2dl.data.bucketing import LengthBucketedDataset
    from an2dl.data.core import DataSplits
    from an2dl.data.datasets.translation import TranslationInfo, encode_pairs
    from an2dl.data.text import Vocabulary
    from an2dl.recipes.config import resolve
    from an2dl.recipes.seq2seq.translation import Seq2SeqEngFra, Seq2SeqEngFraConfig, Seq2SeqMulti30kConfig

    pairs = [("a b c".split(), "x y".split()), ("b".split(), "y z x".split()), ("c a".split(), "z".split())]
    src_vocab = Vocabulary.build(["a b c"], tokenizer="word")
    tgt_vocab = Vocabulary.build(["x y z"], tokenizer="word")
    split = encode_pairs(pairs, src_vocab, tgt_vocab)
    data = DataSplits(split, split, split, TranslationInfo("toy", input_shape=(3,), src_vocab=src_vocab,
                                                           tgt_vocab=tgt_vocab))
    cfg = resolve(Seq2SeqEngFraConfig, overrides=[
        "model.teacher_forcing_schedule=inverse_sigmoid", "model.teacher_forcing_decay=20", "model.input_feeding=true",
        "batching.bucketing=true", "trainer.batch_size=2"])
    recipe = Seq2SeqEngFra()
    general, mlp = recipe.build_variant(cfg, "general", data), recipe.build_variant(cfg, "mlp", data)
    assert general.schedule.kind == "inverse_sigmoid" and general.schedule.ratio(0) == pytest.approx(20 / 21)
    assert general.model.decoder.input_feeding and not mlp.model.decoder.input_feeding  # Luong variants only
    bucketed = recipe.variant_data(cfg, "general", data)
    assert isinstance(bucketed.train, LengthBucketedDataset) and bucketed.test is split
    assert recipe.make_trainer(cfg, tmp_path, progress=False).shuffle is False
    # the defaults: off for eng-fra, on for Multi30K
    default = resolve(Seq2SeqEngFraConfig)
    assert recipe.variant_data(default, "general", data).train is split
    assert recipe.make_trainer(default, tmp_path, progress=False).shuffle is True
    assert resolve(Seq2SeqMulti30kConfig).batching.bucketing
    assert torch.equal(bucketed.train.tensors[0], split.tensors[0])
    # the padding share the run reports, bucketed or padded to the set's longest pair
    from an2dl.recipes.seq2seq.translation import training_padding

    # positions: sources 3 + 1 + 2 = 6 real of 3 * 3, targets 3 + 4 + 2 = 9 real of 3 * 4
    assert training_padding(default, data) == pytest.approx(1 - 15 / 21)
    assert training_padding(cfg, data) < training_padding(default, data)
