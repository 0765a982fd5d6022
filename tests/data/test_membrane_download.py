"""The ISBI membrane loader downloads missing sections from the pinned commit and verifies every file's SHA-256.

No network is used: the downloads are served from a temporary folder, either through ``file://`` URLs (synthetic
sections with their own checksum table) or by redirecting ``urlopen`` from the pinned GitHub URLs to the local copy
of the real data (when ``$AN2DL_DATA_DIR/membrane`` is there).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import an2dl
from an2dl.data.datasets import membrane as membrane_module
from an2dl.data.download import RemoteFile
from an2dl.errors import ChecksumError, DataNotFoundError

PINNED = f"https://raw.githubusercontent.com/zhixuhao/unet/{membrane_module.MEMBRANE_COMMIT}/data/membrane/train/"


@pytest.fixture
def empty_places(tmp_path, monkeypatch):
    """No $AN2DL_DATA_DIR and an empty cache: every section must be downloaded."""
    monkeypatch.delenv("AN2DL_DATA_DIR", raising=False)
    monkeypatch.setenv("AN2DL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "datasets" / "membrane" / "train"


def _synthetic_server(folder: Path) -> dict[str, tuple[str, ...]]:
    """30 small sections (16x16 grey images, labels 0/255) under ``folder/{image,label}``; their SHA-256 table."""
    rng = np.random.default_rng(0)
    table: dict[str, list[str]] = {"image": [], "label": []}
    for part in ("image", "label"):
        (folder / part).mkdir(parents=True)
        for i in range(30):
            pixels = rng.integers(0, 256, (16, 16)) if part == "image" else 255 * (rng.random((16, 16)) < 0.8)
            path = folder / part / f"{i}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            table[part].append(hashlib.sha256(path.read_bytes()).hexdigest())
    return {k: tuple(v) for k, v in table.items()}


@pytest.fixture
def synthetic_server(tmp_path, monkeypatch):
    """The loader's file table pointed at ``file://`` URLs of synthetic sections."""
    served = tmp_path / "served"
    table = _synthetic_server(served)

    def files(part: str) -> list[RemoteFile]:
        return [RemoteFile(f"{i}.png", ((served / part / f"{i}.png").as_uri(),), sha256=h)
                for i, h in enumerate(table[part])]

    monkeypatch.setattr(membrane_module, "membrane_files", files)
    return served


def test_the_file_table_names_the_pinned_urls_of_60_files():
    for part in ("image", "label"):
        files = membrane_module.membrane_files(part)
        assert [f.name for f in files] == [f"{i}.png" for i in range(30)]
        assert [f.urls for f in files] == [(f"{PINNED}{part}/{i}.png",) for i in range(30)]
        assert len({f.sha256 for f in files}) == 30 and all(len(f.sha256) == 64 for f in files)


def test_missing_sections_are_downloaded_verified_and_then_found_in_the_cache(empty_places, synthetic_server):
    data = an2dl.get_dataset("membrane", limit=1)
    assert data.sizes() == {"train": 1, "val": 1, "test": 1}
    # only the sections the call needs: training 0, validation 21, test 24
    assert sorted(p.name for p in (empty_places / "image").iterdir()) == ["0.png", "21.png", "24.png"]
    assert sorted(p.name for p in (empty_places / "label").iterdir()) == ["0.png", "21.png", "24.png"]
    x, m = data.test.tensors
    assert x.shape == (1, 1, 16, 16) and set(m.unique().tolist()) <= {0, 1}
    shutil.rmtree(synthetic_server)  # nothing left to download: the cache serves the next load
    again = an2dl.get_dataset("membrane", limit=1)
    assert torch.equal(again.test.tensors[0], x)


def test_a_corrupt_file_raises_a_checksum_error_naming_it(empty_places, synthetic_server):
    an2dl.get_dataset("membrane", limit=1)
    cached = empty_places / "label" / "21.png"
    cached.write_bytes(cached.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumError, match=r"label/21\.png: SHA-256 of the content is [0-9a-f]{64}, expected"):
        an2dl.get_dataset("membrane", limit=1)


def test_a_corrupt_download_is_discarded(empty_places, synthetic_server):
    served = synthetic_server / "image" / "0.png"
    served.write_bytes(served.read_bytes() + b"junk")
    with pytest.raises(DataNotFoundError, match=r"membrane: no train/image .*download failed.*0\.png.*SHA-256"):
        an2dl.get_dataset("membrane", limit=1)
    assert not (empty_places / "image" / "0.png").exists()


def test_without_the_files_and_without_a_network_the_error_says_how_to_provide_them(empty_places, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataNotFoundError, match=r"membrane: no train/image and train/label folders in .*"
                                                r"download failed.*no network.*copy the ISBI 2012 membrane data"):
        an2dl.get_dataset("membrane", limit=1)
    with pytest.raises(DataNotFoundError, match=r"no download.*copy the ISBI 2012"):
        an2dl.get_dataset("membrane", limit=1, download=False)


def test_the_pinned_urls_serve_the_files_of_the_local_copy(tmp_path, monkeypatch):
    """The checksum table is the real data's: the pinned URLs, answered from ``$AN2DL_DATA_DIR/membrane``."""
    from conftest import require_data

    local = require_data("membrane") / "train"
    monkeypatch.delenv("AN2DL_DATA_DIR")
    monkeypatch.setenv("AN2DL_CACHE", str(tmp_path / "cache"))
    requested = []
    real_urlopen = urllib.request.urlopen

    def from_local_copy(url, timeout=None):
        assert url.startswith(PINNED), url
        requested.append(url[len(PINNED):])
        return real_urlopen((local / url[len(PINNED):]).as_uri(), timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", from_local_copy)
    data = an2dl.get_dataset("membrane", limit=1)
    assert sorted(requested) == sorted(f"{p}/{i}.png" for p in ("image", "label") for i in (0, 21, 24))
    reference = an2dl.get_dataset("membrane", root=local.parent, limit=1)
    assert torch.equal(data.test.tensors[0], reference.test.tensors[0])
    assert torch.equal(data.train.tensors[1], reference.train.tensors[1])
