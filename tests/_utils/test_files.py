"""Atomic writes and SHA-256 digests (an2dl._utils.files)."""

from __future__ import annotations

import hashlib
import os

import pytest

from an2dl._utils.files import atomic_write_bytes, atomic_write_text, sha256_bytes, sha256_file, write_bytes


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path, durable):
    path = tmp_path / "a.json"
    atomic_write_text(path, "old", durable=durable)
    atomic_write_text(path, "néw\n", durable=durable)
    assert path.read_text(encoding="utf-8") == "néw\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_failed_write_keeps_the_old_content_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    atomic_write_bytes(path, b"old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_digests_equal_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 5)  # more than one read chunk
    path = tmp_path / "blob"
    write_bytes(path, data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_bytes(data) == expected
    assert sha256_file(path) == expected
