"""Evaluating generative models: reconstruction error, a judge classifier, Fréchet distances."""

from .generative import (
    FrechetMonitor,
    SampleGrid,
    digit_judge,
    frechet_distance,
    frechet_distance_from_features,
    judge_accuracy,
    judge_scores,
    reconstruction_error,
    save_image_grid,
)

__all__ = [
    "FrechetMonitor", "SampleGrid", "digit_judge", "frechet_distance", "frechet_distance_from_features",
    "judge_accuracy", "judge_scores", "reconstruction_error", "save_image_grid",
]
