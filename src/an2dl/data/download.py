"""Finding, downloading and verifying data files (DESIGN §1.6, §10).

A dataset file is looked for, in order, in an explicit ``root``, in
``$AN2DL_DATA_DIR/<dataset>``, and in the cache ``$AN2DL_CACHE/datasets/<dataset>``
(default ``~/.cache/an2dl``).  If it is in none of them it is downloaded into
the cache when the network allows, verified, and only then moved into place.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._utils.cache import cache_dir as _cache_dir
from .._utils.files import sha256_bytes
from .._utils.progress import activity
from ..errors import ChecksumError, DataNotFoundError

__all__ = ["RemoteFile", "cache_dir", "data_dir", "locate", "read_verified", "sha256_bytes"]


@dataclass(frozen=True)
class RemoteFile:
    """A file of a dataset.

    Attributes:
        name: file name on disk (usually gzip-compressed, ``*.gz``).
        urls: download addresses, tried in order.
        sha256: SHA-256 of the *decompressed* content (``None``: not published).
        gz_sha256: SHA-256 of the original compressed file, if known.
        size: decompressed size in bytes, if known.
    """

    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    gz_sha256: str | None = None
    size: int | None = None


def cache_dir() -> Path:
    """``$AN2DL_CACHE`` or ``~/.cache/an2dl``."""
    return _cache_dir()


def data_dir() -> Path | None:
    """``$AN2DL_DATA_DIR`` if set."""
    d = os.environ.get("AN2DL_DATA_DIR")
    return Path(d) if d else None


def _candidates(dataset: str, root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        return [Path(root)]
    out = []
    if data_dir() is not None:
        out.append(data_dir() / dataset)  # type: ignore[operator]
    out.append(cache_dir() / "datasets" / dataset)
    return out


def _variants(f: RemoteFile) -> list[str]:
    plain = f.name[:-3] if f.name.endswith(".gz") else f.name
    return [f.name, plain] if plain != f.name else [f.name]


def _download(f: RemoteFile, target: Path, *, progress: bool | None = None) -> None:
    """Download ``f`` into ``target`` (verified, then moved into place), showing the transfer (see ``activity``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in f.urls:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{f.name}.")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
                length = resp.headers.get("Content-Length") if resp.headers is not None else None
                total = int(length) if length and length.isdigit() else None
                size = "" if not total else f" ({total / 1e6:.1f} MB)" if total >= 1e6 else f" ({total / 1e3:.1f} kB)"
                with activity(f"downloading {url}{size} into {target.parent}", total=total, enable=progress) as act:
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        act.advance(len(chunk))
            read_verified(Path(tmp), f)  # raises on a bad download
            os.replace(tmp, target)
            return
        except (urllib.error.URLError, OSError, ChecksumError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataNotFoundError("; ".join(errors))


def locate(dataset: str, files: Sequence[RemoteFile], *, root: str | os.PathLike | None = None, download: bool = True) -> dict[str, Path]:
    """Paths of ``files`` (compressed or not), downloading missing ones into the cache.

    Raises:
        DataNotFoundError: a file is missing and cannot be downloaded; the
            message lists every place looked at and how to fix it.
    """
    places = _candidates(dataset, root)
    found: dict[str, Path] = {}
    for f in files:
        for d in places:
            hit = next((d / v for v in _variants(f) if (d / v).is_file()), None)
            if hit is not None:
                found[f.name] = hit
                break
    missing = [f for f in files if f.name not in found]
    if not missing:
        return found
    looked = ", ".join(str(p) for p in places)
    if not download or root is not None:
        raise DataNotFoundError(
            f"{dataset}: {', '.join(f.name for f in missing)} not found in {looked}; "
            "pass the folder that holds them (root=... or --set data.root=...) or set AN2DL_DATA_DIR"
        )
    target_dir = cache_dir() / "datasets" / dataset
    for f in missing:
        try:
            _download(f, target_dir / f.name)
        except DataNotFoundError as e:
            raise DataNotFoundError(
                f"{dataset}: {f.name} is not in {looked} and could not be downloaded ({e}); "
                "copy the files into one of those folders, pass root=PATH, or set AN2DL_DATA_DIR"
            ) from None
        found[f.name] = target_dir / f.name
    return found


def read_verified(path: Path, f: RemoteFile) -> bytes:
    """The decompressed bytes of ``path``, verified against ``f``'s checksums.

    The SHA-256 is computed on the decompressed content, so that a copy
    recompressed with other settings (or stored uncompressed) is accepted.
    Where no content checksum is published, the file is compared with the
    original compressed file's checksum; a file that differs (a recompressed or
    decompressed copy) is accepted with a warning, as only its structure can
    then be checked by the caller.

    Raises:
        ChecksumError: the content differs from the published one, or the file
            is not valid gzip.
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ChecksumError(f"{path} is not a valid gzip file ({e}); delete it and try again") from None
    else:
        data = raw
    if f.sha256 is not None:
        got = sha256_bytes(data)
        if got != f.sha256:
            raise ChecksumError(
                f"{path}: SHA-256 of the content is {got}, expected {f.sha256} (corrupt or a different file); "
                "delete it and try again"
            )
    elif f.gz_sha256 is not None and sha256_bytes(raw) != f.gz_sha256:
        warnings.warn(
            f"{path} is not the published compressed file and no checksum of its content is published; "
            "only its structure can be checked",
            stacklevel=2,
        )
    return data
