"""Pretrained weights: read ``.safetensors`` or PyTorch ``.pth`` files, download and verify, load strictly.

The zoo's architectures share torchvision's state-dict layout (notes §3.4.2,
DESIGN §1.3), so the official checkpoints load into them unchanged::

    model = get_model("resnet18", weights="https://download.pytorch.org/models/resnet18-f37072fd.pth")
    model = get_model("densenet121", weights="densenet121-a639ec97.pth")     # legacy keys renamed
    model = get_model("lenet5", weights="run/model/model.safetensors")

* ``.safetensors`` files are read with ``safetensors``; every other file with
  ``torch.load(..., weights_only=True)``, which unpickles tensors and plain
  containers only — never arbitrary objects (DESIGN §7).
* Old torchvision DenseNet checkpoints name their layers
  ``denselayer1.norm.1.weight``; :func:`rename_legacy_keys` maps them to
  ``denselayer1.norm1.weight`` as torchvision's own loader does.  A
  ``module.`` prefix (``nn.DataParallel``) is removed, and batch-norm
  ``num_batches_tracked`` counters missing from files older than PyTorch
  0.4.1 are set to 0, as PyTorch's own loader does.
* URLs are downloaded once into :func:`weights_cache_dir`, verified by
  SHA-256 when a checksum is given (``sha256=`` or a ``#sha256=HEX``
  fragment of the URL) and, as ``torch.hub`` does, against the hash prefix
  in torchvision-style names (``resnet18-f37072fd.pth``).  Offline, or when
  the download fails, the error says where to put the file by hand.
* Loading is strict: any missing or unexpected key, or any shape mismatch,
  raises :class:`~an2dl.errors.CheckpointError` listing the first offenders.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from .._utils.files import sha256_file
from ..errors import CheckpointError, ChecksumError

__all__ = [
    "weights_cache_dir",
    "download_weights",
    "read_state_dict",
    "rename_legacy_keys",
    "state_dict_mismatch",
    "load_weights",
]

_URL_SCHEMES = ("http://", "https://", "file://")
# torchvision names its files <name>-<first hex digits of the SHA-256>.pth
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
# the auxiliary classifiers of GoogLeNet (aux1, aux2) and Inception v3 (AuxLogits)
_AUX_HEADS = ("aux1", "aux2", "AuxLogits")
# old DenseNet keys: denselayerN.norm.1.weight -> denselayerN.norm1.weight (also relu, conv; .2)
_DENSENET_LEGACY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def weights_cache_dir() -> Path:
    """Where downloaded weights are kept.

    ``$AN2DL_CACHE/weights`` when ``AN2DL_CACHE`` is set, otherwise
    ``torch.hub``'s checkpoint folder ``$TORCH_HOME/hub/checkpoints`` (default
    ``~/.cache/torch/hub/checkpoints``), so that files torchvision already
    downloaded are found without the network.
    """
    root = os.environ.get("AN2DL_CACHE")
    if root:
        return Path(root) / "weights"
    return Path(torch.hub.get_dir()) / "checkpoints"


def _verify(path: Path, sha256: str | None, *, source: str) -> None:
    """Check ``path`` against ``sha256`` (full digest) or the hash prefix in its name."""
    if sha256 is None:
        m = _HASH_IN_NAME.search(path.name)
        if m is None:
            return
        expected, what = m.group(1), "the hash prefix in its name"
    else:
        expected, what = sha256.lower(), "the expected SHA-256"
    got = sha256_file(path)
    if not got.startswith(expected):
        raise ChecksumError(
            f"weights from {source}: SHA-256 {got} does not match {what} ({expected}); "
            "the file is corrupt or not the published one — delete it and try again"
        )


def _split_url(url: str) -> tuple[str, str | None]:
    """``(url without fragment, sha256 from a '#sha256=HEX' fragment or None)``."""
    base, _, fragment = url.partition("#")
    sha = None
    if fragment:
        key, _, value = fragment.partition("=")
        if key != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise CheckpointError(f"the URL fragment must be '#sha256=<64 hex digits>'; got {fragment!r}")
        sha = value.lower()
    return base, sha


def download_weights(url: str, *, sha256: str | None = None, cache_dir: str | os.PathLike | None = None,
                     timeout: float = 60.0) -> Path:
    """Download ``url`` into the cache (once) and return the verified local path.

    Args:
        url: ``http(s)://`` or ``file://`` address; a ``#sha256=HEX`` fragment gives the checksum.
        sha256: expected SHA-256 of the file (overrides the fragment).
        cache_dir: folder to keep the file in (default :func:`weights_cache_dir`).
        timeout: seconds to wait for the server.

    Raises:
        CheckpointError: the download failed (offline, unknown host, HTTP error).
        ChecksumError: the file's SHA-256 differs from the expected one.
    """
    base, fragment_sha = _split_url(url)
    sha256 = sha256 or fragment_sha
    name = Path(urllib.parse.urlparse(base).path).name
    if not name:
        raise CheckpointError(f"cannot tell the file name of weights URL {url!r}")
    folder = Path(cache_dir) if cache_dir is not None else weights_cache_dir()
    target = folder / name
    if target.is_file():
        _verify(target, sha256, source=str(target))
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(base, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CheckpointError(
                f"could not download weights from {base} ({reason}); if this machine is offline, fetch the file "
                f"elsewhere and pass its path, or copy it to {target}"
            ) from None
        _verify(Path(tmp), sha256, source=base)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and obj and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"weights file {path} does not hold a state dict (a mapping of names to tensors)")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"weights file {path}: entries {bad[:3]} are not tensors; expected a plain state dict")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _format_hint(path: Path) -> str:
    """What a file that is not safetensors looks like, from its first bytes ('' when unrecognised)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return ""
    if head.startswith(b"PK") or head[:1] == b"\x80":
        return ("; it looks like a torch.save file (zip/pickle), which is never unpickled under a .safetensors name: "
                "export the model again")
    if not head:
        return "; the file is empty"
    return ""


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path`` (``.safetensors``, else a ``torch.save`` file read with ``weights_only=True``).

    A checkpoint dict with a ``state_dict``/``model`` entry is unwrapped and a
    ``module.`` prefix on every key is removed.

    Raises:
        CheckpointError: the file is missing, corrupt, or holds something else than tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            obj: object = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"weights file {path} is not a valid safetensors file ({e}){_format_hint(path)}") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # corrupt archives raise many kinds of errors (zip, pickle, EOF, ...)
            raise CheckpointError(
                f"weights file {path} is corrupt or not a PyTorch weights file ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else 'no detail'})"
            ) from None
    return _unwrap(obj, path)


def rename_legacy_keys(state: Mapping[str, torch.Tensor], expected: Iterable[str]) -> dict[str, torch.Tensor]:
    """Rename keys of old torchvision checkpoints to the current names, where the model expects them.

    Only a key absent from ``expected`` whose legacy pattern maps onto an
    expected key is renamed: ``features.denseblock1.denselayer1.norm.1.weight``
    -> ``features.denseblock1.denselayer1.norm1.weight`` (DenseNet; also
    ``relu.1``, ``conv.1``, ``.2``).
    """
    wanted = set(expected)
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k not in wanted:
            m = _DENSENET_LEGACY.match(k)
            if m is not None and m.group(1) + m.group(2) in wanted:
                k = m.group(1) + m.group(2)
        out[k] = v
    return out


def state_dict_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor], *, limit: int = 5) -> str | None:
    """A readable description of how ``state`` fails to fit ``model`` (``None`` when it fits exactly)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in own.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{len(items)} {what}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def load_weights(model: nn.Module, source: str | os.PathLike, *, sha256: str | None = None, strict: bool = True,
                 cache_dir: str | os.PathLike | None = None) -> nn.Module:
    """Load the weights at ``source`` (a path or URL) into ``model`` and return ``model``.

    Args:
        model: the module to fill (built with the architecture the weights come from).
        source: a ``.safetensors`` / ``.pth`` path, or an ``http(s)://`` / ``file://`` URL.
        sha256: expected SHA-256 of a downloaded file.
        strict: reject missing and unexpected keys (shape mismatches are always rejected).
        cache_dir: download folder (default :func:`weights_cache_dir`).

    Raises:
        CheckpointError: unreadable file, failed download, or weights of another
            architecture (the message lists the first mismatched keys and shapes).
        ChecksumError: the downloaded file differs from the expected checksum.
    """
    text = str(source)
    path = download_weights(text, sha256=sha256, cache_dir=cache_dir) if text.startswith(_URL_SCHEMES) else Path(text)
    own = model.state_dict()
    state = rename_legacy_keys(read_state_dict(path), own.keys())
    for k, v in own.items():
        # checkpoints older than PyTorch 0.4.1 (torchvision's first DenseNet, VGG, ... files) have no
        # batch-norm step counters; PyTorch's own loader sets them to 0, and so do we
        if k.endswith(".num_batches_tracked") and k not in state and k[: -len("num_batches_tracked")] + "running_mean" in state:
            state[k] = torch.zeros_like(v, device="cpu")
    problem = state_dict_mismatch(model, state)
    if problem is not None:
        wrong_shape = any(k in state and tuple(state[k].shape) != tuple(v.shape) for k, v in own.items())
        if strict or wrong_shape:
            unexpected = [k for k in state if k not in own]
            hint = ""
            if unexpected and all(k.split(".")[0] in _AUX_HEADS for k in unexpected):
                hint = "; the file has auxiliary classifiers: build the model with aux_logits=True"
            raise CheckpointError(
                f"weights file {path} does not fit {type(model).__name__} "
                f"(weights of another architecture or configuration?): {problem}{hint}"
            )
    model.load_state_dict(state, strict=strict)
    return model
