"""Evaluating autoencoders and generators (notes §3.6–§3.7).

§3.7.1 ends on "the difficulty in quantitatively assessing the generator's
performance".  an2dl measures generated digits three ways, all with a small
MNIST classifier trained by an2dl (:func:`digit_judge`, the
``mnist_feature_cnn`` model), held out from the generative model's training:

* **reconstruction error** of autoencoders: the notes' per-image L2 norm and
  the MSE (:func:`reconstruction_error`), and the judge's accuracy on the
  reconstructions (are they still the same digit?);
* **judge scores** of generated digits (:func:`judge_scores`): the mean
  confidence ``max_k p(k | x)``, the fraction judged with confidence ≥ 0.9,
  the entropy of the predicted class distribution (``log 10 ≈ 2.303`` when
  all classes are produced equally often) and the Inception-Score formula
  ``exp(E_x KL(p(y | x) ‖ p(y)))`` of Salimans et al. (2016) evaluated with
  this judge (between 1 and 10);
* the **Fréchet distance** between Gaussians fitted to the judge's 128
  penultimate features of real and generated images (:func:`frechet_distance`),
  the statistic of the FID of Heusel et al. (2017) computed on *these*
  features, not Inception-v3's: values are comparable between an2dl runs
  only, never with published FIDs.

Callbacks record these during training: :class:`FrechetMonitor` (one value
per epoch, logged as ``val/frechet``) and :class:`SampleGrid` (a grid of
samples from fixed noise per epoch, shown in the report).

The package is split by concern: :mod:`~an2dl.evaluation.generative.metrics`
(the measures), :mod:`~an2dl.evaluation.generative.judge` (training and caching
the judge), :mod:`~an2dl.evaluation.generative.plots` (image grids) and
:mod:`~an2dl.evaluation.generative.callbacks` (measuring during training).
"""

from .callbacks import FrechetMonitor, SampleGrid, Sampler
from .judge import digit_judge
from .metrics import (
    extract_features,
    frechet_distance,
    frechet_distance_from_features,
    gaussian_statistics,
    judge_accuracy,
    judge_scores,
    reconstruction_error,
)
from .plots import image_grid, save_image_grid

__all__ = [
    "extract_features",
    "gaussian_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "judge_scores",
    "judge_accuracy",
    "reconstruction_error",
    "digit_judge",
    "image_grid",
    "save_image_grid",
    "FrechetMonitor",
    "SampleGrid",
    "Sampler",
]
