"""The Perceptron and its Hebbian learning rule (notes §1.3.1, §2.4.1; Rosenblatt 1958).

The output of the unit is ``h(x|w) = sign(Σ_{i=0}^{I} w_i x_i) = sign(wᵀx)``,
where the bias is the weight ``w_0`` of a constant input ``x_0 = 1`` (the
notes write ``Σ_i w_i x_i - b``, i.e. ``w_0 = -b``).  The decision boundary is
the hyperplane ``wᵀx = 0``.

Hebbian learning, as in the notes: initialise the weights randomly, then for
each sample that is misclassified apply ``w ← w + η t x``; repeat over the
data until an epoch makes no mistake or ``max_epochs`` is reached.  By the
perceptron convergence theorem this ends for linearly separable data (AND,
OR, NAND) and never for XOR.

Labels are -1 and +1 (the sign's values); 0/1 labels must be mapped first
with :func:`to_pm1`, which is explicit rather than guessed.  ``sign(0) = 0``:
a point on the boundary belongs to neither class and counts as a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int
from .._registry import register_model

__all__ = ["Perceptron", "HebbianResult", "hebbian_update", "to_pm1", "perceptron"]


def to_pm1(labels: torch.Tensor) -> torch.Tensor:
    """Map 0/1 labels to the perceptron's -1/+1 (``t = 2y - 1``).

    Raises:
        ValueError: a label other than 0 or 1.
    """
    labels = torch.as_tensor(labels)
    bad = ~((labels == 0) | (labels == 1))
    if bool(bad.any()):
        raise ValueError(f"to_pm1 expects labels 0 or 1; got {sorted(set(labels[bad].tolist()))[:5]}")
    return labels.to(torch.get_default_dtype()) * 2 - 1


def _check_targets(t: torch.Tensor, n: int) -> torch.Tensor:
    t = torch.as_tensor(t)
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"targets must have shape [{n}] (one per sample); got {list(t.shape)}")
    bad = ~((t == 1) | (t == -1))
    if bool(bad.any()):
        hint = " (0/1 labels: map them with to_pm1)" if bool(((t == 0) | (t == 1)).all()) else ""
        raise ValueError(f"perceptron targets must be -1 or +1; got values {sorted(set(t[bad].tolist()))[:5]}{hint}")
    return t


def hebbian_update(w: torch.Tensor, x: torch.Tensor, t: float | torch.Tensor, lr: float) -> torch.Tensor:
    """One Hebbian step ``w^{(k+1)} = w^{(k)} + η x^{(k)} t^{(k)}`` (notes §1.3.1); returns the new ``w``.

    Shape: ``w`` and ``x`` ``[I + 1]`` (``x`` augmented with ``x_0 = 1``).
    """
    return w + lr * t * x


@dataclass
class HebbianResult:
    """What :meth:`Perceptron.fit_hebbian` did.

    Attributes:
        converged: an epoch ended without mistakes.
        epochs: epochs run.
        updates: weight updates made (one per misclassified sample seen).
        mistakes: mistakes made during each epoch.
        weights: the weights after each epoch, ``[epochs + 1, I + 1]`` (row 0: initial).
    """

    converged: bool
    epochs: int
    updates: int
    mistakes: list[int] = field(default_factory=list)
    weights: torch.Tensor | None = None


class Perceptron(nn.Module):
    """A single threshold unit ``h(x|w) = sign(wᵀx)`` with the bias as ``w_0`` (notes §1.3.1).

    Args:
        in_features: I, the number of inputs (without ``x_0``).
        init_std: the initial weights are drawn from ``N(0, init_std²)``
            ("initialise weights randomly"); 0 starts from ``w = 0``.
        generator: source of the initial weights.

    Attributes:
        weight: ``[I + 1]``, ``weight[0]`` is ``w_0`` (the bias, ``-b`` in the notes).

    Shape:
        ``forward``: ``x [B, I]`` -> ``wᵀx [B]`` (the activation before the sign);
        ``predict``: ``x [B, I]`` -> ``[B]`` in {-1, 0, +1}.
    """

    def __init__(self, *, in_features: int = 2, init_std: float = 0.01, generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_positive_int("Perceptron", "in_features", in_features)
        if not isinstance(init_std, (int, float)) or init_std < 0:
            raise ConfigError(f"Perceptron init_std must be a number >= 0; got {init_std!r}")
        self.in_features = in_features
        self.weight = nn.Parameter(torch.randn(in_features + 1, generator=generator) * init_std)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, I]`` -> ``[B, I + 1]`` with the constant input ``x_0 = 1`` in front."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Perceptron expects inputs of shape [B, {self.in_features}]; got {list(x.shape)}")
        return torch.cat([torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device), x], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.augment(x) @ self.weight.to(x.dtype)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``sign(wᵀx)`` in {-1, 0, +1} (0: on the decision boundary)."""
        with torch.no_grad():
            return torch.sign(self(x))

    def accuracy(self, x: torch.Tensor, t: torch.Tensor) -> float:
        """Fraction of samples with ``sign(wᵀx) = t`` (boundary points are wrong)."""
        t = _check_targets(t, x.shape[0])
        return float((self.predict(x) == t.to(x.dtype)).to(torch.float64).mean())

    def fit_hebbian(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        *,
        lr: float = 1.0,
        max_epochs: int = 100,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> HebbianResult:
        """Hebbian learning (notes §1.3.1): update on every misclassified sample until an epoch has none.

        Args:
            x: inputs ``[N, I]``.
            t: targets ``[N]`` in {-1, +1}.
            lr: η > 0.
            max_epochs: passes over the data at most.
            shuffle: visit the samples in a new random order each epoch
                (``False``: in the given order).
            generator: source of the orders.

        Returns:
            :class:`HebbianResult`; the learned weights are in ``self.weight``.

        Raises:
            ValueError: targets not in {-1, +1} (0/1 labels: :func:`to_pm1`),
                inputs of the wrong shape, or a mismatch in the number of samples.
        """
        xa = self.augment(x)
        t = _check_targets(t, x.shape[0]).to(xa.dtype)
        if not isinstance(lr, (int, float)) or lr <= 0:
            raise ConfigError(f"fit_hebbian lr must be a number > 0; got {lr!r}")
        check_positive_int("fit_hebbian", "max_epochs", max_epochs)
        w = self.weight.detach().to(xa.dtype).clone()
        history, mistakes, updates = [w.clone()], [], 0
        converged = False
        for _ in range(max_epochs):
            order = torch.randperm(len(xa), generator=generator) if shuffle else torch.arange(len(xa))
            wrong = 0
            for i in order.tolist():
                if t[i] * (w @ xa[i]) <= 0:  # misclassified (or on the boundary)
                    w = hebbian_update(w, xa[i], t[i], lr)
                    wrong += 1
            updates += wrong
            mistakes.append(wrong)
            history.append(w.clone())
            if wrong == 0:
                converged = True
                break
        with torch.no_grad():
            self.weight.copy_(w.to(self.weight.dtype))
        return HebbianResult(converged, len(mistakes), updates, mistakes, torch.stack(history))


@register_model("perceptron", input_shape=(2,))
def perceptron(*, in_features: int = 2, init_std: float = 0.01) -> Perceptron:
    """Rosenblatt's perceptron ``sign(wᵀx)`` with bias ``w_0`` (notes §1.3.1)."""
    return Perceptron(in_features=in_features, init_std=init_std)
