"""Measures of generated and reconstructed images: judge features, Fréchet distance, judge scores (notes §3.6–§3.7).

All of them look at images through a held-out classifier, the *judge*
(:func:`~an2dl.evaluation.generative.digit_judge`): its penultimate features
for the Fréchet distance, its class probabilities for the Inception-Score-like
scores, its accuracy for reconstructions.  The maths is here; training the
judge, plotting and the training-time callbacks live beside this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..._utils.progress import activity
from ...errors import ConfigError
from ...nn.device import module_device

__all__ = [
    "extract_features",
    "gaussian_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "judge_scores",
    "judge_accuracy",
    "reconstruction_error",
]


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size]


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, *, batch_size: int = 500, progress: bool | None = False,
                     what: str = "images") -> torch.Tensor:
    """``model.forward_features`` over ``images`` in eval mode, batched: ``[N, C, H, W]`` -> ``[N, F]`` on CPU.

    Args:
        progress: show the extraction (seconds for thousands of images on a
            CPU): ``None`` on a terminal a bar, otherwise one line; ``False``
            (default) nothing.
        what: what the images are, for that display (``"test digits"``).
    """
    if not hasattr(model, "forward_features"):
        raise ConfigError(f"extract_features needs a model with forward_features(); got {type(model).__name__}")
    was = model.training
    model.eval()
    try:
        dev = module_device(model)
        out = []
        with activity(f"extracting judge features of {len(images):,} {what}", total=len(images), enable=progress) as act:
            for b in _batches(images, batch_size):
                out.append(model.forward_features(b.to(dev)).float().cpu())
                act.advance(len(b))
        return torch.cat(out)
    finally:
        model.train(was)


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[F]`` and unbiased covariance ``[F, F]`` of ``features`` ``[N, F]`` (N ≥ 2), in float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"gaussian_statistics expects features of shape [N >= 2, F]; got {list(features.shape)}")
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(matrix)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein) distance² between ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)`` (Dowson & Landau 1982):

    ``d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})``.

    ``Tr((Σ₁Σ₂)^{1/2})`` is computed as the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}`` (which has
    the same eigenvalues as ``Σ₁Σ₂``), in float64; this avoids the complex
    round-off of a general matrix square root.

    Shape:
        ``mu`` ``[F]``, ``sigma`` ``[F, F]`` (symmetric PSD) -> float.
    """
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    f = mu1.shape[0]
    if mu1.shape != (f,) or mu2.shape != (f,) or s1.shape != (f, f) or s2.shape != (f, f):
        raise ValueError(
            f"frechet_distance needs means [F] and covariances [F, F] of one F; got {list(mu1.shape)}, "
            f"{list(sigma1.shape)}, {list(mu2.shape)}, {list(sigma2.shape)}"
        )
    root1 = _sqrt_psd(s1)
    middle = root1 @ s2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    d2 = (mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt
    return float(d2.clamp_min(0))


def frechet_distance_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """:func:`frechet_distance` between Gaussians fitted to feature sets ``[N, F]`` and ``[M, F]``."""
    return frechet_distance(*gaussian_statistics(a), *gaussian_statistics(b))


@torch.no_grad()
def _probabilities(judge: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    was = judge.training
    judge.eval()
    try:
        dev = module_device(judge)
        return torch.cat([judge(b.to(dev)).softmax(-1).double().cpu() for b in _batches(images, batch_size)])
    finally:
        judge.train(was)


def judge_scores(judge: nn.Module, images: torch.Tensor, *, batch_size: int = 500, threshold: float = 0.9) -> dict[str, Any]:
    """How a held-out classifier sees generated images (see the module docstring).

    Returns:
        ``confidence`` (mean max probability), ``confident_fraction`` (max
        probability ≥ ``threshold``), ``class_entropy`` (nats, entropy of the
        mean predicted distribution), ``classifier_score``
        (``exp(E KL(p(y|x) ‖ p(y)))``) and ``class_histogram`` (counts of the
        predicted classes, a list).
    """
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"judge_scores expects images of shape [N > 0, C, H, W]; got {list(images.shape)}")
    p = _probabilities(judge, images, batch_size)
    conf, pred = p.max(1)
    marginal = p.mean(0)
    eps = 1e-12
    kl = (p * ((p + eps).log() - (marginal + eps).log())).sum(1)
    return {
        "confidence": float(conf.mean()),
        "confident_fraction": float((conf >= threshold).double().mean()),
        "class_entropy": float(-(marginal * (marginal + eps).log()).sum()),
        "classifier_score": float(kl.mean().exp()),
        "class_histogram": torch.bincount(pred, minlength=p.shape[1]).tolist(),
    }


def judge_accuracy(judge: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500) -> float:
    """Accuracy of the judge on ``images`` ``[N, C, H, W]`` against ``labels`` ``[N]``."""
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"judge_accuracy needs as many labels as images (> 0); got {len(images)} and {len(labels)}")
    p = _probabilities(judge, images, batch_size)
    return float((p.argmax(1) == labels.cpu()).double().mean())


@torch.no_grad()
def reconstruction_error(
    model: nn.Module,
    images: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    judge: nn.Module | None = None,
    batch_size: int = 500,
) -> dict[str, float]:
    """Reconstruction error of an autoencoder (eval mode) on ``images`` ``[N, C, H, W]``.

    Returns:
        ``l2``: mean per-image ``‖s − D(E(s))‖₂`` (the notes' §3.6 loss divided
        by N); ``mse``: mean squared error per pixel; with ``judge`` and
        ``labels`` also ``judge_accuracy`` on the reconstructions and
        ``judge_accuracy_original`` on the inputs.
    """
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"reconstruction_error expects images of shape [N > 0, C, H, W]; got {list(images.shape)}")
    was = model.training
    model.eval()
    try:
        dev = module_device(model)
        recon = torch.cat([model(b.to(dev)).float().cpu() for b in _batches(images, batch_size)])
    finally:
        model.train(was)
    diff = (images.float().cpu() - recon).flatten(1).double()
    out = {"l2": float(diff.norm(dim=1).mean()), "mse": float(diff.pow(2).mean())}
    if judge is not None and labels is not None:
        out["judge_accuracy"] = judge_accuracy(judge, recon, labels, batch_size=batch_size)
        out["judge_accuracy_original"] = judge_accuracy(judge, images, labels, batch_size=batch_size)
    return out
