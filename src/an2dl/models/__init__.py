"""Models, grouped by chapter of the notes; every family registers its builders.

``get_model(name, **kwargs)`` builds any registered model, ``list_models()`` lists
them; ``an2dl list models`` shows each with its parameters and FLOPs.
"""

from ._registry import (
    MODELS,
    example_inputs,
    get_model,
    list_models,
    load_weights,
    model_spec,
    register_model,
)
from .classic import KNNClassifier, LinearClassifier
from .summary import ModelSummary, count_flops, count_parameters, summarize
from .transfer import TransferHead, freeze, transfer, unfreeze
from .weights import download_weights, read_state_dict, weights_cache_dir

__all__ = [
    "KNNClassifier", "LinearClassifier", "MODELS", "ModelSummary", "TransferHead", "count_flops", "count_parameters",
    "download_weights", "example_inputs", "freeze", "get_model", "list_models", "load_weights",
    "model_spec", "read_state_dict", "register_model", "summarize", "transfer", "unfreeze", "weights_cache_dir",
]
