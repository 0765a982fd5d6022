"""Time-series windows, synthetic sequence tasks and the character text datasets."""

import hashlib
import shutil

import pytest
import torch

import an2dl
from an2dl.data.datasets.text import CharWindows, char_text_splits
from an2dl.data.sequences import (
    TEMPORAL_ORDER_CLASSES,
    TEMPORAL_ORDER_SYMBOLS,
    adding_problem,
    chronological_splits,
    cued_sine,
    leaky_integrator,
    noisy_sine,
    sliding_windows,
    temporal_order,
    temporal_order_texts,
)
from an2dl.data.text import Vocabulary
from an2dl.errors import ConfigError, DataError, DataNotFoundError
from conftest import require_data


# ------------------------------------------------------------------------------------------------------- windows
def test_sliding_windows_are_the_delay_taps():
    series = torch.arange(20.0).reshape(10, 2)
    x, y = sliding_windows(series, window=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 2) and y.shape == (3, 2, 2)  # (10 - 3 - 2) // 2 + 1 = 3
    for i in range(3):
        s = 2 * i
        assert torch.equal(x[i], series[s:s + 3]) and torch.equal(y[i], series[s + 3:s + 5])
    x1, y1 = sliding_windows(torch.arange(5.0), window=4)
    assert x1.shape == (1, 4, 1) and y1.item() == 4.0


def test_sliding_windows_bad_input():
    with pytest.raises(ConfigError, match="window must be a positive integer"):
        sliding_windows(torch.arange(5.0), window=0)
    with pytest.raises(ValueError, match="at least window \\+ horizon = 6"):
        sliding_windows(torch.arange(5.0), window=4, horizon=2)
    with pytest.raises(ValueError, match=r"\[N\] or \[N, D\]"):
        sliding_windows(torch.zeros(4, 2, 2), window=1)


def test_chronological_splits_never_leak_the_future():
    series = torch.arange(100.0)
    data = chronological_splits(series, window=5, horizon=2, val_fraction=0.2, test_fraction=0.2)
    train_max = max(data.train.tensors[0].max(), data.train.tensors[1].max())
    val_min = min(data.val.tensors[0].min(), data.val.tensors[1].min())
    test_min = data.test.tensors[0].min()
    assert train_max < val_min and data.val.tensors[1].max() < test_min
    assert data.train.tensors[1].shape[1:] == (2,)  # horizon * D, flattened
    assert data.sizes() == {"train": 60 - 6, "val": 20 - 6, "test": 20 - 6}
    with pytest.raises(ConfigError, match="must be < 1"):
        chronological_splits(series, window=5, val_fraction=0.5, test_fraction=0.5)


# ------------------------------------------------------------------------------------------------- synthetic tasks
def test_noisy_sine_is_a_seeded_sine_plus_noise():
    a, b = noisy_sine(500, period=20.0, noise_std=0.1, seed=3), noisy_sine(500, period=20.0, noise_std=0.1, seed=3)
    assert torch.equal(a, b)
    clean = torch.sin(2 * torch.pi * torch.arange(500) / 20.0)
    residual = a - clean
    assert abs(float(residual.std()) - 0.1) < 0.015 and abs(float(residual.mean())) < 0.02
    assert not torch.equal(a, noisy_sine(500, period=20.0, noise_std=0.1, seed=4))


def test_adding_problem_marks_one_value_per_half_and_sums_them():
    x, y = adding_problem(200, 30, seed=1)
    assert x.shape == (200, 30, 2) and y.shape == (200, 1)
    markers = x[..., 1]
    assert torch.all(markers.sum(1) == 2)
    assert torch.all(markers[:, :15].sum(1) == 1) and torch.all(markers[:, 15:].sum(1) == 1)
    assert torch.allclose((x[..., 0] * markers).sum(1, keepdim=True), y)
    big = adding_problem(20000, 10, seed=2)[1]
    assert abs(float(((big - 1) ** 2).mean()) - 1 / 6) < 0.01  # the constant predictor's error


def test_temporal_order_sequences_follow_the_paper_layout():
    tokens, lengths, labels = temporal_order(300, min_length=20, max_length=40, seed=0)
    S = TEMPORAL_ORDER_SYMBOLS
    assert tokens.shape == (300, 40) and lengths.min() >= 20 and lengths.max() <= 40
    for row, n, label in zip(tokens, lengths.tolist(), labels.tolist()):
        assert row[0] == S["B"] and row[n - 1] == S["E"] and torch.all(row[n:] == S["<pad>"])
        relevant = [(t, int(v)) for t, v in enumerate(row[:n].tolist()) if v in (S["X"], S["Y"])]
        assert len(relevant) == 2
        (t1, s1), (t2, s2) = relevant
        assert 0.1 * n - 1 <= t1 <= 0.2 * n and 0.5 * n - 1 <= t2 <= 0.6 * n
        assert TEMPORAL_ORDER_CLASSES[label] == ("X" if s1 == S["X"] else "Y") + ("X" if s2 == S["X"] else "Y")
        body = row[1:n - 1]
        others = body[(body != S["X"]) & (body != S["Y"])]
        assert torch.all((others >= S["a"]) & (others <= S["d"]))
    assert set(labels.tolist()) == {0, 1, 2, 3}
    with pytest.raises(ConfigError, match="min_length <= max_length"):
        temporal_order(5, min_length=30, max_length=20)


def test_leaky_integrator_follows_its_recurrence():
    u, y = leaky_integrator(4, 6, decay=0.8, initial_value=2.0, seed=0)
    prev = torch.full((4, 1), 2.0)
    for t in range(6):
        prev = 0.8 * prev + 0.2 * u[:, t]
        assert torch.allclose(y[:, t], prev, atol=1e-6)
    with pytest.raises(ConfigError, match="decay"):
        leaky_integrator(4, 6, decay=1.0)


def test_registered_synthetic_datasets():
    assert {"noisy-sine", "cued-sine", "adding-problem", "temporal-order", "leaky-integrator"} <= set(an2dl.list_datasets())
    data = an2dl.get_dataset("adding-problem", length=12, n_train=50, n_val=10, n_test=10, seed=3)
    assert data.sizes() == {"train": 50, "val": 10, "test": 10}
    assert not torch.equal(data.train.tensors[0][:10], data.val.tensors[0])  # independent draws
    order = an2dl.get_dataset("temporal-order", n_train=20, n_val=5, n_test=5)
    assert order.info.num_classes == 4 and order.info.vocab_size == 10
    x, length, label = order.train[0]
    assert x.shape == (50,) and 20 <= int(length) <= 50
    sine = an2dl.get_dataset("noisy-sine", length=400, window=8, horizon=2)
    assert sine.train[0][0].shape == (8, 1) and sine.train[0][1].shape == (2,)
    assert an2dl.get_dataset("leaky-integrator", n_train=4, n_val=2, n_test=2).train[0][1].shape == (30, 1)


def test_cued_sine_holds_the_amplitude_of_the_latest_earlier_cue():
    inputs, y, clean = cued_sine(400, period=10.0, noise_std=0.0, min_gap=20, max_gap=30, seed=1)
    cue, carrier = inputs[:, 0], inputs[:, 1]
    times = torch.nonzero(cue).flatten()
    gaps = times[1:] - times[:-1]
    assert int(gaps.min()) >= 20 and int(gaps.max()) <= 30 and int(times[0]) < 30
    assert ((cue[times].abs() >= 0.5) & (cue[times].abs() <= 1.5)).all()
    assert torch.equal(y, clean)  # noise_std = 0
    for k in range(400):
        before = times[times < k]
        amplitude = float(cue[before[-1]]) if len(before) else 0.0
        assert float(clean[k]) == pytest.approx(amplitude * float(carrier[k]), abs=1e-6)
    assert torch.allclose(carrier[10:], carrier[:-10], atol=1e-5)  # the carrier's period


def test_cued_sine_dataset_shares_targets_across_windows_and_records_its_pipeline():
    taps = an2dl.get_dataset("cued-sine", length=600, window=8, warmup=24)
    context = an2dl.get_dataset("cued-sine", length=600, window=24, warmup=24)
    for split in ("train", "val", "test"):
        a, b = getattr(taps, split).tensors, getattr(context, split).tensors
        assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0][:, -8:])
    inputs, y, _ = cued_sine(600)
    lo, hi = taps.info.extra["bounds"]["test"]
    assert torch.equal(taps.test.tensors[0][0], inputs[lo + 24 - 8:lo + 24]) and float(taps.test.tensors[1][0]) == float(y[lo + 24])
    assert taps.info.preprocess == {"pipeline": [{"op": "window", "size": 8, "stride": 1}],
                                    "raw_input": {"kind": "series", "features": ["cue", "carrier"]}}
    with pytest.raises(ConfigError, match="window <= warmup"):
        an2dl.get_dataset("cued-sine", window=32, warmup=16)


def test_sequence_datasets_make_their_inputs_with_the_recorded_pipeline():
    from an2dl.data.datasets.sequence_tasks import encode_texts, temporal_order_pipeline
    from an2dl.data.preprocess import Preprocess

    # the temporal-order sequences, written as text and read back by the pipeline, are the generator's ids
    texts, labels = temporal_order_texts(30, seed=4)
    tokens, lengths, labels2 = temporal_order(30, seed=4)
    ids, n = encode_texts(temporal_order_pipeline(), texts, 50)
    assert torch.equal(ids, tokens) and torch.equal(n, lengths) and torch.equal(labels, labels2)
    assert all(set(t) <= set("abcdXY") and len(t) == int(k) - 2 for t, k in zip(texts, lengths))
    sine = an2dl.get_dataset("noisy-sine", length=200, window=8)
    pre = Preprocess.from_dict(sine.info.preprocess)
    assert pre.window == (8, 1) and pre.features == ["value"]
    adding = an2dl.get_dataset("adding-problem", length=12, n_train=4, n_val=2, n_test=2)
    assert Preprocess.from_dict(adding.info.preprocess).window == (12, 12)


# ------------------------------------------------------------------------------------------------- characters
def test_char_text_splits_keep_the_code_point_vocabulary_of_earlier_runs():
    data = char_text_splits("hello world" * 20, seq_len=8)
    vocab = data.train.vocab
    # the ids CharVocab gave before Vocabulary replaced it: specials, then the characters in code-point order
    assert vocab.itos == ["<pad>", "<unk>", "<sos>", "<eos>", " ", "d", "e", "h", "l", "o", "r", "w"]
    assert data.info.vocab is vocab and data.val.vocab is vocab
    assert Vocabulary.from_dict(data.info.extra["vocab"]) == vocab
    assert vocab.counts[vocab.itos.index("l") - 4] == 60
    # a vocabulary saved by CharVocab.to_dict reads back with the same ids
    legacy = {"type": "char", "chars": [" ", "d", "e", "h", "l", "o", "r", "w"]}
    assert Vocabulary.from_dict(legacy).itos == vocab.itos
    x, y = data.train[0]
    assert vocab.decode(x) == ("hello world" * 20)[:8]
    with pytest.raises(ConfigError, match="character-level Vocabulary"):
        char_text_splits("hello world" * 20, seq_len=8, vocab=Vocabulary.build(["hello world"], tokenizer="word"))


def test_char_windows_shift_the_target_by_one():
    ids = torch.arange(20)
    w = CharWindows(ids, seq_len=5, stride=3)
    assert len(w) == (20 - 6) // 3 + 1
    x, y = w[2]
    assert x.tolist() == [6, 7, 8, 9, 10] and y.tolist() == [7, 8, 9, 10, 11]
    bx, by = w.__getitems__([0, 4]).value
    assert bx.shape == (2, 5) and torch.equal(by[1], torch.arange(13, 18))
    with pytest.raises(IndexError):
        w[len(w)]
    with pytest.raises(ConfigError, match="at least seq_len \\+ 1"):
        CharWindows(torch.arange(5), seq_len=5)


def test_char_windows_random_offsets_move_every_epoch_and_keep_the_length():
    ids = torch.arange(103)
    w = CharWindows(ids, seq_len=10, stride=10, random_offset=True, seed=5)
    assert len(w) == (103 - 11 - 9) // 10 + 1
    offsets = set()
    for epoch in range(12):
        w.set_epoch(epoch)
        offsets.add(w.offset)
        x, y = w.__getitems__(list(range(len(w)))).value
        assert x[0, 0] == w.offset and torch.equal(x[:, 1:], y[:, :-1]) and int(y.max()) <= 102
    assert len(offsets) > 3
    w.set_epoch(3)
    again = CharWindows(ids, seq_len=10, stride=10, random_offset=True, seed=5)
    again.set_epoch(3)
    assert again.offset == w.offset  # a pure function of (seed, epoch)
    default = char_text_splits("ab" * 500, seq_len=10)
    assert default.train.stride == 10 and default.train.random_offset and not default.val.random_offset


def test_char_text_splits_by_position(tmp_path):
    text = "abcdefghij" * 100
    data = char_text_splits(text, seq_len=10, val_fraction=0.1, test_fraction=0.1)
    assert data.info.extra["characters"] == {"train": 800, "val": 100, "test": 100}
    assert len(data.val) == (100 - 11) // 10 + 1  # non-overlapping windows
    path = tmp_path / "t.txt"
    path.write_text(text)
    assert len(an2dl.get_dataset("char-text", path=str(path), seq_len=10, train_stride=1).train) == 900 - 10
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8"):
        an2dl.get_dataset("char-text", path=str(path))


def test_tinyshakespeare_real_file():
    root = require_data("tinyshakespeare")
    data = an2dl.get_dataset("tinyshakespeare", root=str(root), seq_len=64)
    chars = data.info.extra["characters"]
    assert chars["train"] + chars["val"] == 1115394 and chars["train"] == int(1115394 * 0.9)
    vocab = Vocabulary.from_dict(data.info.extra["vocab"])
    assert len(vocab) == 69 and vocab == data.train.vocab  # 4 special tokens + 65 characters
    x, y = data.train[0]
    assert vocab.decode(x).startswith("First Citizen:")
    assert torch.equal(x[1:], y[:-1])


def test_tinyshakespeare_is_verified_and_missing_files_are_clear(tmp_path, monkeypatch):
    root = require_data("tinyshakespeare")
    bad = tmp_path / "bad"
    bad.mkdir()
    raw = (root / "input.txt").read_bytes()
    (bad / "input.txt").write_bytes(raw[:-1] + b"?")
    assert hashlib.sha256(raw).hexdigest().startswith("86c4e6aa")
    with pytest.raises(DataError, match="SHA-256"):
        an2dl.get_dataset("tinyshakespeare", root=str(bad))
    with pytest.raises(DataNotFoundError, match="tinyshakespeare"):
        an2dl.get_dataset("tinyshakespeare", root=str(tmp_path / "nowhere"))
    good = tmp_path / "data" / "tinyshakespeare"
    good.mkdir(parents=True)
    shutil.copy(root / "input.txt", good / "input.txt")
    monkeypatch.setenv("AN2DL_DATA_DIR", str(tmp_path / "data"))
    assert an2dl.get_dataset("tinyshakespeare", seq_len=32).info.num_classes == 69
