"""Named registries for models, datasets and recipes (DESIGN §8).

A :class:`Registry` maps a name to a factory.  Registering a name twice is an
error; looking up an unknown name raises :class:`~an2dl.errors.UnknownNameError`
listing the closest known names.  Registries fill themselves lazily by importing
every module of their home package the first time they are read, so adding a
model or recipe is one decorated function in a new file.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import ConfigError, UnknownNameError

__all__ = ["Registry", "close_matches", "match_names"]

T = TypeVar("T")


def close_matches(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``name`` (prefix and fuzzy matches)."""
    prefix = [c for c in candidates if c.startswith(name) or name.startswith(c)]
    fuzzy = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    out: list[str] = []
    for c in fuzzy + sorted(prefix, key=len):
        if c not in out:
            out.append(c)
    return out[:n]


def match_names(names: list[str], pattern: str | None) -> list[str]:
    """The ``names`` that match ``pattern``, in their order.

    A pattern with a glob character (``*``, ``?``, ``[``) is a glob over the
    whole name (``resnet*``); any other pattern matches names that contain it,
    ignoring case (``resnet`` finds ``resnet18`` and ``wide_resnet50_2``).
    ``None`` or an empty pattern matches every name.
    """
    if not pattern:
        return list(names)
    if any(c in pattern for c in "*?["):
        return [n for n in names if fnmatch.fnmatch(n, pattern)]
    needle = pattern.lower()
    return [n for n in names if needle in n.lower()]


class Registry(Generic[T]):
    """A name -> object table with lazy discovery.

    Args:
        kind: what is registered ("model", "dataset", "recipe"); used in messages.
        package: dotted name of the package whose modules register entries on import.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}
        self._loaded = package is None

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not isinstance(key, str) or not key:
                raise ConfigError(f"cannot register a {self.kind} without a name; got {obj!r}")
            if key in self._entries and self._entries[key] is not obj:
                raise ConfigError(f"{self.kind} {key!r} is already registered; names must be unique")
            self._entries[key] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` (non-decorator form)."""
        return self.register(name)(obj)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)  # type: ignore[arg-type]
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            leaf = info.name.rsplit(".", 1)[-1]
            if not leaf.startswith("_"):
                importlib.import_module(info.name)

    def get(self, name: str) -> T:
        """The entry registered as ``name``; unknown names list the closest matches."""
        self._load()
        if not isinstance(name, str):
            raise ConfigError(f"{self.kind} name must be a string; got {type(name).__name__} {name!r}")
        try:
            return self._entries[name]
        except KeyError:
            near = close_matches(name, list(self._entries))
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (`an2dl list {self.kind}s` shows all)"
            ) from None

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by ``pattern`` (a glob, or a substring: :func:`match_names`)."""
        self._load()
        return match_names(sorted(self._entries), pattern)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        self._load()
        return sorted(self._entries.items())
