"""ISBI 2012 EM membrane segmentation, the U-Net paper's first dataset (Ronneberger et al. 2015, §3).

30 serial-section transmission electron microscopy images (512×512, grey)
of the Drosophila first instar larva ventral nerve cord, each with a binary
label: cell interior or membrane (the thin borders between cells), as
prepared in ``zhixuhao/unet`` (``data/membrane/train/{image,label}/<i>.png``).
The 30 unlabelled test sections of the challenge are not used.

Classes: 0 = ``cell`` (label value 255), 1 = ``membrane`` (label value 0),
so that the foreground class (what the challenge segments) has id 1; about
22 % of the pixels are membrane.

Split: the sections are consecutive slices of one volume, so neighbouring
sections look alike; the split keeps them apart by position rather than at
random.  Sections ``0 … 29 − test − val`` train, the next ``val`` validate
and the last ``test`` are held out for testing: by default 21 / 3 / 6
(24 / 6 between training and testing, the validation part taken from the
24).

Files.  A section is looked for in ``root`` when one is given, else in
``$AN2DL_DATA_DIR/membrane`` and then in the cache
(``$AN2DL_CACHE/datasets/membrane``, see :mod:`an2dl.data.download`), as
``train/image/<i>.png`` and ``train/label/<i>.png``.  Sections found in none
of them are downloaded into the cache from the ``zhixuhao/unet`` repository
on GitHub at the pinned commit :data:`MEMBRANE_COMMIT`
(``https://raw.githubusercontent.com/zhixuhao/unet/<commit>/data/membrane/train/{image,label}/<i>.png``,
about 6.5 MB for the 60 files); only the sections a call needs are fetched
(``limit=1`` fetches 3 of the 30).  Every file, found or downloaded, is
checked against the SHA-256 of :data:`MEMBRANE_SHA256` (computed from the
files at that commit): a corrupt or different file raises
:class:`~an2dl.errors.ChecksumError` naming it, and a download whose
checksum differs is discarded.  With ``root=`` or ``download=False`` nothing
is downloaded; without the files and without a network the loader raises
:class:`~an2dl.errors.DataNotFoundError` saying where it looked and how to
provide them.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ...errors import ConfigError, DataError, DataNotFoundError
from ..core import DataSplits
from ..download import RemoteFile, cache_dir, data_dir, locate, read_verified
from ..images import read_image
from ..masks import read_mask
from ..preprocess import Preprocess
from ..registry import register_dataset
from .segmentation_folder import segmentation_splits

__all__ = ["membrane", "membrane_files", "MEMBRANE_CLASSES", "MEMBRANE_SECTIONS", "MEMBRANE_COMMIT", "MEMBRANE_SHA256"]

#: the class names, in id order
MEMBRANE_CLASSES = ["cell", "membrane"]
#: labelled sections in the data set
MEMBRANE_SECTIONS = 30


#: the commit of ``zhixuhao/unet`` the files are downloaded from (2019-02-21)
MEMBRANE_COMMIT = "b45af4d458437d8281cc218a07fd4380818ece4a"
_RAW_URL = f"https://raw.githubusercontent.com/zhixuhao/unet/{MEMBRANE_COMMIT}/data/membrane/train/"

#: SHA-256 of ``train/image/<i>.png`` and ``train/label/<i>.png`` at :data:`MEMBRANE_COMMIT`, ``i = 0 … 29``
MEMBRANE_SHA256: dict[str, tuple[str, ...]] = {
    "image": (
        "12c0ed6f42fc09f512abf6b354f217c950e4c8223b57a0315449b62a14556523",  # 0.png
        "2cfc7ee635a6f85d5faf5c82a71d3a37bf5af4784b554964e3e07193e3ee2166",  # 1.png
        "fe60d8d4f93102666a23a18d718b4b59fab8e616987d11c5072f4a87fac7301f",  # 2.png
        "636d16cbb02f99dda4c9fb6db98dfba066142afa981ffdcfaf54453982e8250c",  # 3.png
        "991fb3a8e4abc73da1d6159ca28fa4397f0a8351f30a8ba3669c86414d2ce239",  # 4.png
        "7e9d9fb787664336d6f2cd68b23986f04527e7f8f494410983b4d70c6de1de3b",  # 5.png
        "7c0a87933ffc72f4ff02f5996d9c3f69fe9a0b5277507415743ad8afb5e5d308",  # 6.png
        "19f2c25716107d41008c83ba8a814ae47a090e00dea766dde38dce1f00899270",  # 7.png
        "a8979e4abd1a10af9ca75e614d97875659adbd8ee3a68eba483bf556cfe3023d",  # 8.png
        "730ebf435ab0f6e625d342552ad03736799fd660d0c6af744674c61a46aa082a",  # 9.png
        "7c3717bcd48c4b7e5c878d7f0b809b8687a4e6fac471f3863de320a82ee72b8a",  # 10.png
        "dd7857b25ca1417f87c282750e22c50947f75e81fa032d4e0c96b902c9dc9757",  # 11.png
        "9f8eff9239bb764d51524a998387a7babcff9f62161804651b030b81aabd5ab8",  # 12.png
        "377e5cdbcd7f0ac7336f482fc7ead7446887863f26769b3841fe98aadca77dad",  # 13.png
        "f50d2d77acd2df564c5f0f40b1b24cd929f5944460aa4cd90c422cb5cef33a59",  # 14.png
        "3e13fdea09accc14f46fb2f3ffa1e882cdd9c53b28a6842c4c10229692c7d1a4",  # 15.png
        "ffc951c12450f94129582c16fd0d4b165c4a31469b0c42d966f07c183d3132e2",  # 16.png
        "0f4f7e8e0619e4c7d517ac68d3789a3b6248253747717eac418bb7d32bef4de3",  # 17.png
        "1bb1edd50595861743d14e1955dfa5d3c9395fb87563eca6dc81433bf9df49de",  # 18.png
        "999b55633f8d7082add72082656e9532c5c3d97203b376eb317f09ba88a5a5b7",  # 19.png
        "9153d14bfd15955fab576ea23281c4f23104b45dceed6e03e0b254607f50a1b2",  # 20.png
        "9ad07cf4f67984f17a08aa63e6d92d395ce55f5132e6ff4fa6d95d6890ea7f97",  # 21.png
        "6278609b4c42a7cb43212de0e2e2ceded758bafe0856fb56214ce658a61668e4",  # 22.png
        "9ef4e9fbc838b9791af83a36918d729a0ea2e90ebc71c4a3c4554059f9379756",  # 23.png
        "f0f917b9c3e9c96d16ea287aff9b05ecf4de88bc61d478e4aefcb64932fba70c",  # 24.png
        "e0154737e76392e8bf94fb2c0dfa5ddad4b53aeec942a0a8cdd8ba63443e6072",  # 25.png
        "d0ff11e09b0ee0c817334946e746a38ab621161d5f9c46af95c68b851f8d9a1a",  # 26.png
        "eed8e8bee1db8fe7af39b5b43ecf14282c5c33eca0959726eea06f662027eacc",  # 27.png
        "974df4b51e8905bdaabe61e80496cbf331f5c9aa9ddc2cb94113f58c2b7d2837",  # 28.png
        "d9ae868509c610a69acbf3d69cde4f36a8e344cbbc444f93c917bf7b9f3e784f",  # 29.png
    ),
    "label": (
        "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0",  # 0.png
        "cff60a00de2901e67165c91d7708d784e4c5bcc9d1c8c677922c905d63bbc3d1",  # 1.png
        "a578af998c017f56763b81941c4dc612dde5731809b2cea0e8ebc37aecb84dbb",  # 2.png
        "c8ae3b843fed02e09411a24c10850160922c331041b17c2674025f05a99b8834",  # 3.png
        "a2f19c01b5d982a97923a0d29e64127a05e3f496731480ac9d9d302b5427f7ff",  # 4.png
        "2dd5779118f6f4d87f88ec112f1cea20663b50acb8c748b0db1f23eda82b5118",  # 5.png
        "2b0984e9f31fb41d4c5f4a754a3e080036b7321a0cbd9591a62010d20a574ce7",  # 6.png
        "2ebc8c835999589bfd7d80d81f83d24e5c41138362b0faafef0f009e1ce82144",  # 7.png
        "db979010ca4fbdb38c8b32d455aed0da90d598153f2a0046b63d02a6efa32b9e",  # 8.png
        "8ee6c79adbb740595c4d61776e065e7164c00d52c7dd7562b5279041e7f3567b",  # 9.png
        "b0156cc8186b0ee521927ac95645b406a42d27564607a6fea3a59c34add78f7c",  # 10.png
        "e47b3aa0cfb3106476af1666e631d45bd16dbf2aff88260ee65d16e4134332db",  # 11.png
        "85a7a899c0b72b81633ad122887ba5161d650385d7775a5b3074eb00131b3620",  # 12.png
        "88549c22fd647312d6b37e17d33e90800d347d60ccb1156a8dde5e67394f9f3d",  # 13.png
        "bcd775017eb4fdbdfe7ad6cc6420b2f16aa9d0576894d08370edcf564b46680a",  # 14.png
        "59a854887b504ff00a5b4b93b2299bbc0bf0cbe54dea58d2b31969229b28b369",  # 15.png
        "b34eb88cdc3313a6f4190f5753465df7f69d8f3c243a5c25427b1b99ecfe2499",  # 16.png
        "4fa076cbeb744803d987dc46cf308dc3026408e7a5188838e30e25fe3ea67dbe",  # 17.png
        "bd009dda57f204804732f592ed1d41ba18961d83c492413fe71548efa4a288d9",  # 18.png
        "bf38407c55b6033c1677230228ecb100a11294aa74a7b92e5edfdc4abadcfef9",  # 19.png
        "7af7296f2e892866669d4e4f9c0d4178987e6ec6e7d0751ec238d1bbe2da9c55",  # 20.png
        "772c722acb2eac01769b53fa5037a3d62745e53102398bf9b2202df605cadda4",  # 21.png
        "b19f5533ec24077a2395a085fe53af75dd350ef03798c4ff40ba9ebecb2ee0ad",  # 22.png
        "2d8f1df5c9ee83e59eb2d709eb153b0570f12e726690f586154b01b0a88bb540",  # 23.png
        "6ab02d922b5c937ecfe2a479be87a5d3e5ef950dc48da09d31f37b47d899ca9c",  # 24.png
        "c5ea59aca7789dd507ac31c4a82bbd4c172f9e3544f8e040442c20d1dfa9e16d",  # 25.png
        "b056fae9f358111b6c9e2494bdba645f206be581959b8d3763e97d62a65dd961",  # 26.png
        "5be3823a57c82b632cead6eb09f438c6010a244dc0975f2a3e466f45d2c06840",  # 27.png
        "c0b0e2a2b7aad46919d1afc980f7d5e39101fb07948ce65d9cac802d8b47682e",  # 28.png
        "1e8839a97178914171defd6a97158f06fcac1fc3f0d45f2acdff9c49ab3fced9",  # 29.png
    ),
}


def membrane_files(part: str) -> list[RemoteFile]:
    """The 30 files of ``part`` (``"image"`` or ``"label"``): name ``<i>.png``, the pinned URL and the checksum."""
    if part not in MEMBRANE_SHA256:
        raise ConfigError(f"membrane part must be one of {sorted(MEMBRANE_SHA256)}; got {part!r}")
    return [RemoteFile(f"{i}.png", (f"{_RAW_URL}{part}/{i}.png",), sha256=h) for i, h in enumerate(MEMBRANE_SHA256[part])]


def _places(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        return [Path(root)]
    return [p / "membrane" for p in (data_dir(), cache_dir() / "datasets") if p is not None]


def _not_found(root: str | os.PathLike | None, why: str = "") -> DataNotFoundError:
    return DataNotFoundError(
        f"membrane: no train/image and train/label folders in {', '.join(str(p) for p in _places(root))}"
        f"{why}; copy the ISBI 2012 membrane data (zhixuhao/unet data/membrane) into $AN2DL_DATA_DIR/membrane or "
        "pass root=PATH (--set data.root=PATH)")


def _section_paths(root: str | os.PathLike | None, sections: list[int], download: bool) -> list[tuple[Path, Path]]:
    """``(image, label)`` paths of ``sections``, downloading the missing ones into the cache (see the module docstring)."""
    if root is not None and not all((Path(root) / "train" / part).is_dir() for part in ("image", "label")):
        raise _not_found(root)
    found: dict[str, dict[str, Path]] = {}
    for part in ("image", "label"):
        every = membrane_files(part)
        files = [every[i] for i in sections]
        part_root = Path(root) / "train" / part if root is not None else None
        try:
            # each part is its own folder of <i>.png: $AN2DL_DATA_DIR/membrane/train/<part>, then the cache's
            found[part] = locate(f"membrane/train/{part}", files, root=part_root, download=download)
        except DataNotFoundError as e:
            if root is not None:
                raise DataNotFoundError(f"membrane: {e}") from None
            raise _not_found(root, f" (and {'no download' if not download else 'the download failed'}: {e})") from None
    return [(found["image"][f"{i}.png"], found["label"][f"{i}.png"]) for i in sections]


@register_dataset("membrane")
def membrane(*, root: str | os.PathLike | None = None, val_count: int = 3, test_count: int = 6,
             limit: int | None = None, download: bool = True) -> DataSplits:
    """The 30 labelled ISBI 2012 membrane sections, split by position (see the module docstring).

    Args:
        root: the ``membrane`` folder (default: ``$AN2DL_DATA_DIR/membrane``, then the cache).
        val_count: sections after the training ones used for validation (0: none).
        test_count: the last sections, held out for testing.
        limit: use only the first ``limit`` sections of each part (quick runs).
        download: fetch missing sections into the cache (never with ``root``).

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, 512, 512] float32 in [0, 1], mask [512, 512] int64)``
        with classes ``cell`` (0) and ``membrane`` (1).

    Raises:
        DataNotFoundError: the sections are neither on disk nor downloadable.
        ChecksumError: a file differs from the one at :data:`MEMBRANE_COMMIT` (the message names it).
    """
    for key, v in (("val_count", val_count), ("test_count", test_count)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"membrane {key} must be a non-negative integer; got {v!r}")
    n_train = MEMBRANE_SECTIONS - val_count - test_count
    if n_train < 1:
        raise ConfigError(f"membrane: val_count + test_count must leave training sections out of "
                          f"{MEMBRANE_SECTIONS}; got {val_count} + {test_count}")
    parts = [list(range(n_train)), list(range(n_train, n_train + val_count)),
             list(range(n_train + val_count, MEMBRANE_SECTIONS))]
    if limit is not None:
        parts = [p[:limit] for p in parts]
    wanted = sorted(i for p in parts for i in p)
    xs, ms = [], []
    images, labels = membrane_files("image"), membrane_files("label")
    for i, (image_path, label_path) in zip(wanted, _section_paths(root, wanted, download)):
        read_verified(image_path, images[i])  # raises ChecksumError naming the file
        read_verified(label_path, labels[i])
        x = read_image(image_path, channels=1)
        m = read_mask(label_path, values={0: 1, 255: 0})
        if tuple(m.shape) != tuple(x.shape[-2:]):
            raise DataError(f"membrane: {image_path} and {label_path} differ in size")
        xs.append(x)
        ms.append(m)
    position = {i: j for j, i in enumerate(wanted)}
    parts = [[position[i] for i in p] for p in parts]
    size = list(xs[0].shape[-2:])
    pipeline = Preprocess([{"op": "to_channels", "channels": 1}], raw_input={"channels": 1, "size": size})
    return segmentation_splits(
        "membrane", torch.stack(xs), torch.stack(ms), parts, class_names=list(MEMBRANE_CLASSES),
        extra={"source": "ISBI 2012 EM segmentation challenge, training volume (Cardona et al. 2010), as prepared "
                         f"in zhixuhao/unet at commit {MEMBRANE_COMMIT}", "licence": "non-commercial use; cite TrakEM2 and Cardona et al. 2010",
               "split": f"sections 0-{n_train - 1} train, {n_train}-{n_train + val_count - 1} validation, "
                        f"{n_train + val_count}-{MEMBRANE_SECTIONS - 1} test"},
        preprocess=pipeline)
