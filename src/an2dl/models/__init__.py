"""Models, grouped by chapter of the notes; every family registers its builders."""

from ._registry import (
    MODELS,
    example_inputs,
    get_model,
    list_models,
    load_weights,
    model_spec,
    register_model,
)

__all__ = ["MODELS", "example_inputs", "get_model", "list_models", "load_weights", "model_spec", "register_model"]
