"""Recipe configurations: nested dataclasses, files and ``--set`` overrides (DESIGN §8).

A recipe's settings are a dataclass whose fields are plain values or nested
dataclasses.  :func:`resolve` starts from the defaults, merges a config file
(JSON, TOML or YAML) and then ``key.sub=value`` overrides, converting every
value to the field's declared type and rejecting unknown keys with the
closest known ones.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Union

from ..engine.callbacks import Callback, Checkpoint, EarlyStopping, GradientClipping, Timer
from ..errors import ConfigError
from ..registry import close_matches

__all__ = [
    "TrainerConfig",
    "CheckpointConfig",
    "EarlyStoppingConfig",
    "ClipConfig",
    "RunSettings",
    "trainer_kwargs",
    "to_dict",
    "from_dict",
    "upgrade_stored",
    "apply_overrides",
    "load_config_file",
    "resolve",
    "check_fractions",
    "standard_callbacks",
]


# ------------------------------------------------------------------ shared pieces
@dataclasses.dataclass
class TrainerConfig:
    """Settings of the :class:`~an2dl.engine.Trainer` (see its docstring)."""

    max_epochs: int | None = 10  # epochs to train
    max_steps: int | None = None  # or optimiser steps (whichever ends first)
    batch_size: int = 32  # global mini-batch size
    eval_batch_size: int | None = None  # default: 2 x batch_size
    accumulate_grad_batches: int = 1  # micro-batches per optimiser step
    val_every_n_epochs: int | None = 1  # validation frequency in epochs
    val_every_n_steps: int | None = None  # or in optimiser steps
    seed: int = 0  # every random draw derives from it
    accelerator: str = "auto"  # "cpu", "gpu", "auto" (Lightning Fabric)
    devices: int = 1  # processes/devices; >1 with strategy "ddp"
    num_nodes: int = 1  # machines; devices x num_nodes processes in all (torchrun, SLURM)
    strategy: str = "auto"  # "auto", "ddp", "fsdp" (sharded: docs/scaling.md)
    precision: str = "32-true"  # "32-true", "bf16-mixed", "16-mixed", "64-true"; "auto": bf16-mixed where native
    num_workers: int = 0  # DataLoader worker processes
    channels_last: bool = False  # NHWC layout of 4-D weights and batches (faster convolutions on GPUs, oneDNN)
    compile: bool = False  # torch.compile the task's modules for the fit
    time_budget_s: float | None = None  # stop training after this many seconds


def trainer_kwargs(tc: TrainerConfig) -> dict[str, Any]:
    """``tc`` as keyword arguments of :class:`~an2dl.engine.Trainer` (``time_budget_s`` becomes the Timer callback)."""
    kw = dataclasses.asdict(tc)
    kw.pop("time_budget_s", None)
    return kw


@dataclasses.dataclass
class CheckpointConfig:
    """When to save checkpoints and how many to keep."""

    every_n_epochs: int | None = 1  # save at the end of every n-th epoch
    every_n_steps: int | None = None  # also every n optimiser steps (mid-epoch too)
    keep_last: int = 1  # most recent checkpoints kept
    keep_best: int = 0  # best checkpoints by `monitor` kept as well
    monitor: str = "val/loss"  # ranking metric for keep_best
    mode: str = "min"  # "min" or "max"


@dataclasses.dataclass
class EarlyStoppingConfig:
    """Early stopping on a validation metric (notes §2.5.2)."""

    enabled: bool = False  # add the EarlyStopping callback
    monitor: str = "val/loss"  # watched metric
    patience: int = 5  # validations in a row without improvement after which training stops (Keras)
    min_delta: float = 0.0  # smallest change that counts as improvement
    mode: str = "min"  # "min" for losses, "max" for accuracies
    restore_best_weights: bool = True  # end with the best validation weights


@dataclasses.dataclass
class ClipConfig:
    """Gradient clipping (both ``None``: off)."""

    max_norm: float | None = None  # clip the global L2 norm of the gradients
    max_value: float | None = None  # or clamp every gradient element


@dataclasses.dataclass
class RunSettings:
    """The run-settings groups every training recipe shares: ``trainer``, ``checkpoint``, ``early_stopping``, ``clip``.

    A recipe's config inherits them (``class MyConfig(RunSettings)``) and
    re-declares a group only to change its default, e.g.
    ``clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))``;
    :func:`standard_callbacks` turns them into callbacks.
    """

    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    early_stopping: EarlyStoppingConfig = dataclasses.field(default_factory=EarlyStoppingConfig)
    clip: ClipConfig = dataclasses.field(default_factory=ClipConfig)


def standard_callbacks(cfg: Any) -> list[Callback]:
    """Callbacks for the standard fields of a recipe config (checkpoint, early_stopping, clip, trainer)."""
    cbs: list[Callback] = []
    ck = getattr(cfg, "checkpoint", None)
    if isinstance(ck, CheckpointConfig):
        cbs.append(Checkpoint(**dataclasses.asdict(ck)))
    es = getattr(cfg, "early_stopping", None)
    if isinstance(es, EarlyStoppingConfig) and es.enabled:
        kw = dataclasses.asdict(es)
        kw.pop("enabled")
        cbs.append(EarlyStopping(kw.pop("monitor"), **kw))
    clip = getattr(cfg, "clip", None)
    if isinstance(clip, ClipConfig) and (clip.max_norm is not None or clip.max_value is not None):
        cbs.append(GradientClipping(max_norm=clip.max_norm, max_value=clip.max_value))
    tr = getattr(cfg, "trainer", None)
    if isinstance(tr, TrainerConfig) and tr.time_budget_s is not None:
        cbs.append(Timer(max_seconds=tr.time_budget_s))
    return cbs


# ------------------------------------------------------------------ dict conversion
def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-compatible dict of a config dataclass (tuples become lists).

    The recipe's own groups come first and the shared :class:`RunSettings` groups last.
    """
    data = json.loads(json.dumps(dataclasses.asdict(cfg)))
    if isinstance(cfg, RunSettings):
        shared = [f.name for f in dataclasses.fields(RunSettings)]
        data = {**{k: v for k, v in data.items() if k not in shared}, **{k: data[k] for k in shared}}
    return data


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(t: Any) -> bool:
    return isinstance(t, type) and dataclasses.is_dataclass(t)


def _strip_optional(t: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(t)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return t, False


def _convert(value: Any, t: Any, key: str) -> Any:
    """Convert a value from JSON/TOML/YAML or an override string to type ``t``."""
    inner, optional = _strip_optional(t)
    if value is None:
        if optional or t is Any:
            return None
        raise ConfigError(f"{key} cannot be null; expected {_type_name(t)}")
    if isinstance(value, str) and optional and value.lower() in ("none", "null"):
        return None
    t = inner
    if t is Any:
        return value
    if _is_dataclass_type(t):
        if isinstance(value, t):
            return value
        if isinstance(value, str):
            value = _parse_json(value, key, t)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of {t.__name__} fields; got {value!r}")
        return from_dict(t, value, prefix=key)
    origin = typing.get_origin(t)
    if t is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key} must be a boolean (true/false); got {value!r}")
    if t is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be an integer; got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be an integer; got {value!r}")
    if t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number; got {value!r}")
    if t is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string; got {value!r}")
    if origin in (list, tuple, dict):
        if isinstance(value, str):
            value = _parse_json(value, key, t)
        args = typing.get_args(t)
        if origin is dict:
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a mapping; got {value!r}")
            vt = args[1] if len(args) == 2 else Any
            return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list; got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key} must have {len(args)} items; got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        et = args[0] if args else Any
        items = [_convert(v, et, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if typing.get_origin(t) is typing.Literal:
        if value not in typing.get_args(t):
            raise ConfigError(f"{key} must be one of {list(typing.get_args(t))}; got {value!r}")
        return value
    return value


def _parse_json(text: str, key: str, t: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(f"{key} expects {_type_name(t)} written as JSON (e.g. [1, 2] or {{\"a\": 1}}); got {text!r}") from None


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


def upgrade_stored(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """A run's stored settings (``config.json``) in the layout of today's ``cls``.

    Settings that recipes once kept at the top level move into their group:
    a key that ``cls`` lacks but its ``trainer`` group has (``max_epochs``,
    ``seed``, ``batch_size`` of older runs) becomes ``trainer.<key>``, and
    ``cls.moved_settings`` (``{"old": "group.new"}``) names the other moves.
    A value already given under the new name wins.  What a move cannot say
    (a setting folded into another) ``cls.stored_upgrade(data) -> data`` does,
    when the class defines it.
    """
    data = dict(data)
    top = _field_names(cls)
    trainer = next((f for f in dataclasses.fields(cls) if f.name == "trainer"), None)
    trainer_fields = _field_names(_hints(cls)["trainer"]) if trainer is not None else set()
    moves = {k: f"trainer.{k}" for k in data if k not in top and k in trainer_fields}
    moves.update({k: v for k, v in getattr(cls, "moved_settings", {}).items() if k in data and k not in top})
    for old, new in moves.items():
        group, _, key = new.rpartition(".")
        value = data.pop(old)
        target = dict(data.get(group) or {})
        target.setdefault(key, value)
        data[group] = target
    upgrade = getattr(cls, "stored_upgrade", None)
    return upgrade(data) if upgrade is not None else data


def from_dict(cls: type, data: dict[str, Any], *, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a (partial) dict; missing fields take their defaults.

    Raises:
        ConfigError: unknown keys (with close matches) or values of the wrong type.
    """
    return _merge(cls(), data, prefix)


def _merge(cfg: Any, data: dict[str, Any], prefix: str = "") -> Any:
    """A copy of ``cfg`` with the values in ``data`` (nested dicts merge into nested dataclasses)."""
    hints = _hints(type(cfg))
    names = [f.name for f in dataclasses.fields(cfg)]
    changes = {}
    for k, v in data.items():
        full = f"{prefix}.{k}" if prefix else k
        if k not in names:
            # a setting of a group (`max_epochs` for `trainer.max_epochs`) is named with its group
            nested = [f"{prefix + '.' if prefix else ''}{n}.{k}" for n in names
                      if dataclasses.is_dataclass(getattr(cfg, n)) and k in _field_names(getattr(cfg, n))]
            near = nested or close_matches(k, names)
            hint = f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(names)}"
            raise ConfigError(f"unknown setting {full!r}{hint}")
        current = getattr(cfg, k)
        if dataclasses.is_dataclass(current) and isinstance(v, dict):
            changes[k] = _merge(current, v, full)
        else:
            changes[k] = _convert(v, hints[k], full)
    try:
        return dataclasses.replace(cfg, **changes)
    except ConfigError as e:
        raise ConfigError(f"{prefix + ': ' if prefix else ''}{e}") from None


def apply_overrides(cfg: Any, overrides: Iterable[str]) -> Any:
    """Apply ``["a.b=value", ...]`` to a config dataclass; values are parsed by field type."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. trainer.max_epochs=5); got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set expects KEY=VALUE; got {item!r}")
        nested: dict[str, Any] = {}
        node = nested
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = raw
        # a dataclass-typed field set as a whole must be given as JSON
        cfg = _merge(cfg, nested)
    return cfg


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON, TOML or YAML file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"config file {path} must end in .json, .toml, .yaml or .yml")
    except ConfigError:
        raise
    except Exception as e:  # parser errors of three libraries
        raise ConfigError(f"config file {path} is not valid {suffix[1:].upper()}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


#: settings checked by :func:`check_fractions` wherever they appear: held-out shares of a data set
HELD_OUT_FRACTIONS = ("val_fraction", "test_fraction")


def check_fractions(cfg: Any, prefix: str = "") -> None:
    """Check every ``val_fraction``/``test_fraction`` of ``cfg`` and its nested settings.

    Each must be a finite number in [0, 1), and those of one group must sum
    to less than 1, so that a bad value is reported under its setting name
    (``data.val_fraction``) before any data is loaded.

    Raises:
        ConfigError: naming the setting, the expected range and the value received.
    """
    given = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        full = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_fractions(value, f"{full}.")
        elif f.name in HELD_OUT_FRACTIONS and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"{full} must be a number in [0, 1); got {value!r}")
            given.append((full, value))
    if len(given) > 1 and sum(v for _, v in given) >= 1:
        names = " + ".join(n for n, _ in given)
        raise ConfigError(f"{names} must be less than 1 (the rest is the training set); "
                          f"got {' + '.join(repr(v) for _, v in given)} = {sum(v for _, v in given):.4g}")


def resolve(cls_or_cfg: Any, *, config_file: str | Path | None = None, overrides: Iterable[str] = ()) -> Any:
    """Defaults, then ``config_file``, then ``overrides``; the held-out fractions are checked (:func:`check_fractions`)."""
    cfg = cls_or_cfg() if isinstance(cls_or_cfg, type) else cls_or_cfg
    if config_file is not None:
        cfg = _merge(cfg, load_config_file(config_file))
    cfg = apply_overrides(cfg, overrides)
    check_fractions(cfg)
    return cfg

