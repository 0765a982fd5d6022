"""The model registry: ``get_model(name, **kwargs)`` and ``list_models()`` (DESIGN §8).

A model builder is a function registered with :func:`register_model`; it takes
keyword-only constructor arguments and returns an ``nn.Module``.  ``get_model``
records the name and the arguments on the model (``model.an2dl_spec``) so
that an exported model can be rebuilt without pickle (``an2dl.load``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..registry import Registry

__all__ = ["MODELS", "register_model", "get_model", "list_models", "model_spec", "example_inputs"]

MODELS: Registry[Callable[..., nn.Module]] = Registry("model", "an2dl.models")
_EXAMPLES: dict[str, Any] = {}


def register_model(
    name: str | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    example: Callable[[int], tuple[Any, ...]] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model builder under ``name`` (default: the function's name).

    Args:
        input_shape: shape of one float input without the batch dimension,
            e.g. ``(3, 224, 224)``, at the model's default resolution.
        example: for other inputs, ``example(batch_size) -> tuple`` of
            forward arguments (token ids, several tensors, ...).

    One of the two tells tests, summaries and exports how to call the model
    (:func:`example_inputs`).
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or fn.__name__
        MODELS.register(key)(fn)
        if example is not None:
            _EXAMPLES[key] = example
        elif input_shape is not None:
            _EXAMPLES[key] = tuple(input_shape)
        return fn

    return deco


def example_inputs(name: str, batch_size: int = 2, *, generator: Any = None) -> tuple[Any, ...]:
    """Example forward arguments for registered model ``name`` at its default settings.

    Raises:
        ConfigError: the model was registered without ``input_shape`` or ``example``.
    """
    import torch

    MODELS.get(name)
    spec = _EXAMPLES.get(name)
    if spec is None:
        raise ConfigError(f"model {name!r} was registered without input_shape or example")
    if callable(spec):
        return tuple(spec(batch_size))
    return (torch.rand(batch_size, *spec, generator=generator),)


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON-serialisable ``kwargs`` as JSON gives them back (tuples become lists); the others are dropped."""
    return {k: json.loads(json.dumps(v)) for k, v in kwargs.items() if _is_json(v)}


def _is_json(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def get_model(name: str, *, weights: str | Path | None = None, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs``.

    Args:
        name: registry name, e.g. ``"lenet5"``.
        weights: optional ``.safetensors`` or ``.pth`` path, or URL (a
            ``#sha256=HEX`` fragment verifies the download), loaded strictly by
            :func:`an2dl.models.weights.load_weights`.
        **kwargs: the builder's keyword arguments (``num_classes``, ``in_channels``, ...).

    Raises:
        UnknownNameError: unknown ``name`` (the message lists close matches).
        ConfigError: bad keyword arguments.
    """
    builder = MODELS.get(name)
    try:
        model = builder(**kwargs)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from None
    model.an2dl_spec = {"name": name, "kwargs": _jsonable(kwargs)}
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a ``.safetensors``/``.pth`` file or URL into ``model`` strictly (see :mod:`an2dl.models.weights`)."""
    from .weights import load_weights as _load_weights

    return _load_weights(model, path)


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, optionally filtered by a glob or substring ``pattern`` (:func:`an2dl.registry.match_names`)."""
    return MODELS.names(pattern)


def model_spec(model: nn.Module) -> dict[str, Any]:
    """The ``{"name", "kwargs"}`` recorded by :func:`get_model`.

    Raises:
        ConfigError: the model was not built through ``get_model``.
    """
    spec = getattr(model, "an2dl_spec", None)
    if spec is None:
        raise ConfigError(f"{type(model).__name__} was not built with an2dl.get_model; it cannot be exported by name")
    return spec
