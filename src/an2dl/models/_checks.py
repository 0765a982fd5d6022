"""Argument checks shared by the model families (zoo, generative, ffnn, sequence)."""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["check_positive_int", "check_probability"]


def check_positive_int(owner: str, name: str, value: object) -> int:
    """``value`` if it is a positive ``int`` (not a bool); otherwise a :class:`ConfigError` naming ``owner`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner} {name} must be a positive integer; got {value!r}")
    return value


def check_probability(owner: str, name: str, value: object) -> float:
    """``value`` as a float if it is a number in [0, 1); otherwise a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner} {name} must be a number in [0, 1); got {value!r}")
    return float(value)
