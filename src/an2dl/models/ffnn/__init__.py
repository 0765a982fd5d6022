"""Feed-forward networks of the notes' chapters 1–2: the Perceptron and the multi-layer perceptron."""

from .mlp import MLP, OUTPUT_ACTIVATIONS, OUTPUT_FOR_TASK, DenseBlock, mlp
from .perceptron import HebbianResult, Perceptron, hebbian_update, perceptron, to_pm1

__all__ = [
    "MLP",
    "OUTPUT_ACTIVATIONS",
    "OUTPUT_FOR_TASK",
    "DenseBlock",
    "HebbianResult",
    "Perceptron",
    "hebbian_update",
    "mlp",
    "perceptron",
    "to_pm1",
]
