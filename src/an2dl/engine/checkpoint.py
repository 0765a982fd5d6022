"""Pickle-free, atomic checkpoints (DESIGN §6–§7).

A checkpoint is a directory ``checkpoints/<step>/`` holding

* ``model.safetensors`` — the task's ``state_dict`` (every model it owns);
* ``optimizer.safetensors`` — the tensors of every optimizer and scheduler state;
* ``state.safetensors`` — the other tensors (generator states, callback and metric states);
* ``state.json`` — everything else (counters, resolved config, callback state),
  with the SHA-256 of the three tensor files;
* ``state.json.sha256`` — the SHA-256 of ``state.json`` itself (``sha256sum -c``
  format), written last.  Checkpoints of format version 1 have no such file and
  still load.

Checkpoints are ordered by the global step recorded in their ``state.json``,
never by folder name: ``LATEST`` names the complete checkpoint with the highest
step, and pruning keeps the highest steps.

Nested Python states are split into a JSON tree and a flat ``{key: tensor}``
table (:func:`split_tensors` / :func:`join_tensors`), so nothing is ever
unpickled.  A checkpoint is written into a temporary directory, every file is
fsynced, the directory is renamed into place and only then is
``checkpoints/LATEST`` replaced (write + fsync + rename).  A process killed at
any instant therefore leaves the previous checkpoint and ``LATEST`` intact.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .._utils.files import atomic_write_text, fsync_dir, sha256_bytes, sha256_file, write_bytes
from ..errors import CheckpointError

__all__ = [
    "split_tensors",
    "join_tensors",
    "atomic_write_text",  # public here since the first release; it lives in an2dl._utils.files
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "has_checkpoint",
    "checkpoint_step",
    "CheckpointData",
    "TENSOR_FILES",
]

FORMAT = "an2dl-checkpoint"
#: 2: ``state.json.sha256`` and history rows whose ``epoch`` counts from 1 (version 1: from 0)
VERSION = 2
TENSOR_FILES = ("model.safetensors", "optimizer.safetensors", "state.safetensors")
STATE_DIGEST = "state.json.sha256"
_TENSOR_TAG = "__tensor__"


# ---------------------------------------------------------------- tree <-> tensors
def split_tensors(obj: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested structure into a JSON-compatible tree and its tensors.

    Every tensor leaf is replaced by ``{"__tensor__": key}`` and stored under
    ``key`` (its path, dot-joined) in the returned table.  Tuples become lists;
    dict keys must be strings or integers (integers are kept by tagging).

    Raises:
        TypeError: for a leaf that is neither JSON-compatible nor a tensor.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            tensors[path] = x.detach().cpu().clone().contiguous()
            return {_TENSOR_TAG: path}
        if isinstance(x, Mapping):
            out = {}
            for k, v in x.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"state key {k!r} at {path or '<root>'!r} must be a str or int")
                sk = k if isinstance(k, str) else f"__int__{k}"
                out[sk] = walk(v, f"{path}.{k}" if path else str(k))
            return out
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if hasattr(x, "item") and callable(x.item):  # NumPy scalars
            return x.item()
        raise TypeError(f"cannot store {type(x).__name__} at {path or '<root>'!r} in a checkpoint")

    return walk(obj, prefix), tensors


def join_tensors(tree: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""
    if isinstance(tree, dict):
        if set(tree) == {_TENSOR_TAG}:
            key = tree[_TENSOR_TAG]
            if key not in tensors:
                raise CheckpointError(f"checkpoint is missing tensor {key!r}")
            return tensors[key]
        return {
            (int(k[7:]) if k.startswith("__int__") else k): join_tensors(v, tensors) for k, v in tree.items()
        }
    if isinstance(tree, list):
        return [join_tensors(v, tensors) for v in tree]
    return tree


def _json_dumps(obj: Any) -> str:
    def default(x: Any) -> Any:
        raise TypeError(f"{type(x).__name__} is not JSON serialisable")

    return json.dumps(obj, indent=1, default=default, allow_nan=True)


# ---------------------------------------------------------------- fault injection
_FAULT_COUNTS: dict[str, int] = {}


def _fault(point: str) -> None:
    """Fault injection for the crash tests.

    ``AN2DL_FAULT=point`` kills the process with SIGKILL the first time it
    reaches ``point``; ``AN2DL_FAULT=point@n`` the n-th time.
    """
    spec = os.environ.get("AN2DL_FAULT")
    if not spec:
        return
    name, _, nth = spec.partition("@")
    if name != point:
        return
    _FAULT_COUNTS[point] = _FAULT_COUNTS.get(point, 0) + 1
    if _FAULT_COUNTS[point] == int(nth or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------- checkpoints
def step_dirname(step: int) -> str:
    return f"{step:09d}"


@dataclass
class CheckpointData:
    """A loaded checkpoint: the model tensors, the other tensors and the JSON state."""

    path: Path
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


def save_checkpoint(
    directory: str | Path,
    step: int,
    *,
    model: Mapping[str, torch.Tensor],
    optimizer: Mapping[str, torch.Tensor],
    tensors: Mapping[str, torch.Tensor],
    state: Mapping[str, Any],
    update_latest: bool = True,
) -> Path:
    """Write a checkpoint atomically into ``directory/<step>`` and point ``LATEST`` at it.

    Returns:
        The final checkpoint directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / step_dirname(step)
    # leftovers of a process killed while writing (only one process writes a run's checkpoints)
    for stale in directory.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = directory / f".tmp-{step_dirname(step)}-{os.getpid()}"
    tmp.mkdir()
    hashes = {}
    for name, table in zip(TENSOR_FILES, (model, optimizer, tensors)):
        data = save({k: v.detach().cpu().contiguous() for k, v in table.items()})
        write_bytes(tmp / name, data, durable=True)
        hashes[name] = sha256_bytes(data)
        _fault(f"checkpoint-write:{name}")
    doc = {"format": FORMAT, "version": VERSION, "step": step, "files": hashes, **state}
    state_bytes = _json_dumps(doc).encode("utf-8")
    write_bytes(tmp / "state.json", state_bytes, durable=True)
    digest = sha256_bytes(state_bytes)
    write_bytes(tmp / STATE_DIGEST, f"{digest}  state.json\n".encode("ascii"), durable=True)
    fsync_dir(tmp)
    _fault("checkpoint-write:before-rename")
    if final.exists():  # the same step saved again: keep the old copy until LATEST names the new one
        os.replace(final, directory / f".old-{step_dirname(step)}-{os.getpid()}")
    os.replace(tmp, final)
    fsync_dir(directory)
    if update_latest:  # the highest recorded step: a directory holding a later checkpoint keeps naming it
        newest = list_checkpoints(directory)[-1]
        atomic_write_text(directory / "LATEST", newest.name + "\n")
    for stale in directory.glob(".old-*"):  # only now is a newer complete checkpoint named by LATEST
        shutil.rmtree(stale, ignore_errors=True)
    return final


_STEP_CACHE: dict[tuple[str, int, int], int] = {}


def checkpoint_step(path: str | Path) -> int:
    """The global step recorded in ``path/state.json`` (-1 when it is unreadable)."""
    file = Path(path) / "state.json"
    try:
        st = file.stat()
    except OSError:
        return -1
    key = (str(file), st.st_mtime_ns, st.st_size)
    if key not in _STEP_CACHE:
        try:
            step = json.loads(file.read_text(encoding="utf-8")).get("step")
        except (OSError, ValueError, AttributeError):
            step = None
        if len(_STEP_CACHE) > 4096:
            _STEP_CACHE.clear()
        _STEP_CACHE[key] = step if isinstance(step, int) and not isinstance(step, bool) else -1
    return _STEP_CACHE[key]


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoint directories (those with a ``state.json``), ordered by the global step
    recorded in their ``state.json`` (lowest first; an unreadable one counts as step -1)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.name.isdigit() and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: (checkpoint_step(p), int(p.name)))


def has_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` (a ``checkpoints`` folder) holds a checkpoint or a ``LATEST`` pointer."""
    directory = Path(directory)
    return (directory / "LATEST").is_file() or bool(list_checkpoints(directory))


def latest_checkpoint(directory: str | Path) -> Path:
    """The checkpoint named by ``directory/LATEST``.

    Raises:
        CheckpointError: when there is no checkpoint or ``LATEST`` names a missing one.
    """
    directory = Path(directory)
    pointer = directory / "LATEST"
    if pointer.is_file():
        target = directory / pointer.read_text(encoding="utf-8").strip()
        if (target / "state.json").is_file():
            return target
        # killed while replacing a re-saved step: the previous copy is still complete
        for old in sorted(directory.glob(f".old-{target.name}-*")):
            if (old / "state.json").is_file():
                return old
        raise CheckpointError(f"{pointer} names {target.name!r}, which is missing or incomplete")
    found = list_checkpoints(directory)
    if not found:
        raise CheckpointError(f"no checkpoint in {directory} (expected {directory / 'LATEST'})")
    return found[-1]


def load_checkpoint(path: str | Path) -> CheckpointData:
    """Read and verify a checkpoint directory (or a run/checkpoints directory: its ``LATEST``).

    Raises:
        CheckpointError: missing files, checksum mismatch or unreadable content.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints"
    if not (path / "state.json").is_file():
        path = latest_checkpoint(path)
    state_file, digest_file = path / "state.json", path / STATE_DIGEST
    try:
        state_bytes = state_file.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{state_file} is unreadable: {e}") from None
    if digest_file.is_file():
        expected = digest_file.read_text(encoding="ascii", errors="replace").split(" ")[0].strip()
        got = sha256_bytes(state_bytes)
        if got != expected:
            raise CheckpointError(
                f"{state_file} was modified or is corrupt: its SHA-256 is {got[:16]}..., {digest_file.name} "
                f"records {expected[:16]}...; restore the file or resume from another checkpoint"
            )
    try:
        state = json.loads(state_bytes.decode("utf-8"))
    except ValueError as e:
        raise CheckpointError(f"{state_file} is unreadable: {e}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{state_file} is not an an2dl checkpoint")
    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise CheckpointError(f"{state_file} has format version {version!r}; expected an integer from 1 to {VERSION}")
    if version >= 2 and not digest_file.is_file():
        raise CheckpointError(
            f"checkpoint {path} lacks {STATE_DIGEST} (format version {version} records the SHA-256 of state.json there)"
        )
    tables = []
    for name in TENSOR_FILES:
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path} lacks {name}")
        expected = state.get("files", {}).get(name)
        if expected is not None and sha256_file(file) != expected:
            raise CheckpointError(f"{file} is corrupt (SHA-256 differs from the one recorded in state.json)")
        try:
            # load_file, not load(bytes): its tensors own writable memory (optimizer and metric states are updated in place)
            tables.append(load_file(str(file)))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{file} is unreadable: {e}") from None
    return CheckpointData(path=path, model=tables[0], optimizer=tables[1], tensors=tables[2], state=state)

