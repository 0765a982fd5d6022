"""MNIST and Fashion-MNIST from IDX files (LeCun et al. 1998; Xiao et al. 2017)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..download import RemoteFile, locate, read_verified
from ..registry import register_dataset
from ._common import as_images, image_pipeline, image_splits

__all__ = ["read_idx", "mnist", "fashion_mnist", "MNIST_FILES", "FASHION_MNIST_FILES"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(data: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Parse the IDX format: 2 zero bytes, a type code, the rank, big-endian dimensions, data.

    Raises:
        DataError: bad magic number, unknown type, or a size that does not
            match the header (a truncated or corrupt file).
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{source} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    code, rank = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{source}: unknown IDX data type 0x{code:02x}")
    header = 4 + 4 * rank
    if len(data) < header:
        raise DataError(f"{source} is truncated: {len(data)} bytes, the header alone needs {header}")
    dims = struct.unpack(f">{rank}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{source} is {what}: {len(data)} bytes, expected {expected} for shape {dims}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


def _mnist_file(name: str, *, sha256: str, gz_sha256: str, size: int) -> RemoteFile:
    return RemoteFile(name, tuple(u + name for u in _MNIST_URLS), sha256=sha256, gz_sha256=gz_sha256, size=size)


MNIST_FILES = {
    "train_images": _mnist_file(
        "train-images-idx3-ubyte.gz",
        sha256="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        gz_sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        size=47040016,
    ),
    "train_labels": _mnist_file(
        "train-labels-idx1-ubyte.gz",
        sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        gz_sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        size=60008,
    ),
    "test_images": _mnist_file(
        "t10k-images-idx3-ubyte.gz",
        sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        gz_sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        size=7840016,
    ),
    "test_labels": _mnist_file(
        "t10k-labels-idx1-ubyte.gz",
        sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        gz_sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        size=10008,
    ),
}

_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# Zalando publishes checksums of the compressed files only; see read_verified.
FASHION_MNIST_FILES = {
    key: RemoteFile(f.name, (_FASHION_URL + f.name,), sha256=None, gz_sha256=h, size=f.size)
    for (key, f), h in zip(
        MNIST_FILES.items(),
        (
            "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        ),
    )
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_idx_set(dataset: str, files: dict[str, RemoteFile], root: str | os.PathLike | None, download: bool) -> dict[str, np.ndarray]:
    """Locate, verify and parse the four IDX files of an MNIST-like dataset."""
    paths = locate(dataset, list(files.values()), root=root, download=download)
    out = {}
    for key, f in files.items():
        path = Path(paths[f.name])
        out[key] = read_idx(read_verified(path, f), source=str(path))
    for split in ("train", "test"):
        if len(out[f"{split}_images"]) != len(out[f"{split}_labels"]):
            raise DataError(f"{dataset}: {split} images and labels differ in length")
    return out


def _build(name, files, classes, *, root, val_fraction, size, pad_to, limit_train, seed, download):
    arrays = load_idx_set(name, files, root, download)
    x_tr, y_tr = as_images(arrays["train_images"], 255.0), torch.from_numpy(arrays["train_labels"].astype(np.int64))
    x_te, y_te = as_images(arrays["test_images"], 255.0), torch.from_numpy(arrays["test_labels"].astype(np.int64))
    if limit_train is not None:
        x_tr, y_tr = x_tr[:limit_train], y_tr[:limit_train]
    pipeline = image_pipeline(tuple(x_te.shape[1:]), size=size, pad_to=pad_to)
    return image_splits(
        name, pipeline(x_tr), y_tr, pipeline(x_te), y_te, val_fraction=val_fraction, seed=seed, class_names=classes,
        extra={"files": {k: f.name for k, f in files.items()}}, preprocess=pipeline,
    )


@register_dataset("mnist")
def mnist(
    *,
    root: str | os.PathLike | None = None,
    val_fraction: float = 1 / 12,
    size: int | None = None,
    pad_to: int | None = None,
    limit_train: int | None = None,
    seed: int = 0,
    download: bool = True,
):
    """MNIST: 60,000 training and 10,000 test handwritten digits, 28×28 (LeCun et al. 1998).

    The four IDX files (``.gz`` or decompressed) are looked for in ``root``,
    ``$AN2DL_DATA_DIR/mnist`` and the cache, and downloaded when missing and
    online.  Their SHA-256 is checked on the decompressed bytes.

    Args:
        root: folder holding the IDX files.
        val_fraction: part of the training set held out for validation
            (stratified; default 5,000 of 60,000).
        size: bilinear resize to ``size × size``; ``pad_to``: zero-pad to
            ``pad_to × pad_to`` instead (LeNet-5 reads 32×32: digits centred
            in a larger field, as in the paper).  Both are steps of the
            dataset's :class:`~an2dl.data.preprocess.Preprocess`
            (``info.preprocess``), which exported models record.
        limit_train: keep only the first n training images (quick runs).
        seed: seed of the validation split.
        download: allow downloading missing files.

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, H, W] float32 in [0, 1], label int64)``.
    """
    return _build("mnist", MNIST_FILES, [str(i) for i in range(10)], root=root, val_fraction=val_fraction,
                  size=size, pad_to=pad_to, limit_train=limit_train, seed=seed, download=download)


@register_dataset("fashion-mnist")
def fashion_mnist(
    *,
    root: str | os.PathLike | None = None,
    val_fraction: float = 1 / 12,
    size: int | None = None,
    pad_to: int | None = None,
    limit_train: int | None = None,
    seed: int = 0,
    download: bool = True,
):
    """Fashion-MNIST: Zalando's 28×28 clothing images in 10 classes (Xiao et al. 2017).

    Same layout and arguments as :func:`mnist`.  Zalando publishes SHA-256
    sums of the compressed files only, so the original ``.gz`` files are
    verified; decompressed or recompressed copies pass the IDX structure checks only.
    """
    return _build("fashion-mnist", FASHION_MNIST_FILES, FASHION_CLASSES, root=root, val_fraction=val_fraction,
                  size=size, pad_to=pad_to, limit_train=limit_train, seed=seed, download=download)
