"""Datasets: the embedded digits, the IDX reader, checksums on decompressed bytes, offline errors."""

from __future__ import annotations

import gzip
import struct
import urllib.error

import numpy as np
import pytest
import torch

import an2dl
from an2dl.data import holdout_split
from an2dl.data.datasets.mnist import MNIST_FILES, read_idx
from an2dl.data.download import RemoteFile, locate, read_verified, sha256_bytes
from an2dl.errors import ChecksumError, ConfigError, DataError, DataNotFoundError


def idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_digits_splits_are_stratified_deterministic_and_documented():
    a = an2dl.get_dataset("digits", val_fraction=0.1, test_fraction=0.2, seed=0)
    b = an2dl.get_dataset("digits", val_fraction=0.1, test_fraction=0.2, seed=0)
    assert a.sizes() == {"train": 1258, "val": 180, "test": 359} and sum(a.sizes().values()) == 1797
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    x, y = a.train.tensors
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    counts = torch.bincount(a.test.tensors[1], minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # ~20% of each class of ~180
    assert a.info.num_classes == 10 and a.info.input_shape == (1, 8, 8)
    assert a.info.mean[0] == pytest.approx(float(x.mean()), abs=1e-5)
    big = an2dl.get_dataset("digits", size=32)
    assert big.info.input_shape == (1, 32, 32)
    c = an2dl.get_dataset("digits", seed=1)
    assert not torch.equal(a.test.tensors[1], c.test.tensors[1])


def test_holdout_split_partitions_and_validates():
    y = np.repeat(np.arange(4), 25)
    rest, val, test = holdout_split(y, (0.2, 0.2), seed=3)
    assert len(rest) + len(val) + len(test) == 100
    assert set(rest) | set(val) | set(test) == set(range(100))
    assert np.bincount(y[val]).tolist() == [5, 5, 5, 5]
    with pytest.raises(ConfigError, match=r"fractions\[0\] must be a number in \[0, 1\)"):
        holdout_split(y, (1.2,))
    with pytest.raises(ConfigError, match="sum to less than 1"):
        holdout_split(y, (0.6, 0.5))


def test_read_idx_round_trip_and_corruption():
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(arr)
    assert np.array_equal(read_idx(data), arr)
    big = np.array([1, -2, 70000], dtype=">i4")
    assert read_idx(idx_bytes(big)).tolist() == [1, -2, 70000]
    with pytest.raises(DataError, match="truncated: 30 bytes, expected 40"):
        read_idx(data[:30], source="x")
    with pytest.raises(DataError, match="longer than its header says"):
        read_idx(data + b"\0")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(b"\x1f\x8b" + data)
    with pytest.raises(DataError, match="unknown IDX data type 0x07"):
        read_idx(bytes([0, 0, 7, 1, 0, 0, 0, 0]))


def test_checksums_are_verified_on_decompressed_bytes(tmp_path):
    arr = np.arange(50, dtype=np.uint8)
    raw = idx_bytes(arr)
    spec = RemoteFile("labels-idx1-ubyte.gz", (), sha256=sha256_bytes(raw))
    for level in (1, 9):  # recompressed with other settings: same content, other bytes
        path = tmp_path / f"l{level}.gz"
        path.write_bytes(gzip.compress(raw, compresslevel=level))
        assert read_verified(path, spec) == raw
    plain = tmp_path / "plain"
    plain.write_bytes(raw)
    assert read_verified(plain, spec) == raw
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(raw[:-1] + b"\x07"))
    with pytest.raises(ChecksumError, match="SHA-256 of the content"):
        read_verified(bad, spec)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(raw)[:20])
    with pytest.raises(ChecksumError, match="not a valid gzip file"):
        read_verified(broken, spec)


def test_missing_data_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AN2DL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AN2DL_DATA_DIR", str(tmp_path / "data"))

    def offline(*a, **k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataNotFoundError, match=r"could not be downloaded.*network is unreachable.*AN2DL_DATA_DIR"):
        an2dl.get_dataset("mnist")
    with pytest.raises(DataNotFoundError, match="not found in"):
        an2dl.get_dataset("mnist", root=tmp_path / "empty")
    assert not (tmp_path / "cache" / "datasets" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_truncated_mnist_file_is_reported(tmp_path, mnist_dir):
    for f in MNIST_FILES.values():
        (tmp_path / f.name).write_bytes((mnist_dir / f.name).read_bytes())
    cut = tmp_path / MNIST_FILES["test_labels"].name
    cut.write_bytes(gzip.compress(gzip.decompress(cut.read_bytes())[:5000]))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz: SHA-256 of the content"):
        an2dl.get_dataset("mnist", root=tmp_path)


def test_locate_prefers_the_explicit_root(tmp_path):
    f = RemoteFile("a.gz", ())
    (tmp_path / "a").write_bytes(b"x")  # decompressed copies are found too
    assert locate("any", [f], root=tmp_path)["a.gz"] == tmp_path / "a"


@pytest.mark.data
def test_real_mnist_loads_with_its_published_layout(mnist_dir):
    data = an2dl.get_dataset("mnist", root=mnist_dir)
    assert data.sizes() == {"train": 55000, "val": 5000, "test": 10000}
    x, y = data.test.tensors
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.info.mean[0] == pytest.approx(0.1307, abs=2e-3) and data.info.std[0] == pytest.approx(0.3081, abs=2e-3)
    padded = an2dl.get_dataset("mnist", root=mnist_dir, pad_to=32, limit_train=1200)
    assert padded.test.tensors[0].shape[1:] == (1, 32, 32) and padded.sizes()["train"] + padded.sizes()["val"] == 1200
    assert torch.equal(padded.test.tensors[0][:, :, 2:30, 2:30], x)
