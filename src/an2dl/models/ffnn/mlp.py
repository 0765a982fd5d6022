"""The multi-layer perceptron, a fully connected feed-forward network (notes §2.1–§2.3).

Layout, for ``hidden=(n_1, ..., n_L)``::

    input [B, *] flattened to [B, in_features]
    features.l   Linear(n_{l-1}, n_l) -> [BatchNorm1d] -> activation g -> [Dropout]   l = 0 .. L-1
    classifier   Linear(n_L, num_outputs)                                  -> z, the output pre-activation
    output       the output activation of the task (applied by ``output()``)

The hidden activation is one of Table 2.1 (``linear``, ``sigmoid``, ``tanh``,
``relu``, ``leaky_relu``, ``elu``).  The output activation follows the task
(notes §2.2, "Output layers"): ``linear`` for regression, ``sigmoid`` (or
``tanh``) for binary classification, ``softmax`` for several classes; see
:data:`OUTPUT_FOR_TASK`.  Batch normalisation sits after the linear map and
before the activation, as the notes place it (§2.3.2); dropout after the
activation (§2.5.4).

Departure, the PyTorch convention: ``forward`` returns ``z``, the output
layer *before* its activation, so that the losses can use the stable
log-sum-exp forms (cross-entropy and BCE "from logits"); ``output(x)`` returns
the notes' ``y = g_out(z)``.  ``cross_entropy(forward(x), t)`` equals the
notes' cross-entropy of ``output(x)`` (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...nn.activations import ACTIVATIONS, activation_module, get_activation, softmax
from ...nn.batchnorm import BatchNorm1d
from ...nn.dropout import DROPOUT_MODES, Dropout
from ...nn.init import INIT_SCHEMES, initialize
from .._checks import check_positive_int, check_probability
from .._registry import register_model

__all__ = ["MLP", "DenseBlock", "OUTPUT_ACTIVATIONS", "OUTPUT_FOR_TASK", "mlp"]

#: output activations an MLP accepts
OUTPUT_ACTIVATIONS = ("linear", "sigmoid", "tanh", "softmax")

#: the notes' output layer for each kind of task (§2.2)
OUTPUT_FOR_TASK = {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}



class DenseBlock(nn.Module):
    """One hidden layer: ``Linear -> [BatchNorm1d] -> g -> [Dropout]``.

    Args:
        in_features, out_features: sizes of the linear map.
        activation: a Table 2.1 name.
        alpha: the ELU's α.
        batch_norm: normalise the pre-activations (§2.3.2).
        dropout: dropout probability after the activation (0: none).
        dropout_mode: ``"inverted"`` or ``"weight_scaling"`` (§2.5.4).

    Shape: ``[B, in_features]`` -> ``[B, out_features]``.
    """

    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        activation: str = "relu",
        alpha: float = 1.0,
        batch_norm: bool = False,
        dropout: float = 0.0,
        dropout_mode: str = "inverted",
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.norm = BatchNorm1d(out_features) if batch_norm else nn.Identity()
        self.act = activation_module(activation, alpha=alpha)
        self.dropout = Dropout(dropout, mode=dropout_mode) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.act(self.norm(self.linear(x))))


class MLP(nn.Module):
    """Multi-layer perceptron of any depth and width (notes §2.1).

    Args:
        in_features: number of inputs (the input is flattened to ``[B, in_features]``).
        hidden: widths of the hidden layers, e.g. ``(128, 64)``; ``()`` gives a
            single linear (or logistic / softmax) layer.
        num_outputs: units of the output layer.
        activation: hidden activation, a name of Table 2.1.
        alpha: α of the ELU.
        output: output activation, one of :data:`OUTPUT_ACTIVATIONS` (see
            :data:`OUTPUT_FOR_TASK`); ``softmax`` needs ``num_outputs >= 2``.
        dropout: dropout probability after every hidden activation, in [0, 1).
        dropout_mode: ``"inverted"`` or the notes' ``"weight_scaling"``.
        batch_norm: batch normalisation before every hidden activation.
        init: a scheme of :mod:`an2dl.nn.init` (``zero``, ``small``, ``large``,
            ``xavier``, ``glorot``, ``he``) for every linear layer, biases 0;
            ``None`` keeps PyTorch's default (uniform, bound ``1/sqrt(n_in)``).

    Shape:
        input ``[B, *]`` with ``in_features`` values per sample; ``forward``
        returns the pre-activation ``z [B, num_outputs]``, ``output`` returns
        ``g_out(z)``.
    """

    def __init__(
        self,
        *,
        in_features: int,
        hidden: Sequence[int] = (128,),
        num_outputs: int = 10,
        activation: str = "relu",
        alpha: float = 1.0,
        output: str = "softmax",
        dropout: float = 0.0,
        dropout_mode: str = "inverted",
        batch_norm: bool = False,
        init: str | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("MLP", "in_features", in_features)
        check_positive_int("MLP", "num_outputs", num_outputs)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ConfigError(f"MLP hidden must be a sequence of layer widths, e.g. [128, 64]; got {hidden!r}")
        for i, h in enumerate(hidden):
            check_positive_int("MLP", f"hidden[{i}]", h)
        if activation not in ACTIVATIONS:
            raise ConfigError(f"MLP activation must be one of {list(ACTIVATIONS)}; got {activation!r}")
        get_activation(activation, alpha=alpha)  # validates alpha
        if output not in OUTPUT_ACTIVATIONS:
            raise ConfigError(f"MLP output must be one of {list(OUTPUT_ACTIVATIONS)}; got {output!r}")
        if output == "softmax" and num_outputs < 2:
            raise ConfigError(f"MLP output='softmax' needs num_outputs >= 2; got {num_outputs} (use 'sigmoid' for one unit)")
        check_probability("MLP", "dropout", dropout)
        if dropout_mode not in DROPOUT_MODES:
            raise ConfigError(f"MLP dropout_mode must be one of {list(DROPOUT_MODES)}; got {dropout_mode!r}")
        if init is not None and init not in INIT_SCHEMES:
            raise ConfigError(f"MLP init must be one of {list(INIT_SCHEMES)} or None; got {init!r}")
        self.in_features, self.num_outputs = in_features, num_outputs
        self.hidden = tuple(hidden)
        self.activation, self.alpha, self.output_activation = activation, float(alpha), output
        self.dropout_p, self.dropout_mode, self.batch_norm = float(dropout), dropout_mode, bool(batch_norm)
        widths = [in_features, *hidden]
        self.features = nn.Sequential(
            *(
                DenseBlock(
                    in_features=widths[i], out_features=widths[i + 1], activation=activation, alpha=alpha,
                    batch_norm=batch_norm, dropout=dropout, dropout_mode=dropout_mode,
                )
                for i in range(len(hidden))
            )
        )
        self.num_features = widths[-1]
        self.classifier = nn.Linear(self.num_features, num_outputs)
        if init is not None:
            initialize(self, init)

    # ---------------------------------------------------------------- interface
    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        per_sample = math.prod(x.shape[1:]) if x.dim() >= 1 else 0
        if x.dim() < 2 or per_sample != self.in_features:
            raise ValueError(
                f"MLP expects input [B, ...] with {self.in_features} values per sample; got shape {list(x.shape)}"
            )
        return x.reshape(x.shape[0], self.in_features)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layers: ``[B, *]`` -> ``[B, num_features]`` (the last hidden layer's output)."""
        return self.features(self._flatten(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The output layer's pre-activation ``z``: ``[B, num_features]`` -> ``[B, num_outputs]``."""
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output ``y = g_out(z)`` with the task's output activation (notes §2.2)."""
        return self.apply_output(self(x))

    def apply_output(self, z: torch.Tensor) -> torch.Tensor:
        """``g_out(z)``: identity, sigmoid, tanh or softmax over the last dimension."""
        if self.output_activation == "softmax":
            return softmax(z, dim=-1)
        if self.output_activation == "sigmoid":
            return torch.sigmoid(z)
        if self.output_activation == "tanh":
            return torch.tanh(z)
        return z

    def linear_layers(self) -> list[nn.Linear]:
        """The linear maps from input to output, in order (``L + 1`` of them)."""
        return [block.linear for block in self.features] + [self.classifier]

    def reset_classifier(self, num_outputs: int) -> None:
        """Replace the output layer with a freshly initialised one of ``num_outputs`` units."""
        check_positive_int("MLP", "num_outputs", num_outputs)
        if self.output_activation == "softmax" and num_outputs < 2:
            raise ConfigError(f"output='softmax' needs num_outputs >= 2; got {num_outputs}")
        self.num_outputs = num_outputs
        self.classifier = nn.Linear(self.num_features, num_outputs)


@register_model("mlp", input_shape=(1, 8, 8))
def mlp(
    *,
    in_features: int = 64,
    hidden: Sequence[int] = (128,),
    num_outputs: int = 10,
    activation: str = "relu",
    alpha: float = 1.0,
    output: str = "softmax",
    dropout: float = 0.0,
    dropout_mode: str = "inverted",
    batch_norm: bool = False,
    init: str | None = None,
) -> MLP:
    """Multi-layer perceptron of any depth and width (notes §2.1); defaults fit the 8×8 digits."""
    return MLP(
        in_features=in_features, hidden=tuple(hidden), num_outputs=num_outputs, activation=activation, alpha=alpha,
        output=output, dropout=dropout, dropout_mode=dropout_mode, batch_norm=batch_norm, init=init,
    )
